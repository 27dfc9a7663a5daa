"""The app's citations and vector stores (a mixin of `SpoolApp`).

* a reply's sources: `alt+c` (or `s` on a focused message) goes to them; a source opens the cited
  chunk in its file's context (`CitationScreen`) or shows the chunk under it;
* names of cited files the markers do not give are looked up (`files.retrieve`);
* the vector store screen (`alt+v`): list, create, add files, remove files, delete, test search.

Everything goes through `spool.client.citations` and `spool.client.vector_stores`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from spool.client.citations import cited_chunk, learn_names
from spool.client.vector_stores import VectorStores
from spool.tui.host import AppHost
from spool.tui.screens.citation import KEYS as CITATION_KEYS
from spool.tui.screens.citation import CitationScreen
from spool.tui.screens.help import KeyHelp
from spool.tui.screens.vector_stores import KEYS as STORE_KEYS
from spool.tui.screens.vector_stores import VectorStoresScreen
from spool.tui.widgets.sources import SourceRow, SourcesList

# (binding id, action, description): appended to the app's ACTIONS (help screen and palette)
RETRIEVAL_ACTIONS: list[tuple[str, str, str]] = [
    ("spool.sources", "show_sources", "Sources of the focused reply (or the last one)"),
    ("spool.vector_stores", "vector_stores", "Vector stores: create, add files, test search"),
]
# priority: the composer (a TextArea) would otherwise take alt+<letter> as the letter
RETRIEVAL_BINDINGS = [
    Binding("alt+c", "show_sources", "Sources", id="spool.sources", priority=True),
    Binding("alt+v", "vector_stores", "Stores", id="spool.vector_stores", priority=True),
]


def retrieval_key_help() -> list[KeyHelp]:
    """Help lines for the keys of sources, citations and the vector store screen."""
    return [*CITATION_KEYS, *STORE_KEYS]


class RetrievalMixin(AppHost):
    """Sources, citations and the vector store screen (see the module docstring)."""

    if TYPE_CHECKING:  # provided by SpoolApp
        cursor_blink: bool
        clock: Any

        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def focused_message(self) -> Any: ...
        def last_reply_widget(self) -> Any: ...

    _cited_names: dict[str, str] | None = None

    # --- sources and citations --------------------------------------------------------------
    def action_show_sources(self) -> None:
        """Focus the first source of the focused reply, else of the last reply with sources."""
        from spool.tui.widgets.message import MessageView

        message = self.focused_message()
        if message is None or not len(message.item.citations):
            cited = [
                w
                for w in self.query(MessageView)  # type: ignore[attr-defined]
                if w.item.role == "assistant" and len(w.item.citations)
            ]
            message = cited[-1] if cited else None
        if message is None:
            self.notify("No reply here cites a source.")
            return
        message.action_sources()

    def on_source_row_selected(self, event: SourceRow.Selected) -> None:
        """A source was chosen: open it in context, or show its chunk under the row."""
        event.stop()
        if self.driver is None:
            self.notify("Not connected: the citation cannot be loaded.", severity="warning")
            return
        client = self.connection.client
        thread_id = self.current or ""
        item = event.item

        async def load() -> Any:
            return await cited_chunk(
                client, thread_id=thread_id, run_id=item.run_id, source=event.source
            )

        if event.in_context:
            self.push_screen(CitationScreen(event.source, load))
            return
        row = event.row

        async def preview() -> None:
            try:
                found = await load()
            except Exception as exc:
                self.notify(f"Could not load the cited chunk: {exc}", severity="error")
                return
            text = found.passages[0].text if found.passages else ""
            row.show_chunk(text or found.note or "(the server did not say which chunk)")

        self.run_worker(preview(), group="citations", exit_on_error=False)

    def on_sources_list_names_wanted(self, event: SourcesList.NamesWanted) -> None:
        """Look up the names of cited files (once per file), then show them."""
        event.stop()
        if self.driver is None:
            return
        if self._cited_names is None:
            self._cited_names = {}
        client, cache, widget = self.connection.client, self._cited_names, event.sources

        async def lookup() -> None:
            if await learn_names(client, widget.item.citations, cache):
                widget.refresh_sources()

        self.run_worker(lookup(), group="citations", exit_on_error=False)

    # --- vector stores ----------------------------------------------------------------------
    def action_vector_stores(self) -> None:
        """The vector store screen."""
        if self.driver is None:
            self.notify("Not connected yet.", severity="warning")
            return
        stores = VectorStores(self.connection.client, clock=self.clock)
        self.push_screen(VectorStoresScreen(stores, cursor_blink=self.cursor_blink))
