"""The image viewer: one image from the server, as large as the terminal allows.

Opened from a focused image in the transcript (enter or o). s saves it to a folder, escape, q or
enter closes it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from spool.client.images import FetchedFile
from spool.tui.screens.help import KeyHelp
from spool.tui.widgets.image_view import ImageMode, caption, image_widget

KEYS = [
    KeyHelp("enter, o (image)", "Open the focused image full size", "image.open"),
    KeyHelp("s (image)", "Save the focused image to a folder", "image.save"),
    KeyHelp("escape, q, enter", "Image viewer: close", "image_viewer.close"),
    KeyHelp("s", "Image viewer: save the image", "image_viewer.save"),
]


class ImageViewerScreen(ModalScreen[None]):
    """An image full size, its name and size above it."""

    DEFAULT_CSS = """
    ImageViewerScreen { align: center middle; }
    ImageViewerScreen > Vertical {
        width: 100%; height: 100%; padding: 0 1; border: thick $accent; background: $surface;
    }
    ImageViewerScreen .caption { height: 1; }
    ImageViewerScreen Center { height: 1fr; }
    ImageViewerScreen .picture { width: auto; height: auto; }
    ImageViewerScreen .hint { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape,q,enter", "close", "Close", id="image_viewer.close"),
        Binding("s", "save", "Save", id="image_viewer.save"),
    ]

    def __init__(self, fetched: FetchedFile, mode: ImageMode, picture: Any = None) -> None:
        """`picture`: the decoded image (`image_view.decode`); None shows the name only."""
        super().__init__()
        self.fetched = fetched
        self.mode = mode
        self.picture = picture

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(caption(self.fetched, self.fetched.file_id), classes="caption")
            with Center():
                if self.mode == "placeholder" or self.picture is None:
                    yield Static("(images are not drawn here: s saves it to a folder)")
                else:
                    yield image_widget(self.picture, self.mode)
            yield Static("s save · escape close", classes="hint")

    def action_save(self) -> None:
        """Save the image to a folder (asks which)."""
        saver = getattr(self.app, "save_server_files", None)
        if callable(saver):
            saver([self.fetched.file_id])

    def action_close(self) -> None:
        """Close the viewer."""
        self.dismiss(None)
