"""The composer: a multi-line text area. Enter sends; shift+enter or ctrl+j inserts a newline."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class Composer(TextArea):
    """Where the user types. Posts `Composer.Submitted` on Enter (with non-blank text)."""

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 10;
        border: tall $panel;
        padding: 0 1;
    }
    Composer:focus { border: tall $primary; }
    """

    BINDINGS = [
        Binding("shift+enter,ctrl+j", "newline", "Newline", id="composer.newline", show=False),
    ]

    class Submitted(Message):
        """The user pressed Enter."""

        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    def __init__(self, *, id: str | None = None, cursor_blink: bool = True) -> None:
        super().__init__(
            "",
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            highlight_cursor_line=False,
            placeholder="Message… (Enter sends, shift+enter / ctrl+j newline)",
        )
        self.cursor_blink = cursor_blink

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        """Insert a newline at the cursor."""
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def set_text(self, text: str) -> None:
        """Replace the text and put the cursor at its end."""
        self.text = text
        self.move_cursor(self.document.end)
