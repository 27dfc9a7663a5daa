"""`/v1/threads/{thread_id}/runs` and `/v1/threads/runs`: create (plain or streamed), list,
retrieve, modify, cancel, submit tool outputs."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from spool.server import objects, sse, tool_resources, validation
from spool.server.errors import ApiError, bad_request, not_found
from spool.server.routes.common import (
    INCLUDE_VALUES,
    page,
    read_body,
    route,
    stream_run,
    thread_of,
)
from spool.server.routes.threads import new_thread
from spool.server.run_state import ActiveRun
from spool.server.state import State


async def run_of(state: State, request: Request) -> dict[str, Any]:
    """The run named by the path (its live state while it executes)."""
    thread = await thread_of(state, request)
    return await state.runs.get_run(thread["id"], request.path_params["run_id"])


def include_only(request: Request) -> None:
    """Checks `include[]` on requests that take no other list parameter."""
    for value in request.query_params.getlist("include[]"):
        if value not in INCLUDE_VALUES:
            raise bad_request(f"Invalid value: '{value}'.", param="include", code="invalid_value")


async def _active(state: State, run: dict[str, Any]) -> ActiveRun | None:
    """The run's live state on this replica (a parked run is adopted: coordination/)."""
    return await state.runs.adopt(run)


async def _assistant_for_run(state: State, assistant_id: str) -> dict[str, Any]:
    assistant = await state.db.get("assistants", assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    return assistant


def _start(state: State, active: ActiveRun, stream: bool, first: bytes = b"") -> Any:
    if not stream:
        snapshot = json.loads(json.dumps(active.run))
        state.runs.start(active)
        return snapshot
    subscriber = state.runs.subscribe(active)
    state.runs.start(active)
    return stream_run(state, active, subscriber, first)


async def create_run(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    include_only(request)
    body = await read_body(request, validation.CREATE_RUN)
    assistant = await _assistant_for_run(state, body["assistant_id"])
    await state.runs.check_unlocked(thread["id"], for_messages=False)
    await tool_resources.check_attachments(state.stores, body.get("additional_messages") or [])
    created: list[ActiveRun] = []
    try:
        async with state.db.transaction():
            for message_body in body.get("additional_messages") or []:
                await state.db.insert("messages", objects.user_message(thread["id"], message_body))
                await tool_resources.attach(
                    state.stores, state.db, thread, message_body.get("attachments")
                )
            created.append(await state.runs.create_run(thread["id"], assistant, body))
    except BaseException:
        for active in created:  # the commit failed: the run never existed, nor its lock
            await state.runs.forget(active)
        raise
    return _start(state, created[0], bool(body.get("stream")))


async def create_thread_and_run(state: State, request: Request) -> Any:
    body = await read_body(request, validation.CREATE_THREAD_AND_RUN)
    assistant = await _assistant_for_run(state, body["assistant_id"])
    thread_body = dict(body.get("thread") or {})
    if body.get("tool_resources") is not None:
        thread_body["tool_resources"] = body["tool_resources"]
    thread = await new_thread(state, thread_body)
    active = await state.runs.create_run(thread["id"], assistant, body)
    first = sse.frame("thread.created", thread) if body.get("stream") else b""
    return _start(state, active, bool(body.get("stream")), first)


async def list_runs(state: State, request: Request) -> Any:
    thread = await thread_of(state, request)
    return await page(state, "runs", request, {"thread_id": thread["id"]})


async def get_run(state: State, request: Request) -> Any:
    return await run_of(state, request)


async def modify_run(state: State, request: Request) -> Any:
    run = await run_of(state, request)
    body = await read_body(request, validation.MODIFY_METADATA)
    if "metadata" in body:
        run["metadata"] = body["metadata"] or {}
        await state.db.update("runs", run)
        await state.runs.metadata_changed(run)  # the replica executing it keeps it
    return run


async def cancel_run(state: State, request: Request) -> Any:
    run = await run_of(state, request)
    return await state.runs.cancel_anywhere(run)  # wherever it executes


async def submit_tool_outputs(state: State, request: Request) -> Any:
    run = await run_of(state, request)
    body = await read_body(request, validation.SUBMIT_TOOL_OUTPUTS)
    active = await _active(state, run) if run["status"] == "requires_action" else None
    if active is None or active.run["status"] != "requires_action":
        raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
    subscriber = state.runs.subscribe(active) if body.get("stream") else None
    try:
        await state.runs.submit_tool_outputs(active, body["tool_outputs"])
    except ApiError:
        if subscriber is not None:
            state.runs.unsubscribe(run["id"], subscriber)
            subscriber.close()
        await state.runs.release_adopted(active)  # still waiting: any replica may take it
        raise
    if subscriber is not None:
        return stream_run(state, active, subscriber)
    return json.loads(json.dumps(active.run))


# `/threads/runs` must come before `/threads/{thread_id}` (routes/__init__.py keeps the order).
THREAD_AND_RUN_ROUTES = [route("/threads/runs", create_thread_and_run, "POST")]

ROUTES = [
    route("/threads/{thread_id}/runs", create_run, "POST"),
    route("/threads/{thread_id}/runs", list_runs, "GET"),
    route("/threads/{thread_id}/runs/{run_id}", get_run, "GET"),
    route("/threads/{thread_id}/runs/{run_id}", modify_run, "POST"),
    route("/threads/{thread_id}/runs/{run_id}/cancel", cancel_run, "POST"),
    route("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", submit_tool_outputs, "POST"),
]
