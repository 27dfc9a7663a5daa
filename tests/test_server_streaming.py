"""Conformance: SSE streaming, event order and the SDK stream helpers (protocol notes §5)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta import Thread
from openai.types.beta.threads import Message, MessageDeltaEvent, Run
from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent

from conftest import BACKEND_PARAMS
from server_helpers import (
    CALL_WEATHER,
    CALL_WEATHER_ARGS,
    GET_WEATHER_TOOL,
    TEXT_RUN_PREFIX,
    AsyncRecordingHandler,
    RecordingHandler,
    echo_words,
    expected_text_callbacks,
    message_text,
    parse_sse_strict,
    raw_http,
    stream_raw,
    text_run_events,
    validate_frames,
    wait_for_run,
)

TOOL_RUN_PREFIX = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
]


def _setup(client: Any, text: str | None, **assistant_kwargs: Any) -> tuple[Any, Any]:
    assistant_kwargs.setdefault("model", "echo")
    asst = client.beta.assistants.create(**assistant_kwargs)
    thread = client.beta.threads.create()
    if text is not None:
        client.beta.threads.messages.create(thread.id, role="user", content=text)
    return asst, thread


def _class_name(event_name: str) -> str:
    return "".join(p.capitalize() for part in event_name.split(".") for p in part.split("_"))


def _data_type(event_name: str) -> type:
    if event_name == "thread.created":
        return Thread
    if event_name == "thread.message.delta":
        return MessageDeltaEvent
    if event_name == "thread.run.step.delta":
        return RunStepDeltaEvent
    if event_name.startswith("thread.message."):
        return Message
    if event_name.startswith("thread.run.step."):
        return RunStep
    return Run


def _assert_typed(event: Any) -> None:
    assert type(event).__name__ == _class_name(event.event), (type(event).__name__, event.event)
    assert isinstance(event.data, _data_type(event.event)), (event.event, type(event.data))


def _split_tool_events(events: list[str]) -> tuple[list[str], int]:
    """Return (events without step deltas, number of step deltas)."""
    rest = [e for e in events if e != "thread.run.step.delta"]
    return rest, events.count("thread.run.step.delta")


# --------------------------------------------------------------------------- §5.4A text runs


def test_stream_text_event_order_and_callbacks(client: Any) -> None:
    asst, thread = _setup(client, "hello world")
    handler = RecordingHandler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, event_handler=handler
    ) as stream:
        stream.until_done()
    words = echo_words("hello world")
    assert handler.events == text_run_events(len(words))
    assert handler.deltas == words
    assert handler.calls == expected_text_callbacks(words)

    final_run = handler.get_final_run()
    assert final_run.status == "completed"
    assert final_run.expires_at is None
    assert final_run.usage is not None
    assert final_run.usage.completion_tokens == len(words)
    messages = handler.get_final_messages()
    assert len(messages) == 1
    assert message_text(messages[0]) == "You said: hello world"
    assert messages[0].status == "completed"
    steps = handler.get_final_run_steps()
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == messages[0].id

    stored = client.beta.threads.messages.retrieve(messages[0].id, thread_id=thread.id)
    assert message_text(stored) == "You said: hello world"
    assert stored.run_id == final_run.id


def test_stream_text_deltas_equal_final_message(client: Any) -> None:
    asst, thread = _setup(client, "/long 250")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        streamed = "".join(stream.text_deltas)
        final = stream.get_final_messages()
    assert len(final) == 1
    assert streamed == message_text(final[0])
    stored = client.beta.threads.messages.retrieve(final[0].id, thread_id=thread.id)
    assert message_text(stored) == streamed
    assert "```" in streamed


async def test_async_stream_event_order_and_callbacks(aclient: Any) -> None:
    asst = await aclient.beta.assistants.create(model="echo")
    thread = await aclient.beta.threads.create(
        messages=[{"role": "user", "content": "async hello"}]
    )
    handler = AsyncRecordingHandler()
    async with aclient.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, event_handler=handler
    ) as stream:
        await stream.until_done()
    words = echo_words("async hello")
    assert handler.events == text_run_events(len(words))
    assert handler.deltas == words
    assert handler.calls == expected_text_callbacks(words)
    run = await handler.get_final_run()
    assert run.status == "completed"
    messages = await handler.get_final_messages()
    assert [message_text(m) for m in messages] == ["You said: async hello"]
    steps = await handler.get_final_run_steps()
    assert [s.type for s in steps] == ["message_creation"]


async def test_async_text_deltas(aclient: Any) -> None:
    asst = await aclient.beta.assistants.create(model="echo")
    thread = await aclient.beta.threads.create(messages=[{"role": "user", "content": "a b c"}])
    async with aclient.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
        parts = [t async for t in s.text_deltas]
    assert parts == echo_words("a b c")


def test_raw_runs_create_stream_typed(client: Any) -> None:
    asst, thread = _setup(client, "typed events")
    stream = client.beta.threads.runs.create(thread.id, assistant_id=asst.id, stream=True)
    events = list(stream)
    for ev in events:
        _assert_typed(ev)
    words = echo_words("typed events")
    assert [e.event for e in events] == text_run_events(len(words))
    created = events[0].data
    assert created.status == "queued"
    assert events[1].data.status == "queued"
    assert events[2].data.status == "in_progress"
    assert events[2].data.started_at is not None
    step = events[3].data
    assert step.status == "in_progress"
    assert step.usage is None
    msg_created = events[5].data
    assert msg_created.status == "in_progress"
    assert msg_created.content == []
    assert msg_created.role == "assistant"
    assert msg_created.run_id == created.id
    assert msg_created.assistant_id == asst.id
    assert step.step_details.message_creation.message_id == msg_created.id
    deltas = [e.data for e in events if e.event == "thread.message.delta"]
    for d in deltas:
        assert d.id == msg_created.id
        assert d.object == "thread.message.delta"
        assert [c.index for c in d.delta.content] == [0]
        assert d.delta.content[0].type == "text"
    assert "".join(d.delta.content[0].text.value for d in deltas) == "You said: typed events"
    completed = events[-3].data
    assert completed.status == "completed"
    assert completed.completed_at is not None
    assert message_text(completed) == "You said: typed events"
    step_done = events[-2].data
    assert step_done.status == "completed"
    assert step_done.usage is not None
    run_done = events[-1].data
    assert run_done.status == "completed"
    assert run_done.expires_at is None
    assert run_done.usage is not None
    assert {e.data.id for e in events if isinstance(e.data, Run)} == {created.id}


def test_create_and_run_stream_thread_created_first(client: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    stream = client.beta.threads.create_and_run(
        assistant_id=asst.id,
        thread={"messages": [{"role": "user", "content": "fresh thread"}]},
        stream=True,
    )
    events = list(stream)
    for ev in events:
        _assert_typed(ev)
    words = echo_words("fresh thread")
    assert [e.event for e in events] == ["thread.created", *text_run_events(len(words))]
    thread = events[0].data
    assert thread.id.startswith("thread_")
    assert all(e.data.thread_id == thread.id for e in events[1:] if isinstance(e.data, Run))
    assert message_text(events[-3].data) == "You said: fresh thread"
    msgs = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [message_text(m) for m in msgs] == ["fresh thread", "You said: fresh thread"]


def test_create_and_run_stream_helper(client: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    handler = RecordingHandler()
    with client.beta.threads.create_and_run_stream(
        assistant_id=asst.id,
        thread={"messages": [{"role": "user", "content": "helper"}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()
    words = echo_words("helper")
    assert handler.events == ["thread.created", *text_run_events(len(words))]
    assert handler.deltas == words


# --------------------------------------------------------------------------- raw HTTP framing


def test_raw_http_framing_and_spec(server: Any, client: Any, spec: Any) -> None:
    asst, thread = _setup(client, "frame me")
    with (
        raw_http(server) as http,
        http.stream(
            "POST",
            f"threads/{thread.id}/runs",
            json={"assistant_id": asst.id, "stream": True},
            headers={"accept": "application/json"},  # the SDK sends this, even when streaming
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode("utf-8")
    assert body.endswith("event: done\ndata: [DONE]\n\n")
    frames, _comments = parse_sse_strict(body)
    validate_frames(spec, frames)
    words = echo_words("frame me")
    assert [f.event for f in frames] == [*text_run_events(len(words)), "done"]
    for f in frames[:-1]:
        assert "\n" not in f.data
        assert isinstance(json.loads(f.data), dict)
    deltas = [f.json() for f in frames if f.event == "thread.message.delta"]
    first = deltas[0]["delta"]["content"][0]
    assert first["index"] == 0 and first["type"] == "text"
    assert first["text"]["annotations"] == []
    assert [d["delta"]["content"][0]["text"]["value"] for d in deltas] == words
    step_created = frames[3].json()
    assert step_created["step_details"]["type"] == "message_creation"
    assert step_created["usage"] is None
    assert "expired_at" in step_created


def test_raw_http_create_and_run_frames(server: Any, client: Any, spec: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    with raw_http(server) as http:
        _, frames = stream_raw(
            http,
            "threads/runs",
            {
                "assistant_id": asst.id,
                "stream": True,
                "thread": {"messages": [{"role": "user", "content": "x"}]},
            },
        )
    validate_frames(spec, frames)
    assert frames[0].event == "thread.created"
    assert frames[0].json()["object"] == "thread"


def test_raw_http_tool_and_submit_frames(server: Any, client: Any, spec: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    with raw_http(server) as http:
        _, frames = stream_raw(
            http, f"threads/{thread.id}/runs", {"assistant_id": asst.id, "stream": True}
        )
        validate_frames(spec, frames)
        names = [f.event for f in frames]
        rest, n = _split_tool_events(names)
        assert rest == [*TOOL_RUN_PREFIX, "thread.run.requires_action", "done"]
        assert n >= 2
        created = frames[0].json()
        assert created["status"] == "queued"
        assert created["expires_at"] == created["created_at"] + 600
        step = frames[3].json()
        assert step["step_details"] == {"type": "tool_calls", "tool_calls": []}
        step_deltas = [f.json() for f in frames if f.event == "thread.run.step.delta"]
        intro = step_deltas[0]["delta"]["step_details"]
        assert intro["type"] == "tool_calls"
        (call0,) = intro["tool_calls"]
        assert call0["index"] == 0
        assert call0["type"] == "function"
        assert call0["id"].startswith("call_")
        assert call0["function"] == {"name": "get_weather", "arguments": "", "output": None}
        fragments = []
        for d in step_deltas[1:]:
            (tc,) = d["delta"]["step_details"]["tool_calls"]
            assert tc["index"] == 0
            assert set(tc["function"]) == {"arguments"}, tc
            fragments.append(tc["function"]["arguments"])
        run = frames[-2].json()
        call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
        assert call["id"] == call0["id"]
        assert call["function"]["arguments"] == "".join(fragments)
        assert run["expires_at"] == run["created_at"] + 600
        _, frames2 = stream_raw(
            http,
            f"threads/{thread.id}/runs/{run['id']}/submit_tool_outputs",
            {"tool_outputs": [{"tool_call_id": call["id"], "output": "18C"}], "stream": True},
        )
    validate_frames(spec, frames2)
    assert frames2[0].event == "thread.run.step.completed"
    done_step = frames2[0].json()
    assert done_step["id"] == step["id"]
    assert done_step["step_details"]["tool_calls"][0]["function"]["output"] == "18C"
    assert done_step["usage"] is not None
    completed_msg = next(f.json() for f in frames2 if f.event == "thread.message.completed")
    assert completed_msg["content"] == [
        {"type": "text", "text": {"value": "get_weather returned: 18C", "annotations": []}}
    ]
    assert frames2[-1].event == "done"
    assert frames2[-2].event == "thread.run.completed"


@pytest.mark.parametrize(
    ("text", "extra", "last_run_event"),
    [
        ("/fail", {}, "thread.run.failed"),
        ("/long 1000", {"max_completion_tokens": 256}, "thread.run.incomplete"),
        ("/sleep 300", {}, "thread.run.completed"),
    ],
)
def test_raw_http_terminal_frames_validate(
    server: Any, client: Any, spec: Any, text: str, extra: dict[str, Any], last_run_event: str
) -> None:
    asst, thread = _setup(client, text)
    with raw_http(server) as http:
        _, frames = stream_raw(
            http, f"threads/{thread.id}/runs", {"assistant_id": asst.id, "stream": True, **extra}
        )
    validate_frames(spec, frames)
    assert frames[-2].event == last_run_event
    assert frames[0].event == "thread.run.created"


def test_stream_errors_before_first_byte_are_json(client: Any, raw: Any) -> None:
    asst, thread = _setup(client, "x")
    with (
        pytest.raises(openai.NotFoundError),
        client.beta.threads.runs.stream(thread_id=thread.id, assistant_id="asst_nope") as s,
    ):
        s.until_done()
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create("thread_nope", assistant_id=asst.id, stream=True)
    r = raw.post(f"threads/{thread.id}/runs", json={"assistant_id": "asst_nope", "stream": True})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()["error"]) >= {"message", "type", "param", "code"}


def test_stream_on_locked_thread_is_400(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 2000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    with (
        pytest.raises(openai.BadRequestError),
        client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s,
    ):
        s.until_done()
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    wait_for_run(client, thread.id, run.id, timeout=5)


# --------------------------------------------------------------------------- §5.4B/C tools


def test_function_call_stream_and_submit(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    step_deltas: list[Any] = []

    class Capture(RecordingHandler):
        def on_run_step_delta(self, delta: Any, snapshot: Any) -> None:
            step_deltas.append(delta)
            super().on_run_step_delta(delta, snapshot)

    handler = Capture()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, event_handler=handler
    ) as stream:
        stream.until_done()

    rest, n = _split_tool_events(handler.events)
    assert rest == [*TOOL_RUN_PREFIX, "thread.run.requires_action"]
    assert handler.events[: len(TOOL_RUN_PREFIX)] == TOOL_RUN_PREFIX
    assert n >= 2, "expected an introducing delta plus argument fragments"

    run = handler.get_final_run()
    assert run.status == "requires_action"
    assert run.expires_at is not None
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == CALL_WEATHER_ARGS

    # The step was created empty, then one delta introduced the call, then arguments fragments.
    steps = handler.get_final_run_steps()
    assert len(steps) == 1 and steps[0].type == "tool_calls"
    first = step_deltas[0].step_details.tool_calls[0]
    assert first.index == 0
    assert first.id == call.id
    assert first.type == "function"
    assert first.function.name == "get_weather"
    assert first.function.arguments == ""
    assert first.function.output is None
    fragments = []
    for d in step_deltas[1:]:
        tc = d.step_details.tool_calls[0]
        assert tc.index == 0
        assert tc.function.name is None
        fragments.append(tc.function.arguments)
    assert "".join(fragments) == call.function.arguments
    snapshot_call = steps[0].step_details.tool_calls[0]
    assert snapshot_call.function.arguments == call.function.arguments
    assert snapshot_call.id == call.id

    tool_calls = [c for c in handler.calls if c[0].startswith("tool_call")]
    assert tool_calls[0] == ("tool_call_created", "get_weather")
    assert tool_calls[-1] == ("tool_call_done", call.function.arguments)
    assert all(c[0] == "tool_call_delta" for c in tool_calls[1:-1])
    assert tool_calls[-2][1] == call.function.arguments
    with pytest.raises(RuntimeError):
        handler.get_final_messages()  # no message in a requires_action stream

    # §5.4C: submit and keep streaming the same run.
    handler2 = RecordingHandler()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        run_id=run.id,
        thread_id=thread.id,
        event_handler=handler2,
    ) as stream2:
        stream2.until_done()
    words = ["get_weather", " returned:", " 18C"]
    assert handler2.events == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
        *TEXT_RUN_PREFIX[3:],
        *["thread.message.delta"] * len(words),
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert handler2.deltas == words
    final = handler2.get_final_run()
    assert final.id == run.id
    assert final.status == "completed"
    assert [message_text(m) for m in handler2.get_final_messages()] == ["get_weather returned: 18C"]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == "18C"


def test_submit_stream_events_typed(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    events = list(client.beta.threads.runs.create(thread.id, assistant_id=asst.id, stream=True))
    for ev in events:
        _assert_typed(ev)
    step_created = events[3].data
    assert step_created.type == "tool_calls"
    assert step_created.step_details.tool_calls == []
    run = events[-1].data
    assert events[-1].event == "thread.run.requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    events2 = list(
        client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
            stream=True,
        )
    )
    for ev in events2:
        _assert_typed(ev)
    step_done = events2[0].data
    assert step_done.id == step_created.id
    assert step_done.status == "completed"
    assert step_done.step_details.tool_calls[0].function.output == "sunny"
    assert step_done.step_details.tool_calls[0].function.arguments == call.function.arguments
    queued = events2[1].data
    assert queued.status == "queued" and queued.required_action is None
    assert events2[-1].data.status == "completed"


def test_nested_submit_inside_on_event(client: Any) -> None:
    """The documented pattern: submit from on_event(requires_action) while stream 1 is open."""
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    inner_handlers: list[RecordingHandler] = []

    class Outer(AssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[str] = []

        def on_event(self, event: Any) -> None:
            self.events.append(event.event)
            if event.event == "thread.run.requires_action":
                run = event.data
                outputs = [
                    {"tool_call_id": tc.id, "output": "18C"}
                    for tc in run.required_action.submit_tool_outputs.tool_calls
                ]
                inner = RecordingHandler()
                inner_handlers.append(inner)
                with client.beta.threads.runs.submit_tool_outputs_stream(
                    tool_outputs=outputs,
                    run_id=run.id,
                    thread_id=run.thread_id,
                    event_handler=inner,
                ) as s:
                    s.until_done()

    outer = Outer()
    done = threading.Event()
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            with client.beta.threads.runs.stream(
                thread_id=thread.id, assistant_id=asst.id, event_handler=outer
            ) as stream:
                stream.until_done()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=drive, daemon=True)
    worker.start()
    assert done.wait(15), "nested submit deadlocked (server must serve requests concurrently)"
    assert not errors, errors
    assert outer.events[-1] == "thread.run.requires_action"
    assert len(inner_handlers) == 1
    inner = inner_handlers[0]
    assert inner.events[-1] == "thread.run.completed"
    assert "".join(inner.deltas) == "get_weather returned: 18C"


async def test_async_function_call_flow(aclient: Any) -> None:
    asst = await aclient.beta.assistants.create(model="echo", tools=[GET_WEATHER_TOOL])
    thread = await aclient.beta.threads.create(messages=[{"role": "user", "content": CALL_WEATHER}])
    h1 = AsyncRecordingHandler()
    async with aclient.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, event_handler=h1
    ) as s:
        await s.until_done()
    run = await h1.get_final_run()
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    tool_calls = [c for c in h1.calls if c[0].startswith("tool_call")]
    assert tool_calls[0] == ("tool_call_created", "get_weather")
    assert tool_calls[-1] == ("tool_call_done", call.function.arguments)
    h2 = AsyncRecordingHandler()
    async with aclient.beta.threads.runs.submit_tool_outputs_stream(
        tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        run_id=run.id,
        thread_id=thread.id,
        event_handler=h2,
    ) as s2:
        await s2.until_done()
    assert "".join(h2.deltas) == "get_weather returned: 18C"
    assert (await h2.get_final_run()).status == "completed"


def test_submit_wrong_tool_call_id_stream_is_400(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
        run = s.get_final_run()
    with (
        pytest.raises(openai.BadRequestError) as exc,
        client.beta.threads.runs.submit_tool_outputs_stream(
            tool_outputs=[{"tool_call_id": "call_wrong", "output": "x"}],
            run_id=run.id,
            thread_id=thread.id,
        ) as s2,
    ):
        s2.until_done()
    assert exc.value.type == "invalid_request_error"
    still = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert still.status == "requires_action"
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    wait_for_run(client, thread.id, run.id, timeout=5)


def test_submit_on_completed_run_is_400(client: Any) -> None:
    asst, thread = _setup(client, "plain")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
        run = s.get_final_run()
    assert run.status == "completed"
    with (
        pytest.raises(openai.BadRequestError),
        client.beta.threads.runs.submit_tool_outputs_stream(
            tool_outputs=[{"tool_call_id": "call_x", "output": "x"}],
            run_id=run.id,
            thread_id=thread.id,
        ) as s2,
    ):
        s2.until_done()
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
        )


# --------------------------------------------------------------------------- failure/limits


def test_stream_fail(client: Any) -> None:
    asst, thread = _setup(client, "/fail")
    handler = RecordingHandler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, event_handler=handler
    ) as s:
        s.until_done()
    assert handler.events[:3] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert handler.events[-1] == "thread.run.failed"
    assert "thread.message.completed" not in handler.events
    created = handler.events.count("thread.run.step.created")
    assert handler.events.count("thread.run.step.failed") == created
    run = handler.get_final_run()
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert run.failed_at is not None
    assert not [c for c in handler.calls if c[0] == "exception"]


def test_stream_incomplete_max_tokens(client: Any) -> None:
    asst, thread = _setup(client, "/long 1000")
    handler = RecordingHandler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=256, event_handler=handler
    ) as s:
        s.until_done()
    n = handler.events.count("thread.message.delta")
    assert 0 < n <= 256
    assert handler.events == [
        *TEXT_RUN_PREFIX,
        *["thread.message.delta"] * n,
        "thread.message.incomplete",
        "thread.run.step.completed",
        "thread.run.incomplete",
    ]
    run = handler.get_final_run()
    assert run.incomplete_details.reason == "max_completion_tokens"
    msg = handler.get_final_messages()[0]
    assert msg.status == "incomplete"
    assert msg.incomplete_details.reason == "max_tokens"
    assert message_text(msg) == "".join(handler.deltas)


# --------------------------------------------------------------------------- cancel/disconnect


def test_cancel_during_stream(slow_server: Any) -> None:
    with slow_server.client() as client, slow_server.client() as other:
        asst, thread = _setup(client, "/long 500")
        events: list[Any] = []
        cancel_at: int | None = None
        cancel_response = None
        start = time.monotonic()
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
            for event in stream:
                events.append(event)
                n_deltas = sum(1 for e in events if e.event == "thread.message.delta")
                if cancel_at is None and n_deltas == 5:
                    cancel_at = len(events)
                    cancel_response = other.beta.threads.runs.cancel(
                        stream.current_run.id, thread_id=thread.id
                    )
        elapsed = time.monotonic() - start
    assert cancel_at is not None and cancel_response is not None
    assert cancel_response.status == "cancelling"
    assert elapsed < 8, "the stream did not stop promptly after cancel"
    names = [e.event for e in events]
    assert names[: len(TEXT_RUN_PREFIX)] == TEXT_RUN_PREFIX
    after = names[cancel_at:]
    assert "thread.run.cancelling" in after
    i = after.index("thread.run.cancelling")
    assert all(n == "thread.message.delta" for n in after[:i])
    assert all(n == "thread.message.delta" for n in after[i + 1 : -3])
    assert after[-3:] == [
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    streamed = "".join(
        e.data.delta.content[0].text.value for e in events if e.event == "thread.message.delta"
    )
    incomplete = events[-3].data
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details.reason == "run_cancelled"
    assert message_text(incomplete) == streamed
    assert events[-1].data.status == "cancelled"
    assert events[-1].data.cancelled_at is not None
    with slow_server.client() as client:
        stored = client.beta.threads.messages.retrieve(incomplete.id, thread_id=thread.id)
        assert stored.status == "incomplete"
        assert message_text(stored) == streamed
        run = client.beta.threads.runs.retrieve(events[-1].data.id, thread_id=thread.id)
        assert run.status == "cancelled"


def test_cancel_during_stream_raw_frames(slow_server: Any, spec: Any) -> None:
    with slow_server.client() as client, raw_http(slow_server) as http:
        asst, thread = _setup(client, "/long 500")
        lines: list[str] = []
        run_id = None
        deltas = 0
        with http.stream(
            "POST", f"threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}
        ) as response:
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("data: {") and run_id is None:
                    run_id = json.loads(line[6:])["id"]
                if line == "event: thread.message.delta":
                    deltas += 1
                    if deltas == 3:
                        r = http.post(f"threads/{thread.id}/runs/{run_id}/cancel")
                        assert r.status_code == 200, r.text
    frames, _ = parse_sse_strict("\n".join(lines) + "\n")
    validate_frames(spec, frames)
    assert frames[-2].event == "thread.run.cancelled"


def test_keep_alive_comments_harmless(server: Any, client: Any) -> None:
    """A slow reply may carry `: ping` comments; both raw parsing and the SDK cope."""
    asst, thread = _setup(client, "/sleep 1200")
    with raw_http(server) as http:
        _, frames = stream_raw(
            http, f"threads/{thread.id}/runs", {"assistant_id": asst.id, "stream": True}
        )
    assert frames[-2].event == "thread.run.completed"
    client.beta.threads.messages.create(thread.id, role="user", content="/sleep 1200")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
        assert "".join(s.text_deltas) == "slept 1200"
        assert s.get_final_run().status == "completed"


def test_disconnect_mid_stream_run_continues(slow_server: Any) -> None:
    with slow_server.client() as client, raw_http(slow_server) as http:
        asst, thread = _setup(client, "/long 60")
        run_id = None
        deltas = 0
        with http.stream(
            "POST", f"threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {") and run_id is None:
                    run_id = json.loads(line[6:])["id"]
                if line == "event: thread.message.delta":
                    deltas += 1
                    if deltas == 3:
                        break  # leaving the block closes the connection
        assert run_id is not None
        run = wait_for_run(client, thread.id, run_id, timeout=15)
        assert run.status == "completed"
        msg = client.beta.threads.messages.list(thread.id, limit=1).data[0]
        assert msg.status == "completed"
        assert msg.run_id == run_id
        assert len(message_text(msg).split()) > 3
        assert run.usage is not None
        assert run.usage.completion_tokens > 3


def test_sdk_stream_closed_early_run_continues(slow_server: Any) -> None:
    with slow_server.client() as client:
        asst, thread = _setup(client, "/long 40")
        run_id = None
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
            for event in s:
                if event.event == "thread.message.delta":
                    run_id = s.current_run.id
                    break
        assert run_id is not None
        run = wait_for_run(client, thread.id, run_id, timeout=15)
        assert run.status == "completed"


def test_multiline_unicode_reply_framing(server: Any, client: Any, spec: Any) -> None:
    """Newlines and non-ASCII in deltas stay inside one JSON-escaped `data:` line."""
    text = "line one\nline two 世界 🎉"
    asst, thread = _setup(client, text)
    with (
        raw_http(server) as http,
        http.stream(
            "POST", f"threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}
        ) as response,
    ):
        assert response.status_code == 200
        assert "no-cache" in response.headers.get("cache-control", "")
        body = response.read().decode("utf-8")
    frames, _ = parse_sse_strict(body)
    validate_frames(spec, frames)
    deltas = [
        f.json()["delta"]["content"][0]["text"]["value"]
        for f in frames
        if f.event == "thread.message.delta"
    ]
    assert "".join(deltas) == f"You said: {text}"
    assert all(d.strip() for d in deltas)
    completed = next(f.json() for f in frames if f.event == "thread.message.completed")
    assert completed["content"][0]["text"]["value"] == f"You said: {text}"
    # The thread is unlocked after the stream.
    client.beta.threads.messages.create(thread.id, role="user", content="again")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as s:
        assert "".join(s.text_deltas) == "You said: again"


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_run_overrunning_expiry_expires_in_stream(start_server: Any, spec: Any) -> None:
    """A run still working at expires_at ends `expired` (§4.4), also on an open stream (§5.4E)."""
    srv = start_server(run_expiry_s=1)
    with srv.client() as client, raw_http(srv) as http:
        asst, thread = _setup(client, "/sleep 4000")
        start = time.monotonic()
        _, frames = stream_raw(
            http, f"threads/{thread.id}/runs", {"assistant_id": asst.id, "stream": True}
        )
        elapsed = time.monotonic() - start
        validate_frames(spec, frames)
        names = [f.event for f in frames]
        assert names[-2] == "thread.run.expired"
        assert names.count("thread.run.step.created") == names.count("thread.run.step.expired")
        assert "thread.message.completed" not in names
        assert elapsed < 3.5, "the run was not expired at expires_at"
        run = client.beta.threads.runs.retrieve(frames[-2].json()["id"], thread_id=thread.id)
        assert run.status == "expired"
        assert run.expires_at is None
