"""A cited chunk in context: the file's parsed text around the quote, the chunk highlighted.

Opened from a reply's sources list (enter or a click on a source). The chunk and the file text
come from `spool.client.citations.cited_chunk` (through the callback the app passes in), loaded in
a worker; a failure is said on the screen. escape or q closes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from spool.client.citations import CitedChunk, Source
from spool.tui.screens.help import KeyHelp

KEYS = [
    KeyHelp("s (message)", "Go to the sources of the focused reply", "message.sources"),
    KeyHelp("enter, click (source)", "Open the cited chunk in its file's context", "sources.open"),
    KeyHelp("c, space (source)", "Show / hide the cited chunk under the source", "sources.chunk"),
    KeyHelp("up (source)", "Previous source (past the first: the message)", "sources.prev"),
    KeyHelp("down (source)", "Next source", "sources.next"),
    KeyHelp("escape, q (citation)", "Close the citation", "citation.close"),
]


class CitationScreen(ModalScreen[None]):
    """The chunks a source cites, each with the text before and after it in its file."""

    DEFAULT_CSS = """
    CitationScreen { align: center middle; }
    CitationScreen > Vertical {
        width: 90%; max-width: 110; height: 80%; padding: 0 1;
        border: thick $primary; background: $surface;
        border-title-align: left; border-subtitle-align: right;
    }
    CitationScreen #citation-note { color: $warning; height: auto; }
    CitationScreen #citation-note.-empty { display: none; }
    CitationScreen VerticalScroll { height: 1fr; }
    CitationScreen .passage { height: auto; margin: 0 0 1 0; }
    """

    BINDINGS = [Binding("escape,q", "close", "Close", id="citation.close")]

    def __init__(self, source: Source, load: Callable[[], Awaitable[CitedChunk]]) -> None:
        super().__init__()
        self.source = source
        self.load = load
        self.chunk: CitedChunk | None = None

    def compose(self) -> ComposeResult:
        frame = Vertical()
        frame.border_title = f"[{self.source.number}] {self.source.name}"
        frame.border_subtitle = "escape closes"
        with frame:
            yield Static("", id="citation-note", classes="-empty", markup=False)
            with VerticalScroll(id="citation-body"):
                yield Static("Loading the cited chunk…", id="citation-loading", markup=False)

    def on_mount(self) -> None:
        self._load()

    @work(exclusive=True, group="citation", exit_on_error=False)
    async def _load(self) -> None:
        try:
            chunk = await self.load()
        except Exception as exc:  # said on the screen; the screen stays usable
            self._note(f"Could not load the citation: {exc}")
            self.query_one("#citation-loading", Static).update("")
            return
        self.show(chunk)

    def _note(self, text: str) -> None:
        note = self.query_one("#citation-note", Static)
        note.update(text)
        note.set_class(not text, "-empty")

    def show(self, chunk: CitedChunk) -> None:
        """Render the passages (the chunk highlighted, its context muted)."""
        self.chunk = chunk
        self._note(chunk.note)
        body = self.query_one("#citation-body", VerticalScroll)
        body.remove_children()
        if not chunk.passages:
            body.mount(Static("Nothing to show for this source.", markup=False))
            return
        accent = self.app.current_theme.accent or "yellow"
        widgets = []
        for i, passage in enumerate(chunk.passages, 1):
            text = Text()
            head = f"Passage {i}" if len(chunk.passages) > 1 else "Cited passage"
            if passage.score is not None:
                head += f" · score {passage.score:.3f}"
            if not passage.found and chunk.store_id:
                head += " · not located in the file's text"
            text.append(head + "\n", style="bold")
            text.append(passage.before, style="dim")
            text.append(passage.text, style=f"bold {accent}")
            text.append(passage.after, style="dim")
            widgets.append(Static(text, classes="passage"))
        body.mount_all(widgets)

    def action_close(self) -> None:
        """Close the citation."""
        self.dismiss(None)
