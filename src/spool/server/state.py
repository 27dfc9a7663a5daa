"""The server's settings and the live objects behind the routes (shared by app.py and routes/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from spool.config import Config
from spool.server.coordination import LeaseSettings
from spool.server.engines.router import ModelRouter
from spool.server.files import FileStore
from spool.server.metrics import ServerMetrics
from spool.server.runs import RunManager
from spool.server.storage import Database
from spool.server.vector_stores import VectorStores


@dataclass
class ServerSettings:
    """What a server instance needs: where its data lives, its key, its models."""

    data_dir: Path
    api_key: str
    config: Config
    echo_delay_ms: int = 0
    run_expiry_s: int = 600
    database_url: str | None = None  # None: sqlite in the data dir; or sqlite:///… / postgresql://…
    lease: LeaseSettings = field(default_factory=LeaseSettings)  # replicas (coordination/)
    blobs_dir: Path | None = None  # None: <data dir>/files (replicas share one, see files.py)


class State:
    """The live objects behind the routes (created in the lifespan)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.key = settings.api_key.encode()
        self.metrics = ServerMetrics()
        self.db: Database = None  # type: ignore[assignment]
        self.router: ModelRouter = None  # type: ignore[assignment]
        self.runs: RunManager = None  # type: ignore[assignment]
        self.files: FileStore = None  # type: ignore[assignment]
        # called with a file id before the file is deleted (detach it from stores, indexes)
        self.on_file_deleted: list[Callable[[str], Awaitable[None]]] = []
        self.stores: VectorStores = None  # type: ignore[assignment]
