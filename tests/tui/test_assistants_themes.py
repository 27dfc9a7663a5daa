"""Pilot tests: themes (picker, persistence, broken user files), the assistant picker and editor,
and run options, against the embedded echo server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from textual.widgets import Input, OptionList, TextArea

from spool.client.assistants import FormError, build_spec, parse_tools
from spool.client.run_options import RunOptions, build_options
from spool.config import Config, Profile
from spool.tui.screens.assistant_editor import AssistantEditor
from spool.tui.screens.assistant_picker import AssistantPicker
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.help import HelpScreen
from spool.tui.screens.run_options import RunOptionsScreen
from spool.tui.screens.theme_picker import ThemePicker
from spool.tui.themes import DEFAULT_THEME
from spool.tui.widgets.message import NoticeView

from .helpers import make_app, ready, run_ended, texts, type_and_send, view, wait_until

SIZE = (120, 40)
BUNDLED = ("spool-dark", "spool-light", "spool-high-contrast", "spool-dusk")
SEMANTIC = ("role-user", "role-assistant", "role-tool", "status-in-progress", "status-failed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def _screen(pilot: Any, kind: type) -> Any:
    await wait_until(lambda: isinstance(pilot.app.screen, kind), what=kind.__name__)
    await pilot.pause()
    return pilot.app.screen


async def _server_runs(app: Any, thread_id: str) -> list[Any]:
    page = await app.connection.client.beta.threads.runs.list(thread_id=thread_id, limit=10)
    return list(page.data)


# --- themes ------------------------------------------------------------------------------------
async def test_bundled_themes_and_semantic_variables(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME == "spool-dark"
        for name in BUNDLED:
            assert name in app.available_themes
        assert app.theme_variables["role-user"] == "#7dcfff"  # from spool-dark.toml
        for name in ("nord", "textual-light", "spool-light"):  # Textual's own themes get them too
            app.theme = name
            await pilot.pause()
            for var in SEMANTIC:
                assert app.theme_variables.get(var), (name, var)


async def test_theme_picker_preview_restore_keep_and_persist(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        picker = await _screen(pilot, ThemePicker)
        names = picker.themes
        assert names[:4] == ["spool-dark", "spool-dusk", "spool-high-contrast", "spool-light"]
        assert "nord" in names
        await pilot.press("down")
        await wait_until(lambda: app.theme == "spool-dusk", what="preview")
        await pilot.press("down")
        await wait_until(lambda: app.theme == "spool-high-contrast", what="preview")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ThemePicker)
        assert app.theme == "spool-dark"  # restored
        # palette command reaches the same picker; enter keeps the highlighted theme
        await pilot.press("ctrl+p", *"Theme (live", "enter")
        await _screen(pilot, ThemePicker)
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
        assert app.theme == "spool-light"
        assert app.store.get_setting("theme") == "spool-light"
    again = make_app(data, connect=False)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "spool-light"  # remembered in the index


async def test_config_theme_and_broken_user_theme_toast(isolated_dirs: Path) -> None:
    themes = isolated_dirs / "config" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "odd.toml").write_text('name = "odd"\nprimary = "#123456"\nauthor = "me"\n')
    (themes / "mine.toml").write_text(
        'name = "mine"\nprimary = "#ff8800"\ndark = true\n[variables]\n"role-user" = "#00ff00"\n'
    )
    config = Config(profiles={"local": Profile("local")}, theme="mine")
    app = make_app(isolated_dirs / "data", connect=False, config=config)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "mine"
        assert app.theme_variables["role-user"] == "#00ff00"
        assert app.theme_variables["status-failed"]  # default from semantic_defaults
        toasts = [n for n in app._notifications if "theme" in (n.title or "").lower()]
        assert len(toasts) == 1  # one toast for both broken files
        assert "broken.toml" in toasts[0].message and "odd.toml" in toasts[0].message
        assert toasts[0].severity == "warning"
        assert "broken" not in app.available_themes


# --- assistant picker ----------------------------------------------------------------------------
async def test_assistant_picker_switches_next_run(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        first = app.assistant_id
        second = await app.connection.client.beta.assistants.create(
            model="echo", name="Second opinion"
        )
        await type_and_send(pilot, "one")
        assert await run_ended(app) == "completed"
        await pilot.press("f4")
        picker = await _screen(pilot, AssistantPicker)
        ids = [a.id for a in picker.assistants]
        assert set(ids) >= {first, second.id}
        # cached in the index
        assert second.id in {r.id for r in app.store.assistants("local")}
        listing = picker.query_one(OptionList)
        assert listing.highlighted == ids.index(first)
        listing.highlighted = ids.index(second.id)
        await pilot.press("enter")
        await pilot.pause()
        assert app.store.get_thread(app.current).assistant_id == second.id
        assert "Second opinion" in str(app.status_bar.render_info())
        assert app.sidebar.row(app.current).assistant == "Second opinion"
        await type_and_send(pilot, "two")
        assert await run_ended(app) == "completed"
        runs = await _server_runs(app, app.current)
        assert [r.assistant_id for r in runs[:2]] == [second.id, first]  # newest first


# --- assistant editor ----------------------------------------------------------------------------
GOOD_TOOLS = (
    '[{"name": "get_weather", "description": "Weather in a city", "parameters": '
    '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]'
)


async def test_editor_create_edit_delete_with_validation(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        original = app.assistant_id
        client = app.connection.client
        await pilot.press("f4")
        await _screen(pilot, AssistantPicker)
        await pilot.press("n")
        editor = await _screen(pilot, AssistantEditor)
        assert editor.query_one("#model", Input).value == "echo"
        assert "echo" in editor.models
        editor.query_one("#name", Input).value = "Weather bot"
        editor.query_one("#instructions", TextArea).text = "Answer about weather.\nBriefly."
        tools = editor.query_one("#tools", TextArea)
        tools.text = '[{"name": "get weather", "parameters": {"type": "object"}}]'
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AssistantEditor)
        assert "must match ^[a-zA-Z0-9_-]{1,64}$" in editor.error_text("tools")
        assert tools.has_class("-invalid") and app.focused is tools
        tools.text = '[{"name": "f", "parameters": "nope"}]'
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "JSON schema object" in editor.error_text("tools")
        tools.text = "[{"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not valid JSON" in editor.error_text("tools")
        tools.text = GOOD_TOOLS
        editor.query_one("#temperature", Input).value = "3"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.error_text("tools") == ""
        assert "from 0 to 2" in editor.error_text("temperature")
        editor.query_one("#temperature", Input).value = "0.5"
        editor.query_one("#top_p", Input).value = "0.9"
        editor.query_one("#response_format").value = "json_object"
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, AssistantEditor), what="saved")
        created_id = app.store.get_thread(app.current).assistant_id
        assert created_id and created_id != original
        a = await client.beta.assistants.retrieve(created_id)
        assert a.name == "Weather bot" and a.model == "echo"
        assert a.instructions == "Answer about weather.\nBriefly."
        assert a.temperature == 0.5 and a.top_p == 0.9
        assert a.response_format.type == "json_object"
        assert [t.function.name for t in a.tools] == ["get_weather"]
        assert "Weather bot" in str(app.status_bar.render_info())

        # edit (F8 edits the thread's assistant): the form is filled from the server
        await pilot.press("f8")
        editor = await _screen(pilot, AssistantEditor)
        assert editor.query_one("#name", Input).value == "Weather bot"
        assert "get_weather" in editor.query_one("#tools", TextArea).text
        assert editor.query_one("#temperature", Input).value == "0.5"
        editor.query_one("#name", Input).value = "Weather bot 2"
        editor.query_one("#response_format").value = "auto"
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, AssistantEditor), what="saved")
        a = await client.beta.assistants.retrieve(created_id)
        assert a.name == "Weather bot 2" and a.response_format == "auto"
        assert app.assistant_names[created_id] == "Weather bot 2"
        await wait_until(lambda: "Weather bot 2" in str(app.status_bar.render_info()))

        # delete, after the confirm screen
        await pilot.press("f8")
        editor = await _screen(pilot, AssistantEditor)
        await pilot.click("#delete")
        await _screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_until(lambda: created_id not in app.assistant_names, what="deleted")
        with pytest.raises(openai.NotFoundError):
            await client.beta.assistants.retrieve(created_id)
        assert created_id not in {r.id for r in app.store.assistants("local")}
        assert app.store.get_thread(app.current).assistant_id is None
        assert app._assistant_for(app.current) == original  # falls back to the default
        await type_and_send(pilot, "still works")
        assert await run_ended(app) == "completed"


async def test_picker_delete_key_asks_first(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        extra = await app.connection.client.beta.assistants.create(model="echo", name="Tmp")
        await pilot.press("f4")
        picker = await _screen(pilot, AssistantPicker)
        picker.query_one(OptionList).highlighted = [a.id for a in picker.assistants].index(extra.id)
        await pilot.press("delete")
        await _screen(pilot, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert (await app.connection.client.beta.assistants.retrieve(extra.id)).name == "Tmp"
        await pilot.press("f4")
        picker = await _screen(pilot, AssistantPicker)
        picker.query_one(OptionList).highlighted = [a.id for a in picker.assistants].index(extra.id)
        await pilot.press("delete")
        await _screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await wait_until(lambda: extra.id not in app.assistant_names, what="deleted")


# --- run options ---------------------------------------------------------------------------------
async def test_run_options_limit_and_instructions(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await pilot.press("f9")
        screen = await _screen(pilot, RunOptionsScreen)
        screen.query_one("#max_completion_tokens", Input).value = "100"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RunOptionsScreen)
        assert "at least 256" in str(screen.query_one("#error-max_completion_tokens").render())
        screen.query_one("#max_completion_tokens", Input).value = "256"
        screen.query_one("#instructions", TextArea).text = "Be terse."
        screen.query_one("#additional_instructions", TextArea).text = "Mention spool."
        screen.query_one("#last_messages", Input).value = "4"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, RunOptionsScreen)
        status = str(app.status_bar.render_info())
        assert "opts:" in status and "max 256 tok" in status and "last 4 msgs" in status
        await type_and_send(pilot, "/long 1000")
        assert await run_ended(app) == "incomplete"
        await pilot.pause()
        assert any(k == "incomplete" for k, _ in texts(view(app)))
        notices = [n for n in app.transcript.query(NoticeView) if n.has_class("incomplete")]
        assert notices
        run = (await _server_runs(app, app.current))[0]
        assert run.status == "incomplete"
        assert run.incomplete_details.reason == "max_completion_tokens"
        assert run.max_completion_tokens == 256
        assert run.instructions.startswith("Be terse.")
        assert "Mention spool." in run.instructions
        assert run.truncation_strategy.type == "last_messages"
        assert run.truncation_strategy.last_messages == 4
        # the options stay for the thread until cleared
        await pilot.press("f9")
        screen = await _screen(pilot, RunOptionsScreen)
        assert screen.query_one("#max_completion_tokens", Input).value == "256"
        await pilot.click("#clear")
        await pilot.pause()
        assert "opts:" not in str(app.status_bar.render_info())
        await type_and_send(pilot, "/long 300")
        assert await run_ended(app) == "completed"
        run = (await _server_runs(app, app.current))[0]
        assert run.max_completion_tokens is None
        assert not run.instructions.startswith("Be terse.")


async def test_run_options_model_override(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("f9")
        screen = await _screen(pilot, RunOptionsScreen)
        screen.query_one("#model", Input).value = "echo"
        screen.query_one("#temperature", Input).value = "1.5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "model echo" in app.options_summary() and "temp 1.5" in app.options_summary()
        await type_and_send(pilot, "hi")
        assert await run_ended(app) == "completed"
        run = (await _server_runs(app, app.current))[0]
        assert run.model == "echo" and run.temperature == 1.5


async def test_help_lists_new_keys(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        help_screen = await _screen(pilot, HelpScreen)
        ids = {k.binding_id for k in help_screen.keys}
        for binding_id in (
            "spool.assistants",
            "spool.edit_assistant",
            "spool.new_assistant",
            "spool.run_options",
            "spool.theme",
            "assistant_picker.edit",
            "assistant_picker.new",
            "assistant_picker.delete",
            "assistant_editor.save",
        ):
            assert binding_id in ids
        keys = {k.binding_id: k.keys for k in help_screen.keys}
        assert keys["spool.theme"] == "ctrl+t" and keys["spool.assistants"] == "f4"


# --- pure form checks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "JSON array"),
        ("[1]", "must be an object"),
        ('[{"name": "x"}]', "'parameters'"),
        ('[{"name": "' + "a" * 65 + '", "parameters": {"type": "object"}}]', "must match"),
        ('[{"name": "x", "parameters": {"type": "string"}}]', '"type": "object"'),
        ('[{"name": "x", "parameters": {"type": "object", "properties": []}}]', "properties"),
        (
            '[{"name": "x", "parameters": '
            '{"type": "object", "properties": {"a": {"type": "str"}}}}]',
            "unknown type",
        ),
        ('[{"name": "x", "parameters": {"type": "object"}, "extra": 1}]', "unknown keys"),
    ],
)
def test_parse_tools_errors(text: str, message: str) -> None:
    with pytest.raises(FormError) as info:
        parse_tools(text)
    assert info.value.field == "tools"
    assert message in info.value.message


def test_parse_tools_accepts_wrapped_and_blank() -> None:
    assert parse_tools("") == []
    wrapped = '[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]'
    assert parse_tools(wrapped) == [{"name": "f", "parameters": {"type": "object"}}]


def test_build_spec_and_options() -> None:
    spec = build_spec(
        name=" A ",
        model="echo",
        description="",
        instructions="hi",
        tools="[]",
        temperature="",
        top_p="1",
        response_format="text",
    )
    params = spec.to_params()
    assert params["name"] == "A" and params["top_p"] == 1.0 and "temperature" not in params
    assert params["response_format"] == {"type": "text"}
    with pytest.raises(FormError) as info:
        build_spec(
            name="",
            model=" ",
            description="",
            instructions="",
            tools="[]",
            temperature="",
            top_p="",
            response_format="auto",
        )
    assert info.value.field == "model"
    options = build_options(
        model="",
        instructions="",
        additional_instructions="",
        temperature="",
        max_completion_tokens="",
        last_messages="",
    )
    assert options == RunOptions() and options.empty and options.to_kwargs() == {}
    with pytest.raises(FormError) as info:
        build_options(
            model="",
            instructions="",
            additional_instructions="",
            temperature="",
            max_completion_tokens="",
            last_messages="0",
        )
    assert info.value.field == "last_messages"


async def test_palette_theme_command_is_the_live_picker(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" not in titles and "Quit" in titles
        await pilot.press("ctrl+p", *"theme", "enter")
        await _screen(pilot, ThemePicker)


async def test_theme_picker_filter_by_typing(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        picker = await _screen(pilot, ThemePicker)
        await pilot.press(*"contrast")
        await wait_until(lambda: app.theme == "spool-high-contrast", what="filtered preview")
        assert picker.shown == ["spool-high-contrast"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "spool-high-contrast"
        assert app.store.get_setting("theme") == "spool-high-contrast"


async def test_theme_switch_recolours_status_and_names(isolated_dirs: Path) -> None:
    from textual.color import Color

    from spool.tui.widgets.message import MessageView

    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "colours")
        assert await run_ended(app) == "completed"
        await pilot.pause()

        def status_colour() -> str:
            span = app.status_bar.render_info().spans[0]
            return span.style.color.triplet.hex if span.style.color else ""

        def user_colour() -> str:
            user = next(w for w in app.transcript.query(MessageView) if w.item.role == "user")
            shown = user._body.content  # the rendered "You" line + text
            return shown.get_style_at_offset(app.console, 0).color.triplet.hex

        assert status_colour() == "#9ece6a"  # spool-dark status-completed
        assert user_colour() == "#7dcfff"  # spool-dark role-user
        app.theme = "spool-light"
        light = app.get_theme("spool-light").variables
        await wait_until(
            lambda: status_colour() == Color.parse(light["status-completed"]).hex.lower(),
            what="status recoloured",
        )
        await wait_until(
            lambda: user_colour() == Color.parse(light["role-user"]).hex.lower(),
            what="names recoloured",
        )
        shown = str(app.status_bar.render_info())
        assert "completed" in shown
