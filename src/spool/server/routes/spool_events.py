"""`GET /v1/threads/{thread_id}/runs/{run_id}/events?after=SEQ`: a run's stream from any replica.

A spool extension (not in the Assistants API): the same SSE frames the run's own stream sent,
ending with `done`. With replicas (PostgreSQL) it serves the events stored after `SEQ` (default
0: all of them), then follows live, wherever the run executes; a client that lost its stream
resumes here. On one process it streams from the moment of the request. A finished run (or, on
one process, one that waits for tool outputs) answers its current state as one
`thread.run.<status>` event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from spool.server import sse
from spool.server.errors import bad_request
from spool.server.routes.common import route, thread_of
from spool.server.state import State


def _after(request: Request) -> int:
    raw = request.query_params.get("after", "0")
    if not raw.isdigit():
        raise bad_request(
            f"Invalid 'after': expected a non-negative integer, got '{raw}'.", param="after"
        )
    return int(raw)


async def run_events(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    after = _after(request)
    run = await state.runs.get_run(thread["id"], request.path_params["run_id"])
    subscriber = await state.runs.follow(run, after)

    async def frames() -> AsyncIterator[bytes]:
        if subscriber is None:
            yield sse.frame(f"thread.run.{run['status']}", run)
            yield sse.DONE
            return
        try:
            while True:
                batch = await subscriber.batch()
                if batch is None:
                    yield sse.DONE
                    return
                chunk = b"".join(batch)
                if chunk:
                    yield chunk
        finally:
            state.runs.unfollow(run["id"], subscriber)
            subscriber.close()

    return StreamingResponse(
        frames(),
        media_type=sse.MEDIA_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


ROUTES = [route("/threads/{thread_id}/runs/{run_id}/events", run_events, "GET")]
