"""Save files from the server (images, files a reply links to) into a folder.

The dialog lists the files (all ticked; space unticks one) and asks for the folder, prefilled
with the last folder used or the default (Downloads, else the current directory). Enter saves,
escape cancels. The answer is a `SaveRequest`; the app does the saving (through
`spool.client.images`) and says where each file went.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from spool.tui.screens.help import KeyHelp

KEYS = [
    KeyHelp("enter", "Save files: save into the folder", "—"),
    KeyHelp("space (list)", "Save files: tick / untick a file", "—"),
    KeyHelp("escape", "Save files: cancel", "save_files.cancel"),
]


@dataclass(frozen=True, slots=True)
class SaveRequest:
    """Which files (ids) to save, and where."""

    file_ids: list[str]
    folder: Path


class SaveFilesScreen(ModalScreen[SaveRequest | None]):
    """Files to save (name, where they come from) and a folder."""

    DEFAULT_CSS = """
    SaveFilesScreen { align: center middle; }
    SaveFilesScreen > Vertical {
        width: 80; max-width: 100%; height: auto; padding: 1 2; border: thick $primary;
        background: $surface;
    }
    SaveFilesScreen Static { margin: 0 0 1 0; }
    SaveFilesScreen SelectionList { height: auto; max-height: 12; margin: 0 0 1 0; }
    SaveFilesScreen #problem { color: $error; margin: 1 0 0 0; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save_files.cancel")]

    def __init__(
        self, files: list[tuple[str, str]], folder: Path, *, cursor_blink: bool = True
    ) -> None:
        """`files`: (file id, label) pairs."""
        super().__init__()
        self.files = files
        self.folder = folder
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        many = len(self.files) > 1
        with Vertical():
            what = f"Save {len(self.files)} files into a folder" if many else "Save into a folder"
            yield Static(f"{what} (Enter saves, escape cancels)")
            yield SelectionList[str](
                *(Selection(label, file_id, True) for file_id, label in self.files),
                id="files",
            )
            folder = Input(str(self.folder), placeholder="folder", id="folder")
            folder.cursor_blink = self.cursor_blink
            yield folder
            problem = Static("", id="problem")
            problem.display = False
            yield problem

    def on_mount(self) -> None:
        self.query_one("#folder", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        chosen = list(self.query_one("#files", SelectionList).selected)
        problem = self.query_one("#problem", Static)
        raw = event.value.strip()
        if not raw:
            problem.update("Say which folder.")
            problem.display = True
            return
        if not chosen:
            problem.update("No file is ticked.")
            problem.display = True
            return
        folder = Path(raw).expanduser()
        if folder.exists() and not folder.is_dir():
            problem.update(f"{folder} is a file, not a folder.")
            problem.display = True
            return
        self.dismiss(SaveRequest(chosen, folder))

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
