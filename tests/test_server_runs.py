"""Conformance: the run state machine over REST + polling (protocol notes §3.5, §4.4, §4.5, §6)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
import openai
import pytest

from conftest import BACKEND_PARAMS
from server_helpers import (
    CALL_WEATHER,
    CALL_WEATHER_ARGS,
    GET_WEATHER_TOOL,
    TERMINAL_STATUSES,
    assert_error_envelope,
    message_text,
    wait_for_run,
)


def _setup(client: Any, text: str, **assistant_kwargs: Any) -> tuple[Any, Any]:
    assistant_kwargs.setdefault("model", "echo")
    asst = client.beta.assistants.create(**assistant_kwargs)
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content=text)
    return asst, thread


def _last_assistant_message(client: Any, thread_id: str) -> Any:
    msgs = client.beta.threads.messages.list(thread_id, limit=1)
    assert msgs.data, "no messages"
    assert msgs.data[0].role == "assistant"
    return msgs.data[0]


def _assert_terminal_shape(run: Any) -> None:
    assert run.status in TERMINAL_STATUSES
    assert run.expires_at is None, "expires_at must be null once the run is terminal"
    assert run.required_action is None
    assert isinstance(run.instructions, str)


# --------------------------------------------------------------------------- lifecycle


def test_create_and_poll_completes(client: Any) -> None:
    asst, thread = _setup(client, "hello world", instructions="Be an echo.")
    before = int(time.time())
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    after = int(time.time())
    assert run.status == "completed"
    _assert_terminal_shape(run)
    assert run.object == "thread.run"
    assert run.id.startswith("run_")
    assert run.thread_id == thread.id
    assert run.assistant_id == asst.id
    assert run.model == "echo"
    assert run.instructions == "Be an echo."
    assert run.tools == []
    assert run.parallel_tool_calls is True
    assert before <= run.created_at <= after
    assert run.started_at is not None and run.completed_at is not None
    assert run.created_at <= run.started_at <= run.completed_at <= after
    assert run.failed_at is None and run.cancelled_at is None
    assert run.last_error is None and run.incomplete_details is None
    assert run.usage is not None
    reply = "You said: hello world"
    assert run.usage.completion_tokens == len(reply.split())
    assert run.usage.prompt_tokens >= 2
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens

    msg = _last_assistant_message(client, thread.id)
    assert message_text(msg) == reply
    assert msg.status == "completed"
    assert msg.run_id == run.id
    assert msg.assistant_id == asst.id
    assert msg.completed_at is not None
    assert msg.content[0].text.annotations == []


def test_run_states_observed_while_active(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 1500")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    assert run.status == "queued"
    assert run.started_at is None
    assert run.usage is None
    assert run.expires_at == run.created_at + 600
    assert run.completed_at is None
    running = wait_for_run(client, thread.id, run.id, {"in_progress"}, timeout=1.2)
    assert running.started_at is not None
    assert running.usage is None
    assert running.expires_at == run.created_at + 600
    done = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=50)
    assert done.status == "completed"
    _assert_terminal_shape(done)
    assert done.usage is not None
    assert message_text(_last_assistant_message(client, thread.id)) == "slept 1500"


def test_poll_after_header(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 200")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    value = raw.headers.get("openai-poll-after-ms")
    assert value is not None, "openai-poll-after-ms header missing"
    assert 0 < int(value) <= 1000
    client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=50)


def test_create_and_poll_honours_poll_after(client: Any) -> None:
    """Without a custom interval, create_and_poll sleeps per the header (the default is 1 s)."""
    asst, thread = _setup(client, "/sleep 200")
    start = time.monotonic()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    elapsed = time.monotonic() - start
    assert run.status == "completed"
    assert elapsed < 0.95, f"create_and_poll took {elapsed:.2f}s: poll-after header not snappy"


def test_create_and_run_poll(client: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=asst.id,
        thread={"messages": [{"role": "user", "content": "new thread"}]},
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    assert run.thread_id.startswith("thread_")
    msg = _last_assistant_message(client, run.thread_id)
    assert message_text(msg) == "You said: new thread"


def test_run_returns_queued_and_validates(client: Any, spec: Any) -> None:
    asst, thread = _setup(client, "hi")
    raw = client.beta.threads.runs.with_raw_response.create(thread.id, assistant_id=asst.id)
    data = json.loads(raw.http_response.text)
    spec.validate(data, "RunObject")
    assert data["status"] == "queued"
    assert data["instructions"] == ""
    assert data["metadata"] == {}
    client.beta.threads.runs.poll(data["id"], thread_id=thread.id, poll_interval_ms=20)


# --------------------------------------------------------------------------- thread lock


def _counting_client(server: Any, counter: list[str]) -> Any:
    def hook(request: httpx2.Request) -> None:
        counter.append(f"{request.method} {request.url.path}")

    http = httpx2.Client(event_hooks={"request": [hook]})
    return server.client(http_client=http, max_retries=2)


def test_thread_locked_during_active_run(server: Any, client: Any) -> None:
    asst, thread = _setup(client, "/sleep 2000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    requests: list[str] = []
    with _counting_client(server, requests) as counting:
        with pytest.raises(openai.BadRequestError) as exc:
            counting.beta.threads.messages.create(thread.id, role="user", content="intrude")
        assert exc.value.status_code == 400
        assert exc.value.type == "invalid_request_error"
        assert thread.id in exc.value.body["message"] and run.id in exc.value.body["message"]
        assert len(requests) == 1, f"the 400 was retried: {requests}"

        requests.clear()
        with pytest.raises(openai.BadRequestError) as exc:
            counting.beta.threads.runs.create(thread.id, assistant_id=asst.id)
        assert run.id in exc.value.body["message"]
        assert len(requests) == 1, f"the 400 was retried: {requests}"

        requests.clear()
        with pytest.raises(openai.BadRequestError):
            counting.beta.threads.runs.create(
                thread.id,
                assistant_id=asst.id,
                additional_messages=[{"role": "user", "content": "x"}],
            )
        assert len(requests) == 1

    # Only the one run exists and no extra message got in.
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]
    msgs = client.beta.threads.messages.list(thread.id)
    assert [message_text(m) for m in msgs.data] == ["/sleep 2000"]

    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelling"
    final = wait_for_run(client, thread.id, run.id, timeout=5)
    assert final.status == "cancelled"
    # Unlocked again.
    client.beta.threads.messages.create(thread.id, role="user", content="after")
    again = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert again.status == "completed"


def test_thread_locked_while_requires_action(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(thread.id, role="user", content="no")
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    wait_for_run(client, thread.id, run.id, timeout=5)


def test_other_threads_not_locked(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 1000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    other = client.beta.threads.create()
    client.beta.threads.messages.create(other.id, role="user", content="free")
    run2 = client.beta.threads.runs.create_and_poll(
        thread_id=other.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run2.status == "completed"
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    wait_for_run(client, thread.id, run.id, timeout=5)


# --------------------------------------------------------------------------- cancel


def test_cancel_queued_or_in_progress(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 3000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    start = time.monotonic()
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    assert cancelling.id == run.id
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=30)
    assert final.status == "cancelled"
    assert time.monotonic() - start < 2.5, "cancel must interrupt the sleeping engine"
    _assert_terminal_shape(final)
    assert final.cancelled_at is not None
    assert final.completed_at is None and final.failed_at is None
    # No reply was added for the cancelled run.
    assert [m.role for m in client.beta.threads.messages.list(thread.id).data] == ["user"]


def test_cancel_in_progress_run(client: Any) -> None:
    asst, thread = _setup(client, "/sleep 3000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    wait_for_run(client, thread.id, run.id, {"in_progress"}, timeout=2)
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    final = wait_for_run(client, thread.id, run.id, timeout=2.5)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    assert final.started_at is not None


def test_cancel_requires_action(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    final = wait_for_run(client, thread.id, run.id, timeout=5)
    assert final.status == "cancelled"
    _assert_terminal_shape(final)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["tool_calls"]
    assert steps[0].status == "cancelled"
    assert steps[0].cancelled_at is not None
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_x", "output": "late"}],
        )


def test_cancel_terminal_run_is_400(client: Any, raw: Any) -> None:
    asst, thread = _setup(client, "done soon")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert exc.value.type == "invalid_request_error"
    assert "completed" in exc.value.body["message"]
    r = raw.post(f"threads/{thread.id}/runs/{run.id}/cancel")
    assert_error_envelope(r, 400)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_cancel_with_empty_body(client: Any, raw: Any) -> None:
    """The SDK posts /cancel with content-type JSON and Content-Length: 0."""
    asst, thread = _setup(client, "/sleep 3000")
    run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    r = raw.post(
        f"threads/{thread.id}/runs/{run.id}/cancel", headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelling"
    assert wait_for_run(client, thread.id, run.id, timeout=5).status == "cancelled"


# --------------------------------------------------------------------------- failures and limits


def test_fail_command(client: Any) -> None:
    asst, thread = _setup(client, "/fail")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "failed"
    _assert_terminal_shape(run)
    assert run.last_error is not None
    assert run.last_error.code == "server_error"
    assert run.last_error.message
    assert run.failed_at is not None
    assert run.completed_at is None and run.cancelled_at is None
    # The thread is usable again.
    client.beta.threads.messages.create(thread.id, role="user", content="again")
    ok = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert ok.status == "completed"


def test_unknown_model_fails_run_cleanly(client: Any) -> None:
    asst, thread = _setup(client, "hello", model="no-such-model-xyz")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code in {"server_error", "invalid_prompt"}
    assert "no-such-model-xyz" in run.last_error.message
    assert run.failed_at is not None


def test_unknown_model_override_never_500(client: Any) -> None:
    asst, thread = _setup(client, "hello")
    try:
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, model="missing-model", poll_interval_ms=20
        )
    except openai.BadRequestError as exc:
        assert "missing-model" in exc.body["message"]
    else:
        assert run.status == "failed"
        assert "missing-model" in run.last_error.message


def test_max_completion_tokens_incomplete(client: Any) -> None:
    asst, thread = _setup(client, "/long 1000")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=256, poll_interval_ms=20
    )
    assert run.status == "incomplete"
    _assert_terminal_shape(run)
    assert run.max_completion_tokens == 256
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None
    assert 0 < run.usage.completion_tokens <= 256
    msg = _last_assistant_message(client, thread.id)
    assert msg.status == "incomplete"
    assert msg.incomplete_details is not None
    assert msg.incomplete_details.reason == "max_tokens"
    assert msg.incomplete_at is not None
    assert msg.completed_at is None
    assert message_text(msg)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == msg.id


def test_capped_reply_has_at_most_cap_words(client: Any) -> None:
    """Echo counts one token per whitespace-separated word, so a 256-token cap is 256 words."""
    asst, thread = _setup(client, "/long 1000")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=256, poll_interval_ms=20
    )
    text = message_text(_last_assistant_message(client, thread.id))
    assert len(text.split()) == run.usage.completion_tokens <= 256


def test_long_reply_completes_without_limit(client: Any) -> None:
    asst, thread = _setup(client, "/long 300")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    text = message_text(_last_assistant_message(client, thread.id))
    assert "```" in text
    assert "#" in text
    assert run.usage.completion_tokens == len(text.split())


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_prompt_tokens"])
def test_token_limits_below_256_rejected(client: Any, field: str) -> None:
    asst, thread = _setup(client, "x")
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.runs.create(thread.id, assistant_id=asst.id, **{field: 100})
    assert exc.value.param in (field, None)
    assert client.beta.threads.runs.list(thread.id).data == []


def test_run_create_validation(client: Any, raw: Any) -> None:
    asst, thread = _setup(client, "x")
    path = f"threads/{thread.id}/runs"
    err = assert_error_envelope(raw.post(path, json={}), 400)
    assert err["code"] == "missing_required_parameter"
    assert err["param"] == "assistant_id"
    assert_error_envelope(raw.post(path, json={"assistant_id": asst.id, "bogus": 1}), 400)
    assert_error_envelope(raw.post(path, json={"assistant_id": asst.id, "temperature": 5}), 400)
    assert_error_envelope(
        raw.post(path, json={"assistant_id": asst.id, "truncation_strategy": {"type": "nope"}}),
        400,
    )
    assert client.beta.threads.runs.list(thread.id).data == []


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_run_expiry(start_server: Any) -> None:
    srv = start_server(run_expiry_s=2)
    with srv.client() as client:
        asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run.status == "requires_action"
        assert run.expires_at == run.created_at + 2
        final = wait_for_run(client, thread.id, run.id, timeout=6)
        assert final.status == "expired"
        _assert_terminal_shape(final)
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert [s.status for s in steps] == ["expired"]
        assert steps[0].expired_at is not None
        call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
        with pytest.raises(openai.BadRequestError):
            client.beta.threads.runs.submit_tool_outputs(
                run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "x"}]
            )
        # Thread usable again.
        client.beta.threads.messages.create(thread.id, role="user", content="later")
        ok = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert ok.status == "completed"


# --------------------------------------------------------------------------- overrides


def test_instructions_override(client: Any) -> None:
    asst, thread = _setup(client, "hi", instructions="Assistant instructions.")
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=asst.id, instructions="Run instructions."
    )
    assert run.instructions == "Run instructions."
    run = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=20)
    assert run.instructions == "Run instructions."


def test_additional_instructions_appended(client: Any) -> None:
    asst, thread = _setup(client, "hi", instructions="Base.")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        additional_instructions="Extra bit.",
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    assert run.instructions.startswith("Base.")
    assert run.instructions.endswith("Extra bit.")


def test_additional_messages(client: Any) -> None:
    asst, thread = _setup(client, "first")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        additional_messages=[
            {"role": "assistant", "content": "an aside"},
            {"role": "user", "content": "the real question"},
        ],
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    msgs = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [message_text(m) for m in msgs] == [
        "first",
        "an aside",
        "the real question",
        "You said: the real question",
    ]
    assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]


def test_model_temperature_tools_overrides(client: Any) -> None:
    asst, thread = _setup(client, "hi", temperature=0.3, top_p=0.8, tools=[GET_WEATHER_TOOL])
    other_tool = {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    }
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        model="gpt-4o",
        temperature=1.5,
        top_p=0.5,
        tools=[other_tool],
        metadata={"run": "meta"},
        parallel_tool_calls=False,
        tool_choice="auto",
        response_format={"type": "text"},
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    assert run.model == "gpt-4o"
    assert run.temperature == 1.5
    assert run.top_p == 0.5
    assert [t.function.name for t in run.tools] == ["get_time"]
    assert run.metadata == {"run": "meta"}
    assert run.parallel_tool_calls is False
    assert run.tool_choice == "auto"
    assert message_text(_last_assistant_message(client, thread.id)) == "You said: hi"


def test_assistant_settings_inherited(client: Any) -> None:
    asst, thread = _setup(client, "hi", temperature=0.3, top_p=0.8, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.temperature == 0.3
    assert run.top_p == 0.8
    assert [t.function.name for t in run.tools] == ["get_weather"]


def test_tools_override_enables_call(client: Any) -> None:
    """`/call` works only for a function the *run* has: the override counts."""
    asst, thread = _setup(client, CALL_WEATHER)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, tools=[GET_WEATHER_TOOL], poll_interval_ms=20
    )
    assert run.status == "requires_action"
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    wait_for_run(client, thread.id, run.id, timeout=5)


def test_call_without_tool_is_plain_echo(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    assert message_text(_last_assistant_message(client, thread.id)) == f"You said: {CALL_WEATHER}"


def test_truncation_strategy_last_messages(client: Any) -> None:
    asst, thread = _setup(client, "one")
    client.beta.threads.messages.create(thread.id, role="user", content="two")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        truncation_strategy={"type": "last_messages", "last_messages": 1},
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.type == "last_messages"
    assert run.truncation_strategy.last_messages == 1
    assert message_text(_last_assistant_message(client, thread.id)) == "You said: two"


def test_truncation_strategy_default_auto(client: Any) -> None:
    asst, thread = _setup(client, "x")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.type == "auto"


# --------------------------------------------------------------------------- tools over REST


def test_function_call_round_trip(client: Any, raw: Any, spec: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    assert run.expires_at is not None
    assert run.usage is None or run.usage.total_tokens >= 0
    ra = run.required_action
    assert ra.type == "submit_tool_outputs"
    calls = ra.submit_tool_outputs.tool_calls
    assert len(calls) == 1
    assert calls[0].id.startswith("call_")
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == CALL_WEATHER_ARGS

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert len(steps) == 1
    step = steps[0]
    assert step.type == "tool_calls" and step.status == "in_progress"
    tc = step.step_details.tool_calls[0]
    assert tc.id == calls[0].id
    assert tc.function.name == "get_weather"
    assert tc.function.arguments == calls[0].function.arguments
    assert tc.function.output is None

    submitted = client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": tc.id, "output": "18C"}]
    )
    assert submitted.status == "queued"
    assert submitted.required_action is None
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=20)
    assert final.status == "completed"
    _assert_terminal_shape(final)
    assert message_text(_last_assistant_message(client, thread.id)) == "get_weather returned: 18C"

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert all(s.status == "completed" for s in steps)
    assert steps[0].step_details.tool_calls[0].function.output == "18C"
    assert steps[0].completed_at is not None
    assert steps[0].usage is not None
    for s in steps:
        r = raw.get(f"threads/{thread.id}/runs/{run.id}/steps/{s.id}")
        assert r.status_code == 200
        spec.validate(r.json(), "RunStepObject")


def test_submit_wrong_tool_call_id_is_400(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_wrong", "output": "x"}],
        )
    with pytest.raises(openai.BadRequestError):  # missing output for the pending call
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=[])
    still = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert still.status == "requires_action"
    call_id = still.required_action.submit_tool_outputs.tool_calls[0].id
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call_id, "output": "ok"}],
        poll_interval_ms=20,
    )
    assert done.status == "completed"
    with pytest.raises(openai.BadRequestError):  # a completed run takes no outputs
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "ok"}]
        )


# --------------------------------------------------------------------------- steps, modify, list


def test_text_run_steps(client: Any, raw: Any, spec: Any) -> None:
    asst, thread = _setup(client, "step please")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert len(steps) == 1
    step = steps[0]
    assert step.id.startswith("step_")
    assert step.object == "thread.run.step"
    assert step.type == "message_creation"
    assert step.status == "completed"
    assert step.run_id == run.id and step.thread_id == thread.id and step.assistant_id == asst.id
    assert step.completed_at is not None
    assert step.usage is not None
    assert step.usage.completion_tokens == len(["You", "said:", "step", "please"])
    msg = _last_assistant_message(client, thread.id)
    assert step.step_details.type == "message_creation"
    assert step.step_details.message_creation.message_id == msg.id
    got = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id)
    assert got.id == step.id
    r = raw.get(
        f"threads/{thread.id}/runs/{run.id}/steps/{step.id}",
        params={"include[]": "step_details.tool_calls[*].file_search.results[*].content"},
    )
    assert r.status_code == 200, r.text
    spec.validate(r.json(), "RunStepObject")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve("step_nope", thread_id=thread.id, run_id=run.id)


def test_run_modify_metadata(client: Any) -> None:
    asst, thread = _setup(client, "x")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, metadata={"a": "1"}, poll_interval_ms=20
    )
    assert run.metadata == {"a": "1"}
    mod = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"b": "2"})
    assert mod.metadata == {"b": "2"}
    assert mod.status == "completed"
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).metadata == {"b": "2"}
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.update(
            run.id, thread_id=thread.id, metadata={f"k{i}": "v" for i in range(17)}
        )


def test_runs_list(client: Any) -> None:
    asst, thread = _setup(client, "first")
    r1 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    client.beta.threads.messages.create(thread.id, role="user", content="second")
    r2 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    listed = client.beta.threads.runs.list(thread.id)
    assert [r.id for r in listed.data] == [r2.id, r1.id]
    assert all(r.status == "completed" for r in listed.data)
    active = client.beta.threads.runs.list(thread.id, limit=1)
    assert active.data[0].id == r2.id


def test_tool_choice_none_disables_call(client: Any) -> None:
    asst, thread = _setup(client, CALL_WEATHER, tools=[GET_WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, tool_choice="none", poll_interval_ms=20
    )
    assert run.status == "completed"
    assert run.tool_choice == "none"
    assert message_text(_last_assistant_message(client, thread.id)) == f"You said: {CALL_WEATHER}"


def test_run_include_query_accepted(client: Any) -> None:
    asst, thread = _setup(client, "with include")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"],
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(
        run.id,
        thread_id=thread.id,
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    )
    assert len(steps.data) == 1


def test_step_of_other_run_is_404(client: Any) -> None:
    asst, thread = _setup(client, "one")
    r1 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    client.beta.threads.messages.create(thread.id, role="user", content="two")
    r2 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    step1 = client.beta.threads.runs.steps.list(r1.id, thread_id=thread.id).data[0]
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve(step1.id, thread_id=thread.id, run_id=r2.id)
    other = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve(r1.id, thread_id=other.id)


def test_run_messages_metadata(client: Any) -> None:
    """Run-created assistant messages carry run_id/assistant_id and completed timestamps."""
    asst, thread = _setup(client, "meta")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    msg = _last_assistant_message(client, thread.id)
    assert msg.run_id == run.id
    assert msg.assistant_id == asst.id
    assert msg.status == "completed"
    assert msg.incomplete_details is None and msg.incomplete_at is None
    assert run.created_at <= msg.created_at <= msg.completed_at <= run.completed_at
    assert msg.metadata == {}


def test_echo_replies_to_last_user_message(client: Any) -> None:
    """Echo contract: `You said: <text of the last user message>`, even when an assistant
    message (the previous reply, or one added via the API) comes after it."""
    asst, thread = _setup(client, "remember this")
    first = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert first.status == "completed"
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert second.status == "completed"
    assert message_text(_last_assistant_message(client, thread.id)) == "You said: remember this"
    client.beta.threads.messages.create(thread.id, role="assistant", content="an aside")
    client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert message_text(_last_assistant_message(client, thread.id)) == "You said: remember this"
