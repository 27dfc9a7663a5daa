"""Connection limits: a half-sent request cannot hold a connection for ever, and the number of
open connections is capped.

* `HEADER_TIMEOUT_S` (10 s): a connection must deliver a request's complete headers within
  this time of connecting or of its previous response; otherwise it is closed. (uvicorn's own
  keep-alive timer stops as soon as any byte arrives, so a trickle of header bytes kept a
  connection open indefinitely.)
* `BODY_TIMEOUT_S` (30 s): a request body must arrive within this time of its headers; else
  the request is answered 408 and the connection closed (`app._body`).
* `MAX_CONNECTIONS` (1,000): connections beyond this are closed as soon as they are accepted.

Each can be overridden by an environment variable of the same name prefixed `SPOOL_SERVE_`
(tests use short values).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("spool.server")


def _setting(name: str, default: float) -> float:
    value = os.environ.get(f"SPOOL_SERVE_{name}")
    try:
        return float(value) if value else default
    except ValueError:
        return default


HEADER_TIMEOUT_S = _setting("HEADER_TIMEOUT_S", 10.0)
BODY_TIMEOUT_S = _setting("BODY_TIMEOUT_S", 30.0)
MAX_CONNECTIONS = int(_setting("MAX_CONNECTIONS", 1000))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header deadline and a connection cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._waiting_cycle: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            log.warning("connection refused: %d connections open", len(self.connections) - 1)
            transport.abort()
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._waiting_cycle:  # a request's headers arrived
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if not self.transport.is_closing() and cycle is not None and cycle.response_complete:
            self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._waiting_cycle = self.cycle
        self._header_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._header_timeout)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timeout(self) -> None:
        self._header_deadline = None
        if self.cycle is self._waiting_cycle and not self.transport.is_closing():
            self.transport.close()
