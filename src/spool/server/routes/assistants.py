"""`/v1/assistants`: create, list, retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server import objects, tool_resources, validation
from spool.server.errors import not_found
from spool.server.routes.common import get, get_raw, page, raw, read_body, route
from spool.server.state import State


async def create_assistant(state: State, request: Request) -> Any:
    body = await read_body(request, validation.CREATE_ASSISTANT)
    body["tool_resources"] = await tool_resources.resolve(state.stores, body.get("tool_resources"))
    assistant = objects.assistant(body)
    await state.db.insert("assistants", assistant)
    return assistant


async def list_assistants(state: State, request: Request) -> Any:
    return await page(state, "assistants", request, {})


async def get_assistant(state: State, request: Request) -> Any:
    return raw(await get_raw(state, "assistants", "assistant", request.path_params["assistant_id"]))


async def modify_assistant(state: State, request: Request) -> Any:
    assistant = await get(state, "assistants", "assistant", request.path_params["assistant_id"])
    body = await read_body(request, validation.MODIFY_ASSISTANT)
    for key, value in body.items():
        if key == "reasoning_effort":
            continue
        if key == "tool_resources":
            value = objects.normalize_tool_resources(
                await tool_resources.resolve(state.stores, value)
            )
        elif key == "metadata":
            value = value or {}
        elif key == "tools":
            value = value or []
        elif key == "response_format":
            value = value or "auto"
        assistant[key] = value
    assistant["tool_resources"] = objects.assistant_tool_resources(
        assistant["tools"], assistant["tool_resources"] or {}
    )
    await state.db.update("assistants", assistant)
    return assistant


async def delete_assistant(state: State, request: Request) -> Any:
    assistant_id = request.path_params["assistant_id"]
    if not await state.db.delete("assistants", assistant_id):
        raise not_found("assistant", assistant_id)
    return objects.deleted(assistant_id, "assistant")


ROUTES = [
    route("/assistants", create_assistant, "POST"),
    route("/assistants", list_assistants, "GET"),
    route("/assistants/{assistant_id}", get_assistant, "GET"),
    route("/assistants/{assistant_id}", modify_assistant, "POST"),
    route("/assistants/{assistant_id}", delete_assistant, "DELETE"),
]
