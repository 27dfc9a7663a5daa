"""The assistant editor: name, description, model, instructions, function tools, sampling, format,
and the server-side tools with their `tool_resources`: code_interpreter (files: picked from the
uploaded ones, or a path uploaded from here) and file_search (one vector store: picked, or created
from here).

The form is checked before anything is sent (`spool.client.assistants.build_spec`): an invalid
field shows its error right below it and gets the focus. Saving and deleting go through the
callbacks the app passes in (which call `spool.client.assistants`); a failed call is shown at the
bottom of the form and the editor stays open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    Select,
    SelectionList,
    Static,
    TextArea,
)

from spool.client.assistants import (
    RESPONSE_FORMATS,
    AssistantError,
    AssistantSpec,
    FormError,
    build_spec,
    tools_to_text,
)
from spool.client.vector_stores import StoreError, VectorStores
from spool.tui.screens.attach import PathSuggester
from spool.tui.screens.confirm import ConfirmScreen

FIELDS = (
    "name",
    "description",
    "model",
    "instructions",
    "tools",
    "temperature",
    "top_p",
    "response_format",
    "code_interpreter",
    "code_files",
    "file_search",
    "vector_store",
)
NO_STORE = ""


@dataclass(slots=True)
class EditorResult:
    """What happened: "saved" (with the SDK assistant) or "deleted" (with its id)."""

    action: str
    assistant: Any = None
    assistant_id: str | None = None


class AssistantEditor(ModalScreen[EditorResult | None]):
    """Create or edit an assistant; dismisses with an `EditorResult`, None when cancelled."""

    DEFAULT_CSS = """
    AssistantEditor { align: center middle; }
    AssistantEditor > Vertical {
        width: 96; height: 90%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    AssistantEditor #title { text-style: bold; height: 1; margin: 0 0 1 0; }
    AssistantEditor VerticalScroll { height: 1fr; }
    AssistantEditor .row { height: auto; margin: 0 0 1 0; }
    AssistantEditor .label { width: 18; padding: 0 1 0 0; text-style: bold; }
    AssistantEditor .cell { width: 1fr; height: auto; }
    AssistantEditor Input, AssistantEditor TextArea { width: 1fr; background: $boost; }
    AssistantEditor Input:focus, AssistantEditor TextArea:focus { background: $primary 20%; }
    AssistantEditor #instructions { height: 5; }
    AssistantEditor #tools { height: 8; }
    AssistantEditor .-invalid, AssistantEditor .-invalid:focus { background: $error 25%; }
    AssistantEditor .error { color: $error; text-style: bold; height: auto; }
    AssistantEditor .error.-empty { display: none; }
    AssistantEditor .hint { color: $text-muted; height: auto; }
    AssistantEditor #numbers Input { width: 12; }
    AssistantEditor #numbers .row { margin: 0; }
    AssistantEditor #numbers .label-inline { width: auto; padding: 0 1 0 2; text-style: bold; }
    AssistantEditor #response_format { width: 24; }
    AssistantEditor #code_files { height: 5; background: $boost; }
    AssistantEditor .side { height: 1; margin: 0; }
    AssistantEditor .side Input { width: 1fr; }
    AssistantEditor .side Button { margin: 0 0 0 1; min-width: 10; }
    AssistantEditor #vector_store { width: 1fr; }
    AssistantEditor #buttons { height: auto; align-horizontal: right; }
    AssistantEditor #buttons Button { margin: 0 0 0 2; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="assistant_editor.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="assistant_editor.cancel"),
    ]

    def __init__(
        self,
        spec: AssistantSpec | None,
        *,
        assistant_id: str | None = None,
        models: list[str] | None = None,
        save: Callable[[AssistantSpec], Awaitable[Any]] | None = None,
        delete: Callable[[], Awaitable[None]] | None = None,
        cursor_blink: bool = True,
        resources: VectorStores | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec or AssistantSpec()
        self.assistant_id = assistant_id
        self.models = list(models or [])
        self.save_fn = save
        self.delete_fn = delete
        self.cursor_blink = cursor_blink
        self.busy = False
        self.resources = resources  # uploaded files and vector stores (None: offline)
        self.known_files: set[str] | None = None  # loaded from the server
        self.known_stores: set[str] | None = None
        self.store_options: list[tuple[str, str]] = [("(none)", NO_STORE)]

    # --- layout -----------------------------------------------------------------------------
    def _row(
        self, label: str, field: Widget, hint: str | None = None, extra: Widget | None = None
    ) -> Horizontal:
        cell_children: list[Widget] = [field]
        if extra is not None:
            cell_children.append(extra)
        if hint:
            cell_children.append(Static(hint, classes="hint", markup=False))
        cell_children.append(
            Static("", id=f"error-{field.id}", classes="error -empty", markup=False)
        )
        return Horizontal(
            Label(label, classes="label"), Vertical(*cell_children, classes="cell"), classes="row"
        )

    def compose(self) -> ComposeResult:
        s = self.spec
        title = f"Edit assistant {self.assistant_id}" if self.assistant_id else "New assistant"
        blink = self.cursor_blink
        models_hint = "models: " + ", ".join(self.models[:8]) if self.models else None
        if models_hint and len(self.models) > 8:
            models_hint += f", … ({len(self.models)})"
        instructions = TextArea(
            s.instructions, id="instructions", soft_wrap=True, show_line_numbers=False, compact=True
        )
        tools = TextArea(
            tools_to_text(s.tools), id="tools", soft_wrap=True, compact=True
        )  # Tab moves to the next field (the form is walked with Tab; indent with spaces)
        for area in (instructions, tools):
            area.cursor_blink = blink
        with Vertical():
            yield Static(title, id="title", markup=False)
            with VerticalScroll():
                yield self._row("Name", self._input(s.name, "name", "My assistant"))
                yield self._row(
                    "Description", self._input(s.description, "description", "optional")
                )
                model = self._input(s.model, "model", "a model name")
                if self.models:
                    model.suggester = SuggestFromList(self.models, case_sensitive=False)
                yield self._row("Model", model, models_hint)
                yield self._row("Instructions", instructions)
                yield self._row(
                    "Function tools",
                    tools,
                    "JSON array of {name, description, parameters (JSON schema)}",
                )
                with Horizontal(classes="row", id="numbers"):
                    yield Label("Temperature", classes="label")
                    with Vertical(classes="cell"):
                        with Horizontal(classes="row"):
                            yield self._input(_num(s.temperature), "temperature", "0–2")
                            yield Label("top_p", classes="label-inline")
                            yield self._input(_num(s.top_p), "top_p", "0–1")
                        yield Static(
                            "", id="error-temperature", classes="error -empty", markup=False
                        )
                        yield Static("", id="error-top_p", classes="error -empty", markup=False)
                yield self._row(
                    "Response format",
                    Select(
                        [(f, f) for f in RESPONSE_FORMATS],
                        value=s.response_format,
                        allow_blank=False,
                        id="response_format",
                        compact=True,
                    ),
                )
                yield from self._tool_rows()
            yield Static("", id="error-form", classes="error -empty", markup=False)
            with Horizontal(id="buttons"):
                if self.assistant_id and self.delete_fn is not None:
                    yield Button("Delete", id="delete", variant="error", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)

    def _tool_rows(self) -> ComposeResult:
        """code_interpreter and its files, file_search and its vector store."""
        s = self.spec
        yield self._row(
            "Code interpreter",
            Checkbox("code_interpreter", s.code_interpreter, id="code_interpreter", compact=True),
        )
        files = SelectionList[str](
            *((file_id, file_id, True) for file_id in s.code_files), id="code_files", compact=True
        )
        path = self._input("", "code_upload", "a path to upload, e.g. ~/data.csv (→ completes)")
        path.suggester = PathSuggester()
        upload = Horizontal(
            path,
            Button("Upload", id="upload", compact=True),
            classes="side",
        )
        yield self._row("Code files", files, "space picks a file for the code", extra=upload)
        yield self._row(
            "File search",
            Checkbox("file_search", s.file_search is not None, id="file_search", compact=True),
        )
        if s.vector_store_id:
            self.store_options.append((s.vector_store_id, s.vector_store_id))
        store = Select(
            self.store_options,
            value=s.vector_store_id or NO_STORE,
            allow_blank=False,
            id="vector_store",
            compact=True,
        )
        create = Horizontal(
            self._input("", "new_store", "name of a new vector store"),
            Button("Create", id="create_store", compact=True),
            classes="side",
        )
        yield self._row("Vector store", store, "the store file_search searches", extra=create)

    def _input(self, value: str, field_id: str, placeholder: str) -> Input:
        field = Input(value, id=field_id, placeholder=placeholder, compact=True)
        field.cursor_blink = self.cursor_blink
        return field

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        if self.resources is not None:
            self._load_resources()

    # --- tool resources -------------------------------------------------------------------------
    @work(group="assistant-editor-resources", exit_on_error=False)
    async def _load_resources(self) -> None:
        """Offer the server's uploaded files and vector stores (names, not just ids)."""
        assert self.resources is not None
        try:
            uploaded = await self.resources.uploaded()
            stores = await self.resources.list()
        except StoreError as exc:
            self.show_error("code_files", f"{exc} (ids are kept as they are)")
            return
        self.known_files = {f.id for f in uploaded}
        self.known_stores = {s.id for s in stores}
        files = self.query_one("#code_files", SelectionList)
        chosen = set(files.selected)
        files.clear_options()
        names = {f.id: f.filename for f in uploaded}
        for file_id in self.spec.code_files:  # chosen ones first, gone ones too (said on save)
            files.add_option((f"{names.get(file_id, file_id + ' (gone)')}", file_id, True))
        for f in uploaded:
            if f.id not in self.spec.code_files:
                files.add_option((f"{f.filename}  ·  {f.id}", f.id, f.id in chosen))
        select = self.query_one("#vector_store", Select)
        current = select.value
        options = [("(none)", NO_STORE)] + [(s.name or s.id, s.id) for s in stores]
        if isinstance(current, str) and current and current not in self.known_stores:
            options.append((f"{current} (gone)", current))
        self.store_options = options
        select.set_options(options)
        select.value = current if isinstance(current, str) else NO_STORE

    @work(group="assistant-editor-resources", exit_on_error=False)
    async def _upload(self, text: str) -> None:
        from pathlib import Path

        self.show_error("code_files", None)
        if self.resources is None:
            self.show_error("code_files", "not connected: cannot upload")
            return
        path = Path(text.strip()).expanduser()
        if not text.strip() or not path.is_file():
            self.show_error("code_files", f"no such file: {text.strip() or '(empty)'}")
            return
        try:
            uploaded = await self.resources.upload(path)
        except StoreError as exc:
            self.show_error("code_files", str(exc))
            return
        if self.known_files is not None:
            self.known_files.add(uploaded.id)
        files = self.query_one("#code_files", SelectionList)
        files.add_option((f"{uploaded.filename}  ·  {uploaded.id}", uploaded.id, True))
        self.query_one("#code_interpreter", Checkbox).value = True
        self.query_one("#code_upload", Input).value = ""

    @work(group="assistant-editor-resources", exit_on_error=False)
    async def _create_store(self, name: str) -> None:
        self.show_error("vector_store", None)
        if self.resources is None:
            self.show_error("vector_store", "not connected: cannot create a store")
            return
        if not name.strip():
            self.show_error("vector_store", "type the new store's name first")
            return
        try:
            store = await self.resources.create(name.strip())
        except StoreError as exc:
            self.show_error("vector_store", str(exc))
            return
        if self.known_stores is not None:
            self.known_stores.add(store.id)
        select = self.query_one("#vector_store", Select)
        self.store_options = [*self.store_options, (store.name or store.id, store.id)]
        select.set_options(self.store_options)
        select.value = store.id
        self.query_one("#file_search", Checkbox).value = True
        self.query_one("#new_store", Input).value = ""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "code_upload":
            event.stop()
            self._upload(event.value)
        elif event.input.id == "new_store":
            event.stop()
            self._create_store(event.value)

    # --- values and errors --------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """The form as typed."""
        fmt = self.query_one("#response_format", Select).value
        return {
            "name": self.query_one("#name", Input).value,
            "description": self.query_one("#description", Input).value,
            "model": self.query_one("#model", Input).value,
            "instructions": self.query_one("#instructions", TextArea).text,
            "tools": self.query_one("#tools", TextArea).text,
            "temperature": self.query_one("#temperature", Input).value,
            "top_p": self.query_one("#top_p", Input).value,
            "response_format": str(fmt) if isinstance(fmt, str) else "auto",
        }

    def tool_values(self) -> dict[str, Any]:
        """The server-side tools and their resources as chosen."""
        store = self.query_one("#vector_store", Select).value
        return {
            "code_interpreter": self.query_one("#code_interpreter", Checkbox).value,
            "code_files": list(self.query_one("#code_files", SelectionList).selected),
            "file_search": self.query_one("#file_search", Checkbox).value,
            "vector_store": store if isinstance(store, str) else NO_STORE,
        }

    def clear_errors(self) -> None:
        """Hide every field error."""
        for name in (*FIELDS, "form"):
            self.show_error(name, None)

    def show_error(self, field_name: str, message: str | None) -> None:
        """Show `message` below the field (None hides it)."""
        for error in self.query(f"#error-{field_name}"):
            assert isinstance(error, Static)
            error.update(f"✖ {message}" if message else "")
            error.set_class(not message, "-empty")
        for field in self.query(f"#{field_name}"):
            field.set_class(bool(message), "-invalid")

    def error_text(self, field_name: str) -> str:
        """The error shown at a field ("" when none)."""
        error = self.query_one(f"#error-{field_name}", Static)
        return str(error.render()) if not error.has_class("-empty") else ""

    def check(self) -> AssistantSpec | None:
        """Validate the form; on error show it at its field, focus it and return None."""
        self.clear_errors()
        try:
            return build_spec(
                **self.values(),
                **self.tool_values(),
                other_tools=self.spec.other_tools,
                file_search_tool=self.spec.file_search,
                known_files=self.known_files,
                known_stores=self.known_stores,
            )
        except FormError as exc:
            self.show_error(exc.field, exc.message)
            for field in self.query(f"#{exc.field}"):
                field.focus()
                field.scroll_visible(animate=False)
            return None

    # --- actions -------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "cancel":
            self.action_cancel()
        elif event.button.id == "delete":
            self.action_delete()
        elif event.button.id == "upload":
            self._upload(self.query_one("#code_upload", Input).value)
        elif event.button.id == "create_store":
            self._create_store(self.query_one("#new_store", Input).value)

    def action_save(self) -> None:
        """Check the form and save it."""
        if self.busy:
            return
        spec = self.check()
        if spec is None:
            return
        if self.save_fn is None:
            self.dismiss(EditorResult("saved", spec))
            return
        self._save(spec)

    @work(exclusive=True, group="assistant-editor", exit_on_error=False)
    async def _save(self, spec: AssistantSpec) -> None:
        assert self.save_fn is not None
        self.busy = True
        try:
            assistant = await self.save_fn(spec)
        except AssistantError as exc:
            self.show_error("form", str(exc))
            return
        finally:
            self.busy = False
        self.dismiss(EditorResult("saved", assistant, getattr(assistant, "id", None)))

    def action_delete(self) -> None:
        """Delete the assistant (after asking)."""
        if not self.assistant_id or self.delete_fn is None:
            return
        name = self.query_one("#name", Input).value or self.assistant_id

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete()

        self.app.push_screen(
            ConfirmScreen(
                f"Delete the assistant “{name}”?\n\n"
                "It is deleted on the server; threads that used it fall back to another one."
            ),
            answered,
        )

    @work(exclusive=True, group="assistant-editor", exit_on_error=False)
    async def _delete(self) -> None:
        assert self.delete_fn is not None
        try:
            await self.delete_fn()
        except AssistantError as exc:
            self.show_error("form", str(exc))
            return
        self.dismiss(EditorResult("deleted", None, self.assistant_id))

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
