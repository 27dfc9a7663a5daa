"""The files attached to the next message, above the composer: one chip per file (name, size,
tools, ✕ to remove it), and the upload's progress bar while a message's files are uploaded.

Hidden when there is nothing to show. Removing (a click on ✕) posts `AttachmentsBar.Remove`;
the app owns the list (`spool.tui.attaching`).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.markup import escape
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Label, ProgressBar, Static

from spool.client.attachments import tools_label
from spool.client.sizes import human_size
from spool.client.view_model import Attachment

REFRESH_S = 0.1  # how often the progress bar follows the upload
LEAD = "Attached to the next message: "


class UploadProgress:
    """What the upload worker reports (any thread may write it; the bar reads it)."""

    def __init__(self) -> None:
        self.name = ""
        self.sent = 0
        self.total = 0
        self.files = (0, 0)  # (this file's number, how many)
        self.steps = 0  # progress reports so far (the file is read in chunks)
        self.started = time.monotonic()

    def step(self, name: str, sent: int, total: int) -> None:
        self.name, self.sent, self.total = name, sent, total
        self.steps += 1


def chip_markup(index: int, attachment: Attachment, *, removable: bool = True) -> str:
    """One chip as Textual markup: `▤ name · size · tools ✕`."""
    label = (
        f"▤ {escape(attachment.name)} · {human_size(attachment.size)} · {tools_label(attachment)}"
    )
    if removable:
        label += f" [@click=remove({index})]✕[/]"
    return f"[reverse] {label} [/reverse]"


class ChipsLine(Static):
    """The chips themselves: a click on a chip's ✕ asks to remove it."""

    def action_remove(self, index: int) -> None:
        """Remove the chip at `index` (the ✕ of its markup)."""
        self.post_message(AttachmentsBar.Remove(index))


class AttachmentsBar(Vertical):
    """Pending attachments of the next message and the upload progress."""

    DEFAULT_CSS = """
    AttachmentsBar { height: auto; display: none; padding: 0 1; }
    AttachmentsBar.-shown { display: block; }
    AttachmentsBar #chips { height: auto; color: $text-muted; }
    AttachmentsBar #upload { height: 1; display: none; }
    AttachmentsBar #upload.-shown { display: block; }
    AttachmentsBar #upload Label { width: auto; max-width: 60%; padding: 0 1 0 0; }
    AttachmentsBar ProgressBar { width: 1fr; }
    """

    class Remove(Message):
        """The user removed the chip at `index` (a click on its ✕)."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.attachments: list[Attachment] = []
        self.progress: UploadProgress | None = None
        self.last_upload: UploadProgress | None = None  # the latest upload, once it ended
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield ChipsLine("", id="chips")
        with Horizontal(id="upload"):
            yield Label("", id="upload-label")
            yield ProgressBar(total=100, show_eta=False, id="upload-bar")

    def show(self, attachments: list[Attachment]) -> None:
        """Show these pending attachments (none: the chips go away)."""
        self.attachments = list(attachments)
        self._lay_out()
        self.query_one("#chips").display = bool(self.attachments)
        self._shown()

    def _lay_out(self) -> None:
        """The chips in lines that fit the width: a chip is never split between lines."""
        if not self.attachments:
            self.query_one("#chips", Static).update("")
            return
        width = max(self.size.width - 2, 20) if self.size.width else 10_000
        lines: list[str] = []
        line, used, empty = LEAD, len(LEAD), True  # `empty`: no chip on this line yet
        for i, a in enumerate(self.attachments):
            chip = chip_markup(i, a)
            cells = Content.from_markup(chip).cell_length
            if not empty and used + 2 + cells > width:
                lines.append(line)
                line, used, empty = "", 0, True
            line += chip if empty else f"  {chip}"
            used += cells if empty else cells + 2
            empty = False
        lines.append(line)
        self.query_one("#chips", Static).update("\n".join(lines))

    def on_resize(self) -> None:
        self._lay_out()

    def _shown(self) -> None:
        self.set_class(bool(self.attachments) or self.progress is not None, "-shown")

    def action_remove(self, index: int) -> None:
        """Remove the chip at `index`."""
        self.post_message(self.Remove(index))

    # --- the upload --------------------------------------------------------------------------
    def start_upload(self, progress: UploadProgress) -> None:
        """Follow an upload until `end_upload`."""
        self.progress = progress
        self.query_one("#upload").set_class(True, "-shown")
        self._shown()
        self._follow()
        if self._timer is None:
            self._timer = self.set_interval(REFRESH_S, self._follow)

    def _follow(self) -> None:
        p = self.progress
        if p is None:
            return
        n, count = p.files
        which = f" ({n}/{count})" if count > 1 else ""
        sent = f"{human_size(p.sent)} of {human_size(p.total)}"
        self.query_one("#upload-label", Label).update(f"Uploading {p.name}{which}: {sent}")
        self.query_one("#upload-bar", ProgressBar).update(total=max(p.total, 1), progress=p.sent)

    def end_upload(self, progress: UploadProgress | None = None) -> None:
        """The upload ended (done or failed): the bar goes away (unless another upload, of
        another thread, took it over meanwhile)."""
        if progress is not None and progress is not self.progress:
            return
        self.last_upload, self.progress = self.progress, None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.query_one("#upload").set_class(False, "-shown")
        self._shown()


def attachment_lines(attachments: list[Attachment]) -> Text:
    """The files of a message, one line each (`▤ name · size · tools`), for the transcript."""
    text = Text()
    for a in attachments:
        text.append("\n")
        text.append(f"▤ {a.name}", style="bold")
        text.append(f" · {human_size(a.size)} · {tools_label(a)}", style="dim")
    return text
