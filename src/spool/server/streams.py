"""A streaming request's subscription to a run's events.

The run builds each SSE frame once and appends the same bytes to every subscriber; a
subscriber's reader takes everything that piled up in one go (one write per wake-up, however
many events arrived in the meantime). Waking costs one future per wait, and the keep-alive
comment comes from one periodic timer per stream (sent when a period had no frame), not from
a timeout per event
(`asyncio.wait_for` per frame was the largest per-event cost of a stream).
"""

from __future__ import annotations

import asyncio

from spool.server.sse import KEEP_ALIVE


class Subscriber:
    """Frames for one streaming response, and the end-of-stream mark.

    `close()` must be called when the response ends (it stops the keep-alive timer).
    """

    def __init__(self, keep_alive_s: float = 15.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._frames: list[bytes] = []
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._keep_alive_s = keep_alive_s
        self._busy = False  # a frame arrived since the last keep-alive tick
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(keep_alive_s, self._tick)

    def push(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._busy = True
        self._wake()

    def close(self) -> None:
        """No more frames: the reader gets what is left, then None."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _tick(self) -> None:
        if self._closed:
            return
        if not self._busy:
            self._frames.append(KEEP_ALIVE)
            self._wake()
        self._busy = False
        self._timer = self._loop.call_later(self._keep_alive_s, self._tick)

    async def batch(self) -> list[bytes] | None:
        """Every frame ready now (waiting for one first); None once closed and drained."""
        while not self._frames:
            if self._closed:
                return None
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frames, self._frames = self._frames, []
        return frames
