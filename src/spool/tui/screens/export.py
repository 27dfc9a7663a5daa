"""Export the current thread: choose Markdown or JSON and confirm the file path.

The path starts as `<title-slug>-<thread id>.<md|json>` in the current directory; switching the
format switches the extension (unless the path was edited). Enter or "Export" writes the file
(`spool.client.export.export_thread` makes the text); escape cancels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from spool.tui.screens.help import KeyHelp

FORMAT_LABELS = {"md": "Markdown (.md)", "json": "JSON (.json)"}
KEYS = [
    KeyHelp("enter (path)", "Export dialog: write the file", "—"),
    KeyHelp("escape", "Export dialog: cancel", "export.cancel"),
]


@dataclass(slots=True)
class ExportRequest:
    """The chosen format and the path (relative paths are under the current directory)."""

    fmt: str
    path: Path


def slug(title: str, limit: int = 40) -> str:
    """A file-name friendly version of a title ("" when nothing is left)."""
    text = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    return text[:limit].rstrip("-")


def default_filename(thread_id: str, title: str, fmt: str) -> str:
    """`<slug>-<thread id>.<fmt>` (just the id when the title has no usable characters)."""
    name = slug(title)
    return f"{name}-{thread_id}.{fmt}" if name else f"{thread_id}.{fmt}"


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Format (radio buttons) and path (input); dismisses with an `ExportRequest` or None."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 80; max-width: 100%; height: auto; padding: 1 2; border: thick $primary; background: $surface;
    }
    ExportScreen Static { margin: 0 0 1 0; }
    ExportScreen RadioSet { margin: 0 0 1 0; }
    ExportScreen #where { color: $text-muted; }
    ExportScreen Horizontal { height: auto; align-horizontal: right; }
    ExportScreen Button { margin: 0 0 0 2; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel")]

    def __init__(
        self,
        thread_id: str,
        title: str,
        *,
        fmt: str = "md",
        directory: Path | None = None,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.thread_title = title
        self.fmt = fmt if fmt in FORMAT_LABELS else "md"
        self.directory = directory or Path.cwd()
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Export “{self.thread_title or self.thread_id}”")
            with RadioSet(id="format"):
                for fmt, label in FORMAT_LABELS.items():
                    yield RadioButton(label, value=fmt == self.fmt, id=f"fmt-{fmt}")
            inp = Input(default_filename(self.thread_id, self.thread_title, self.fmt), id="path")
            inp.cursor_blink = self.cursor_blink
            yield inp
            yield Static(f"Relative paths are under {self.directory}", id="where")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        new = (event.pressed.id or "fmt-md").removeprefix("fmt-")
        old, self.fmt = self.fmt, new
        path = self.query_one("#path", Input)
        if path.value.endswith(f".{old}"):
            path.value = path.value[: -len(old)] + new

    def request(self) -> ExportRequest | None:
        """The request for the current choices (None without a path)."""
        raw = self.query_one("#path", Input).value.strip()
        if not raw:
            return None
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.directory / path
        return ExportRequest(self.fmt, path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export":
            self._export()
        else:
            self.dismiss(None)

    def _export(self) -> None:
        request = self.request()
        if request is None:
            self.notify("Type a file path first.", severity="warning")
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        """Close without exporting."""
        self.dismiss(None)
