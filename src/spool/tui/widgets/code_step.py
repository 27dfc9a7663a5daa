"""Server-side tool calls in the transcript: a code_interpreter block and a file_search line.

`CodeStepView` shows one code_interpreter call where it happened in the assistant's turn: the
Python code (syntax highlighted) as the model writes it, then its logs (a traceback in the
theme's error colour) and its images inline (`spool.tui.widgets.image_view`), with its state and
duration in the title. It is a `Collapsible`: click the title, or press enter on it or `c`
anywhere in the block. `FileSearchView` is one compact line: the query (when the server gives
it) and the number of results.
"""

from __future__ import annotations

import re
import time

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Collapsible, Static

from spool.client.view_model import CodeStepItem, FileSearchItem
from spool.tui.timefmt import format_duration
from spool.tui.widgets.image_view import InlineImage

# a Python traceback, or the last line of one (`NameError: …`) without it
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.MULTILINE)
_ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(: .*)?$", re.MULTILINE)
TICK_S = 0.5
CHUNK_LINES = 20  # a streaming code block is highlighted in chunks of this many lines
WHOLE_LINES = 120  # a finished block up to this long is highlighted as one

STATE = {
    "in_progress": "running",
    "completed": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
}


def error_start(logs: str) -> int | None:
    """Where the error part of `logs` begins (a traceback, or a bare `XError: …` line)."""
    match = _TRACEBACK.search(logs) or _ERROR_LINE.search(logs)
    return match.start() if match else None


class CodeStepView(Vertical):
    """One code_interpreter call: code, logs, images; collapsible; state and duration."""

    COMPONENT_CLASSES = {"code-step--error", "code-step--logs"}

    BINDINGS = [
        Binding("c", "toggle", "Collapse / expand the code", id="code_step.toggle", show=False),
    ]

    DEFAULT_CSS = """
    CodeStepView { height: auto; margin: 0 0 1 0; padding: 0 0 0 1; border-left: outer $role-tool; }
    CodeStepView.-failed { border-left: outer $status-failed; }
    CodeStepView Collapsible { border: none; padding: 0; margin: 0; background: transparent; }
    CodeStepView Collapsible > Contents { padding: 0 0 0 2; height: auto; }
    CodeStepView .code { height: auto; }
    CodeStepView .code > Static { height: auto; }
    CodeStepView .logs { height: auto; margin: 1 0 0 0; }
    CodeStepView .images { height: auto; }
    CodeStepView > .code-step--error { color: $error; }
    CodeStepView > .code-step--logs { color: $text-muted; }
    """

    def __init__(self, item: CodeStepItem) -> None:
        super().__init__()
        self.item = item
        self._shown_code: str | None = None
        self._chunk_src: list[str] = []
        self._was_running = item.running
        self._shown_logs = item.logs
        self._images: list[str] = []
        self._timer = None

    # --- rendering --------------------------------------------------------------------------
    def _elapsed(self) -> float | None:
        item = self.item
        if item.duration_s is not None:
            return item.duration_s
        if item.running and item.started_at is not None:
            clock = getattr(self.app, "clock", time.time)
            return max(0.0, clock() - item.started_at)
        return None

    def _title(self) -> str:
        item = self.item
        state = STATE.get(item.status, item.status)
        mark = {"running": "⚙", "done": "✔"}.get(state, "✖")
        parts = [f"{mark} code_interpreter", "running…" if item.running else state]
        took = format_duration(self._elapsed(), none="")
        if took:
            parts.append(took)
        lines = len(item.code.splitlines())
        parts.append(f"{lines} line{'s' if lines != 1 else ''} of Python")
        if item.images:
            parts.append(f"{len(item.images)} image{'s' if len(item.images) != 1 else ''}")
        return " · ".join(parts)

    def _syntax(self, code: str) -> Text:
        """Python highlighted once, as Text: a Syntax would run Pygments again on every layout
        (each reflow measures every chunk's height)."""
        from spool.tui.chat_markdown import code_theme_for

        theme = self.app.current_theme
        name = code_theme_for(theme.name, theme.dark)
        syntax = Syntax(code or " ", "python", theme=name)
        background = Syntax.get_theme(name).get_background_style().bgcolor
        if background is not None and background.triplet is not None:
            self.query_one(".code").styles.background = background.triplet.hex
        text = syntax.highlight(code or " ")
        text.rstrip()
        return text

    def _chunks(self, code: str, *, done: bool) -> tuple[list[str], str]:
        """`code` as finished chunks of CHUNK_LINES lines and the growing rest (a finished
        block of up to WHOLE_LINES lines is one chunk: highlighted as a whole)."""
        lines = code.rstrip("\n").split("\n") if done else code.split("\n")
        if done and len(lines) <= WHOLE_LINES:
            return ["\n".join(lines)], ""
        step = CHUNK_LINES
        cut = len(lines) - len(lines) % step if done else max(0, len(lines) - 1) // step * step
        chunks = ["\n".join(lines[i : i + step]) for i in range(0, cut, step)]
        return chunks, "\n".join(lines[cut:])

    def _show_code(self, *, force: bool = False) -> None:
        """Render the code: chunks already shown stay (Rich highlighting costs ~0.4 ms a line
        per render), only the growing tail is rendered again."""
        code = self.item.code
        if code == self._shown_code and not force:
            return
        self._shown_code = code
        box = self.query_one(".code", Vertical)
        chunks, tail = self._chunks(code, done=not self.item.running)
        shown = list(box.query(".chunk").results(Static))
        kept = len(shown)
        if force or kept > len(chunks) or self._chunk_src[:kept] != chunks[:kept]:
            for widget in shown:
                widget.remove()
            kept = 0
        new = [Static(self._syntax(c), classes="chunk") for c in chunks[kept:]]
        self._chunk_src = chunks
        tail_widget = box.query_one(".tail", Static)
        if new:
            box.mount_all(new, before=tail_widget)
        tail_widget.update(self._syntax(tail) if tail else "")
        tail_widget.display = bool(tail) or not chunks

    def _logs(self) -> Text:
        logs = self.item.logs.rstrip("\n")
        text = Text()
        if not logs:
            if not self.item.running:
                text.append("(no output)", style="italic")
            return text
        try:
            muted = self.get_component_rich_style("code-step--logs", partial=True)
            error = self.get_component_rich_style("code-step--error", partial=True)
        except Exception:  # no CSS yet
            muted, error = None, None
        cut = error_start(logs)
        if cut is None:
            text.append(logs, style=muted or "")
        else:
            text.append(logs[:cut], style=muted or "")
            text.append(logs[cut:], style=error or "red")
        return text

    def compose(self) -> ComposeResult:
        with Collapsible(title=self._title(), collapsed=False):
            with Vertical(classes="code"):
                yield Static(classes="tail")
            logs = Static(self._logs(), classes="logs")
            logs.display = bool(self.item.logs) or not self.item.running
            yield logs
            with Vertical(classes="images"):
                for file_id in self.item.images:
                    self._images.append(file_id)
                    yield InlineImage(file_id)

    def on_mount(self) -> None:
        self._show_code()
        self.set_class(self.item.status in ("failed", "cancelled", "expired"), "-failed")
        if self.item.running:
            self._timer = self.set_interval(TICK_S, self._tick)

    def _tick(self) -> None:
        if not self.item.running and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.query_one(Collapsible).title = self._title()

    def refresh_item(self) -> None:
        """Re-render after the call changed (code delta, logs, images, end)."""
        item = self.item
        self.set_class(item.status in ("failed", "cancelled", "expired"), "-failed")
        self.query_one(Collapsible).title = self._title()
        self._show_code(force=not item.running and self._was_running)
        self._was_running = item.running
        logs = self.query_one(".logs", Static)
        if item.logs != self._shown_logs or not item.running:
            self._shown_logs = item.logs
            logs.update(self._logs())
        logs.display = bool(item.logs) or not item.running
        new = [f for f in item.images if f not in self._images]
        if new:
            self._images.extend(new)
            self.query_one(".images", Vertical).mount_all([InlineImage(f) for f in new])
        if not item.running and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def restyle(self) -> None:
        """Code and log colours for the current theme."""
        self._show_code(force=True)
        self.query_one(".logs", Static).update(self._logs())

    def action_toggle(self) -> None:
        """Collapse or expand the block."""
        collapsible = self.query_one(Collapsible)
        collapsible.collapsed = not collapsible.collapsed

    @property
    def collapsed(self) -> bool:
        return self.query_one(Collapsible).collapsed


class FileSearchView(Static):
    """One file_search call: `⚙ file_search "query" → 3 results`."""

    DEFAULT_CSS = """
    FileSearchView {
        height: auto; margin: 0 0 1 0; padding: 0 1; border-left: outer $role-tool;
        color: $text-muted;
    }
    """

    def __init__(self, item: FileSearchItem) -> None:
        super().__init__(self._line(item))
        self.item = item

    @staticmethod
    def _line(item: FileSearchItem) -> Text:
        text = Text("⚙ file_search")
        if item.query:
            text.append(f' "{item.query}"')
        if item.status == "in_progress":
            text.append(" → searching…", style="italic")
        elif item.status != "completed":
            text.append(f" → {item.status}")
        else:
            n = item.results or 0
            text.append(f" → {n} result{'s' if n != 1 else ''}")
        return text

    def refresh_item(self) -> None:
        """Re-render after the call changed."""
        self.update(self._line(self.item))
