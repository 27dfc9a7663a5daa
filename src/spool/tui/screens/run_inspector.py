"""The run inspector: one run's timings, usage, errors and steps (read from the steps API).

Opened for the focused message's run (or the thread's last run). Shows the run (status, model,
assistant, created / started / ended times in UTC, queue wait and duration, token usage, the
error), then each step in order: message creation (with the message text) or tool calls (each
with its pretty-printed arguments and output; a code_interpreter call with its code, logs and
images; a file_search call with its query, results (file, score) and the chunks), with its
status, duration, usage and error.
`r` reloads it; escape, q or the inspector key closes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from spool.client.run_details import RunDetails, RunDetailsError, StepDetail, ToolCallDetail, Usage
from spool.tui.screens.help import KeyHelp
from spool.tui.timefmt import format_duration

MESSAGE_PREVIEW = 600
STATUS_STYLE = {
    "completed": "bold green",
    "failed": "bold red",
    "expired": "bold red",
    "cancelled": "bold yellow",
    "incomplete": "bold yellow",
    "requires_action": "bold magenta",
    "in_progress": "bold cyan",
    "queued": "cyan",
    "cancelling": "yellow",
}

KEYS = [
    KeyHelp("escape, q, f3", "Run inspector: close", "inspector.close"),
    KeyHelp("r", "Run inspector: reload", "inspector.reload"),
]

Loader = Callable[[], Awaitable[RunDetails]]


def format_time(timestamp: float | None) -> str:
    """`YYYY-MM-DD HH:MM:SS UTC` ("—" for none)."""
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_usage(usage: Usage | None) -> str:
    """`12 prompt + 5 completion = 17 tokens` ("—" for none)."""
    if usage is None:
        return "—"
    return (
        f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
        f"= {usage.total_tokens} tokens"
    )


def _status(status: str, styles: dict[str, str] | None = None) -> Text:
    return Text(status, style=(styles or STATUS_STYLE).get(status, "bold"))


def status_styles(theme_variables: dict[str, str]) -> dict[str, str]:
    """Run status -> Rich style, from the theme's `status-*` variables (defaults otherwise)."""
    styles = dict(STATUS_STYLE)
    for status in STATUS_STYLE:
        colour = theme_variables.get(f"status-{status.replace('_', '-')}")
        if colour:
            styles[status] = f"bold {colour}"
    return styles


CHUNK_PREVIEW = 400


def _lines(text: Text, body: str, indent: str = "      ", style: str = "") -> None:
    for line in body.splitlines() or [""]:
        text.append(f"{indent}{line}\n", style=style)


def _code_call(call: ToolCallDetail) -> RenderableType:
    text = Text()
    text.append("  ⚙ code_interpreter", style="bold")
    text.append(f"  {call.id}\n", style="dim")
    text.append("    input (Python)\n", style="bold dim")
    _lines(text, call.arguments.rstrip("\n"))
    text.append("    logs", style="bold dim")
    if call.logs:
        text.append("\n")
        _lines(text, call.logs.rstrip("\n"))
    else:
        text.append(": (none)\n", style="italic")
    if call.images:
        text.append("    images\n", style="bold dim")
        for file_id, name in call.images:
            text.append(f"      ▣ {name}", style="")
            text.append(f"  {file_id}\n" if name != file_id else "\n", style="dim")
    text.rstrip()
    return text


def _search_call(call: ToolCallDetail) -> RenderableType:
    text = Text()
    text.append("  ⚙ file_search", style="bold")
    text.append(f"  {call.id}\n", style="dim")
    if call.query:
        text.append("    query: ", style="bold dim")
        text.append(f"{call.query}\n")
    n = len(call.results)
    text.append(f"    {n} result{'s' if n != 1 else ''}\n", style="bold dim")
    for rank, result in enumerate(call.results, 1):
        text.append(f"      {rank}. {result.file_name}", style="bold")
        text.append(f"  score {result.score:.3f}\n", style="")
        chunk = " ".join(result.content.split())
        if chunk:
            shown = chunk if len(chunk) <= CHUNK_PREVIEW else chunk[:CHUNK_PREVIEW] + "…"
            text.append(f"         │ {shown}\n", style="dim")
    text.rstrip()
    return text


def _tool_call(call: ToolCallDetail, index: int) -> RenderableType:
    if call.type == "code_interpreter":
        return _code_call(call)
    if call.type == "file_search":
        return _search_call(call)
    text = Text()
    text.append(f"  ⚙ {call.name or call.type}", style="bold")
    text.append(f"  {call.id}\n", style="dim")
    text.append("    arguments\n", style="bold dim")
    for line in (call.pretty_arguments or "{}").splitlines() or [""]:
        text.append(f"      {line}\n")
    if call.output is None:
        text.append("    output: ", style="bold dim")
        text.append("(none yet)\n", style="italic")
    else:
        text.append("    output\n", style="bold dim")
        for line in (call.pretty_output or "").splitlines() or [""]:
            text.append(f"      {line}\n")
    text.rstrip()
    return text


def _step(step: StepDetail, index: int, styles: dict[str, str] | None = None) -> RenderableType:
    head = Text()
    kind = "message creation" if step.type == "message_creation" else "tool calls"
    head.append(f"{index}. {kind}", style="bold underline")
    head.append("  ")
    head.append_text(_status(step.status, styles))
    head.append(f"  {format_duration(step.duration_s)}", style="")
    if step.usage is not None:
        head.append(f"  ·  {step.usage.total_tokens} tokens", style="dim")
    head.append(f"\n   {step.id} · created {format_time(step.created_at)}", style="dim")
    if step.ended_at:
        head.append(f" · ended {format_time(step.ended_at)}", style="dim")
    parts: list[RenderableType] = [head]
    if step.error:
        parts.append(Text(f"   ✖ {step.error}", style="bold red"))
    if step.type == "message_creation":
        body = Text()
        body.append(f"   message {step.message_id or '?'}\n", style="dim")
        message = step.message_text
        if message is None:
            body.append("   (message not found)", style="italic")
        else:
            shown = message if len(message) <= MESSAGE_PREVIEW else message[:MESSAGE_PREVIEW] + "…"
            for line in shown.splitlines() or [""]:
                body.append(f"   │ {line}\n")
        body.rstrip()
        parts.append(body)
    else:
        parts.extend(_tool_call(c, i) for i, c in enumerate(step.tool_calls, 1))
    return Group(*parts)


def render_details(details: RunDetails, styles: dict[str, str] | None = None) -> RenderableType:
    """The whole inspector body for a run (`styles`: run status -> Rich style)."""
    summary = Table(box=None, show_header=False, expand=False, padding=(0, 2, 0, 0))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    summary.add_row("Run", details.id)
    summary.add_row("Status", _status(details.status, styles))
    summary.add_row("Model", details.model or "—")
    summary.add_row("Assistant", details.assistant_id or "—")
    summary.add_row("Thread", details.thread_id)
    summary.add_row("Created", format_time(details.created_at))
    summary.add_row("Started", format_time(details.started_at))
    ended = f"Ended ({details.ended_how})" if details.ended_how else "Ended"
    summary.add_row(ended, format_time(details.ended_at))
    summary.add_row("Queued for", format_duration(details.queued_s))
    summary.add_row("Duration", format_duration(details.duration_s))
    summary.add_row("Usage", format_usage(details.usage))
    summary.add_row("Steps", str(len(details.steps)))
    if details.error:
        summary.add_row(Text("Error", style="bold red"), Text(details.error, style="bold red"))
    parts: list[RenderableType] = [summary, Text("")]
    if details.required_calls:
        waiting = Text("Waiting for tool outputs:", style="bold magenta")
        parts.append(waiting)
        parts.extend(_tool_call(c, i) for i, c in enumerate(details.required_calls, 1))
    if not details.steps:
        parts.append(Text("No steps yet.", style="italic"))
    for index, step in enumerate(details.steps, 1):
        parts.append(_step(step, index, styles))
        parts.append(Text(""))
    return Group(*parts)


class RunInspectorScreen(ModalScreen[None]):
    """A run and its steps; `loader` fetches them (again on `r`), or `details` are shown as given."""

    DEFAULT_CSS = """
    RunInspectorScreen { align: center middle; }
    RunInspectorScreen > #dialog {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    RunInspectorScreen #title { text-style: bold; padding: 0 1; margin: 0 0 1 0; }
    RunInspectorScreen #scroll { height: auto; }
    RunInspectorScreen #content { padding: 0 1; }
    RunInspectorScreen #hint { color: $text-muted; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape,q,f3", "close", "Close", id="inspector.close"),
        Binding("r", "reload", "Reload", id="inspector.reload"),
    ]

    def __init__(
        self, *, title: str, loader: Loader | None = None, details: RunDetails | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.loader = loader
        self.details = details
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="title")
            with VerticalScroll(id="scroll"):
                yield Static(Text("Loading the run and its steps…", style="italic"), id="content")
            yield Static("r reload · escape close", id="hint")

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Keep the title and the hint on screen: the body scrolls within the rest."""
        scroll = self.query_one("#scroll", VerticalScroll)
        scroll.styles.max_height = max(3, self.size.height - 6)

    def on_mount(self) -> None:
        self._fit()
        if self.details is not None:
            self._show()
        else:
            self.action_reload()

    def _show(self) -> None:
        content = self.query_one("#content", Static)
        if self.error:
            content.update(Text(f"✖ {self.error}", style="bold red"))
        elif self.details is not None:
            styles = status_styles(self.app.get_css_variables())
            content.update(render_details(self.details, styles))
        self.query_one("#scroll", VerticalScroll).focus()

    def action_reload(self) -> None:
        """Read the run and its steps again."""
        if self.loader is not None:
            self.run_worker(self._load(), group="inspector", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        assert self.loader is not None
        try:
            self.details = await self.loader()
            self.error = None
        except RunDetailsError as exc:
            self.error = f"Could not read the run: {exc}"
        self._show()

    def action_close(self) -> None:
        """Close the inspector."""
        self.dismiss(None)
