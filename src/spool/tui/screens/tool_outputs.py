"""The tool outputs dialog for a run that `requires_action`.

Every pending function call is listed with its name, its pretty-printed JSON arguments and an
output field (prefilled when the local tool registry answered it). Enter in a field moves to the
next one and, in the last one, submits; "Submit all" sends every output (the run then streams on),
"Cancel run" cancels the run, escape closes the dialog without answering (the calls stay pending;
the `spool.tool_outputs` key reopens it, with what was typed so far).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from spool.tui.screens.help import KeyHelp


@dataclass(slots=True)
class PendingCall:
    """One function call waiting for its output."""

    id: str
    name: str
    arguments: str  # pretty-printed
    output: str = ""  # prefilled (local tool registry) or typed earlier
    prefilled_by: str | None = None  # "local tool" when the registry gave `output`


@dataclass(slots=True)
class ToolOutputsResult:
    """What the user chose: submit the outputs, cancel the run, or hide the dialog (the typed
    outputs are kept as drafts)."""

    action: Literal["submit", "cancel", "hide"]
    outputs: dict[str, str] = field(default_factory=dict)  # call id -> output


KEYS = [
    KeyHelp("enter (output field)", "Tool outputs: next field; submit all from the last", "—"),
    KeyHelp("escape", "Tool outputs: close, answer later", "tool_outputs.hide"),
]


class ToolOutputsScreen(ModalScreen[ToolOutputsResult]):
    """The pending calls of one run, an output field each, Submit all and Cancel run."""

    DEFAULT_CSS = """
    ToolOutputsScreen { align: center middle; }
    ToolOutputsScreen > #dialog {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        padding: 1 2; border: thick $warning; background: $surface;
    }
    ToolOutputsScreen #intro { margin: 0 0 1 0; }
    ToolOutputsScreen #calls { height: auto; }
    ToolOutputsScreen .call { height: auto; margin: 0 0 1 0; padding: 0 1; border-left: outer $accent; }
    ToolOutputsScreen .call-name { text-style: bold; }
    ToolOutputsScreen .call-args { color: $text-muted; margin: 0 0 0 2; }
    ToolOutputsScreen .call-note { color: $success; }
    ToolOutputsScreen #problem { color: $error; height: auto; display: none; }
    ToolOutputsScreen #buttons { height: auto; align-horizontal: right; margin: 1 0 0 0; }
    ToolOutputsScreen Button { margin: 0 0 0 2; }
    """

    BINDINGS = [Binding("escape", "hide", "Close (answer later)", id="tool_outputs.hide")]

    def __init__(
        self,
        calls: list[PendingCall],
        *,
        run_id: str | None = None,
        answer_key: str = "ctrl+o",
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.calls = calls
        self.run_id = run_id
        self.answer_key = answer_key
        self.cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        n = len(self.calls)
        intro = Text()
        intro.append(f"The assistant called {n} function{'s' if n != 1 else ''}", style="bold")
        if self.run_id:
            intro.append(f"  (run {self.run_id})", style="dim")
        intro.append(
            "\nType each output (what the function returned), then Submit all. "
            f"Escape closes this dialog; {self.answer_key} reopens it."
        )
        with Vertical(id="dialog"):
            yield Static(intro, id="intro")
            with VerticalScroll(id="calls"):
                for index, call in enumerate(self.calls):
                    with Vertical(classes="call"):
                        title = Text(f"⚙ {call.name or '?'}", style="bold")
                        title.append(f"  {call.id}", style="dim")
                        yield Static(title, classes="call-name")
                        yield Static(Text(call.arguments or "{}"), classes="call-args")
                        if call.prefilled_by:
                            yield Static(
                                f"✔ output prefilled by the {call.prefilled_by}",
                                classes="call-note",
                            )
                        field_ = Input(
                            call.output,
                            placeholder=f"Output of {call.name or 'the call'}",
                            id=f"output-{index}",
                            classes="output",
                        )
                        field_.cursor_blink = self.cursor_blink
                        yield field_
            yield Static("", id="problem")
            with Horizontal(id="buttons"):
                yield Button("Cancel run", id="cancel-run", variant="error")
                yield Button("Submit all", id="submit", variant="primary")

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Keep the buttons on screen: the calls scroll within what is left of the height."""
        overhead = 14  # border, padding, intro, the problem line, buttons
        calls = self.query_one("#calls", VerticalScroll)
        calls.styles.max_height = max(4, self.size.height - overhead)

    def on_mount(self) -> None:
        self._fit()
        inputs = self.inputs
        first_empty = next((i for i in inputs if not i.value), None)
        target = first_empty or (inputs[0] if inputs else None)
        if target is not None:
            target.focus()
        else:
            self.query_one("#submit", Button).focus()

    @property
    def inputs(self) -> list[Input]:
        """The output fields, in call order."""
        return list(self.query(".output").results(Input))

    def outputs(self) -> dict[str, str]:
        """Call id -> the output typed (or prefilled) so far."""
        return {call.id: inp.value for call, inp in zip(self.calls, self.inputs, strict=True)}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = self.inputs
        if event.input in inputs:
            index = inputs.index(event.input)
            if index + 1 < len(inputs):
                inputs[index + 1].focus()
                return
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        elif event.button.id == "cancel-run":
            self.dismiss(ToolOutputsResult("cancel", self.outputs()))

    def submit(self) -> None:
        """Dismiss with every output, unless one is empty (then say which and focus it)."""
        missing = [inp for inp in self.inputs if not inp.value.strip()]
        if missing:
            names = [
                c.name for c, inp in zip(self.calls, self.inputs, strict=True) if inp in missing
            ]
            problem = self.query_one("#problem", Static)
            problem.update(
                f"Give an output for every call: {', '.join(names)} "
                f"{'is' if len(names) == 1 else 'are'} still empty."
            )
            problem.display = True
            missing[0].focus()
            return
        self.dismiss(ToolOutputsResult("submit", self.outputs()))

    def action_hide(self) -> None:
        """Close without answering (what was typed is kept)."""
        self.dismiss(ToolOutputsResult("hide", self.outputs()))
