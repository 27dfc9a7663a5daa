"""App actions for what tools produced: images (fetch, view full size, save) and the files a reply
links to (`file_path` annotations, `sandbox:/mnt/data/…` links), saved to a chosen folder.

`MediaMixin` is mixed into `SpoolApp`. Bytes come from the server through `spool.client.images`
(`FileCache`, one per connection), always in workers; nothing here builds requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spool.client.images import FetchedFile, FileCache, default_save_folder, save_file
from spool.client.sizes import human_size
from spool.tui.screens.help import KeyHelp

if TYPE_CHECKING:
    from spool.tui.widgets.message import MessageView

# (binding id, action, description): help and palette (the key is on the focused message)
MEDIA_ACTIONS: list[tuple[str, str, str]] = [
    (
        "message.save_files",
        "save_files",
        "Save the files and images of the focused message (or the last reply)",
    ),
]

# Palette-only commands (their keys act on the focused image or code step): (name, action, help)
MEDIA_PALETTE: list[tuple[str, str, str]] = [
    ("Open the image full size", "open_last_image", "The focused image, else the thread's last"),
    ("Save the image", "save_last_image", "The focused image, else the thread's last"),
    ("Collapse / expand the code steps", "toggle_code_steps", "Every code step of the thread"),
]


def media_key_help() -> list[KeyHelp]:
    """Help lines for the keys of code steps, images, the image viewer and the save dialog."""
    from spool.tui.screens import image_viewer, save_files

    return [
        KeyHelp(
            "c (code step)",
            "Collapse / expand a code step (or click its title)",
            "code_step.toggle",
        ),
        *image_viewer.KEYS,
        *save_files.KEYS,
    ]


class MediaMixin:
    """Fetch, view and save server files (images, produced files)."""

    if TYPE_CHECKING:  # provided by SpoolApp
        connection: Any
        cursor_blink: bool
        current: str | None
        workspace: Any

        def notify(self, message: str, **kwargs: Any) -> None: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
        def focused_message(self) -> MessageView | None: ...

    image_mode: str | None = None  # "auto" | "halfcell" | "placeholder"; None: as prepared
    save_folder: Path | None = None  # the folder files were last saved to
    last_saved: list[Path] | None = None  # the files the last save wrote (tests)

    def file_cache(self) -> FileCache:
        """The cache of the current connection's files."""
        client = self.connection.client
        cache: FileCache | None = self.__dict__.get("_file_cache")
        if cache is None or cache.client is not client:
            cache = self.__dict__["_file_cache"] = FileCache(client)
        return cache

    async def fetch_file(self, file_id: str) -> FetchedFile:
        """A server file's name and bytes (cached); raises FetchError."""
        return await self.file_cache().get(file_id)

    # --- the image viewer -----------------------------------------------------------------------
    def open_image(self, file_id: str) -> None:
        """Show an image full size (fetched first when needed)."""
        self.run_worker(self._open_image(file_id), group="media", exit_on_error=False)

    async def _open_image(self, file_id: str) -> None:
        import asyncio

        from spool.tui.screens.image_viewer import ImageViewerScreen
        from spool.tui.widgets.image_view import decode, image_mode, load_library

        try:
            fetched = await self.fetch_file(file_id)
        except Exception as exc:
            self.notify(f"Could not load the image: {exc}", severity="error")
            return
        mode = image_mode(self)
        picture = None
        if mode != "placeholder":
            try:
                await load_library()
                picture = await asyncio.to_thread(decode, fetched.data)
            except Exception as exc:  # (the inline image says why too)
                self.notify(f"The image cannot be shown: {exc}", severity="warning")
        self.push_screen(ImageViewerScreen(fetched, mode, picture))

    def _image_in_focus(self) -> str | None:
        """The focused image's file id, else the last image of the open thread."""
        from spool.tui.widgets.image_view import InlineImage

        focused = getattr(self, "focused", None)
        if isinstance(focused, InlineImage):
            return focused.file_id
        view = self.workspace.views.get(self.current or "")
        for item in reversed(view.items if view else []):
            images = getattr(item, "images", None)
            if images:
                return str(images[-1])
        return None

    def action_open_last_image(self) -> None:
        """Open the focused image (else the thread's last) full size."""
        file_id = self._image_in_focus()
        if file_id is None:
            self.notify("No image in this thread.", severity="warning")
            return
        self.open_image(file_id)

    def action_save_last_image(self) -> None:
        """Save the focused image (else the thread's last) into a folder."""
        file_id = self._image_in_focus()
        if file_id is None:
            self.notify("No image in this thread.", severity="warning")
            return
        self.save_server_files([file_id])

    def action_toggle_code_steps(self) -> None:
        """Collapse every code step of the transcript, or expand them all if all are collapsed."""
        from textual.widgets import Collapsible

        from spool.tui.widgets.code_step import CodeStepView

        steps = list(self.transcript.query(CodeStepView))  # type: ignore[attr-defined]
        if not steps:
            self.notify("No code step in this thread.", severity="warning")
            return
        collapse = not all(s.collapsed for s in steps)
        for step in steps:
            step.query_one(Collapsible).collapsed = collapse

    # --- saving ---------------------------------------------------------------------------------
    def action_save_files(self) -> None:
        """Save the files and images of the focused message, else of the last reply that has any."""
        message = self.focused_message()
        items = [message.item] if message is not None else []
        if not items:
            view = self.workspace.views.get(self.current or "")
            items = [
                i
                for i in reversed(view.items if view else [])
                if getattr(i, "role", "") == "assistant" and (i.files or i.images)
            ][:1]
        item = items[0] if items else None
        if item is None or not (item.files or item.images):
            self.notify("This message has no files to save.", severity="warning")
            return
        labels = [(f.file_id, f"{f.name}  ({f.link})") for f in item.files]
        labels += [(i, self._image_label(i)) for i in item.images]
        self._ask_where(labels)

    def _image_label(self, file_id: str) -> str:
        cached = self.file_cache().cached(file_id)
        if cached is None:
            return f"image {file_id}"
        return f"{cached.name}  (image, {human_size(cached.size)})"

    def save_server_files(self, file_ids: list[str]) -> None:
        """Ask where to save these server files (images), then save them."""
        self._ask_where([(f, self._image_label(f)) for f in file_ids])

    def _ask_where(self, files: list[tuple[str, str]]) -> None:
        from spool.tui.screens.save_files import SaveFilesScreen, SaveRequest

        def answered(request: SaveRequest | None) -> None:
            if request is not None:
                self.run_worker(self._save(request), group="media", exit_on_error=False)

        folder = self.save_folder or default_save_folder()
        self.push_screen(
            SaveFilesScreen(files, folder, cursor_blink=self.cursor_blink), callback=answered
        )

    async def _save(self, request: Any) -> None:
        import asyncio

        written: list[Path] = []
        for file_id in request.file_ids:
            try:
                fetched = await self.fetch_file(file_id)
                path = await asyncio.to_thread(
                    save_file, request.folder, fetched.name, fetched.data
                )
            except Exception as exc:
                self.notify(f"Could not save {file_id}: {exc}", severity="error", timeout=10)
                continue
            written.append(path)
        self.save_folder = request.folder
        self.last_saved = written
        if written:
            names = ", ".join(p.name for p in written)
            self.notify(f"Saved {names} in {request.folder}", title="Saved", timeout=8)
