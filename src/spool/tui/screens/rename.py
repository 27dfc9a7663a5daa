"""Rename a thread (F2)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class RenameScreen(ModalScreen[str | None]):
    """An input with the current title; Enter saves, escape cancels (dismisses None)."""

    DEFAULT_CSS = """
    RenameScreen { align: center middle; }
    RenameScreen > Vertical {
        width: 64; height: auto; padding: 1 2; border: thick $primary; background: $surface;
    }
    RenameScreen Static { margin: 0 0 1 0; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="rename.cancel")]

    def __init__(self, title: str, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.current_title = title
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Rename thread (Enter saves, escape cancels)")
            inp = Input(self.current_title, id="title")
            inp.cursor_blink = self.cursor_blink
            yield inp

    def on_input_submitted(self, event: Input.Submitted) -> None:
        title = event.value.strip()
        self.dismiss(title or None)

    def action_cancel(self) -> None:
        """Close without renaming."""
        self.dismiss(None)
