"""Idle exit for the embedded server: it lives exactly as long as someone uses it.

The rule (`spool serve --idle-exit-s N`, which the TUI and `spool ask` pass when they start the
server; a server started by hand never exits by itself):

* spool clients name themselves on every request (`X-Spool-Client: <id>`) and ping every few
  seconds while they are open; closing, they say goodbye (`X-Spool-Goodbye: 1`);
* the server exits when no request is in flight (open streams included), no run is executing,
  no client has been seen for N seconds, and the last request is N seconds old (1 s after a
  goodbye when no other client is left).

So ctrl+q during a run leaves the server finishing it (the next launch shows the answer), a
closed terminal or a killed client leaves nothing running for long, and reuse by another spool
of the same data dir keeps working (its pings keep the server up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

CLIENT_HEADER = b"x-spool-client"
GOODBYE_HEADER = b"x-spool-goodbye"
GOODBYE_GRACE_S = 1.0
CHECK_EVERY_S = 0.5

log = logging.getLogger("spool.server")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class IdleExit:
    """ASGI middleware that calls `on_idle` once the server has been unused for `idle_s`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        idle_s: float,
        busy: Callable[[], bool],
        on_idle: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.idle_s = idle_s
        self.busy = busy
        self.on_idle = on_idle
        self.clock = clock
        self.inflight = 0
        self.clients: dict[str, float] = {}  # client id -> last seen
        self.quiet_until = clock() + idle_s
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        client = headers.get(CLIENT_HEADER, b"").decode("latin-1")[:100]
        goodbye = headers.get(GOODBYE_HEADER) == b"1"
        self.inflight += 1
        if client:
            self.clients[client] = self.clock()
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
            now = self.clock()
            if client and goodbye:
                self.clients.pop(client, None)
                self.quiet_until = now + (GOODBYE_GRACE_S if not self._seen(now) else self.idle_s)
            else:
                if client:
                    self.clients[client] = now
                self.quiet_until = now + self.idle_s

    def _lifespan_send(self, send: Any) -> Any:
        async def wrapped(message: Any) -> None:
            if message.get("type") == "lifespan.startup.complete":
                self._task = asyncio.create_task(self._watch())
            elif message.get("type", "").startswith("lifespan.shutdown") and self._task:
                self._task.cancel()
            await send(message)

        return wrapped

    def _seen(self, now: float) -> bool:
        """Whether a client has pinged within the idle time (forgetting older ones)."""
        for cid, seen in list(self.clients.items()):
            if now - seen >= self.idle_s:
                del self.clients[cid]
        return bool(self.clients)

    def idle(self) -> bool:
        """Whether the server may exit now."""
        now = self.clock()
        if self.inflight or self._seen(now) or now < self.quiet_until:
            return False
        try:
            return not self.busy()
        except Exception:  # the run manager is not up yet (or shut down)
            return False

    async def _watch(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(CHECK_EVERY_S)
                if self.idle():
                    log.info(
                        "no client left (--idle-exit-s %.0f) and no run executing: exiting",
                        self.idle_s,
                    )
                    self.on_idle()
                    return
