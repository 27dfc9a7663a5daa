"""Attachments, for `SpoolApp` (a mixin): the files of the next message, their upload, and the
thread's files panel.

* The attach key opens the attach prompt (`screens/attach.py`); the chosen files show as chips
  above the composer (`widgets/attachments.py`) until the message is sent, per thread, kept in
  the index like the draft (`pending_attachments.<profile>` setting), so a restart keeps them.
* Pasting file paths into the composer (a file dropped on the terminal pastes its path) asks
  whether to attach them; declined, the text is pasted as usual.
* Enter hands the chips to the outbox with the text (`spool.tui.sending`); the send worker
  uploads them (`upload_attachments`, with a progress bar) right before the post.
* The files key opens the thread's files (`screens/thread_files.py`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from spool.client import attachments as att
from spool.client.files import delete_file
from spool.client.outbox import NEW_THREAD
from spool.client.view_model import Attachment, MessageItem, ThreadView
from spool.tui.host import AppHost
from spool.tui.screens.attach import AttachScreen
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.thread_files import FileOps, ThreadFilesScreen
from spool.tui.widgets.attachments import AttachmentsBar, UploadProgress
from spool.tui.widgets.composer import Composer

# (binding id, action, description): appended to the app's ACTIONS (help screen and palette)
ATTACH_ACTIONS: list[tuple[str, str, str]] = [
    ("spool.attach", "attach_files", "Attach files to the next message (search, code, images)"),
    ("spool.thread_files", "thread_files", "The thread's files: save, detach, delete"),
]
ATTACH_BINDINGS = [
    Binding("alt+a", "attach_files", "Attach", id="spool.attach", priority=True),
    Binding("alt+l", "thread_files", "Files", id="spool.thread_files", priority=True),
]
PENDING_SETTING = "pending_attachments"


class AttachMixin(AppHost):
    """The attach prompt, the chips, pasted paths, the upload and the files panel."""

    if TYPE_CHECKING:  # provided by SpoolApp
        cursor_blink: bool
        outbox: Any

        @property
        def composer(self) -> Composer: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def run_options_for(self, thread_id: str) -> Any: ...

    _pending: dict[str, list[Attachment]] | None = None
    save_folder: Path | None = None  # where the files panel saved last

    # --- the pending list (per thread, kept in the index) ----------------------------------------
    def _pending_map(self) -> dict[str, list[Attachment]]:
        if self._pending is None:
            self._pending = {}
            stored = self.store.get_setting(self._pending_key(), {}) if self.store else {}
            for thread_id, docs in (stored if isinstance(stored, dict) else {}).items():
                if isinstance(docs, list):
                    items = [Attachment.from_doc(d) for d in docs if isinstance(d, dict)]
                    if items:
                        self._pending[str(thread_id)] = items
        return self._pending

    def _pending_key(self) -> str:
        return f"{PENDING_SETTING}.{self.profile}"

    def pending(self) -> list[Attachment]:
        """The files attached to the current thread's next message."""
        return self._pending_map().get(self.current or NEW_THREAD, [])

    def set_pending(self, attachments: list[Attachment], thread_id: str | None = None) -> None:
        """Replace the pending files of a thread (default: the current one); stored, shown."""
        key = thread_id or self.current or NEW_THREAD
        pending = self._pending_map()
        if attachments:
            pending[key] = list(attachments)
        else:
            pending.pop(key, None)
        if self.store is not None:
            docs = {k: [a.to_doc() for a in v] for k, v in pending.items()}
            self.store.set_setting(self._pending_key(), docs)
        self.show_pending()

    def show_pending(self) -> None:
        """Show the current thread's pending files above the composer."""
        try:
            bar = self.query_one("#attachments", AttachmentsBar)
        except Exception:  # not mounted (yet, or any more)
            return
        bar.show(self.pending())

    def take_pending(self) -> list[Attachment]:
        """The pending files go with the message being sent (the chips go away)."""
        taken = list(self.pending())
        if taken:
            self.set_pending([])
        return taken

    def give_back_pending(self, attachments: list[Attachment]) -> None:
        """A message taken back: its files are pending again (before any chosen since)."""
        if not attachments:
            return
        attachments = [Attachment.from_doc(a.to_doc()) for a in attachments]  # its own copies
        current = self.pending()
        keys = {(a.path, a.file_id) for a in attachments}
        self.set_pending(
            list(attachments) + [a for a in current if (a.path, a.file_id) not in keys]
        )

    def move_pending(self, old: str, new: str) -> None:
        """Files chosen before the thread existed belong to the thread created for them."""
        pending = self._pending_map()
        moved = pending.pop(old, [])
        if moved:
            self.set_pending(moved + pending.get(new, []), new)
        else:
            self.show_pending()

    def add_pending_paths(self, paths: list[Path]) -> list[str]:
        """Attach local files to the next message; returns the problems (unreadable files)."""
        current = list(self.pending())
        known = {a.path for a in current}
        problems = []
        for path in paths:
            try:
                attachment = att.for_path(path)
            except OSError as exc:
                problems.append(f"{path}: {exc.strerror or exc}")
                continue
            if attachment.path not in known:
                known.add(attachment.path)
                current.append(attachment)
        self.set_pending(current)
        return problems

    # --- the attach prompt, the chips, pasted paths ------------------------------------------
    def action_attach_files(self) -> None:
        """Choose the files of the next message (the attach prompt)."""

        def done(chosen: list[Attachment] | None) -> None:
            if chosen is not None:
                self.set_pending(chosen)
            self.composer.focus()

        self.push_screen(AttachScreen(self.pending(), cursor_blink=self.cursor_blink), done)

    def on_attachments_bar_remove(self, event: AttachmentsBar.Remove) -> None:
        event.stop()
        current = list(self.pending())
        if 0 <= event.index < len(current):
            removed = current.pop(event.index)
            self.set_pending(current)
            self.notify(f"{removed.name} is no longer attached.", timeout=3)

    def on_composer_paths_pasted(self, event: Composer.PathsPasted) -> None:
        """A paste named files: attach them, or paste the text as usual."""
        event.stop()
        composer = event.composer
        names = ", ".join(p.name for p in event.paths[:5])
        more = f" and {len(event.paths) - 5} more" if len(event.paths) > 5 else ""
        count = len(event.paths)
        question = (
            f"Attach {'this file' if count == 1 else f'these {count} files'} to the next "
            f"message? {names}{more}\n(n pastes the text instead)"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                problems = self.add_pending_paths(event.paths)
                if problems:
                    self.notify("; ".join(problems), severity="error", timeout=8)
            else:
                composer.paste_text(event.text)
            composer.focus()

        self.push_screen(ConfirmScreen(question, yes="Attach", no="Paste text"), answered)

    # --- sending -------------------------------------------------------------------------------
    async def upload_attachments(self, view: ThreadView, item: MessageItem) -> None:
        """Upload the message's files that have no file id yet (raises `UploadError`)."""
        assert self.driver is not None
        missing = [a for a in item.attachments if not a.file_id]
        if not missing:
            return
        item.status, item.error = "sending", None
        view.updated(item)
        progress = UploadProgress()
        bar: AttachmentsBar | None = None
        if view.thread_id == self.current:
            try:
                bar = self.query_one("#attachments", AttachmentsBar)
                bar.start_upload(progress)
            except Exception:
                bar = None
        driver = self.driver
        done = 0

        def uploaded(a: Attachment) -> None:
            nonlocal done
            done += 1
            progress.files = (min(done + 1, len(missing)), len(missing))
            self.outbox.uploaded(item)  # its file id is kept: a retry skips it
            driver.file_names.remember(a)

        progress.files = (1, len(missing))
        try:
            await att.upload_missing(driver.client, item.attachments, progress.step, uploaded)
        finally:
            if bar is not None:
                bar.end_upload(progress)

    async def tools_for(
        self, assistant_id: str, options: Any, attachments: list[Attachment]
    ) -> tuple[list[dict[str, Any]] | None, Any]:
        """The run's tools when the attachments need tools the assistant (or the run options'
        tools) lack, and the options without their own tools then; else (None, options)."""
        if self.driver is None:
            return None, options
        own = getattr(options, "tools", None) if getattr(options, "mcp_servers", ()) else None
        tools = await att.tools_for_run(
            self.driver.client, assistant_id, att.needed_tools(attachments), own
        )
        if tools is None:
            return None, options
        if options is not None and getattr(options, "tools", None) is not None:
            options = dataclasses.replace(options, tools=None)
        return tools, options

    # --- the thread's files --------------------------------------------------------------------
    def action_thread_files(self) -> None:
        """List the thread's files (save, detach, delete)."""
        thread_id = self.current
        if thread_id is None or thread_id == NEW_THREAD:
            self.notify("No thread yet: its files show once it exists.", timeout=3)
            return
        if self.driver is None:
            self.notify("Offline: the files are on the server.", severity="warning", timeout=4)
            return
        driver = self.driver
        client = driver.client

        async def load() -> list[att.ThreadFile]:
            return await att.thread_files(client, thread_id, driver.file_names)

        async def download(f: att.ThreadFile, folder: Path) -> Path:
            path = await att.download(client, f, folder)
            self.save_folder = folder
            return path

        async def detach(f: att.ThreadFile) -> None:
            await att.detach(client, thread_id, f)

        async def delete(f: att.ThreadFile) -> None:
            await delete_file(client, f.file_id)
            driver.file_names.known[f.file_id] = ("(deleted file)", None)

        ops = FileOps(load=load, download=download, detach=detach, delete=delete)
        self.push_screen(
            ThreadFilesScreen(
                self.thread_title(thread_id),
                ops,
                folder=self.save_folder,
                cursor_blink=self.cursor_blink,
            )
        )


def attach_key_help() -> list[Any]:
    """The help lines of the attach prompt and the files panel."""
    from spool.tui.screens import attach, thread_files

    return [*attach.KEYS, *thread_files.KEYS]
