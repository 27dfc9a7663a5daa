"""Options for the next run of a thread: model, instructions, temperature, token cap, truncation,
and the MCP servers whose tools the runs are offered.

`RunOptions.to_kwargs()` gives the extra `runs.create` / `runs.stream` parameters; `summary()` is
the short text the status bar shows while options are set. With MCP servers chosen, `tools` is
filled in once their tools are listed (`offer_mcp_tools`): the assistant's own tools plus one
function tool per MCP tool, sent as the run's `tools`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spool.client.assistants import FormError, parse_number

MIN_COMPLETION_TOKENS = 256  # the API's minimum for max_completion_tokens
MAX_RUN_TOOLS = 20  # the API's limit for a run's `tools`


@dataclass(slots=True)
class RunOptions:
    """Overrides for the next run (None / empty = the assistant's own setting)."""

    model: str | None = None
    instructions: str | None = None  # replaces the assistant's instructions
    additional_instructions: str | None = None  # appended to them
    temperature: float | None = None
    max_completion_tokens: int | None = None
    last_messages: int | None = None  # truncation_strategy last_messages
    mcp_servers: tuple[str, ...] = ()  # [mcp.NAME] servers whose tools the runs are offered
    tools: list[dict[str, Any]] | None = field(default=None, compare=False)  # resolved tools
    mcp_tool_names: tuple[str, ...] = field(default=(), compare=False)  # offered MCP functions

    @property
    def empty(self) -> bool:
        """True when nothing is overridden."""
        return (
            all(
                v in (None, "")
                for v in (
                    self.model,
                    self.instructions,
                    self.additional_instructions,
                    self.temperature,
                    self.max_completion_tokens,
                    self.last_messages,
                )
            )
            and not self.mcp_servers
        )

    def to_doc(self) -> dict[str, Any]:
        """The options as stored in the index (what the user chose; resolved tools are not)."""
        doc: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "model",
                "instructions",
                "additional_instructions",
                "temperature",
                "max_completion_tokens",
                "last_messages",
            )
            if getattr(self, name) is not None
        }
        if self.mcp_servers:
            doc["mcp_servers"] = list(self.mcp_servers)
        return doc

    @classmethod
    def from_doc(cls, doc: Any) -> RunOptions | None:
        """Options read back from the index (None when the record is not usable)."""
        if not isinstance(doc, dict):
            return None

        def text(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value else None

        def number(name: str, kind: type) -> Any:
            value = doc.get(name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return kind(value) if ok else None

        servers = doc.get("mcp_servers")
        return cls(
            model=text("model"),
            instructions=text("instructions"),
            additional_instructions=text("additional_instructions"),
            temperature=number("temperature", float),
            max_completion_tokens=number("max_completion_tokens", int),
            last_messages=number("last_messages", int),
            mcp_servers=tuple(s for s in servers if isinstance(s, str))
            if isinstance(servers, list)
            else (),
        )

    def to_kwargs(self) -> dict[str, Any]:
        """The run parameters these options set."""
        out: dict[str, Any] = {}
        if self.model:
            out["model"] = self.model
        if self.instructions:
            out["instructions"] = self.instructions
        if self.additional_instructions:
            out["additional_instructions"] = self.additional_instructions
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.max_completion_tokens is not None:
            out["max_completion_tokens"] = self.max_completion_tokens
        if self.last_messages is not None:
            out["truncation_strategy"] = {
                "type": "last_messages",
                "last_messages": self.last_messages,
            }
        if self.mcp_servers and self.tools is not None:
            out["tools"] = self.tools
        return out

    def offer_mcp_tools(
        self, assistant_tools: list[dict[str, Any]], mcp_tools: list[dict[str, Any]]
    ) -> list[str]:
        """Set `tools` = the assistant's tools + the MCP function tools (an assistant function
        of the same name as an MCP tool gives way to it), at most `MAX_RUN_TOOLS` in all.

        Returns the names of the MCP tools left out for lack of room (the assistant's own
        tools come first).
        """
        names = {t["function"]["name"] for t in mcp_tools}
        kept = [
            t
            for t in assistant_tools
            if t.get("type") != "function" or (t.get("function") or {}).get("name") not in names
        ]
        room = max(0, MAX_RUN_TOOLS - len(kept))
        offered, left_out = mcp_tools[:room], mcp_tools[room:]
        self.tools = [*kept, *offered]
        self.mcp_tool_names = tuple(sorted(t["function"]["name"] for t in offered))
        return [t["function"]["name"] for t in left_out]

    def summary(self) -> str:
        """A compact description for the status bar, e.g. `opts: model gpt-4o · max 256 tok`."""
        parts = []
        if self.model:
            parts.append(f"model {self.model}")
        if self.instructions:
            parts.append("instructions")
        if self.additional_instructions:
            parts.append("+instructions")
        if self.temperature is not None:
            parts.append(f"temp {self.temperature:g}")
        if self.max_completion_tokens is not None:
            parts.append(f"max {self.max_completion_tokens} tok")
        if self.last_messages is not None:
            parts.append(f"last {self.last_messages} msgs")
        if self.mcp_servers:
            count = f" ({len(self.mcp_tool_names)} tools)" if self.tools is not None else ""
            parts.append("mcp " + ", ".join(self.mcp_servers) + count)
        return "opts: " + " · ".join(parts) if parts else ""


def parse_int(field_name: str, text: str, low: int) -> int | None:
    """An integer field: blank → None, else an int ≥ low; raises FormError."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise FormError(field_name, f"must be a whole number ≥ {low}") from None
    if value < low:
        raise FormError(field_name, f"must be at least {low}")
    return value


def build_options(
    *,
    model: str,
    instructions: str,
    additional_instructions: str,
    temperature: str,
    max_completion_tokens: str,
    last_messages: str,
    mcp_servers: tuple[str, ...] = (),
) -> RunOptions:
    """Check the run-options form (as typed) and build the options; raises FormError."""
    return RunOptions(
        mcp_servers=tuple(mcp_servers),
        model=model.strip() or None,
        instructions=instructions.strip() or None,
        additional_instructions=additional_instructions.strip() or None,
        temperature=parse_number("temperature", temperature, 0, 2),
        max_completion_tokens=parse_int(
            "max_completion_tokens", max_completion_tokens, MIN_COMPLETION_TOKENS
        ),
        last_messages=parse_int("last_messages", last_messages, 1),
    )
