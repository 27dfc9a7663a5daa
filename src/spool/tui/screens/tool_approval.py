"""Asking before a tool runs: one function call, where it would run, its arguments, and three
answers — allow once, always allow this tool (for as long as spool runs), deny (the run is told
so and goes on).

Keys pressed in the first moment after the dialog appears are ignored, so text being typed in
the composer (an Enter, a letter) never answers it by accident; the focus starts on Deny.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from spool.client.approvals import Decision
from spool.tui.screens.help import KeyHelp

GUARD_S = 0.4  # keys within this long of the dialog appearing are ignored

KEYS = [
    KeyHelp("o (tool approval)", "Allow this tool call once", "tool_approval.once"),
    KeyHelp(
        "a (tool approval)", "Always allow this tool (until spool quits)", "tool_approval.always"
    ),
    KeyHelp("d, escape (tool approval)", "Deny the call (the run goes on)", "tool_approval.deny"),
]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One call waiting for the user's approval."""

    tool: str  # the function name the run called
    source: str  # e.g. "MCP server notes" or "local tool"
    where: str  # the server's command line or URL, the tools.py path…
    arguments: str  # pretty-printed JSON
    thread: str  # the thread's title


class ToolApprovalScreen(ModalScreen[Decision]):
    """Dismisses with "once", "always" or "deny"."""

    DEFAULT_CSS = """
    ToolApprovalScreen { align: center middle; }
    ToolApprovalScreen > Vertical {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        padding: 1 2; border: thick $warning; background: $surface;
    }
    ToolApprovalScreen #title { text-style: bold; margin: 0 0 1 0; }
    ToolApprovalScreen #what { margin: 0 0 1 0; }
    ToolApprovalScreen #arguments-box {
        height: auto; max-height: 12; background: $boost; padding: 0 1; margin: 0 0 1 0;
    }
    ToolApprovalScreen #arguments { color: $text-muted; }
    ToolApprovalScreen #hint { color: $text-muted; margin: 0 0 1 0; }
    ToolApprovalScreen #buttons { height: auto; align-horizontal: right; }
    ToolApprovalScreen Button { margin: 0 0 0 2; }
    """

    BINDINGS = [
        Binding("o", "decide('once')", "Allow once", id="tool_approval.once"),
        Binding("a", "decide('always')", "Always allow", id="tool_approval.always"),
        Binding("d,escape", "decide('deny')", "Deny", id="tool_approval.deny"),
    ]

    def __init__(self, request: ApprovalRequest, *, guard_s: float = GUARD_S) -> None:
        super().__init__()
        self.request = request
        self.guard_s = guard_s
        self._shown_at = time.monotonic()

    def compose(self) -> ComposeResult:
        r = self.request
        what = Text()
        what.append("A run in ")
        what.append(f"“{r.thread}”", style="bold")
        what.append(" wants to call ")
        what.append(r.tool, style="bold")
        what.append(f"\n{r.source}")
        if r.where:
            what.append(f": {r.where}", style="dim")
        with Vertical():
            yield Static("Allow this tool call?", id="title", markup=False)
            yield Static(what, id="what")
            with VerticalScroll(id="arguments-box"):
                yield Static(r.arguments or "{}", id="arguments", markup=False)
            yield Static(
                "Always: this tool runs without asking until spool quits. "
                "Deny: the run is told the call was not allowed and goes on.",
                id="hint",
                markup=False,
            )
            with Horizontal(id="buttons"):
                yield Button("Deny (d, esc)", id="deny", variant="error", compact=True)
                yield Button(f"Always allow {r.tool} (a)", id="always", compact=True)
                yield Button("Allow once (o)", id="once", variant="primary", compact=True)

    def on_mount(self) -> None:
        self._shown_at = time.monotonic()
        self.query_one("#deny", Button).focus()  # Enter on the dialog never runs a tool

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id in ("once", "always", "deny"):
            self.action_decide(event.button.id)  # type: ignore[arg-type]

    def action_decide(self, decision: Decision) -> None:
        """Answer the request (ignored right after the dialog appeared)."""
        if time.monotonic() - self._shown_at < self.guard_s:
            return
        self.dismiss(decision)
