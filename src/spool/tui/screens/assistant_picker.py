"""The assistant picker: the server's assistants (name, model, id); choose one for this thread.

Enter uses the highlighted assistant for the current thread's next run; `e` edits it, `n`
creates a new one, `delete` deletes it (after asking), escape closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


@dataclass(slots=True)
class AssistantChoice:
    """One row of the picker."""

    id: str
    name: str
    model: str


@dataclass(slots=True)
class PickerResult:
    """What the user asked for: choose / edit / new / delete (with the assistant's id)."""

    action: str
    assistant_id: str | None = None


class AssistantPicker(ModalScreen[PickerResult | None]):
    """Lists assistants; dismisses with a `PickerResult`, or None on escape."""

    DEFAULT_CSS = """
    AssistantPicker { align: center middle; }
    AssistantPicker > Vertical {
        width: 72; height: auto; max-height: 90%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    AssistantPicker #title { text-style: bold; margin: 0 0 1 0; }
    AssistantPicker OptionList { height: auto; max-height: 20; border: none; background: $surface; }
    AssistantPicker #hint { color: $text-muted; margin: 1 0 0 0; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="assistant_picker.close"),
        Binding("e", "edit", "Edit", id="assistant_picker.edit"),
        Binding("n", "new", "New", id="assistant_picker.new"),
        Binding("delete", "delete", "Delete", id="assistant_picker.delete"),
    ]

    def __init__(self, assistants: list[AssistantChoice], current: str | None) -> None:
        super().__init__()
        self.assistants = assistants
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for a in self.assistants:
            label = Text(a.name or "(unnamed)", style="bold")
            label.append(f"  {a.model}", style="italic")
            label.append(f"  {a.id}", style="dim")
            if a.id == self.current:
                label.append("  ✓ this thread", style="bold")
            options.append(Option(label, id=a.id))
        with Vertical():
            yield Static("Assistant for this thread's next run", id="title")
            yield OptionList(*options, id="assistants")
            yield Static(
                "enter use · e edit · n new · del delete · esc close", id="hint", markup=False
            )

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        ids = [a.id for a in self.assistants]
        if self.current in ids:
            listing.highlighted = ids.index(self.current)
        listing.focus()

    def _highlighted(self) -> str | None:
        option = self.query_one(OptionList).highlighted_option
        return option.id if option is not None else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(PickerResult("choose", event.option.id))

    def action_edit(self) -> None:
        """Edit the highlighted assistant."""
        if (aid := self._highlighted()) is not None:
            self.dismiss(PickerResult("edit", aid))

    def action_new(self) -> None:
        """Create a new assistant."""
        self.dismiss(PickerResult("new"))

    def action_delete(self) -> None:
        """Delete the highlighted assistant (the app asks first)."""
        if (aid := self._highlighted()) is not None:
            self.dismiss(PickerResult("delete", aid))

    def action_close(self) -> None:
        """Close without changing anything."""
        self.dismiss(None)
