"""The engine interface: what the run executor asks of a model, and what it gets back.

An engine turns a chat-style request (system/user/assistant/tool messages plus function tools)
into an async stream of events: text fragments, tool-call fragments, and one final `Finish`.
Engines never see Assistants objects; the run executor (`server/runs.py`) does the mapping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(slots=True)
class ToolCall:
    """A function call the model made (complete: name and full JSON arguments)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ChatMessage:
    """One message of the conversation handed to an engine, in chat-completions terms."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # for role == "tool"
    name: str | None = None  # for role == "tool": the function's name


@dataclass(slots=True)
class EngineRequest:
    """Everything an engine needs for one model turn."""

    model: str  # the upstream/real model name (after alias resolution)
    messages: list[ChatMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"name","description","parameters"}
    tool_choice: str | dict[str, Any] | None = None  # "none" | "auto" | "required" | {"name": ...}
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None  # the run's remaining completion budget
    response_format: str | dict[str, Any] | None = None


@dataclass(slots=True)
class TextDelta:
    """A fragment of assistant text."""

    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a function call. The first fragment of a call carries `id` and `name`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Usage:
    """Token counts for one model turn."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class Finish:
    """The end of a model turn. `reason` is "stop", "length" or "tool_calls"."""

    reason: Literal["stop", "length", "tool_calls"]
    usage: Usage | None = None


EngineEvent = TextDelta | ToolCallDelta | Finish


class EngineError(Exception):
    """A model turn failed; becomes the run's `last_error` (never an HTTP error)."""

    def __init__(
        self,
        message: str,
        code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"] = "server_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Engine(Protocol):
    """A model backend. `stream` must be cancellable at any await point."""

    def stream(self, request: EngineRequest) -> AsyncIterator[EngineEvent]: ...

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt size in the engine's tokens (used for usage and `max_prompt_tokens`)."""
        ...

    async def aclose(self) -> None: ...
