"""`/v1/threads/{thread_id}/runs/{run_id}/steps`: list and retrieve run steps."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from spool.server.errors import not_found
from spool.server.routes.common import get, page, route
from spool.server.routes.runs import include_only, run_of
from spool.server.state import State
from spool.server.tools import public_step


def _include(request: Request) -> frozenset[str]:
    query = request.query_params
    return frozenset(query.getlist("include[]") + query.getlist("include"))


async def list_steps(state: State, request: Request) -> Any:
    run = await run_of(state, request)
    response = await page(state, "steps", request, {"run_id": run["id"]})
    if b"tool_calls" not in response.body:  # no tool step: the stored JSON as is
        return response
    listing = json.loads(response.body)
    include = _include(request)
    listing["data"] = [public_step(step, include) for step in listing["data"]]
    return listing


async def get_step(state: State, request: Request) -> Any:
    run = await run_of(state, request)
    include_only(request)
    step = await get(state, "steps", "run step", request.path_params["step_id"])
    if step["run_id"] != run["id"]:
        raise not_found("run step", step["id"])
    return public_step(step, _include(request))


ROUTES = [
    route("/threads/{thread_id}/runs/{run_id}/steps", list_steps, "GET"),
    route("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", get_step, "GET"),
]
