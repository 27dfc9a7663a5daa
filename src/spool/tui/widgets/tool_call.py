"""A function tool call in the transcript: a compact collapsible block.

Collapsed it shows `⚙ name(arguments…) → state`; expanded, the pretty-printed JSON arguments and
the output. While the run is `requires_action` the call is *pending*: an input line under it asks
for the output (Enter submits), so a run never hangs silently.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Input, Static

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
    """One function call (collapsible), with an output prompt while it is pending."""

    DEFAULT_CSS = """
    ToolCallView { height: auto; margin: 0 0 1 0; padding: 0 0 0 1; border-left: outer $accent; }
    ToolCallView Collapsible { border: none; padding: 0; margin: 0; background: transparent; }
    ToolCallView Collapsible > Contents { padding: 0 0 0 2; }
    ToolCallView .args { color: $text-muted; }
    ToolCallView.-pending { border-left: outer $warning; }
    ToolCallView Input { margin: 0 1; }
    """

    class OutputGiven(Message):
        """The user typed an output for a pending call."""

        def __init__(self, call_id: str, output: str) -> None:
            super().__init__()
            self.call_id = call_id
            self.output = output

    def __init__(self, item: ToolCallItem) -> None:
        super().__init__()
        self.item = item

    def _title(self) -> str:
        item = self.item
        return f"⚙ {item.name or '…'}({_short(item.arguments)}) → {STATE_LABEL.get(item.status, item.status)}"

    def _details(self) -> Text:
        text = Text()
        text.append("arguments\n", style="bold")
        text.append(self.item.pretty_arguments or "{}")
        if self.item.output is not None:
            text.append("\noutput\n", style="bold")
            text.append(self.item.output)
        return text

    def compose(self) -> ComposeResult:
        with Collapsible(title=self._title(), collapsed=True):
            yield Static(self._details(), classes="args")
        if self.item.status == "pending":
            yield self._make_input()

    def _make_input(self) -> Input:
        inp = Input(placeholder=f"Output of {self.item.name} (Enter sends)", classes="output")
        inp.cursor_blink = self.app.cursor_blink if hasattr(self.app, "cursor_blink") else True
        return inp

    def refresh_item(self) -> None:
        """Re-render after the call changed."""
        self.set_class(self.item.status == "pending", "-pending")
        self.query_one(Collapsible).title = self._title()
        self.query_one(".args", Static).update(self._details())
        inputs = self.query(".output")
        if self.item.status == "pending" and not inputs:
            self.mount(self._make_input())
        elif self.item.status != "pending":
            inputs.remove()

    def on_mount(self) -> None:
        self.set_class(self.item.status == "pending", "-pending")

    def focus_output(self) -> bool:
        """Focus the output prompt if there is one."""
        for inp in self.query(".output").results(Input):
            inp.focus()
            return True
        return False

    @on(Input.Submitted, ".output")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.OutputGiven(self.item.id, event.value))
