"""The app's assistant, theme and run-option actions (a mixin of `SpoolApp`).

* theme picker with live preview (the chosen theme is saved in the index by `watch_theme`);
* assistant picker: the server's assistants (cached in the index), chosen per thread;
* assistant editor: create / edit / delete, through `spool.client.assistants`;
* run options: per-thread overrides passed to the next runs, shown in the status bar.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.screen import Screen

from spool.client.assistants import (
    AssistantError,
    AssistantSpec,
    create_assistant,
    delete_assistant,
    list_assistants,
    retrieve_assistant,
    update_assistant,
)
from spool.client.run_options import RunOptions
from spool.client.vector_stores import VectorStores
from spool.tui.screens.assistant_editor import AssistantEditor, EditorResult
from spool.tui.screens.assistant_picker import AssistantChoice, AssistantPicker, PickerResult
from spool.tui.screens.help import KeyHelp
from spool.tui.screens.run_options import RunOptionsScreen
from spool.tui.screens.theme_picker import ThemePicker, ordered_themes

if TYPE_CHECKING:
    from spool.tui.app import SpoolApp

# (binding id, action, description): appended to the app's ACTIONS (help screen and palette)
ASSISTANT_ACTIONS: list[tuple[str, str, str]] = [
    ("spool.assistants", "pick_assistant", "Choose the thread's assistant"),
    ("spool.edit_assistant", "edit_assistant", "Edit the thread's assistant"),
    ("spool.new_assistant", "new_assistant", "New assistant (also n in the assistant picker)"),
    ("spool.run_options", "run_options", "Run options (model, instructions, limits)"),
    ("spool.theme", "pick_theme", "Theme (live preview)"),
]


def modal_key_help() -> list[KeyHelp]:
    """The keys of the pickers and editors (for the help screen)."""
    return [
        KeyHelp("type, ↑↓ (theme)", "Filter and preview themes", "theme_picker.down"),
        KeyHelp("enter (theme)", "Keep the highlighted theme", "theme_picker.choose"),
        KeyHelp("escape (theme)", "Restore the previous theme", "theme_picker.cancel"),
        KeyHelp("e (assistants)", "Edit the highlighted assistant", "assistant_picker.edit"),
        KeyHelp("n (assistants)", "New assistant", "assistant_picker.new"),
        KeyHelp(
            "delete (assistants)", "Delete the highlighted assistant", "assistant_picker.delete"
        ),
        KeyHelp("ctrl+s (assistant editor)", "Save the assistant", "assistant_editor.save"),
        KeyHelp("ctrl+s (run options)", "Apply the run options", "run_options.apply"),
    ]


class AssistantActions:
    """Mixed into `SpoolApp`; uses its store, connection, status bar and sidebar."""

    # --- run options ---------------------------------------------------------------------------
    def run_options_for(self: SpoolApp, thread_id: str | None) -> RunOptions | None:
        """The options set for a thread's next runs (None when there are none)."""
        if not thread_id:
            return None
        known = _options(self)
        if thread_id not in known and self.store is not None:
            # first use since launch: the options kept in the index (their MCP servers start)
            loaded = RunOptions.from_doc(self.store.get_run_options(thread_id))
            known[thread_id] = loaded if loaded is not None else RunOptions()
            if loaded is not None and loaded.mcp_servers:
                self.offer_mcp_tools(thread_id, loaded)
        options = known.get(thread_id)
        return options if options is not None and not options.empty else None

    def options_summary(self: SpoolApp) -> str:
        """The status bar's text for the current thread's run options ("" when none)."""
        options = self.run_options_for(self.current)
        return options.summary() if options is not None else ""

    def action_run_options(self: SpoolApp) -> None:
        """Set the model, instructions and limits of this thread's next runs."""
        if self.current is None:
            self.notify("Open a thread first.", severity="warning")
            return
        tid = self.current

        def done(options: RunOptions | None) -> None:
            if options is None:
                return
            if self.store is not None:
                self.store.set_run_options(tid, options.to_doc())  # kept across launches
            if options.empty:
                _options(self)[tid] = RunOptions()
                self.notify("Run options cleared.")
            else:
                _options(self)[tid] = options
                self.notify(f"Next runs: {options.summary().removeprefix('opts: ')}")
                self.offer_mcp_tools(tid, options)  # starts the chosen MCP servers
            self._update_status()

        self.push_screen(
            RunOptionsScreen(
                self.run_options_for(tid),
                models=list(self.connection.models),
                models_complete=self.connection.base_url is None,  # spool's own server
                mcp=self.mcp_choices(),
                cursor_blink=self.cursor_blink,
            ),
            done,
        )

    # --- themes ---------------------------------------------------------------------------------
    def action_pick_theme(self: SpoolApp) -> None:
        """Choose a theme: each one is applied as the cursor moves; escape restores."""
        names = ordered_themes(list(self.available_themes))

        def done(name: str | None) -> None:
            if name:
                self.notify(f"Theme: {name}")

        self.push_screen(ThemePicker(names, self.theme, cursor_blink=self.cursor_blink), done)

    def get_system_commands(self: SpoolApp, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's system commands, with its "Theme" command (no preview) left out: spool's
        theme picker ("Theme (live preview)") replaces it."""
        for command in super().get_system_commands(screen):  # type: ignore[misc]
            if command.title != "Theme":
                yield command

    # --- assistant picker -----------------------------------------------------------------------
    def action_pick_assistant(self: SpoolApp) -> None:
        """Choose which assistant answers this thread's next run."""
        self.run_worker(_open_picker(self), group="assistants", exclusive=True, exit_on_error=False)

    def action_new_assistant(self: SpoolApp) -> None:
        """Create an assistant (and use it for this thread)."""
        self.open_assistant_editor(None)

    def action_edit_assistant(self: SpoolApp) -> None:
        """Edit the current thread's assistant."""
        self.open_assistant_editor(self._assistant_for(self.current))

    def use_assistant(self: SpoolApp, assistant_id: str) -> None:
        """Make `assistant_id` the current thread's assistant (its next run uses it)."""
        if self.store is None:
            return
        name = self.assistant_names.get(assistant_id, "Assistant")
        if self.current is not None:
            self.store.update_thread(self.current, assistant_id=assistant_id)
            self._update_row(self.current)
            self.transcript.assistant_name = name
            options = self.run_options_for(self.current)
            if options is not None:  # MCP tools go beside the new assistant's own tools
                self.offer_mcp_tools(self.current, options)
        else:
            self.assistant_id = assistant_id
        self._update_status()
        self.notify(f"This thread's next run uses {name}.")

    # --- assistant editor -----------------------------------------------------------------------
    def open_assistant_editor(self: SpoolApp, assistant_id: str | None) -> None:
        """Open the editor on an assistant (None: a new one)."""
        if self.driver is None:
            self.notify("Not connected yet.", severity="warning")
            return
        self.run_worker(
            _open_editor(self, assistant_id),
            group="assistants",
            exclusive=True,
            exit_on_error=False,
        )


def _options(app: SpoolApp) -> dict[str, RunOptions]:
    options: dict[str, RunOptions] | None = getattr(app, "_run_options", None)
    if options is None:
        options = {}
        app._run_options = options  # type: ignore[attr-defined]
    return options


async def _open_picker(app: SpoolApp) -> None:
    assert app.store is not None
    if app.driver is not None:
        try:
            found = await list_assistants(app.connection.client)
        except AssistantError as exc:
            app._set_error(str(exc))
            found = None
        if found is not None:
            for a in found:
                app._cache_assistant(a)
            known = {a.id for a in found}
            for rec in app.store.assistants(app.profile):
                if rec.id not in known:
                    _forget_assistant(app, rec.id)
    choices = [
        AssistantChoice(rec.id, rec.name, rec.model) for rec in app.store.assistants(app.profile)
    ]
    if not choices:
        app.notify("No assistants yet: press n in the picker to create one.")
    current = app._assistant_for(app.current)

    def done(result: PickerResult | None) -> None:
        if result is None:
            return
        if result.action == "choose" and result.assistant_id:
            app.use_assistant(result.assistant_id)
        elif result.action == "edit" and result.assistant_id:
            app.open_assistant_editor(result.assistant_id)
        elif result.action == "new":
            app.open_assistant_editor(None)
        elif result.action == "delete" and result.assistant_id:
            _confirm_delete(app, result.assistant_id)

    app.push_screen(AssistantPicker(choices, current), done)


async def _open_editor(app: SpoolApp, assistant_id: str | None) -> None:
    client = app.connection.client
    spec: AssistantSpec | None = None
    if assistant_id is not None:
        try:
            spec = AssistantSpec.from_assistant(await retrieve_assistant(client, assistant_id))
        except AssistantError as exc:
            app._set_error(str(exc))
            return
    else:
        spec = AssistantSpec(model=app.connection.default_model(app.requested_model))

    async def save(new_spec: AssistantSpec) -> Any:
        if assistant_id is None:
            return await create_assistant(client, new_spec)
        return await update_assistant(client, assistant_id, new_spec)

    async def delete() -> None:
        assert assistant_id is not None
        await delete_assistant(client, assistant_id)

    def done(result: EditorResult | None) -> None:
        if result is None:
            return
        if result.action == "saved" and result.assistant is not None:
            app._cache_assistant(result.assistant)
            if assistant_id is None:
                app.use_assistant(result.assistant.id)
            else:
                _refresh_names(app)
                app.notify(f"Saved {result.assistant.name or 'the assistant'}.")
        elif result.action == "deleted" and result.assistant_id:
            app.run_worker(_after_delete(app, result.assistant_id), group="assistants")

    app.push_screen(
        AssistantEditor(
            spec,
            assistant_id=assistant_id,
            models=list(app.connection.models),
            save=save,
            delete=delete if assistant_id is not None else None,
            cursor_blink=app.cursor_blink,
            resources=VectorStores(client),  # files and stores for the tools' resources
        ),
        done,
    )


def _confirm_delete(app: SpoolApp, assistant_id: str) -> None:
    from spool.tui.screens.confirm import ConfirmScreen

    name = app.assistant_names.get(assistant_id, assistant_id)

    def answered(yes: bool | None) -> None:
        if yes:
            app.run_worker(_delete_and_forget(app, assistant_id), group="assistants")

    app.push_screen(
        ConfirmScreen(
            f"Delete the assistant “{name}”?\n\n"
            "It is deleted on the server; threads that used it fall back to another one."
        ),
        answered,
    )


async def _delete_and_forget(app: SpoolApp, assistant_id: str) -> None:
    if app.driver is None:
        app.notify("Not connected yet.", severity="warning")
        return
    try:
        await delete_assistant(app.connection.client, assistant_id)
    except AssistantError as exc:
        app._set_error(str(exc))
        return
    await _after_delete(app, assistant_id)


async def _after_delete(app: SpoolApp, assistant_id: str) -> None:
    """Forget a deleted assistant: threads fall back to the default (a new one if needed)."""
    assert app.store is not None
    name = app.assistant_names.get(assistant_id, "the assistant")
    _forget_assistant(app, assistant_id)
    if app.assistant_id == assistant_id:
        try:
            await app._ensure_assistant(app.connection.client)
        except Exception as exc:
            app._set_error(f"No assistant left: {exc}")
    _refresh_names(app)
    app.notify(f"Deleted {name}.")


def _forget_assistant(app: SpoolApp, assistant_id: str) -> None:
    assert app.store is not None
    app.store.delete_assistant(assistant_id, app.profile)
    app.assistant_names.pop(assistant_id, None)
    app.assistant_models.pop(assistant_id, None)
    for rec in app.store.threads(app.profile):
        if rec.assistant_id == assistant_id:
            app.store.update_thread(rec.id, assistant_id=None)


def _refresh_names(app: SpoolApp) -> None:
    app._refresh_sidebar()
    app.transcript.assistant_name = app.assistant_names.get(
        app._assistant_for(app.current) or "", "Assistant"
    )
    app._update_status()
