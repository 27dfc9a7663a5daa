"""The attach prompt: choose files for the next message and what each is for.

A path input with completion (Textual's own `Input` with a `Suggester` over the file system:
the completion shows greyed after the cursor, tab or → takes it; no extra dependency, and
typing or pasting a path works where a `DirectoryTree` would make the user walk folders), the
chosen files below (name, size, tools), each for file_search, code_interpreter or both (by its
type at first; s / c switch them), images also as an `image_file` part (purpose vision).
Enter adds the typed path (a pasted list of paths adds them all); Enter on an empty path, or
ctrl+s, attaches; escape leaves the files as they were.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from spool.client.attachments import (
    for_path,
    pasted_paths,
    toggle_tool,
    tools_label,
)
from spool.client.sizes import human_size
from spool.client.view_model import Attachment
from spool.tui.screens.help import KeyHelp

KEYS = [
    KeyHelp("tab, → (attach prompt)", "Complete the path", "attach.complete"),
    KeyHelp("enter (attach prompt)", "Add the path; on an empty path: attach", "—"),
    KeyHelp("s (attach prompt, a file)", "For file_search on / off", "attach.search"),
    KeyHelp("c (attach prompt, a file)", "For code_interpreter on / off", "attach.code"),
    KeyHelp("delete (attach prompt, a file)", "Remove the file", "attach.remove"),
    KeyHelp("ctrl+s (attach prompt)", "Attach the files", "attach.done"),
    KeyHelp("escape (attach prompt)", "Cancel (the files stay as they were)", "attach.cancel"),
]
MAX_SUGGEST_ENTRIES = 2000  # a huge folder is not listed whole for one completion


def _complete(value: str) -> str | None:
    """The completion of a typed path: the only match, else the matches' common start, else
    the first match (folders end with /)."""
    expanded = os.path.expanduser(value)
    folder, prefix = os.path.split(expanded)
    try:
        with os.scandir(folder or ".") as entries:
            names = []
            for n, entry in enumerate(entries):
                if n >= MAX_SUGGEST_ENTRIES:
                    break
                if entry.name.startswith(prefix) and (
                    prefix.startswith(".") or not entry.name.startswith(".")
                ):
                    names.append(entry.name + ("/" if entry.is_dir() else ""))
    except OSError:
        return None
    if not names:
        return None
    names.sort()
    common = names[0]  # the matches' common start (characters, not path parts)
    for name in names[1:]:
        while not name.startswith(common):
            common = common[:-1]
    choice = names[0] if len(names) == 1 or len(common) <= len(prefix) else common
    return value + choice[len(prefix) :] if len(choice) > len(prefix) else None


class PathSuggester(Suggester):
    """Completes file system paths (`~` kept as typed)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value.strip():
            return None
        return await asyncio.to_thread(_complete, value)


class PathInput(Input):
    """The path input: tab takes the completion (else moves on)."""

    BINDINGS = [Binding("tab", "complete", "Complete", id="attach.complete", show=False)]

    def action_complete(self) -> None:
        """Take the suggested completion, or move the focus on when there is none."""
        suggestion = self._suggestion
        if suggestion and len(suggestion) > len(self.value):
            self.value = suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


class AttachmentList(OptionList):
    """The chosen files: s / c switch file_search / code_interpreter, delete removes."""

    BINDINGS = [
        Binding("s", "toggle('file_search')", "Search", id="attach.search"),
        Binding("c", "toggle('code_interpreter')", "Code", id="attach.code"),
        Binding("delete,backspace", "remove", "Remove", id="attach.remove"),
    ]

    def action_toggle(self, tool: str) -> None:
        """Switch a tool of the highlighted file."""
        screen = self.screen
        if isinstance(screen, AttachScreen) and self.highlighted is not None:
            screen.switch_tool(self.highlighted, tool)

    def action_remove(self) -> None:
        """Remove the highlighted file."""
        screen = self.screen
        if isinstance(screen, AttachScreen) and self.highlighted is not None:
            screen.remove_file(self.highlighted)


def row(attachment: Attachment) -> str:
    """A file's line in the list."""
    where = "" if attachment.file_id is None else "  (uploaded)"
    return (
        f"{attachment.name}  ·  {human_size(attachment.size)}  ·  {tools_label(attachment)}{where}"
    )


class AttachScreen(ModalScreen[list[Attachment] | None]):
    """Choose the files of the next message; dismisses with the new list (None: cancelled)."""

    DEFAULT_CSS = """
    AttachScreen { align: center middle; }
    AttachScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%; padding: 1 2;
        border: thick $primary; background: $surface;
        border-title-align: left; border-subtitle-align: right;
    }
    AttachScreen #hint { color: $text-muted; margin: 0 0 1 0; }
    AttachScreen #problem { color: $error; height: auto; }
    AttachScreen #problem.-empty { display: none; }
    AttachScreen AttachmentList { height: auto; max-height: 12; margin: 1 0 0 0; }
    AttachScreen #summary { color: $text-muted; margin: 1 0 0 0; }
    """

    BINDINGS = [
        Binding("ctrl+s", "done", "Attach", id="attach.done"),
        Binding("escape", "cancel", "Cancel", id="attach.cancel"),
    ]

    def __init__(
        self,
        attachments: list[Attachment],
        *,
        start: str = "",
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.attachments = [Attachment.from_doc(a.to_doc()) for a in attachments]  # copies
        self.start = start
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Attach files to the next message"
            box.border_subtitle = "ctrl+s attach · escape cancel"
            yield Static(
                "Type or paste a path (tab completes), Enter adds it. On a file: s search, "
                "c code, delete removes. Enter on an empty path attaches.",
                id="hint",
            )
            inp = PathInput(self.start, placeholder="~/path/to/file", id="path")
            inp.suggester = PathSuggester()
            inp.cursor_blink = self.cursor_blink
            yield inp
            yield Static("", id="problem", classes="-empty")
            yield AttachmentList(id="files")
            yield Static("", id="summary")

    def on_mount(self) -> None:
        self._refresh()
        self.query_one("#path", Input).focus()

    # --- the list ----------------------------------------------------------------------------
    def _refresh(self, highlight: int | None = None) -> None:
        files = self.query_one("#files", AttachmentList)
        keep = files.highlighted if highlight is None else highlight
        files.clear_options()
        files.add_options([Option(row(a)) for a in self.attachments])
        files.display = bool(self.attachments)
        if self.attachments:
            files.highlighted = min(keep or 0, len(self.attachments) - 1)
        total = sum(a.size or 0 for a in self.attachments)
        n = len(self.attachments)
        summary = (
            f"{n} file{'s' if n != 1 else ''}, {human_size(total)}"
            if n
            else "No files yet: search (pdf, md, txt, docx, html), code (csv, xlsx, py, json) "
            "and images (png, jpg, gif, webp) by default."
        )
        self.query_one("#summary", Static).update(summary)

    def _say(self, problem: str | None) -> None:
        widget = self.query_one("#problem", Static)
        widget.update(problem or "")
        widget.set_class(not problem, "-empty")

    def add_paths(self, paths: list[Path]) -> list[str]:
        """Add files (each once); returns the problems (unreadable, a folder, …)."""
        problems = []
        known = {a.path for a in self.attachments if a.path}
        for path in paths:
            try:
                attachment = for_path(path)
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")
                continue
            if attachment.path in known:
                continue
            known.add(attachment.path)
            self.attachments.append(attachment)
        self._refresh(highlight=len(self.attachments) - 1)
        return problems

    def switch_tool(self, index: int, tool: str) -> None:
        """Switch `tool` (file_search / code_interpreter) of file `index`."""
        if not 0 <= index < len(self.attachments):
            return
        self._say(toggle_tool(self.attachments[index], tool))
        self._refresh(highlight=index)

    def remove_file(self, index: int) -> None:
        """Remove file `index`."""
        if 0 <= index < len(self.attachments):
            del self.attachments[index]
            self._refresh(highlight=index)
            if not self.attachments:
                self.query_one("#path", Input).focus()

    # --- input -------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            self.action_done()
            return
        paths = pasted_paths(value)
        if not paths:
            path = Path(value).expanduser()
            if path.is_dir():
                self._say(f"{value} is a folder: choose a file in it (tab completes).")
                return
            if not path.exists():
                self._say(f"No such file: {value}")
                return
            paths = [path]
        problems = self.add_paths(paths)
        self._say("; ".join(problems) or None)
        if not problems:
            event.input.value = ""

    def action_done(self) -> None:
        """Attach the listed files."""
        self.dismiss(self.attachments)

    def action_cancel(self) -> None:
        """Leave the attachments as they were."""
        self.dismiss(None)
