"""The run status bar: status (a colour each), elapsed time, tokens, model, assistant, cancel key.

Shows "connecting…" until the connection is up, and the last error (one line) when there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from spool.client.view_model import RunState
from spool.tui.themes import RUN_STATUSES


def _status_class(status: str) -> str:
    """The component class of a run status (`status-bar--in-progress`)."""
    return f"status-bar--{status.replace('_', '-')}"


@dataclass
class StatusInfo:
    """Everything the status bar shows."""

    connection: str = "connecting…"  # connecting… | connected | offline | error text
    run: RunState | None = None
    model: str = ""
    assistant: str = ""
    error: str | None = None
    note: str | None = None
    options: str = ""  # the run options set for the next run ("" when none)
    cancel_key: str = "esc"
    hint: str = ""  # keys that help after a failure ("f5 retry · f6 edit")
    queued: int = 0  # messages of this thread waiting to be posted
    unsent: int = 0  # messages of this thread the server could not take (sent again later)


class StatusBar(Static):
    """One line at the bottom; call `show(info)` to change it, `tick()` to refresh elapsed."""

    COMPONENT_CLASSES = {_status_class(s) for s in RUN_STATUSES} | {
        "status-bar--note",
        "status-bar--options",
        "status-bar--error",
        "status-bar--connecting",
    }

    DEFAULT_CSS = """
    StatusBar { dock: bottom; height: 1; background: $panel; color: $text; padding: 0 1; }
    StatusBar > .status-bar--queued { color: $status-queued; text-style: bold; }
    StatusBar > .status-bar--in-progress { color: $status-in-progress; text-style: bold; }
    StatusBar > .status-bar--requires-action { color: $status-requires-action; text-style: bold; }
    StatusBar > .status-bar--cancelling { color: $status-cancelling; text-style: bold; }
    StatusBar > .status-bar--cancelled { color: $status-cancelled; text-style: bold; }
    StatusBar > .status-bar--failed { color: $status-failed; text-style: bold; }
    StatusBar > .status-bar--completed { color: $status-completed; text-style: bold; }
    StatusBar > .status-bar--incomplete { color: $status-incomplete; text-style: bold; }
    StatusBar > .status-bar--expired { color: $status-expired; text-style: bold; }
    StatusBar > .status-bar--connecting { color: $status-requires-action; text-style: bold; }
    StatusBar > .status-bar--options { color: $role-tool; text-style: italic; }
    StatusBar > .status-bar--note { color: $status-requires-action; text-style: bold; }
    StatusBar > .status-bar--error { color: $status-failed; text-style: bold; }
    """

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.clock = clock
        self.info = StatusInfo()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        # the colours come from the theme's $status-* variables: re-render after the CSS update
        self.call_after_refresh(self.show, self.info)

    def _style(self, component: str) -> Style:
        """The Rich style of one of the component classes (from the theme's variables)."""
        try:
            return self.get_component_rich_style(component, partial=True)
        except Exception:  # not mounted / no CSS yet
            return Style(bold=True)

    def show(self, info: StatusInfo) -> None:
        """Display `info`."""
        self.info = info
        self.update(self.render_info(), layout=False)

    def tick(self) -> None:
        """Refresh (elapsed time) while a run is active."""
        if self.info.run is not None and self.info.run.active:
            self.update(self.render_info(), layout=False)

    def render_info(self) -> Text:
        info = self.info
        text = Text(no_wrap=True, overflow="ellipsis")
        if info.connection != "connected":
            component = (
                "status-bar--connecting" if info.connection.endswith("…") else "status-bar--error"
            )
            text.append(info.connection, style=self._style(component))
        else:
            run = info.run
            if run is None:
                if not (info.unsent or info.queued):  # else the counts say what waits
                    text.append("● idle", style="dim")
            else:
                style = (
                    self._style(_status_class(run.status))
                    if run.status in RUN_STATUSES
                    else Style(bold=True)
                )
                text.append(f"● {run.status}", style=style)
                text.append(f"  {run.elapsed(self.clock()):.1f}s")
                if run.active and run.completion_tokens:
                    # while streaming: the reply's tokens so far and the rate
                    elapsed = run.elapsed(self.clock())
                    text.append(f"  ~{run.completion_tokens} tok")
                    if elapsed > 0.2:
                        text.append(f" {run.completion_tokens / elapsed:.0f} tok/s")
                elif run.total_tokens:
                    text.append(f"  {run.total_tokens} tok")
        if info.unsent:
            text.append("  " if len(text) else "")
            text.append(f"✖ {info.unsent} not sent", style=self._style("status-bar--error"))
        if info.queued:
            text.append("  " if len(text) else "")
            text.append(f"○ {info.queued} queued", style=self._style("status-bar--connecting"))
        if info.model:
            text.append(f"  │ model {info.model}")
        if info.assistant:
            text.append(f"  │ {info.assistant}")
        if info.options:
            text.append("  │ ")
            text.append(info.options, style=self._style("status-bar--options"))
        if info.run is not None and info.run.active:
            text.append(f"  │ {info.cancel_key} cancel", style="bold")
        if info.note:
            text.append("  │ ")
            text.append(info.note, style=self._style("status-bar--note"))
        if info.hint:
            text.append("  │ ")
            text.append(info.hint, style="bold")
        if info.error:
            text.append("  │ ")
            text.append(info.error, style=self._style("status-bar--error"))
        return text
