"""`GET /metrics`: this replica's metrics in the Prometheus text format (server/metrics.py).

On the API's own port, behind the same bearer key as every other route (Prometheus sends it
with `authorization: {credentials_file: ...}`): no second socket to bind and firewall, and no
unauthenticated view of run counts and model names. Outside `/v1`, where scrapers look.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spool.server.metrics import CONTENT_TYPE
from spool.server.routes.common import endpoint
from spool.server.state import State


async def metrics(state: State, request: Request) -> Any:
    return Response(state.metrics.render().encode(), media_type=CONTENT_TYPE)


ROUTES = [Route("/metrics", endpoint(metrics), methods=["GET"])]
