"""The sidebar: saved threads (newest first) with a filter box.

The filter matches a thread's title, the preview of its last reply and its assistant's name
(case-insensitive, every word); Enter in the filter box opens the first match (the app then
focuses the composer); with no match the list says "no threads match".

Each row shows the title, the assistant's name, the time since the last activity (from the app's
injected clock) and a ● glyph while a run is in progress. Built on `OptionList` (`ListView` needs
about a minute for 10,000 rows). Filtering is plain Python over every row; only the first `PAGE`
matches are handed to the OptionList (which measures every option it holds), and the next page
is added when the cursor reaches the "more" row, so mount and filter cost stay flat at 10,000.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from spool.tui.timefmt import time_ago

TITLE_WIDTH = 28
RUN_GLYPH = "●"
UNREAD_GLYPH = "◆"  # a run ended while the thread was not shown
UNREAD_WORDS = {"completed": "new reply", "requires_action": "needs output"}
PAGE = 100  # rows handed to the OptionList at a time (more appear as the cursor gets there)
MORE_ID = "__more__"
NO_MATCH_ID = "__no_match__"
NO_MATCH = "no threads match"


@dataclass(slots=True)
class SidebarRow:
    """What the sidebar shows for one thread."""

    thread_id: str
    title: str
    assistant: str
    updated_at: float
    active: bool = False
    status: str = ""
    unread: str = ""  # how a run ended while the thread was not shown (until it is opened)
    preview: str = ""  # the last reply, one line (matched by the filter, not shown)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Sidebar(Vertical):
    """Saved threads with a filter box; posts `ThreadChosen` when a row is selected."""

    COMPONENT_CLASSES = {"sidebar--active"}

    DEFAULT_CSS = """
    Sidebar > .sidebar--active { color: $status-in-progress; text-style: bold; }
    Sidebar {
        width: 34;
        dock: left;
        border-right: tall $panel;
        background: $surface;
    }
    Sidebar #filter {
        border: none;
        height: 1;
        padding: 0 1;
        margin: 0 0 1 0;
        background: $panel;
    }
    Sidebar #filter:focus { background: $boost; }
    Sidebar OptionList {
        border: none;
        height: 1fr;
        padding: 0;
        background: $surface;
    }
    Sidebar OptionList:focus { border: none; }
    Sidebar #filter.-hidden { display: none; }
    """

    BINDINGS = [
        Binding("escape", "leave_filter", "Back", id="sidebar.leave_filter", show=False),
    ]

    class ThreadChosen(Message):
        """The user picked a thread in the list."""

        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    class FilterLeft(Message):
        """The user left the filter box (escape)."""

    def __init__(
        self, clock: Callable[[], float], *, id: str | None = None, debounce_s: float = 0.15
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.debounce_s = debounce_s
        self._rows: list[SidebarRow] = []
        self._by_id: dict[str, SidebarRow] = {}
        self._options: dict[str, Option] = {}
        self._shown: list[str] = []  # every matching thread id, in order
        self._limit = PAGE  # how many of them the OptionList holds
        self._query = ""
        self._filter_timer: Timer | None = None
        self._now = 0.0
        self.current: str | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter threads (ctrl+f)", id="filter")
        yield OptionList(id="threads")

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#threads", OptionList)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def shown_ids(self) -> list[str]:
        """Matching thread ids in display order (after filtering)."""
        return list(self._shown)

    @property
    def displayed_ids(self) -> list[str]:
        """The ids the OptionList holds right now (a prefix of `shown_ids`)."""
        return self._shown[: self._limit]

    # --- rows -----------------------------------------------------------------------------
    def _active_style(self) -> Style:
        """The run glyph's style: the theme's `$status-in-progress`."""
        try:
            return self.get_component_rich_style("sidebar--active", partial=True)
        except Exception:  # not mounted yet
            return Style(bold=True, color="yellow")

    def prompt(self, row: SidebarRow, now: float) -> Text:
        """The two-line prompt of a row."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if row.active:
            text.append(f"{RUN_GLYPH} ", style=self._active_style())
        elif row.unread:
            text.append(f"{UNREAD_GLYPH} ", style=self._active_style())
        else:
            text.append("  ")
        text.append(_clip(row.title or "New thread", TITLE_WIDTH), style="bold")
        text.append("\n  ")
        # the run's state first, so that a narrow sidebar never cuts it
        state = row.status.replace("_", " ") if row.active and row.status else ""
        state = state or UNREAD_WORDS.get(row.unread, row.unread.replace("_", " "))
        if state:
            text.append(f"{state} · ", style=self._active_style())
        meta = f"{_clip(row.assistant, 16)} · {time_ago(row.updated_at, now)}"
        text.append(_clip(meta, max(8, TITLE_WIDTH - len(state) - 3)), style="dim")
        return text

    def set_rows(self, rows: list[SidebarRow]) -> None:
        """Replace every row (kept in the given order: newest first)."""
        now = self.clock()
        self._rows = list(rows)
        self._by_id = {r.thread_id: r for r in rows}
        self._options = {}  # built lazily for the rows the OptionList actually holds
        self._now = now
        self._apply_filter()

    def upsert_row(self, row: SidebarRow, *, to_top: bool = False) -> None:
        """Add or change one row (moving it to the top when `to_top`)."""
        existing = self._by_id.get(row.thread_id)
        now = self.clock()
        if existing is not None and not to_top:
            idx = self._rows.index(existing)
            self._rows[idx] = row
            self._by_id[row.thread_id] = row
            self._options[row.thread_id] = Option(self.prompt(row, now), id=row.thread_id)
            with contextlib.suppress(OptionDoesNotExist):
                self.option_list.replace_option_prompt(row.thread_id, self.prompt(row, now))
            return
        if existing is not None:
            self._rows.remove(existing)
        self._rows.insert(0, row)
        self._by_id[row.thread_id] = row
        self._options[row.thread_id] = Option(self.prompt(row, now), id=row.thread_id)
        self._apply_filter()

    def remove_row(self, thread_id: str) -> None:
        """Drop a row."""
        row = self._by_id.pop(thread_id, None)
        if row is not None:
            self._rows.remove(row)
            self._options.pop(thread_id, None)
            self._apply_filter()

    def row(self, thread_id: str) -> SidebarRow | None:
        return self._by_id.get(thread_id)

    def select(self, thread_id: str | None) -> None:
        """Highlight the current thread."""
        self.current = thread_id
        if thread_id is None or thread_id not in self._shown:
            return
        index = self._shown.index(thread_id)
        if index >= self._limit:
            self._limit = (index // PAGE + 1) * PAGE
            self._fill()
        ol = self.option_list
        ol.highlighted = ol.get_option_index(thread_id)

    def neighbour(self, thread_id: str | None, step: int) -> str | None:
        """The thread `step` rows away from `thread_id` in display order (clamped)."""
        if not self._shown:
            return None
        if thread_id not in self._shown:
            return self._shown[0]
        idx = self._shown.index(thread_id) + step
        idx = max(0, min(len(self._shown) - 1, idx))
        return self._shown[idx]

    # --- filtering ---------------------------------------------------------------------------
    def matches(self, row: SidebarRow, query: str) -> bool:
        """Whether every word of `query` (lower case) is in the title, preview or assistant."""
        haystack = f"{row.title}\n{row.preview}\n{row.assistant}".lower()
        return all(word in haystack for word in query.split())

    def _apply_filter(self) -> None:
        query = self._query
        rows = [r for r in self._rows if self.matches(r, query)] if query else self._rows
        self._shown = [r.thread_id for r in rows]
        self._limit = PAGE
        if self.current in self._shown:
            index = self._shown.index(self.current)  # type: ignore[arg-type]
            self._limit = max(PAGE, (index // PAGE + 1) * PAGE)
        self._fill()

    def _option(self, thread_id: str) -> Option:
        option = self._options.get(thread_id)
        if option is None:
            row = self._by_id[thread_id]
            option = self._options[thread_id] = Option(self.prompt(row, self._now), id=thread_id)
        return option

    def _fill(self) -> None:
        """Hand the first `_limit` matches (and a "more" row) to the OptionList."""
        ol = self.option_list
        shown = self._shown[: self._limit]
        options = [self._option(tid) for tid in shown]
        rest = len(self._shown) - len(shown)
        if rest > 0:
            options.append(Option(Text(f"  … {rest} more", style="dim italic"), id=MORE_ID))
        if not shown and self._query:
            options.append(
                Option(Text(f"  {NO_MATCH}", style="dim italic"), id=NO_MATCH_ID, disabled=True)
            )
        highlighted = ol.highlighted
        ol.set_options(options)
        if self.current in shown:
            ol.highlighted = ol.get_option_index(self.current)  # type: ignore[arg-type]
        elif highlighted is not None and highlighted < len(options):
            ol.highlighted = highlighted

    @on(OptionList.OptionHighlighted, "#threads")
    def _option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id == MORE_ID:
            index = event.option_index
            self._limit += PAGE
            self._fill()
            self.option_list.highlighted = index

    def set_filter(self, query: str) -> None:
        """Filter now (tests and benchmarks; typing goes through a debounce)."""
        self._query = query.strip().lower()
        self._apply_filter()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(self.debounce_s, lambda: self.set_filter(value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.set_filter(event.value)
        if self._shown:  # open the first match (the app focuses the composer)
            self.post_message(self.ThreadChosen(self._shown[0]))

    @on(OptionList.OptionSelected, "#threads")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id not in (MORE_ID, NO_MATCH_ID):
            self.post_message(self.ThreadChosen(event.option.id))

    def action_leave_filter(self) -> None:
        """Escape in the sidebar: clear the filter and go back to the composer."""
        if self.filter_input.value:
            self.filter_input.value = ""
            self.set_filter("")
        self.post_message(self.FilterLeft())

    def reveal(self, thread_id: str) -> None:
        """Clear the filter when it hides `thread_id` (a thread opened from elsewhere)."""
        if self._query and thread_id in self._by_id and thread_id not in self._shown:
            with self.prevent(Input.Changed):
                self.filter_input.value = ""
            self.set_filter("")
            self.select(thread_id)

    def focus_filter(self) -> None:
        """Put the cursor in the filter box."""
        self.filter_input.focus()
