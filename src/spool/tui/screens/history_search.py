"""Search the prompt history (ctrl+r in the composer): type to filter, Enter takes the
highlighted prompt into the composer, escape closes."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from spool.tui.screens.help import KeyHelp

KEYS = [
    KeyHelp(
        "ctrl+r (composer)",
        "Search what you sent (type to filter, Enter takes it)",
        "composer.history_search",
    ),
    KeyHelp("escape (history search)", "Close", "history_search.cancel"),
]
SHOWN_MAX = 200


def _one_line(text: str) -> str:
    return " ⏎ ".join(line.strip() for line in text.strip().splitlines() if line.strip())


class HistorySearchScreen(ModalScreen[str | None]):
    """The sent prompts, newest first, filtered by what is typed (every word must match)."""

    DEFAULT_CSS = """
    HistorySearchScreen { align: center middle; }
    HistorySearchScreen > Vertical {
        width: 90; max-width: 100%; height: 24; max-height: 100%;
        padding: 1 2; border: thick $primary; background: $surface;
    }
    HistorySearchScreen #title { margin: 0 0 1 0; }
    HistorySearchScreen OptionList { height: 1fr; margin: 1 0 0 0; }
    HistorySearchScreen #empty { color: $text-muted; margin: 1 0 0 0; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="history_search.cancel"),
        Binding("down", "move(1)", "Next", id="history_search.down", show=False),
        Binding("up", "move(-1)", "Previous", id="history_search.up", show=False),
    ]

    def __init__(self, prompts: list[str], *, query: str = "", cursor_blink: bool = True) -> None:
        super().__init__()
        self.prompts = list(reversed(prompts))  # newest first
        self.query_text = query
        self.cursor_blink = cursor_blink
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "What you sent (type to filter · Enter takes it · escape closes)",
                id="title",
                markup=False,
            )
            field = Input(self.query_text, placeholder="search", id="query")
            field.cursor_blink = self.cursor_blink
            yield field
            yield OptionList(id="results")
            yield Static("", id="empty", markup=False)

    def on_mount(self) -> None:
        self._filter(self.query_text)
        self.query_one("#query", Input).focus()

    @on(Input.Changed, "#query")
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        words = query.lower().split()
        self.shown = [p for p in self.prompts if all(w in p.lower() for w in words)][:SHOWN_MAX]
        results = self.query_one("#results", OptionList)
        results.clear_options()
        results.add_options([Option(_one_line(p)[:200]) for p in self.shown])
        if self.shown:
            results.highlighted = 0
        empty = self.query_one("#empty", Static)
        empty.update(
            "" if self.shown else ("Nothing sent yet." if not self.prompts else "No match.")
        )

    def action_move(self, step: int) -> None:
        """Highlight the next (1) or previous (-1) result."""
        results = self.query_one("#results", OptionList)
        if self.shown:
            current = results.highlighted or 0
            results.highlighted = max(0, min(len(self.shown) - 1, current + step))

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._take()

    @on(OptionList.OptionSelected, "#results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._take()

    def _take(self) -> None:
        index = self.query_one("#results", OptionList).highlighted
        self.dismiss(self.shown[index] if self.shown and index is not None else None)

    def action_cancel(self) -> None:
        """Close without taking a prompt."""
        self.dismiss(None)
