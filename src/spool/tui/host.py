"""`AppHost`: what the app's mixins (sending, workflows) use of `SpoolApp`, declared once for
type checkers. At run time it is an empty base class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spool.client.connection import Connection
    from spool.client.runs import RunDriver
    from spool.client.view_model import Workspace
    from spool.store import Store


class AppHost:
    """The attributes and methods of `SpoolApp` that its mixins rely on."""

    if TYPE_CHECKING:  # provided by SpoolApp
        connection: Connection
        driver: RunDriver | None
        store: Store | None
        workspace: Workspace
        current: str | None
        profile: str

        def notify(self, message: str, **kwargs: Any) -> None: ...
        def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
        def _keys_for(self, binding_id: str, default: str = "") -> str: ...
        def _update_row(self, thread_id: str, *, to_top: bool = False) -> None: ...
        def thread_title(self, thread_id: str) -> str: ...
