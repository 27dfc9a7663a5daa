"""The run status bar: status (a colour each), elapsed time, tokens, model, assistant, cancel key.

Shows "connecting…" until the connection is up, and the last error (one line) when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from spool.client.view_model import RunState

STATUS_STYLE = {
    "queued": "bold #8a8a8a",
    "in_progress": "bold #3b8eea",
    "requires_action": "bold #d7af00",
    "cancelling": "bold #d78700",
    "cancelled": "bold #af87af",
    "failed": "bold #e0443e",
    "completed": "bold #3fb950",
    "incomplete": "bold #d7875f",
    "expired": "bold #af5f5f",
}


@dataclass
class StatusInfo:
    """Everything the status bar shows."""

    connection: str = "connecting…"  # connecting… | connected | offline | error text
    run: RunState | None = None
    model: str = ""
    assistant: str = ""
    error: str | None = None
    note: str | None = None
    cancel_key: str = "esc"


class StatusBar(Static):
    """One line at the bottom; call `show(info)` to change it, `tick()` to refresh elapsed."""

    DEFAULT_CSS = """
    StatusBar { dock: bottom; height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.clock = clock
        self.info = StatusInfo()

    def show(self, info: StatusInfo) -> None:
        """Display `info`."""
        self.info = info
        self.update(self.render_info(), layout=False)

    def tick(self) -> None:
        """Refresh (elapsed time) while a run is active."""
        if self.info.run is not None and self.info.run.active:
            self.update(self.render_info(), layout=False)

    def render_info(self) -> Text:
        info = self.info
        text = Text(no_wrap=True, overflow="ellipsis")
        if info.connection != "connected":
            style = "bold #d7af00" if info.connection.endswith("…") else "bold #e0443e"
            text.append(info.connection, style=style)
        else:
            run = info.run
            if run is None:
                text.append("● idle", style="dim")
            else:
                text.append(f"● {run.status}", style=STATUS_STYLE.get(run.status, "bold"))
                text.append(f"  {run.elapsed(self.clock()):.1f}s")
                tokens = run.total_tokens
                if tokens:
                    approx = "~" if run.active else ""
                    text.append(f"  {approx}{tokens} tok")
        if info.model:
            text.append(f"  │ model {info.model}")
        if info.assistant:
            text.append(f"  │ {info.assistant}")
        if info.run is not None and info.run.active:
            text.append(f"  │ {info.cancel_key} cancel", style="bold")
        if info.note:
            text.append("  │ ")
            text.append(info.note, style="bold #d7af00")
        if info.error:
            text.append("  │ ")
            text.append(info.error, style="bold #e0443e")
        return text
