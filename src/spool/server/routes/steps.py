"""`/v1/threads/{thread_id}/runs/{run_id}/steps`: list and retrieve run steps."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server.errors import not_found
from spool.server.routes.common import get, page, route
from spool.server.routes.runs import include_only, run_of
from spool.server.state import State


async def list_steps(state: State, request: Request) -> Any:
    run = run_of(state, request)
    return page(state, "steps", request, {"run_id": run["id"]})


async def get_step(state: State, request: Request) -> Any:
    run = run_of(state, request)
    include_only(request)
    step = get(state, "steps", "run step", request.path_params["step_id"])
    if step["run_id"] != run["id"]:
        raise not_found("run step", step["id"])
    return step


ROUTES = [
    route("/threads/{thread_id}/runs/{run_id}/steps", list_steps, "GET"),
    route("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", get_step, "GET"),
]
