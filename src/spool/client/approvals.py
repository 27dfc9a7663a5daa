"""Asking before a tool runs: which calls need the user's approval, and what was approved.

A tool source (an MCP server, or the local `tools.py` registry) either asks before each call or
not (`[mcp.NAME] ask`, `[tools] ask`). "Always for this tool" is remembered here, per source and
tool name, for as long as the app runs. No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Decision = Literal["once", "always", "deny"]
DENIED_OUTPUT = "error: the user did not allow this tool call"


@dataclass
class Approvals:
    """The tools the user allowed to run without asking (source, tool name)."""

    always: set[tuple[str, str]] = field(default_factory=set)

    def needs_asking(self, source: str, tool: str, *, ask: bool) -> bool:
        """Whether a call of `tool` from `source` must be approved first."""
        return ask and (source, tool) not in self.always

    def record(self, source: str, tool: str, decision: Decision) -> bool:
        """Remember the user's decision; True when the call may run."""
        if decision == "always":
            self.always.add((source, tool))
        return decision != "deny"

    def forget(self) -> int:
        """Drop every "always" (the next calls ask again); how many there were."""
        count = len(self.always)
        self.always.clear()
        return count
