"""The run driver with a broken stream: the view shows the error and RunError says so."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from spool.client.runs import RunDriver, RunError
from spool.client.view_model import MessageItem, NoticeItem, ThreadView


class BrokenStream:
    """An async stream manager that yields a message start and a delta, then breaks."""

    def __init__(self) -> None:
        run = NS(
            id="run_1", status="in_progress", model="echo", assistant_id="asst_1", usage=None,
            last_error=None, incomplete_details=None, required_action=None,
        )  # fmt: skip
        message = NS(
            id="msg_1", role="assistant", content=[], status="in_progress", run_id="run_1",
            created_at=0,
        )  # fmt: skip
        delta = NS(
            id="msg_1",
            delta=NS(content=[NS(type="text", text=NS(value="Hel"))]),
        )
        self.events = [
            NS(event="thread.run.created", data=run),
            NS(event="thread.message.created", data=message),
            NS(event="thread.message.delta", data=delta),
        ]

    async def __aenter__(self) -> BrokenStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def __aiter__(self) -> BrokenStream:
        return self

    async def __anext__(self) -> Any:
        if self.events:
            return self.events.pop(0)
        raise ValueError("malformed event")


def fake_client() -> Any:
    async def create(thread_id: str, **kwargs: Any) -> Any:
        return NS(id="msg_user", created_at=1)

    threads = NS(
        messages=NS(create=create),
        runs=NS(stream=lambda **kwargs: BrokenStream()),
    )
    return NS(beta=NS(threads=threads))


async def test_malformed_stream_is_shown_and_raised() -> None:
    driver = RunDriver(fake_client(), clock=lambda: 100.0)
    view = ThreadView("thread_1")
    changes: list[str] = []
    view.listeners.append(lambda v, c: changes.append(c.kind))
    with pytest.raises(RunError) as info:
        await driver.send(view, "hello", "asst_1")
    assert info.value.sent
    assert "malformed event" in str(info.value)
    user, reply, notice = view.items
    assert isinstance(user, MessageItem) and user.id == "msg_user"
    assert isinstance(reply, MessageItem) and reply.text == "Hel" and reply.status == "incomplete"
    assert isinstance(notice, NoticeItem) and "malformed" in notice.text
    assert view.run is not None and view.run.status == "failed" and not view.active
    assert "run" in changes and "add" in changes


async def test_refused_message_is_not_sent() -> None:
    async def refuse(thread_id: str, **kwargs: Any) -> Any:
        raise RuntimeError("Thread thread_1 already has an active run")

    client = fake_client()
    client.beta.threads.messages.create = refuse
    driver = RunDriver(client)
    view = ThreadView("thread_1")
    with pytest.raises(RunError) as info:
        await driver.send(view, "hello", "asst_1")
    assert not info.value.sent
    # the message stays where it was typed, marked unsent with the reason (sent again later)
    [item] = view.items
    assert isinstance(item, MessageItem) and item.status == "unsent" and item.local
    assert "already has an active run" in (item.error or "")
    assert view.run is None


async def test_reloaded_thread_shows_past_tool_calls(aclient: Any) -> None:
    """Tool calls are not in the messages API: loading a thread brings them from the steps."""
    from spool.client.view_model import ToolCallItem

    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    assistant = await aclient.beta.assistants.create(model="echo", tools=[tool])
    thread = await aclient.beta.threads.create(
        messages=[{"role": "user", "content": '/call add {"a": 2, "b": 3}'}]
    )
    run = await aclient.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    await aclient.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "5"}]
    )
    view = ThreadView(thread.id)
    await RunDriver(aclient).load(view)
    kinds = [type(item).__name__ for item in view.items]
    assert kinds == ["MessageItem", "ToolCallItem", "MessageItem"]
    item = view.items[1]
    assert isinstance(item, ToolCallItem)
    assert (item.name, item.output, item.status) == ("add", "5", "completed")
    assert item.pretty_arguments.replace(" ", "").replace("\n", "") == '{"a":2,"b":3}'
    assert view.items[2].text == "add returned: 5"
