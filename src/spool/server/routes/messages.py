"""`/v1/threads/{thread_id}/messages`: create, list, retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server import objects, tool_resources, validation
from spool.server.errors import not_found
from spool.server.routes.common import get, page, read_body, route, thread_of
from spool.server.state import State


async def message_of(state: State, request: Request) -> dict[str, Any]:
    """The message named by the path, which must belong to the path's thread."""
    thread = await thread_of(state, request)
    message = await get(state, "messages", "message", request.path_params["message_id"])
    if message["thread_id"] != thread["id"]:
        raise not_found("message", message["id"])
    return message


async def create_message(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    body = await read_body(request, validation.CREATE_MESSAGE)
    await state.runs.check_unlocked(thread["id"], for_messages=True)
    await tool_resources.check_attachments(state.stores, [body])
    message = objects.user_message(thread["id"], body)
    async with state.db.transaction():
        await state.db.insert("messages", message)
        await tool_resources.attach(state.stores, state.db, thread, body.get("attachments"))
    return message


async def list_messages(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    where = {"thread_id": thread["id"]}
    if run_id := request.query_params.get("run_id"):
        where["run_id"] = run_id
    return await page(state, "messages", request, where)


async def get_message(state: State, request: Request) -> Any:
    return await message_of(state, request)


async def modify_message(state: State, request: Request) -> Any:
    message = await message_of(state, request)
    body = await read_body(request, validation.MODIFY_METADATA)
    if "metadata" in body:
        message["metadata"] = body["metadata"] or {}
        await state.db.update("messages", message)
    return message


async def delete_message(state: State, request: Request) -> Any:
    message = await message_of(state, request)
    await state.db.delete("messages", message["id"])
    return objects.deleted(message["id"], "thread.message")


ROUTES = [
    route("/threads/{thread_id}/messages", create_message, "POST"),
    route("/threads/{thread_id}/messages", list_messages, "GET"),
    route("/threads/{thread_id}/messages/{message_id}", get_message, "GET"),
    route("/threads/{thread_id}/messages/{message_id}", modify_message, "POST"),
    route("/threads/{thread_id}/messages/{message_id}", delete_message, "DELETE"),
]
