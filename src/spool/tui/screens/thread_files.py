"""The thread's files: what its messages attached (and their image parts) and what its
`tool_resources` hold (its vector store, its code_interpreter files), with download and remove.

* s saves the highlighted file into a folder (asked, the last one offered);
* r detaches it from the thread (out of the thread's vector store and code files; the file
  stays on the server and in the message that attached it), after a confirmation;
* delete deletes the file from the server (from every thread, store and message), after a
  confirmation that says so.

The screen does no HTTP itself: the app hands it the client operations (`FileOps`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from spool.client.attachments import ThreadFile
from spool.client.sizes import human_size
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.help import KeyHelp
from spool.tui.screens.prompt import PromptScreen

KEYS = [
    KeyHelp("s (thread files)", "Save the file into a folder", "thread_files.download"),
    KeyHelp("r (thread files)", "Detach it from the thread (asks first)", "thread_files.detach"),
    KeyHelp("delete (thread files)", "Delete it from the server (asks)", "thread_files.delete"),
    KeyHelp("escape (thread files)", "Close", "thread_files.close"),
]


@dataclass
class FileOps:
    """What the files panel may do, bound to the app's connection and thread."""

    load: Callable[[], Awaitable[list[ThreadFile]]]
    download: Callable[[ThreadFile, Path], Awaitable[Path]]
    detach: Callable[[ThreadFile], Awaitable[None]]
    delete: Callable[[ThreadFile], Awaitable[None]]


def file_row(f: ThreadFile) -> Text:
    """A file's lines: name and size, then where the thread uses it."""
    text = Text(f.name or f.file_id, style="bold")
    text.append(f" · {human_size(f.size)}", style="dim")
    text.append("\n")
    text.append("used in: " + "; ".join(f.uses), style="italic")
    return text


class ThreadFilesScreen(ModalScreen[None]):
    """Lists a thread's files; s saves, r detaches, delete deletes, escape closes."""

    DEFAULT_CSS = """
    ThreadFilesScreen { align: center middle; }
    ThreadFilesScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 90%; padding: 1 2;
        border: thick $primary; background: $surface;
        border-title-align: left; border-subtitle-align: right;
    }
    ThreadFilesScreen #state { color: $text-muted; margin: 0 0 1 0; }
    ThreadFilesScreen OptionList { height: auto; max-height: 20; }
    """

    BINDINGS = [
        Binding("s", "download", "Save", id="thread_files.download"),
        Binding("r", "detach", "Detach", id="thread_files.detach"),
        Binding("delete", "delete", "Delete", id="thread_files.delete"),
        Binding("escape", "close", "Close", id="thread_files.close"),
    ]

    def __init__(
        self, title: str, ops: FileOps, *, folder: Path | None = None, cursor_blink: bool = True
    ) -> None:
        super().__init__()
        self.title_text = title
        self.ops = ops
        self.folder = folder or Path.cwd()
        self.cursor_blink = cursor_blink
        self.files: list[ThreadFile] = []
        self.loaded = False
        self.last_saved: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Files of “{self.title_text}”"
            box.border_subtitle = "s save · r detach · del delete file · esc close"
            yield Static("Loading…", id="state")
            yield OptionList(id="files")

    def on_mount(self) -> None:
        self.query_one("#files").display = False
        self.reload()

    def reload(self) -> None:
        """List the files again (after a change)."""
        self.run_worker(self._load(), group="files", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            files = await self.ops.load()
        except Exception as exc:
            self._state(f"Could not list the files: {exc}")
            return
        self.files = files
        self.loaded = True
        listing = self.query_one("#files", OptionList)
        keep = listing.highlighted or 0
        listing.clear_options()
        listing.add_options([Option(file_row(f)) for f in files])
        listing.display = bool(files)
        if files:
            listing.highlighted = min(keep, len(files) - 1)
            listing.focus()
            self._state(f"{len(files)} file{'s' if len(files) != 1 else ''}.")
        else:
            self._state("This thread has no files (attach some with the attach key).")

    def _state(self, text: str) -> None:
        self.query_one("#state", Static).update(text)

    def _chosen(self) -> ThreadFile | None:
        index = self.query_one("#files", OptionList).highlighted
        if index is None or not 0 <= index < len(self.files):
            return None
        return self.files[index]

    # --- actions -----------------------------------------------------------------------------
    def action_download(self) -> None:
        """Save the highlighted file into a folder (asked)."""
        f = self._chosen()
        if f is None:
            return

        def chosen(answer: str | None) -> None:
            if answer:
                self.folder = Path(answer).expanduser()
                self.run_worker(self._download(f, self.folder), exit_on_error=False)

        self.app.push_screen(
            PromptScreen(
                f"Save {f.name} into the folder",
                value=str(self.folder),
                cursor_blink=self.cursor_blink,
            ),
            chosen,
        )

    async def _download(self, f: ThreadFile, folder: Path) -> None:
        try:
            path = await self.ops.download(f, folder)
        except Exception as exc:
            self._state(f"Could not save {f.name}: {exc}")
            self.app.notify(f"Could not save {f.name}: {exc}", severity="error")
            return
        self.last_saved = path
        self._state(f"Saved {f.name} as {path}.")
        self.app.notify(f"Saved {path}", timeout=5)

    def action_detach(self) -> None:
        """Take the highlighted file out of the thread's store and code files (asks first)."""
        f = self._chosen()
        if f is None:
            return
        if not f.detachable:
            self._state(
                f"{f.name} is only in a message's attachments (messages cannot change): "
                "delete the file to remove it everywhere."
            )
            return
        question = (
            f"Detach {f.name} from this thread? It leaves the thread's vector store and code "
            "files; the file stays on the server and in the message that attached it."
        )
        self._confirm(question, "Detach", self.ops.detach, f, "Detached")

    def action_delete(self) -> None:
        """Delete the highlighted file from the server (asks first)."""
        f = self._chosen()
        if f is None:
            return
        question = (
            f"Delete the file {f.name} ({f.file_id}) from the server? It disappears from every "
            "thread, vector store and message that uses it."
        )
        self._confirm(question, "Delete file", self.ops.delete, f, "Deleted")

    def _confirm(
        self,
        question: str,
        yes: str,
        op: Callable[[ThreadFile], Awaitable[None]],
        f: ThreadFile,
        done: str,
    ) -> None:
        async def run() -> None:
            try:
                await op(f)
            except Exception as exc:
                self._state(f"Could not change {f.name}: {exc}")
                return
            self.app.notify(f"{done} {f.name}.", timeout=5)
            self.reload()

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_worker(run(), exit_on_error=False)

        self.app.push_screen(ConfirmScreen(question, yes=yes), answered)

    def action_close(self) -> None:
        """Close the panel."""
        self.dismiss(None)
