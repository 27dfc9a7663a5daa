"""`/v1/threads`: create, retrieve, modify, delete (deleting cancels its active run)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request

from spool.server import objects, tool_resources, validation
from spool.server.routes.common import read_body, route, thread_of
from spool.server.state import State


async def new_thread(state: State, body: dict[str, Any]) -> dict[str, Any]:
    """Stores a thread and its initial messages in one transaction."""
    messages = body.get("messages") or []
    await tool_resources.check_attachments(state.stores, messages)
    body = {
        **body,
        "tool_resources": await tool_resources.resolve(state.stores, body.get("tool_resources")),
    }
    thread = objects.thread(body)
    async with state.db.transaction():
        await state.db.insert("threads", thread)
        for message_body in messages:
            await state.db.insert("messages", objects.user_message(thread["id"], message_body))
            await tool_resources.attach(
                state.stores, state.db, thread, message_body.get("attachments")
            )
    return thread


async def create_thread(state: State, request: Request) -> Any:
    body = await read_body(request, validation.CREATE_THREAD, optional=True)
    return await new_thread(state, body)


async def get_thread(state: State, request: Request) -> Any:
    return await thread_of(state, request)


async def modify_thread(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    body = await read_body(request, validation.MODIFY_THREAD)
    if "metadata" in body:
        thread["metadata"] = body["metadata"] or {}
    if "tool_resources" in body:
        thread["tool_resources"] = objects.normalize_tool_resources(
            await tool_resources.resolve(state.stores, body["tool_resources"])
        )
    await state.db.update("threads", thread)
    return thread


async def delete_thread(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    await state.runs.cancel_thread_run(thread["id"])  # on whichever replica executes it
    await asyncio.sleep(0)
    async with state.db.transaction():
        await state.db.delete("threads", thread["id"])
        await state.db.execute(
            "DELETE FROM tool_outputs WHERE run_id IN (SELECT id FROM runs WHERE thread_id = ?)",
            (thread["id"],),
        )
        for table in ("messages", "runs", "steps"):
            await state.db.delete_where(table, "thread_id", thread["id"])
    return objects.deleted(thread["id"], "thread")


ROUTES = [
    route("/threads", create_thread, "POST"),
    route("/threads/{thread_id}", get_thread, "GET"),
    route("/threads/{thread_id}", modify_thread, "POST"),
    route("/threads/{thread_id}", delete_thread, "DELETE"),
]
