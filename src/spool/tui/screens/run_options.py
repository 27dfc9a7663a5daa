"""Run options for this thread's next runs: model, instructions override, additional
instructions, temperature, max completion tokens (≥ 256), truncation (last N messages) and the
MCP servers (`[mcp.NAME]` in the config file) whose tools the runs are offered.

Apply keeps them for the thread (the status bar shows them) until Clear; blank fields keep the
assistant's own settings. Invalid values are shown at their field.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from spool.client.assistants import FormError
from spool.client.run_options import MIN_COMPLETION_TOKENS, RunOptions, build_options

FIELDS = (
    "model",
    "instructions",
    "additional_instructions",
    "temperature",
    "max_completion_tokens",
    "last_messages",
)


@dataclass(frozen=True, slots=True)
class McpChoice:
    """A configured MCP server as the run options show it."""

    name: str
    where: str  # its command line or URL
    state: str  # running / stopped / failed: …
    asks: bool  # whether its calls are approved first


class RunOptionsScreen(ModalScreen[RunOptions | None]):
    """Dismisses with the new options (empty options = cleared), or None when cancelled."""

    DEFAULT_CSS = """
    RunOptionsScreen { align: center middle; }
    RunOptionsScreen > Vertical {
        width: 90; height: auto; max-height: 100%; padding: 0 1;
        border: thick $accent; background: $surface;
    }
    RunOptionsScreen #title { text-style: bold; height: auto; margin: 0 0 1 0; }
    RunOptionsScreen VerticalScroll { height: auto; }
    RunOptionsScreen Input, RunOptionsScreen TextArea { width: 1fr; background: $boost; }
    RunOptionsScreen Input:focus, RunOptionsScreen TextArea:focus { background: $accent 20%; }
    RunOptionsScreen .row { height: auto; margin: 0 0 1 0; }
    RunOptionsScreen .label { width: 24; padding: 0 1 0 0; text-style: bold; }
    RunOptionsScreen .cell { width: 1fr; height: auto; }
    RunOptionsScreen TextArea { height: 3; }
    RunOptionsScreen .-invalid, RunOptionsScreen .-invalid:focus { background: $error 25%; }
    RunOptionsScreen .error { color: $error; text-style: bold; height: auto; }
    RunOptionsScreen .error.-empty { display: none; }
    RunOptionsScreen .hint { color: $text-muted; height: auto; }
    RunOptionsScreen Checkbox { width: 1fr; background: $surface; border: none; padding: 0; }
    RunOptionsScreen Checkbox:focus { background: $accent 20%; }
    RunOptionsScreen #buttons { height: auto; align-horizontal: right; }
    RunOptionsScreen #buttons Button { margin: 0 0 0 2; }
    """

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="run_options.apply", priority=True),
        Binding("escape", "cancel", "Cancel", id="run_options.cancel"),
    ]

    def __init__(
        self,
        options: RunOptions | None,
        *,
        models: list[str] | None = None,
        models_complete: bool = False,
        mcp: list[McpChoice] | None = None,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.mcp = list(mcp or [])
        self.options = options or RunOptions()
        self.models = list(models or [])
        # True: `models` is everything the server runs (spool's own server), a name not in it
        # is refused. False (a remote server): an unlisted name is allowed after a warning.
        self.models_complete = models_complete
        self.cursor_blink = cursor_blink
        self._warned_model: str | None = None

    def _row(self, label: str, field: Widget, hint: str | None = None) -> Horizontal:
        children: list[Widget] = [field]
        if hint:
            children.append(Static(hint, classes="hint", markup=False))
        children.append(Static("", id=f"error-{field.id}", classes="error -empty", markup=False))
        return Horizontal(
            Label(label, classes="label"), Vertical(*children, classes="cell"), classes="row"
        )

    def _input(self, value: object, field_id: str, placeholder: str) -> Input:
        field = Input(
            "" if value is None else str(value), id=field_id, placeholder=placeholder, compact=True
        )
        field.cursor_blink = self.cursor_blink
        return field

    def _area(self, value: str | None, field_id: str) -> TextArea:
        area = TextArea(
            value or "", id=field_id, soft_wrap=True, show_line_numbers=False, compact=True
        )
        area.cursor_blink = self.cursor_blink
        return area

    def compose(self) -> ComposeResult:
        o = self.options
        model = self._input(o.model, "model", "the assistant's model")
        if self.models:
            model.suggester = SuggestFromList(self.models, case_sensitive=False)
        temperature = "" if o.temperature is None else f"{o.temperature:g}"
        with Vertical():
            yield Static(
                "Run options for this thread (blank = the assistant's setting)",
                id="title",
                markup=False,
            )
            with VerticalScroll():
                yield self._row(
                    "Model",
                    model,
                    "models: " + ", ".join(self.models[:8]) if self.models else None,
                )
                yield self._row(
                    "Instructions override",
                    self._area(o.instructions, "instructions"),
                    "replaces the assistant's instructions",
                )
                yield self._row(
                    "Additional instructions",
                    self._area(o.additional_instructions, "additional_instructions"),
                    "appended to the instructions",
                )
                yield self._row("Temperature", self._input(temperature, "temperature", "0–2"))
                yield self._row(
                    "Max completion tokens",
                    self._input(
                        o.max_completion_tokens,
                        "max_completion_tokens",
                        f"≥ {MIN_COMPLETION_TOKENS}",
                    ),
                )
                yield self._row(
                    "Truncation",
                    self._input(o.last_messages, "last_messages", "last N messages (blank: auto)"),
                )
                if self.mcp:
                    yield self._mcp_row()
            with Horizontal(id="buttons"):
                yield Button("Clear", id="clear", variant="warning", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Apply (ctrl+s)", id="apply", variant="primary", compact=True)

    def _mcp_row(self) -> Horizontal:
        """One checkbox per configured MCP server, with its command (or URL) and state."""
        cells: list[Widget] = []
        for i, choice in enumerate(self.mcp):
            box = Checkbox(
                choice.name,
                choice.name in self.options.mcp_servers,
                id=f"mcp-{i}",
                compact=True,
            )
            asks = "asks first" if choice.asks else "no asking"
            cells.append(box)
            cells.append(
                Static(f"{choice.where} · {choice.state} · {asks}", classes="hint", markup=False)
            )
        cells.append(Static("", id="error-mcp", classes="error -empty", markup=False))
        return Horizontal(
            Label("MCP tools", classes="label"),
            Vertical(*cells, classes="cell"),
            classes="row",
        )

    def chosen_mcp(self) -> tuple[str, ...]:
        """The MCP servers ticked, in config order."""
        return tuple(
            choice.name
            for i, choice in enumerate(self.mcp)
            if self.query_one(f"#mcp-{i}", Checkbox).value
        )

    def on_mount(self) -> None:
        self.query_one("#model", Input).focus()

    def values(self) -> dict[str, str]:
        """The form as typed."""
        out: dict[str, str] = {}
        for name in FIELDS:
            widget = self.query_one(f"#{name}")
            if isinstance(widget, TextArea):
                out[name] = widget.text
            else:
                out[name] = self.query_one(f"#{name}", Input).value
        return out

    def show_error(self, field_name: str, message: str | None) -> None:
        """Show `message` below the field (None hides it)."""
        for error in self.query(f"#error-{field_name}"):
            assert isinstance(error, Static)
            error.update(f"✖ {message}" if message else "")
            error.set_class(not message, "-empty")
        for field in self.query(f"#{field_name}"):
            field.set_class(bool(message), "-invalid")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "clear":
            self.action_clear()
        else:
            self.action_cancel()

    def action_apply(self) -> None:
        """Check the form and keep the options."""
        for name in FIELDS:
            self.show_error(name, None)
        try:
            options = build_options(**self.values(), mcp_servers=self.chosen_mcp())
        except FormError as exc:
            self.show_error(exc.field, exc.message)
            for field in self.query(f"#{exc.field}"):
                field.focus()
            return
        problem = self._model_problem(options.model)
        if problem is not None:
            self.show_error("model", problem)
            self.query_one("#model", Input).focus()
            return
        self.dismiss(options)

    def _model_problem(self, model: str | None) -> str | None:
        """Why `model` cannot be used (None: fine). Checked against `GET /v1/models`."""
        if not model or not self.models or model in self.models:
            return None
        known = ", ".join(self.models[:8]) + (" …" if len(self.models) > 8 else "")
        if self.models_complete:
            return f"the server has no model {model!r} (it has: {known})"
        if self._warned_model == model:
            return None  # warned once: the user means it
        self._warned_model = model
        return f"the server does not list {model!r} (it lists: {known}); apply again to use it"

    def action_clear(self) -> None:
        """Drop every option."""
        self.dismiss(RunOptions())

    def action_cancel(self) -> None:
        """Close without changing the options."""
        self.dismiss(None)
