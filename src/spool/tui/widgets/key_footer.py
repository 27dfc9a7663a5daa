"""The key footer: one line with the main keys and `F1 help` (hidden with F10 or the palette;
`footer = false` in the config file starts without it)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

# (binding id, label) of the keys shown, in order.
FOOTER_KEYS: list[tuple[str, str]] = [
    ("spool.new_thread", "new"),
    ("spool.filter", "filter"),
    ("spool.cancel", "cancel"),
    ("spool.retry", "retry"),
    ("spool.take_back", "take back"),
    ("spool.palette", "palette"),
    ("spool.help", "help"),
    ("spool.quit", "quit"),
]


class KeyFooter(Static):
    """The main keys, as remapped in the config file (`keys_for` gives a binding's keys)."""

    DEFAULT_CSS = """
    KeyFooter { dock: bottom; height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, keys_for: Callable[[str], str], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.keys_for = keys_for

    def on_mount(self) -> None:
        self.update(self.render_keys())

    def render_keys(self) -> Text:
        """`key label` pairs; the first key of each binding."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (binding_id, label) in enumerate(FOOTER_KEYS):
            keys = self.keys_for(binding_id).split(",")[0].strip()
            if not keys:
                continue
            if i:
                text.append("  ")
            text.append(keys.replace("escape", "esc"), style="bold")
            text.append(f" {label}")
        return text
