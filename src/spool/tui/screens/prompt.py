"""A one-line question in a small dialog (e.g. "Import a thread by id")."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from spool.tui.screens.help import KeyHelp

KEYS = [KeyHelp("escape", "Small dialogs (import by id): cancel", "prompt.cancel")]


class PromptScreen(ModalScreen[str | None]):
    """A question and an input; Enter answers (stripped, None when blank), escape cancels."""

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2; border: thick $primary; background: $surface;
    }
    PromptScreen Static { margin: 0 0 1 0; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self,
        question: str,
        *,
        value: str = "",
        placeholder: str = "",
        cursor_blink: bool = True,
        suggester: Suggester | None = None,
    ) -> None:
        super().__init__()
        self.suggester = suggester  # e.g. path completion (→ takes it)
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.question} (Enter confirms, escape cancels)")
            inp = Input(
                self.value, placeholder=self.placeholder, id="answer", suggester=self.suggester
            )
            inp.cursor_blink = self.cursor_blink
            yield inp

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)
