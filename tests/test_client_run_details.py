"""`spool.client.run_details` and `spool.client.thread_import` against the shared echo server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spool.client.run_details import (
    RunDetailsError,
    fetch_run_details,
    latest_run_id,
    pretty_json,
)
from spool.client.thread_import import ImportFailed, fetch_thread_summary

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOOL = {
    "type": "function",
    "function": {"name": "add", "parameters": {"type": "object", "properties": {}}},
}


async def test_run_details_through_tool_outputs(aclient: Any) -> None:
    assistant = await aclient.beta.assistants.create(model="echo", name="calc", tools=[TOOL])
    thread = await aclient.beta.threads.create()
    assert await latest_run_id(aclient, thread.id) is None
    await aclient.beta.threads.messages.create(
        thread.id, role="user", content='/call add {"a": 1, "b": 2}'
    )
    run = await aclient.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert run.status == "requires_action"
    assert await latest_run_id(aclient, thread.id) == run.id

    waiting = await fetch_run_details(aclient, thread.id, run.id)
    assert waiting.status == "requires_action" and waiting.ended_at is None
    assert [(c.name, json.loads(c.arguments)) for c in waiting.required_calls] == [
        ("add", {"a": 1, "b": 2})
    ]
    assert waiting.steps[0].type == "tool_calls" and waiting.steps[0].tool_calls[0].output is None

    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    await aclient.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "3"}]
    )
    done = await fetch_run_details(aclient, thread.id, run.id)
    assert done.status == "completed" and done.ended_how == "completed"
    assert done.required_calls == []
    assert [s.type for s in done.steps] == ["tool_calls", "message_creation"]
    assert done.steps[0].tool_calls[0].output == "3"
    assert done.steps[1].message_text == "add returned: 3"
    assert done.usage is not None and done.usage.total_tokens > 0
    assert done.duration_s is not None and done.queued_s is not None
    assert all(s.duration_s is not None for s in done.steps)


async def test_run_details_of_a_failed_run(aclient: Any) -> None:
    assistant = await aclient.beta.assistants.create(model="echo")
    thread = await aclient.beta.threads.create()
    await aclient.beta.threads.messages.create(thread.id, role="user", content="/fail")
    run = await aclient.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    details = await fetch_run_details(aclient, thread.id, run.id)
    assert details.status == "failed" and details.ended_how == "failed"
    assert details.error is not None and details.error.startswith("server_error")
    with pytest.raises(RunDetailsError):
        await fetch_run_details(aclient, thread.id, "run_doesnotexist")


async def test_thread_summary(aclient: Any) -> None:
    assistant = await aclient.beta.assistants.create(model="echo")
    thread = await aclient.beta.threads.create()
    await aclient.beta.threads.messages.create(thread.id, role="user", content="first line\nmore")
    await aclient.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    summary = await fetch_thread_summary(aclient, f"  {thread.id} ")
    assert summary.id == thread.id
    assert summary.title == "first line"
    assert summary.assistant_id == assistant.id
    assert summary.preview == "You said: first line more"
    assert summary.messages == 2
    with pytest.raises(ImportFailed, match="no thread"):
        await fetch_thread_summary(aclient, "thread_doesnotexist")
    with pytest.raises(ImportFailed):
        await fetch_thread_summary(aclient, " ")


def test_pretty_json() -> None:
    assert pretty_json('{"a":1}') == '{\n  "a": 1\n}'
    assert pretty_json("not json") == "not json"
