"""The sources list under a reply with citations: one row per cited file (`[n] file name`).

A row can be focused (click, tab, or `s` on a focused message; up/down move between rows):
enter or a click opens the cited chunk in the context of its file (`CitationScreen`); `c` (or
space) shows the cited chunk under the row. Both ask the app (`SourceRow.Selected`), which fetches
through `spool.client.citations`.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from spool.client.citations import Source
from spool.client.view_model import MessageItem

CHUNK_PREVIEW_CHARS = 400


class SourceRow(Static):
    """One cited file of a reply; shows its cited chunk under it when asked (`c`)."""

    can_focus = True

    DEFAULT_CSS = """
    SourceRow { height: auto; padding: 0 1; color: $text-muted; }
    SourceRow:hover { background: $boost; }
    SourceRow:focus { background: $primary 25%; color: $text; }
    """

    BINDINGS = [
        Binding("enter", "open", "Open in context", id="sources.open", show=False),
        Binding("c,space", "chunk", "Show the cited chunk", id="sources.chunk", show=False),
        Binding("up", "step(-1)", "Previous source", id="sources.prev", show=False),
        Binding("down", "step(1)", "Next source", id="sources.next", show=False),
    ]

    class Selected(Message):
        """The user wants a source: in context (a screen) or its chunk under the row."""

        def __init__(self, row: SourceRow, *, in_context: bool) -> None:
            super().__init__()
            self.row = row
            self.item = row.item
            self.source = row.source
            self.in_context = in_context

    def __init__(self, item: MessageItem, source: Source) -> None:
        super().__init__(classes="source")
        self.item = item
        self.source = source
        self.chunk: str | None = None  # shown under the row (None: hidden)
        self._render_row()

    def _render_row(self) -> None:
        line = Text.assemble(
            (f"[{self.source.number}] ", "bold"), self.source.name, overflow="ellipsis"
        )
        if self.chunk is not None:
            text = " ".join(self.chunk.split())
            if len(text) > CHUNK_PREVIEW_CHARS:
                text = text[:CHUNK_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
            line.append("\n")
            line.append(f"“{text}”", style="italic")
        self.update(line)

    def set_source(self, source: Source) -> None:
        """Show a newer state of the source (a name learnt)."""
        if source != self.source:
            self.source = source
            self._render_row()

    def show_chunk(self, chunk: str | None) -> None:
        """Show (or with None hide) the cited chunk under the row."""
        self.chunk = chunk
        self._render_row()

    def action_open(self) -> None:
        """Open the cited chunk in the context of its file."""
        self.post_message(self.Selected(self, in_context=True))

    def action_chunk(self) -> None:
        """Show or hide the cited chunk under the row."""
        if self.chunk is not None:
            self.show_chunk(None)
        else:
            self.post_message(self.Selected(self, in_context=False))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.focus()
        self.action_open()

    def action_step(self, step: int) -> None:
        """Focus the previous (-1) or next (1) source; past the ends, the message itself."""
        parent = self.parent
        rows = [w for w in parent.children if isinstance(w, SourceRow)] if parent else []
        index = rows.index(self) + step if self in rows else -1
        if 0 <= index < len(rows):
            rows[index].focus()
        elif parent is not None and parent.parent is not None and parent.parent.can_focus:
            parent.parent.focus()


class SourcesList(Vertical):
    """The "Sources" title and a row per cited file of `item` (in citation order)."""

    DEFAULT_CSS = """
    SourcesList { height: auto; padding: 0 0 0 1; }
    SourcesList .sources-title { height: 1; padding: 0 1; color: $text-muted; text-style: bold; }
    """

    class NamesWanted(Message):
        """Some cited files are known by id only: the app looks their names up."""

        def __init__(self, sources: SourcesList) -> None:
            super().__init__()
            self.sources = sources

    def __init__(self, item: MessageItem) -> None:
        super().__init__(classes="sources")
        self.item = item
        self._asked: set[str] = set()  # file ids whose names were asked for

    def on_mount(self) -> None:
        self._ask_names()

    def _ask_names(self) -> None:
        unnamed = {s.file_id for s in self.item.citations.sources() if s.name == s.file_id}
        if unnamed - self._asked:
            self._asked |= unnamed
            self.post_message(self.NamesWanted(self))

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Sources", classes="sources-title")
        for source in self.item.citations.sources():
            yield SourceRow(self.item, source)

    @property
    def rows(self) -> list[SourceRow]:
        return list(self.query(SourceRow))

    def refresh_sources(self) -> None:
        """Add rows for new sources and rename the known ones."""
        rows = self.rows
        for i, source in enumerate(self.item.citations.sources()):
            if i < len(rows):
                rows[i].set_source(source)
            else:
                self.mount(SourceRow(self.item, source))
        self._ask_names()
