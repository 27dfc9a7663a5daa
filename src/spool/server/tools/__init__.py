"""Server-side tools (file_search, code_interpreter): the run manager executes them itself and
continues the same run; engines only *ask* for them, like for any function (no
`requires_action`, the client never sees them as pending calls).

How a tool plugs in (code_interpreter does the same as `file_search.py`):

1. Write `server/tools/<type>.py` with a class implementing `ServerTool` (below) and list the
   module in `_MODULES`; `type` is the tool's Assistants type (`"code_interpreter"`).
2. When a run has a tool of that type (`{"type": "<type>", ...}` in `run.tools`), the engine is
   offered a function named `<type>` whose schema is `tool.function(config)` (`config` is that
   run tool entry). Engines call it like any function (a `ToolCallDelta` named `<type>`).
3. The run manager then, inside the turn's `tool_calls` step:
   * adds the call `{"id", "type": "<type>", "<type>": tool.initial(config)}` and streams it as
     one step delta `{"index", "id", "type", "<type>": tool.initial(config)}`;
   * streams each argument fragment the engine produces as `{"index", "type", "<type>": d}`
     where `d = tool.arguments_delta(fragment, arguments_so_far)` (skip when it returns None;
     code_interpreter can stream its `input` this way);
   * when the engine's turn ends, awaits `tool.run(ctx, arguments)`. `ctx` (`ToolContext`) has
     the run, the call id, the run tool `config`, `ctx.services` (db, file store, vector
     stores) and `ctx.emit(delta)`, which streams `{"index", "type", "<type>": delta}` while the
     tool works (e.g. code_interpreter's logs as they come);
   * stores the returned `ToolResult.body` as the call's `<type>` object (what the step shows,
     e.g. `{"input", "outputs"}`), gives `ToolResult.output` (a string) to the engine as the
     tool's answer, completes the step (`thread.run.step.completed`), and calls the engine
     again. `ToolResult.citations` (marker → file id) turn markers the model writes into
     `file_citation` annotations; `ToolResult.message_parts` (e.g. `image_file` parts) are
     added to the next assistant message of the run.
4. Raise `ToolError(code, message)` from `run` to fail the run with that `last_error`.
   `tool.public(body, include)` lets a tool hide parts of its stored body from API responses
   (file_search hides result `content` unless `include[]` asks for it).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from spool.server.files import FileStore
    from spool.server.storage import Database
    from spool.server.vector_stores import VectorStores


class ToolError(Exception):
    """A server-side tool failed: the run fails with this `last_error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ToolServices:
    """What server-side tools may use (the run manager holds one)."""

    db: Database
    files: FileStore | None = None
    stores: VectorStores | None = None
    data_dir: Path | None = None  # this replica's own dir (code sessions live there)


@dataclass
class ToolContext:
    """One call being executed."""

    run: dict[str, Any]
    call_id: str
    config: dict[str, Any]  # the run's tool entry, e.g. {"type": "file_search", ...}
    services: ToolServices
    emit: Callable[[dict[str, Any]], None]  # stream a partial `<type>` object as a step delta
    ordinal: int = 0  # this call's number among the run's calls of the same type (0, 1, …)


@dataclass
class ToolResult:
    """What a tool call produced."""

    body: dict[str, Any]  # the call's `<type>` object as stored in the step
    output: str  # what the model reads as the tool's answer
    citations: dict[str, str] = field(default_factory=dict)  # marker → file_id
    message_parts: list[dict[str, Any]] = field(default_factory=list)  # for the next message


class ServerTool(Protocol):
    """A tool the server executes."""

    type: str

    def function(self, config: dict[str, Any]) -> dict[str, Any]:
        """The function the engine is offered: {"name": type, "description", "parameters"}."""
        ...

    def initial(self, config: dict[str, Any]) -> dict[str, Any]:
        """The call's `<type>` object when the call appears (first step delta)."""
        ...

    def arguments_delta(self, fragment: str, so_far: str) -> dict[str, Any] | None:
        """A step delta for an argument fragment as the engine streams it (or None)."""
        ...

    async def run(self, ctx: ToolContext, arguments: str) -> ToolResult: ...

    def public(self, body: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
        """The body as API responses show it (`include` = the request's `include[]`)."""
        ...


_MODULES = ("spool.server.tools.file_search", "spool.server.tools.code_interpreter")
_REGISTRY: dict[str, ServerTool] = {}
_loaded = False


def register(tool: ServerTool) -> None:
    _REGISTRY[tool.type] = tool


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in _MODULES:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # a tool whose optional dependencies are missing
                logging.getLogger("spool.server").warning(
                    "server tool %s unavailable: %s", name, exc
                )


def get(tool_type: str) -> ServerTool | None:
    """The server-side tool of this type (None: not server-side, e.g. `function`)."""
    _load()
    return _REGISTRY.get(tool_type)


def types() -> frozenset[str]:
    _load()
    return frozenset(_REGISTRY)


def public_step(step: dict[str, Any], include: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A step as API responses and stream events show it (each tool's `public` view)."""
    details = step.get("step_details") or {}
    if details.get("type") != "tool_calls":
        return step
    calls = details.get("tool_calls") or []
    if all(c.get("type") == "function" for c in calls):
        return step
    shown = []
    for call in calls:
        tool = get(call["type"]) if call.get("type") != "function" else None
        if tool is not None and isinstance(call.get(call["type"]), dict):
            call = {**call, call["type"]: tool.public(call[call["type"]], include)}
        shown.append(call)
    return {**step, "step_details": {**details, "tool_calls": shown}}
