"""Help (F1): every key (with the user's remapping) and where config, data and themes live."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(slots=True)
class KeyHelp:
    """One line of the key table."""

    keys: str
    action: str
    binding_id: str


class HelpScreen(ModalScreen[None]):
    """Keys and paths; escape, q or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 140; height: auto; max-height: 100%;
        padding: 1 2; border: thick $primary; background: $surface;
        border-title-align: left; border-subtitle-align: right;
    }
    HelpScreen Static { margin: 0 0 1 0; }
    HelpScreen .h { margin: 0; }
    """

    BINDINGS = [Binding("escape,q,f1", "close", "Close", id="help.close")]

    def __init__(self, keys: list[KeyHelp], paths: dict[str, str], notes: list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.paths = paths
        self.notes = notes

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("Key", style="bold cyan", ratio=3)
        table.add_column("Action", ratio=4)
        table.add_column("Binding id (keymap)", style="dim", ratio=3, overflow="fold")
        for k in self.keys:
            table.add_row(k.keys, k.action, k.binding_id)
        where = Table(box=None, show_header=False, expand=True)
        where.add_column(style="bold")
        where.add_column()
        for name, path in self.paths.items():
            where.add_row(name, path)
        with VerticalScroll() as box:
            box.border_title = "spool help"
            box.border_subtitle = "escape, q or F1 closes · ↑↓ PgUp PgDn scroll"
            yield Static(Text("spool: keys", style="bold underline"), classes="h")
            yield Static(table)
            yield Static(Text("Where things live", style="bold underline"), classes="h")
            yield Static(where)
            yield Static(Text("\n".join(self.notes)))

    def action_close(self) -> None:
        """Close help."""
        self.dismiss(None)
