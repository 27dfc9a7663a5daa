"""The theme picker: every registered theme, applied live as the cursor moves.

Typing filters the list, up/down move (each highlighted theme is applied at once), enter keeps the
highlighted theme, escape puts the previous one back. spool's own themes are listed first, then
the user's and Textual's built-in ones.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class ThemePicker(ModalScreen[str | None]):
    """Dismisses with the chosen theme's name, or None (the previous theme restored)."""

    DEFAULT_CSS = """
    ThemePicker { align: right top; background: transparent; }
    ThemePicker > Vertical {
        width: 40; height: auto; max-height: 90%; margin: 1 2; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    ThemePicker #title { text-style: bold; }
    ThemePicker #filter { margin: 0 0 1 0; background: $boost; }
    ThemePicker OptionList { height: auto; max-height: 24; border: none; background: $surface; }
    ThemePicker #hint { color: $text-muted; margin: 1 0 0 0; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Restore", id="theme_picker.cancel"),
        Binding("enter", "choose", "Keep", id="theme_picker.choose", priority=True),
        Binding("down", "move(1)", "Next", id="theme_picker.down", show=False, priority=True),
        Binding("up", "move(-1)", "Previous", id="theme_picker.up", show=False, priority=True),
    ]

    def __init__(self, themes: list[str], current: str, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.themes = themes
        self.original = current
        self.cursor_blink = cursor_blink
        self.shown: list[str] = list(themes)

    def _options(self, names: list[str]) -> list[Option]:
        options = []
        for name in names:
            label = Text(name)
            if name == self.original:
                label.append("  (current)", style="dim")
            options.append(Option(label, id=name))
        return options

    def compose(self) -> ComposeResult:
        box = Input(placeholder="type to filter", id="filter", compact=True)
        box.cursor_blink = self.cursor_blink
        with Vertical():
            yield Static("Theme", id="title")
            yield box
            yield OptionList(*self._options(self.themes), id="themes")
            yield Static("type filter · ↑↓ preview · enter keep · esc restore", id="hint")

    def on_mount(self) -> None:
        themes = self.query_one(OptionList)
        if self.original in self.themes:
            themes.highlighted = self.themes.index(self.original)
        self.query_one("#filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter the list; the first match is previewed."""
        event.stop()
        query = event.value.strip().lower()
        self.shown = [n for n in self.themes if query in n.lower()] if query else list(self.themes)
        themes = self.query_one(OptionList)
        themes.clear_options()
        themes.add_options(self._options(self.shown))
        if self.shown:
            keep = self.app.theme if self.app.theme in self.shown and not query else self.shown[0]
            themes.highlighted = self.shown.index(keep)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_choose()

    def action_move(self, step: int) -> None:
        """Move the highlight (and preview that theme)."""
        themes = self.query_one(OptionList)
        if not self.shown:
            return
        current = themes.highlighted if themes.highlighted is not None else -step
        themes.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Preview: apply the highlighted theme."""
        name = event.option.id
        if name and name in self.app.available_themes and self.app.theme != name:
            self.app.theme = name

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._keep(event.option.id)

    def action_choose(self) -> None:
        """Keep the highlighted theme."""
        themes = self.query_one(OptionList)
        option = themes.highlighted_option
        self._keep(option.id if option is not None else None)

    def _keep(self, name: str | None) -> None:
        if name and name in self.app.available_themes:
            self.app.theme = name
            self.dismiss(name)
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        """Put the previous theme back and close."""
        if self.original in self.app.available_themes:
            self.app.theme = self.original
        self.dismiss(None)


def ordered_themes(names: list[str]) -> list[str]:
    """spool's themes first (dark default at the top), then the rest alphabetically."""
    spool = sorted(
        (n for n in names if n.startswith("spool-")), key=lambda n: (n != "spool-dark", n)
    )
    others = sorted(n for n in names if not n.startswith("spool-"))
    return spool + others
