"""A function tool call in the transcript: a compact collapsible block.

Collapsed it shows `⚙ name(arguments…) → state`; expanded, the pretty-printed JSON arguments and
the output. While the run is `requires_action` the call is *pending*: the tool outputs dialog
(`spool.tui.screens.tool_outputs`, reopened with the `spool.tool_outputs` key) asks for its
output. Calls answered by the local tool registry are shown expanded, output included: an
automatic answer is never hidden.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Static

from spool.client.view_model import ToolCallItem

STATE_LABEL = {
    "in_progress": "calling…",
    "pending": "needs output",
    "submitted": "output sent",
    "completed": "done",
}


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ToolCallView(Vertical):
    """One function call (collapsible; expanded when a local tool answered it)."""

    DEFAULT_CSS = """
    ToolCallView { height: auto; margin: 0 0 1 0; padding: 0 0 0 1; border-left: outer $role-tool; }
    ToolCallView Collapsible { border: none; padding: 0; margin: 0; background: transparent; }
    ToolCallView Collapsible > Contents { padding: 0 0 0 2; }
    ToolCallView .args { color: $text-muted; }
    ToolCallView.-pending { border-left: outer $status-requires-action; }
    """

    def __init__(self, item: ToolCallItem) -> None:
        super().__init__()
        self.item = item

    def _answer_key(self) -> str:
        keys_for = getattr(self.app, "_keys_for", None)
        keys = keys_for("spool.tool_outputs") if callable(keys_for) else ""
        return str(keys).split(",")[0].strip() or "ctrl+o"

    def _state(self) -> str:
        item = self.item
        if item.status == "pending":
            return f"needs output ({self._answer_key()} answers)"
        state = STATE_LABEL.get(item.status, item.status)
        if item.answered_by:
            state += f", answered by the {item.answered_by}"
        return state

    def _title(self) -> str:
        item = self.item
        return f"⚙ {item.name or '…'}({_short(item.arguments)}) → {self._state()}"

    def _details(self) -> Text:
        text = Text()
        text.append("arguments\n", style="bold")
        text.append(self.item.pretty_arguments or "{}")
        if self.item.output is not None:
            source = f" (from the {self.item.answered_by})" if self.item.answered_by else ""
            text.append(f"\noutput{source}\n", style="bold")
            text.append(self.item.output)
        return text

    def compose(self) -> ComposeResult:
        with Collapsible(title=self._title(), collapsed=not self.item.answered_by):
            yield Static(self._details(), classes="args")

    def refresh_item(self) -> None:
        """Re-render after the call changed."""
        self.set_class(self.item.status == "pending", "-pending")
        collapsible = self.query_one(Collapsible)
        collapsible.title = self._title()
        if self.item.answered_by:
            collapsible.collapsed = False
        self.query_one(".args", Static).update(self._details())

    def on_mount(self) -> None:
        self.set_class(self.item.status == "pending", "-pending")
