"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

The engine streams `POST {base_url}/chat/completions` through the `openai` SDK's `AsyncOpenAI`
(imported lazily), maps function tools, `tool_choice` and `parallel_tool_calls` both ways, and
turns every upstream failure into an `EngineError` whose message names the upstream URL and the
HTTP status. Token usage comes from the upstream (`stream_options.include_usage`, dropped once
for upstreams that reject it with 400); when the upstream reports none, `Finish.usage` is an
estimate (about 4 characters a token), and so is `count_tokens`, since the upstream's tokenizer
is not known here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

from spool.config import ModelSpec
from spool.server.engines.base import (
    ChatMessage,
    EngineError,
    EngineEvent,
    EngineRequest,
    Finish,
    TextDelta,
    ToolCallDelta,
    Usage,
)

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_FINISH["function_call"] = "tool_calls"


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Engine messages → chat-completions messages (assistant tool_calls, tool results)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "tool":
            out.append(
                {"role": "tool", "tool_call_id": msg.tool_call_id or "", "content": msg.content}
            )
        elif msg.role == "assistant" and msg.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    # "" rather than null: chat templates that concatenate content (llama.cpp,
                    # LM Studio) fail on null; OpenAI accepts both.
                    "content": msg.content,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in msg.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": msg.role, "content": msg.content})
    return out


def to_openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function definitions ({"name", "description", "parameters"}) → chat-completions tools."""
    out = []
    for tool in tools:
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
        if function.get("description") is None:
            function.pop("description", None)
        if function.get("strict") is None:
            function.pop("strict", None)
        out.append({"type": "function", "function": function})
    return out


def to_openai_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """ "none" | "auto" | "required" | {"name": ...} → the chat-completions `tool_choice`."""
    if isinstance(choice, str):
        return choice
    name = choice.get("name")
    if name is None and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
    return {"type": "function", "function": {"name": name}}


def to_openai_response_format(response_format: str | dict[str, Any] | None) -> dict | None:
    """Assistants `response_format` → chat-completions `response_format` (None: omit)."""
    if response_format is None or response_format in ("auto", "text"):
        return None
    if isinstance(response_format, str):
        return {"type": response_format}
    if response_format.get("type") == "text":
        return None
    return response_format


def estimate_tokens(messages: list[ChatMessage]) -> int:
    """About 4 characters a token, plus a few tokens of framing per message."""
    total = 3
    for msg in messages:
        chars = len(msg.content) + sum(len(c.name) + len(c.arguments) for c in msg.tool_calls)
        total += chars // 4 + 4
    return total


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("detail"), str):
            return body["detail"]
        return json.dumps(body)[:300]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return str(getattr(exc, "message", None) or exc)[:300]


class OpenAICompatEngine:
    """A model served by an OpenAI-compatible chat-completions endpoint."""

    supports_tools = True

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._stream_options_ok = True
        self._max_tokens_key = "max_tokens"

    @property
    def upstream_model(self) -> str:
        """The model name sent upstream: `upstream_model`, else the table entry's name."""
        return self.spec.upstream_model or self.spec.name

    @property
    def base_url(self) -> str:
        """The upstream base URL as used in error messages."""
        if self.spec.base_url:
            return self.spec.base_url.rstrip("/")
        return os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")

    def _api_key(self) -> str:
        env = self.spec.api_key_env
        if env and os.environ.get(env):
            return os.environ[env]
        return "not-needed"

    def _get_client(self) -> Any:
        """One AsyncOpenAI per event loop (its connection pool belongs to that loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            try:
                from openai import AsyncOpenAI
            except ImportError as exc:  # a dependency of spool, so only a broken install
                raise EngineError(f"the openai package cannot be imported: {exc}") from exc
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key(),
                timeout=self.spec.timeout,
                max_retries=1,
            )
            self._client_loop = loop
        return self._client

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """An estimate: the upstream's tokenizer is not available here."""
        return estimate_tokens(messages)

    async def aclose(self) -> None:
        """Close the HTTP client (connections of the current event loop)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await client.close()
        self._client_loop = None

    def _params(self, request: EngineRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.upstream_model,
            "messages": to_openai_messages(request.messages),
            "stream": True,
        }
        if request.tools:
            params["tools"] = to_openai_tools(request.tools)
            if request.tool_choice is not None:
                params["tool_choice"] = to_openai_tool_choice(request.tool_choice)
            params["parallel_tool_calls"] = request.parallel_tool_calls
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.max_tokens is not None:
            params[self._max_tokens_key] = request.max_tokens
        response_format = to_openai_response_format(request.response_format)
        if response_format is not None:
            params["response_format"] = response_format
        if self._stream_options_ok:
            params["stream_options"] = {"include_usage": True}
        return params

    def _engine_error(self, exc: BaseException) -> EngineError:
        """Any failure talking to the upstream → an EngineError naming URL and status."""
        import openai

        url = self.base_url
        model = self.upstream_model
        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = _error_detail(exc)
            if status == 429:
                return EngineError(
                    f"upstream {url} rate-limited the request (HTTP 429): {detail}",
                    "rate_limit_exceeded",
                )
            hint = ""
            if status in (401, 403):
                env = self.spec.api_key_env
                hint = f" (is ${env} set?)" if env else " (set api_key_env for this model)"
            elif status == 404:
                hint = f" (is the model {model!r} served there, and is the base URL right?)"
            return EngineError(
                f"upstream {url} returned HTTP {status} for {model!r}: {detail}{hint}"
            )
        if isinstance(exc, openai.APITimeoutError):
            return EngineError(
                f"upstream {url} timed out (no response within {self.spec.timeout:g}s)"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            reason = f": {cause}" if cause else ""
            return EngineError(f"cannot connect to upstream {url}{reason}")
        if isinstance(exc, openai.APIResponseValidationError):
            return EngineError(
                f"upstream {url} sent an invalid response (HTTP {exc.status_code}): {exc.message}"
            )
        if isinstance(exc, openai.APIError):
            return EngineError(f"upstream {url} reported an error: {_error_detail(exc)}")
        if isinstance(exc, ValueError):  # json.JSONDecodeError and friends
            return EngineError(
                f"upstream {url} sent a stream that is not OpenAI chat-completions JSON: {exc}"
            )
        return EngineError(f"upstream {url} failed: {type(exc).__name__}: {exc}")

    async def _open(self, request: EngineRequest) -> Any:
        """Start the upstream stream, adapting once to upstreams that reject a parameter (400):
        `max_tokens` → `max_completion_tokens` (OpenAI's reasoning models), then no
        `stream_options` (older servers). What worked is remembered for the next turns."""
        import openai

        client = self._get_client()
        params = self._params(request)
        adapted: set[str] = set()
        while True:
            try:
                stream = await client.chat.completions.create(**params)
            except openai.BadRequestError as exc:
                text = f"{exc.message} {exc.body}"
                if "max_tokens" in params and "max_completion_tokens" in text:
                    params["max_completion_tokens"] = params.pop("max_tokens")
                    adapted.add("max_completion_tokens")
                elif "stream_options" in params:
                    params.pop("stream_options")
                    adapted.add("no_stream_options")
                else:
                    raise
                continue
            if "max_completion_tokens" in adapted:
                self._max_tokens_key = "max_completion_tokens"
            if "no_stream_options" in adapted:
                self._stream_options_ok = False  # this upstream does not know include_usage
            return stream

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineEvent]:
        """Stream one turn from the upstream; errors become `EngineError`."""
        if request.max_tokens is not None and request.max_tokens <= 0:
            yield Finish("length", Usage(self.count_tokens(request.messages), 0))
            return
        try:
            upstream = await self._open(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._engine_error(exc) from exc

        finish: str | None = None
        usage: Usage | None = None
        chars = 0  # streamed text and arguments, for a usage estimate
        ids: dict[int, str] = {}  # our tool-call index → call id
        index_of: dict[int, int] = {}  # upstream index → our index
        try:
            async for chunk in upstream:
                raw_usage = getattr(chunk, "usage", None)
                if raw_usage is not None:
                    usage = Usage(
                        int(getattr(raw_usage, "prompt_tokens", 0) or 0),
                        int(getattr(raw_usage, "completion_tokens", 0) or 0),
                    )
                for choice in getattr(chunk, "choices", None) or []:
                    if (getattr(choice, "index", 0) or 0) != 0:
                        continue
                    delta = getattr(choice, "delta", None)
                    content = getattr(delta, "content", None)
                    if content:
                        chars += len(content)
                        yield TextDelta(content)
                    for call in getattr(delta, "tool_calls", None) or []:
                        event = self._tool_delta(call, ids, index_of)
                        if event is not None:
                            chars += len(event.arguments)
                            yield event
                    if getattr(choice, "finish_reason", None):
                        finish = choice.finish_reason
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._engine_error(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await upstream.close()

        if finish is None:
            raise EngineError(
                f"upstream {self.base_url} ended the stream without a finish_reason "
                "(is it an OpenAI-compatible chat-completions endpoint?)"
            )
        if finish == "content_filter":
            raise EngineError(
                f"upstream {self.base_url} stopped the reply (content_filter)", "invalid_prompt"
            )
        reason = _FINISH.get(finish, "stop")
        if ids and reason == "stop":  # some servers (Ollama) say "stop" after tool calls
            reason = "tool_calls"
        if usage is None:  # the upstream reports none (llama-cpp-python's server, older vLLM)
            usage = Usage(self.count_tokens(request.messages), (chars + 3) // 4)
        yield Finish(reason, usage)  # type: ignore[arg-type]

    @staticmethod
    def _tool_delta(
        call: Any, ids: dict[int, str], index_of: dict[int, int]
    ) -> ToolCallDelta | None:
        call_id = getattr(call, "id", None)
        upstream_index = getattr(call, "index", None)
        if upstream_index is None:  # new call if it has an id, else a fragment of the last one
            upstream_index = len(index_of) if call_id else max(index_of, default=0)
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        arguments = getattr(function, "arguments", None)
        if arguments is None:
            arguments = ""
        elif not isinstance(arguments, str):  # a few servers send an object, not a string
            arguments = json.dumps(arguments)
        index = index_of.get(upstream_index)
        if index is not None and call_id and call_id != ids[index]:
            index = None  # same upstream index, new id: another (complete) call
        if index is None:
            index = len(ids)
            index_of[upstream_index] = index
            ids[index] = call_id or f"call_{uuid.uuid4().hex[:24]}"
            return ToolCallDelta(index, id=ids[index], name=name, arguments=arguments)
        if not arguments:
            return None
        return ToolCallDelta(index, arguments=arguments)
