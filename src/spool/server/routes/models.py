"""`GET /v1/models` and `GET /v1/models/{id}`: the model router's table."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server.errors import ApiError
from spool.server.routes.common import route
from spool.server.state import State


async def list_models(state: State, request: Request) -> Any:
    return {"object": "list", "data": state.router.models()}


async def get_model(state: State, request: Request) -> Any:
    model_id = request.path_params["model_id"]
    for model in state.router.models():
        if model["id"] == model_id:
            return model
    raise ApiError(404, f"The model '{model_id}' does not exist", code="model_not_found")


ROUTES = [
    route("/models", list_models, "GET"),
    route("/models/{model_id:path}", get_model, "GET"),
]
