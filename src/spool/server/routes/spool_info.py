"""`GET /v1/spool`: what this spool server offers beyond the Assistants API.

Answer: `{"object": "spool.server", "version": "0.1.0", "extensions": {"search":
"/v1/spool/search"}}`. A client asks once per connection; any other server answers 404 there,
which is how a client knows to fall back to what it has locally.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool import __version__
from spool.server.routes.common import route
from spool.server.state import State

EXTENSIONS = {
    "search": "/v1/spool/search",
    "run_events": "/v1/threads/{thread_id}/runs/{run_id}/events",
}


async def server_info(state: State, request: Request) -> Any:
    return {"object": "spool.server", "version": __version__, "extensions": dict(EXTENSIONS)}


ROUTES = [route("/spool", server_info, "GET")]
