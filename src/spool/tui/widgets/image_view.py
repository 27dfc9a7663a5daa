"""Images inline in the transcript (code_interpreter `image` outputs, `image_file` parts) and the
files a reply links to (`file_path` annotations).

Images are drawn with `textual-image`: Kitty's graphics protocol or Sixel where the terminal has
them, coloured half blocks elsewhere, and a placeholder line (file name and size) in plain
terminals or when the library is missing. The bytes come from the server through the app's
file cache (`spool.client.images.FileCache`), fetched in a worker: the UI never waits.

`prepare_terminal_graphics()` must run before Textual starts (textual-image asks the terminal what
it supports, which no longer works once Textual reads the keyboard). It asks only terminals that
say they may have graphics (kitty, WezTerm, iTerm2, Konsole, foot, ghostty, mlterm, contour);
others get half blocks without a query, so starting spool never waits for a terminal's answer.

A focused image opens full size (enter or o) or is saved to a folder (s).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from spool.client.images import FetchedFile
from spool.client.sizes import human_size
from spool.client.view_model import MessageItem

ImageMode = Literal["auto", "halfcell", "placeholder"]
GRAPHICS_TERMS = ("kitty", "foot", "mlterm", "ghostty", "contour", "wezterm")
GRAPHICS_PROGRAMS = ("WezTerm", "iTerm.app", "ghostty", "mlterm", "contour")

INLINE_COLUMNS = 44  # how wide an image is in the transcript
_mode: ImageMode = "placeholder"  # until prepare_terminal_graphics() says more


class _NotATerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


@contextmanager
def _without_terminal_queries():
    """textual-image queries the terminal when it is imported on a tty: not here."""
    real = sys.__stdout__
    sys.__stdout__ = _NotATerminal()  # type: ignore[misc]
    try:
        yield
    finally:
        sys.__stdout__ = real  # type: ignore[misc]


def may_have_graphics(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether the terminal says it may draw real images (Kitty graphics or Sixel)."""
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "")
    return (
        any(name in term for name in GRAPHICS_TERMS)
        or program in GRAPHICS_PROGRAMS
        or bool(env.get("KITTY_WINDOW_ID") or env.get("KONSOLE_VERSION"))
    )


def prepare_terminal_graphics(setting: str = "auto") -> ImageMode:
    """Decide how images are drawn (before Textual starts); returns the mode.

    `setting` (the config file's `images`): "auto" (what the terminal can, asking only
    terminals known for graphics), "ask" (ask any terminal), "halfcell", or "none" /
    "placeholder" (no images drawn, their names and sizes only).
    """
    global _mode
    if setting == "none":
        setting = "placeholder"
    stdout = sys.__stdout__
    tty = bool(stdout and stdout.isatty()) and os.environ.get("TERM", "") not in ("", "dumb")
    if setting == "placeholder" or not tty:
        _mode = "placeholder"
        return _mode
    if setting == "ask" or (setting == "auto" and may_have_graphics()):
        try:
            import textual_image.widget  # noqa: F401  (~150 ms, only in such terminals)
        except Exception:  # not installed, or a terminal that answers nonsense
            _mode = "placeholder"
        else:
            _mode = "auto"
    else:
        _mode = "halfcell"  # the library is imported at the first image (load_library)
    return _mode


_import_lock = threading.Lock()


def _import_quietly() -> None:
    with _import_lock:
        if "textual_image.widget" in sys.modules:
            return
        with _without_terminal_queries():
            import textual_image.widget  # noqa: F401


async def load_library() -> None:
    """Import textual-image (and Pillow) in a thread, without asking the terminal anything
    (Textual reads it now); raises ImportError when it is not installed."""
    if "textual_image.widget" not in sys.modules:
        await asyncio.to_thread(_import_quietly)


def decode(data: bytes) -> Any:
    """A Pillow image from PNG/JPEG/... bytes (raises on bytes that are no image); slow for big
    pictures: call it in a thread."""
    from PIL import Image as PILImage

    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


def image_mode(app: Any) -> ImageMode:
    """The app's image mode (tests set `app.image_mode`), else the one prepared at start."""
    return getattr(app, "image_mode", None) or _mode


def image_widget(picture: Any, mode: ImageMode, *, columns: int | None = None) -> Widget:
    """A textual-image widget for a decoded picture (see `decode`, `load_library`).

    With `columns` it is that wide and as tall as the picture's aspect says (set here: the
    library sizes a fixed width from the widget's laid-out size, which is 0 on its first layout,
    and nothing lays it out again); without, it fits its container.
    """
    if mode == "halfcell":
        from textual_image.widget import HalfcellImage as Drawn
    else:
        from textual_image.widget import Image as Drawn  # type: ignore[assignment]
    widget = Drawn(picture, classes="picture")
    if columns:
        from textual_image.widget import get_cell_size

        cell = get_cell_size()
        width_px, height_px = picture.size
        rows = round(columns * cell.width * height_px / max(1, width_px) / cell.height)
        widget.styles.width = columns
        widget.styles.height = max(1, rows)
    return widget


def caption(fetched: FetchedFile | None, file_id: str, note: str = "") -> Text:
    """`▣ name · 12.3 kB` (or the file id while it loads)."""
    text = Text("▣ ", style="bold")
    if fetched is None:
        text.append(file_id, style="dim")
    else:
        text.append(fetched.name)
        text.append(f" · {human_size(fetched.size)}", style="dim")
    if note:
        text.append(f"  {note}", style="italic dim")
    return text


class InlineImage(Vertical):
    """One image from the server: a caption line and the picture (or only the caption)."""

    can_focus = True

    BINDINGS = [
        Binding("enter,o", "open", "Open full size", id="image.open", show=False),
        Binding("s", "save", "Save the image", id="image.save", show=False),
    ]

    DEFAULT_CSS = """
    InlineImage { height: auto; width: 100%; margin: 1 0 0 0; }
    InlineImage .caption { height: 1; color: $text-muted; }
    InlineImage.-error .caption { color: $error; }
    InlineImage:focus .caption { background: $boost; color: $text; }
    """

    def __init__(self, file_id: str) -> None:
        super().__init__()
        self.file_id = file_id
        self.fetched: FetchedFile | None = None
        self.error: str | None = None
        self._settled = False

    def compose(self) -> ComposeResult:
        yield Static(caption(None, self.file_id, "loading…"), classes="caption")

    def on_mount(self) -> None:
        self.run_worker(self._load(), group="image", exit_on_error=False)

    def _keys(self) -> str:
        keys_for = getattr(self.app, "_keys_for", None)
        if not callable(keys_for):
            return "enter opens · s saves"
        return f"{keys_for('image.open', 'enter')} opens · {keys_for('image.save', 's')} saves"

    async def _load(self) -> None:
        try:
            await self._fetch_and_show()
        finally:
            self._settled = True

    async def _fetch_and_show(self) -> None:
        fetch = getattr(self.app, "fetch_file", None)
        label = self.query_one(".caption", Static)
        if fetch is None:
            label.update(caption(None, self.file_id, "(no connection)"))
            return
        try:
            self.fetched = await fetch(self.file_id)
        except Exception as exc:
            self.error = str(exc)
            self.add_class("-error")
            label.update(Text(f"✖ image {self.file_id} could not be loaded: {exc}"))
            return
        mode = image_mode(self.app)
        note = self._keys()
        if mode != "placeholder":
            try:
                await load_library()
                picture = await asyncio.to_thread(decode, self.fetched.data)
                columns = min(INLINE_COLUMNS, self.size.width or INLINE_COLUMNS)
                await self.mount(image_widget(picture, mode, columns=columns))
            except ImportError:
                note = f"(install textual-image to see it) · {note}"
            except Exception as exc:  # not an image after all
                note = f"(cannot be shown: {exc}) · {note}"
            else:
                self.call_after_refresh(self._grow_ancestors)
        label.update(caption(self.fetched, self.file_id, note))

    def _grow_ancestors(self) -> None:
        """The picture arrived after its message was laid out: every container up to the
        scrolling transcript lays out again (messages do not ask for it themselves; see
        `spool.tui.widgets.message._QUIET_VIRTUAL_SIZE`)."""
        for node in self.ancestors:
            if not isinstance(node, Widget) or node.is_scrollable:
                break
            node.refresh(layout=True)

    @property
    def loaded(self) -> bool:
        """Whether the image is shown (or said why it cannot be)."""
        return self._settled

    def action_open(self) -> None:
        """Show the image full size."""
        opener = getattr(self.app, "open_image", None)
        if callable(opener):
            opener(self.file_id)

    def action_save(self) -> None:
        """Save the image to a folder."""
        saver = getattr(self.app, "save_server_files", None)
        if callable(saver):
            saver([self.file_id])


class MessageMedia(Vertical):
    """Under a reply: its images, and a line naming the files it links to (w saves them)."""

    DEFAULT_CSS = """
    MessageMedia { height: auto; padding: 0 1; }
    MessageMedia .files { height: auto; color: $text-muted; margin: 1 0 0 0; }
    """

    def __init__(self, item: MessageItem) -> None:
        super().__init__()
        self.item = item
        self._images: list[str] = []
        self._files = 0

    def _files_line(self) -> Text:
        keys_for = getattr(self.app, "_keys_for", None)
        key = keys_for("message.save_files", "w") if callable(keys_for) else "w"
        text = Text()
        for n, produced in enumerate(self.item.files):
            if n:
                text.append("\n")
            text.append("▤ ", style="bold")
            text.append(produced.name, style="bold")
            text.append(f"  {produced.link}", style="dim")
        text.append(
            f"\n{key} saves {'it' if len(self.item.files) == 1 else 'them'}", style="italic"
        )
        return text

    def compose(self) -> ComposeResult:
        for file_id in self.item.images:
            self._images.append(file_id)
            yield InlineImage(file_id)
        files = Static(classes="files")
        files.display = False
        yield files

    def on_mount(self) -> None:
        self.refresh_item()

    def refresh_item(self) -> None:
        """Show images and files that arrived since."""
        new = [f for f in self.item.images if f not in self._images]
        files = self.query_one(".files", Static)
        if new:
            self._images.extend(new)
            self.mount_all([InlineImage(f) for f in new], before=files)
        if len(self.item.files) != self._files:
            self._files = len(self.item.files)
            files.update(self._files_line())
            files.display = bool(self.item.files)
