"""Scripted upstreams on loopback for the tests: a free port, and an ASGI app (a scripted model,
an embeddings endpoint) served by uvicorn in a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackServer:
    """`app` served on 127.0.0.1 (`port`, else a free one); `start()` returns its `/v1` URL."""

    def __init__(self, app: Any, *, port: int | None = None, **config: Any) -> None:
        import uvicorn

        self.port = port or free_port()
        options = {"log_level": "warning", **config}
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, **options)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the scripted server did not start"
            time.sleep(0.01)
        return self.base_url

    def stop(self, join_s: float = 0.0) -> None:
        self.server.should_exit = True
        if join_s:
            self.thread.join(join_s)
