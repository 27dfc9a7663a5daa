"""The message search screen: a query box, where the results come from, and the results.

Each result shows its thread's title, who wrote the message and when, and a one-line snippet
with the matches highlighted. Typing searches (debounced); ↑/↓ move through the results from
the query box; Enter opens the highlighted result (the first by default); escape closes. When
there are more results than one page, the last row says so: moving onto it (or Enter, or a
click) loads the next page below.

The screen knows nothing about servers: it is given a `search(query, after)` coroutine
returning a `spool.client.search.SearchAnswer` (`after`: the previous page's `cursor`, None for
the first page) and a `title_of(thread_id)` function.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from spool.client.search import SearchAnswer, SearchFailed, SearchResult
from spool.tui.screens.help import KeyHelp
from spool.tui.timefmt import time_ago

KEYS = [
    KeyHelp("type, ↑↓ (search)", "Search message text; move through the results", "search.down"),
    KeyHelp("enter (search)", "Open the thread at the highlighted message", "search.open"),
    KeyHelp("escape (search)", "Close the search", "search.close"),
]
SERVER_NOTE = "Searching the text of every message on the server."
INDEX_NOTE = (
    "This server cannot search message text: searching thread titles and previews "
    "in your thread list."
)
OFFLINE_NOTE = "Not connected: searching thread titles and previews in your thread list."


@dataclass(slots=True, frozen=True)
class SearchChoice:
    """The result the user opened."""

    thread_id: str
    message_id: str | None


SearchFn = Callable[[str, str | None], Awaitable[SearchAnswer]]
MORE_ID = "more"


class SearchScreen(ModalScreen[SearchChoice | None]):
    """Search messages across threads; dismissed with the chosen result (None: closed)."""

    COMPONENT_CLASSES = {"search--match"}

    DEFAULT_CSS = """
    SearchScreen { align: center top; }
    SearchScreen > Vertical {
        width: 90%; max-width: 120; height: 80%; margin: 2 0 0 0; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    SearchScreen #query { margin: 0 0 1 0; }
    SearchScreen #note { color: $text-muted; margin: 0 0 1 0; }
    SearchScreen #note.-fallback { color: $warning; }
    SearchScreen #results { height: 1fr; border: none; background: $surface; }
    SearchScreen #results:focus { border: none; }
    SearchScreen > .search--match { background: $accent 40%; text-style: bold; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="search.close"),
        Binding("down", "move(1)", "Next result", id="search.down", show=False),
        Binding("up", "move(-1)", "Previous result", id="search.up", show=False),
        Binding("enter", "open", "Open", id="search.open", show=False),
    ]

    def __init__(
        self,
        search: SearchFn,
        title_of: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
        query: str = "",
        debounce_s: float = 0.12,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self._search = search
        self._title_of = title_of
        self._clock = clock
        self._initial = query
        self.debounce_s = debounce_s
        self.cursor_blink = cursor_blink
        self.answer: SearchAnswer | None = None
        self.shown_at: float | None = None  # perf_counter() when the last answer was drawn
        self._timer: Timer | None = None
        self._loading_more = False

    def compose(self) -> ComposeResult:
        with Vertical():
            query = Input(self._initial, placeholder="Search messages in every thread", id="query")
            query.cursor_blink = self.cursor_blink
            yield query
            yield Static("Type to search; Enter opens the highlighted result.", id="note")
            yield OptionList(id="results")

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        if self._initial.strip():
            self.search_now(self._initial)

    @property
    def results(self) -> OptionList:
        return self.query_one("#results", OptionList)

    # --- searching -----------------------------------------------------------------------------
    @on(Input.Changed, "#query")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        value = event.value
        self._timer = self.set_timer(self.debounce_s, lambda: self.search_now(value))

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_open()

    def search_now(self, query: str) -> None:
        """Search `query` at once (typing goes through a short debounce)."""
        self._run(query)

    @work(exclusive=True, group="search", exit_on_error=False)
    async def _run(self, query: str) -> None:
        if not query.strip():
            self.answer = None
            self.results.clear_options()
            self._note("Type to search; Enter opens the highlighted result.")
            return
        try:
            answer = await self._search(query, None)
        except SearchFailed as exc:
            self._note(f"Search failed: {exc}", fallback=True)
            return
        self.show_answer(answer)

    @work(exclusive=True, group="search-more", exit_on_error=False)
    async def _more(self) -> None:
        shown = self.answer
        if shown is None or not shown.has_more or self._loading_more:
            return
        self._loading_more = True
        try:
            page = await self._search(shown.query, shown.cursor)
        except SearchFailed as exc:
            self._note(f"Could not load more results: {exc}", fallback=True)
            return
        finally:
            self._loading_more = False
        if self.answer is not shown:
            return  # the query changed meanwhile
        highlighted = self.results.highlighted
        page.results = [*shown.results, *page.results]
        self.show_answer(page, highlighted=min(highlighted or 0, len(shown.results)))

    def show_answer(self, answer: SearchAnswer, highlighted: int = 0) -> None:
        """Draw an answer (its results and where they come from)."""
        self.answer = answer
        count = len(answer.results)
        found = f"{count}{'+' if answer.has_more else ''} result{'s' if count != 1 else ''}"
        if answer.source == "server":
            self._note(f"{SERVER_NOTE}  {found}" if count else f"{SERVER_NOTE}  No matches.")
        else:
            note = OFFLINE_NOTE if answer.offline else INDEX_NOTE
            self._note(f"{note}  {found}" if count else f"{note}  No matches.", True)
        now = self._clock()
        match = self._match_style()
        options = [
            Option(self.prompt(r, now, match), id=str(i)) for i, r in enumerate(answer.results)
        ]
        if answer.has_more and options:
            more = Text("  More results: ↓ or Enter loads the next page", style="dim italic")
            options.append(Option(more, id=MORE_ID))
        self.results.set_options(options)
        if options:
            self.results.highlighted = min(highlighted, len(options) - 1)
        self.shown_at = time.perf_counter()

    def _note(self, text: str, fallback: bool = False) -> None:
        note = self.query_one("#note", Static)
        note.update(text)
        note.set_class(fallback, "-fallback")

    def _match_style(self) -> Style:
        try:
            return self.get_component_rich_style("search--match", partial=True)
        except Exception:  # not mounted yet
            return Style(bold=True, reverse=True)

    def prompt(self, result: SearchResult, now: float, match: Style) -> Text:
        """A result's two lines: thread title · author · age, then the highlighted snippet."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self._title_of(result.thread_id) or "New thread", style="bold")
        meta = {"title": "title", "preview": "preview"}.get(result.found_in, result.role)
        when = time_ago(result.created_at, now) if result.created_at else ""
        text.append("  " + " · ".join(p for p in (meta, when) if p), style="dim")
        text.append("\n  ")
        # (offsets refer to the snippet as given: same length, newlines become spaces)
        snippet = Text(result.snippet.replace("\n", " "))
        for start, end in result.highlights:
            snippet.stylize(match, start, end)
        text.append_text(snippet)
        return text

    # --- actions -------------------------------------------------------------------------------
    def action_move(self, step: int) -> None:
        """Move the highlight through the results."""
        ol = self.results
        if ol.option_count == 0:
            return
        current = ol.highlighted if ol.highlighted is not None else -step
        ol.highlighted = max(0, min(ol.option_count - 1, current + step))
        if self._on_more_row():
            self._more()

    def _on_more_row(self) -> bool:
        ol = self.results
        if ol.highlighted is None or ol.option_count == 0:
            return False
        return ol.get_option_at_index(ol.highlighted).id == MORE_ID

    def action_open(self) -> None:
        """Open the highlighted result (the first when none is)."""
        if self.answer is None or not self.answer.results:
            return
        if self._on_more_row():
            self._more()
            return
        index = self.results.highlighted or 0
        result = self.answer.results[min(index, len(self.answer.results) - 1)]
        self.dismiss(SearchChoice(result.thread_id, result.message_id))

    @on(OptionList.OptionSelected, "#results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.results.highlighted = event.option_index
        self.action_open()

    def action_close(self) -> None:
        """Close without opening anything."""
        self.dismiss(None)
