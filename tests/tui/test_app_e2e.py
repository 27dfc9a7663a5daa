"""End-to-end: the TUI (Pilot) against the embedded `spool serve` with the echo model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spool.client.outbox import NEW_THREAD
from spool.client.view_model import ToolCallItem
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.help import HelpScreen
from spool.tui.screens.rename import RenameScreen
from spool.tui.screens.tool_outputs import ToolOutputsScreen
from spool.tui.widgets.message import MessageView, NoticeView
from spool.tui.widgets.tool_call import ToolCallView

from .helpers import make_app, ready, run_ended, texts, type_and_send, view, wait_until

SIZE = (120, 40)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_first_run_creates_assistant_and_thread(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        assert "connecting…" in str(app.status_bar.render_info())
        await ready(app)
        assert app.connection_state == "connected"
        assert app.connection.server is not None and app.connection.server.started_by_us
        assert app.assistant_names[app.assistant_id] == "Assistant"
        assert app.assistant_models[app.assistant_id] == "echo"
        assert app.sidebar.shown_ids == [app.current]
        assert app.focused is app.composer
        await pilot.pause()
    # nothing runs and we said goodbye: the server exits by itself within a few seconds
    proc = app.connection.server.process
    assert proc is not None
    proc.wait(timeout=10)
    assert not (data / "server.json").exists()


async def test_send_and_see_reply(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.composer.focus()
        await pilot.press(*"hello world", "enter")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-2:] == [
            ("user", "hello world"),
            ("assistant", "You said: hello world"),
        ]
        await pilot.pause()
        widgets = list(app.transcript.query(MessageView))
        assert [w.item.role for w in widgets] == ["user", "assistant"]
        await wait_until(lambda: widgets[-1].shown_text == "You said: hello world")
        assert app.composer.text == ""
        row = app.sidebar.row(app.current)
        assert row is not None and row.title == "hello world"
        assert app.status_bar.info.run is not None
        assert "completed" in str(app.status_bar.render_info())


async def test_newline_key_and_multiline_title(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.composer.focus()
        await pilot.press(*"first line", "ctrl+j", *"second", "enter")
        assert await run_ended(app) == "completed"
        assert view(app).items[0].text == "first line\nsecond"
        assert app.sidebar.row(app.current).title == "first line"


async def test_new_thread_and_switch_while_running(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        first = app.current
        await type_and_send(pilot, "/sleep 2000")
        await wait_until(lambda: view(app, first).active, what="first run active")
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first, what="new thread")
        second = app.current
        await wait_until(lambda: view(app, second).loaded)
        assert len(app.sidebar.shown_ids) == 2
        # the first thread's row shows the run glyph while it runs
        assert app.sidebar.row(first).active
        await type_and_send(pilot, "hi")
        assert await run_ended(app, second) == "completed"
        assert view(app, first).active  # still sleeping, not stopped by switching
        # back to the first thread (it is below the new one in the list)
        await pilot.press("ctrl+down")
        assert app.current == first
        assert await run_ended(app, first, timeout=20) == "completed"
        assert texts(view(app, first))[-1] == ("assistant", "slept 2000")
        assert texts(view(app, second))[-1] == ("assistant", "You said: hi")
        await wait_until(lambda: not app.sidebar.row(first).active)
        await pilot.pause()
        shown = [w.item.text for w in app.transcript.query(MessageView)]
        assert shown[-1] == "slept 2000"
        await pilot.press("alt+up")
        assert app.current == second


async def test_cancel_with_escape(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/sleep 5000")
        await wait_until(lambda: view(app).run and view(app).run.id and view(app).active)
        assert "esc cancel" in str(app.status_bar.render_info())
        await pilot.press("escape")
        assert await run_ended(app, timeout=10) == "cancelled"
        assert ("cancelled", "Run cancelled.") in texts(view(app))
        await pilot.pause()
        assert app.transcript.query(NoticeView)
        assert "cancelled" in str(app.status_bar.render_info())


async def test_failed_run_offers_retry_and_take_back(isolated_dirs: Path) -> None:
    """The posted message is never put back in the composer (Enter would post it twice):
    retry runs again on the same message, take back deletes it and returns the text."""
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "/fail")
        assert await run_ended(app) == "failed"
        await pilot.pause()
        notices = [t for k, t in texts(view(app)) if k == "failed"]
        assert notices and "server_error" in notices[0]
        assert app.composer.text == ""
        assert app.last_error and "failed" in app.last_error
        assert "failed" in str(app.status_bar.render_info())
        assert "f5 retry · f6 edit" in str(app.status_bar.render_info())
        assert any(n.severity == "error" for n in app._notifications)
        threads = app.connection.client.beta.threads
        first_run = view(app).run.id
        await pilot.press("f5")  # retry: a new run, the message is not posted again
        await wait_until(lambda: view(app).run.id != first_run, what="second run")
        assert await run_ended(app) == "failed"
        messages = (await threads.messages.list(app.current)).data
        assert [m.role for m in messages] == ["user"]
        runs = (await threads.runs.list(app.current)).data
        assert len(runs) == 2
        await pilot.press("f6")  # take back: deleted from the thread, the text to edit
        await wait_until(lambda: app.composer.text == "/fail", what="text taken back")
        assert (await threads.messages.list(app.current)).data == []
        assert [k for k, _ in texts(view(app))].count("user") == 0


async def test_restart_finds_threads(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "remember me")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+n")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 2)
        app.composer.set_text("an unsent draft")
        tid = app.current
        await pilot.press("ctrl+q")
    index = json.loads((data / "index.json").read_text())
    assert len(index["threads"]) == 2
    app2 = make_app(data)
    async with app2.run_test(size=SIZE) as pilot:
        await ready(app2)
        assert app2.current == tid
        assert app2.composer.text == "an unsent draft"
        titles = [app2.sidebar.row(t).title for t in app2.sidebar.shown_ids]
        assert titles == ["New thread", "remember me"]
        await pilot.press("ctrl+down")
        await wait_until(lambda: view(app2).loaded)
        assert texts(view(app2)) == [
            ("user", "remember me"),
            ("assistant", "You said: remember me"),
        ]


async def test_requires_action_prompt(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
        await app.connection.client.beta.assistants.update(app.assistant_id, tools=[tool])
        await type_and_send(pilot, '/call get_weather {"city": "Paris"}')
        await wait_until(lambda: view(app).run and view(app).run.status == "requires_action")
        await app.wait_for_ui()
        await pilot.pause()
        calls = [i for i in view(app).items if isinstance(i, ToolCallItem)]
        assert len(calls) == 1 and calls[0].name == "get_weather"
        assert json.loads(calls[0].arguments) == {"city": "Paris"}
        widget = app.transcript.query_one(ToolCallView)
        # the tool outputs dialog opens with its output field focused
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        await wait_until(lambda: app.focused is not None and "output" in app.focused.classes)
        # a message sent now waits for the run to end (the API locks the thread), visibly
        queued = app.send("another")
        assert queued.status == "queued" and view(app).items[-1] is queued
        await pilot.press(*"sunny", "enter")
        await wait_until(lambda: texts(view(app))[-1] == ("assistant", "You said: another"))
        assert ("assistant", "get_weather returned: sunny") in texts(view(app))
        assert calls[0].output == "sunny"
        await pilot.pause()
        assert not widget.query(".output")


async def test_rename_and_delete(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        first = app.current
        await pilot.press("f2")
        assert isinstance(app.screen, RenameScreen)
        inp = app.screen.query_one("#title")
        inp.value = ""
        await pilot.press(*"My topic", "enter")
        await pilot.pause()
        assert app.sidebar.row(first).title == "My topic"
        assert app.store.get_thread(first).title == "My topic"
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first)
        second = app.current
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.store.get_thread(second) is not None
        await pilot.press("ctrl+d")
        await pilot.press("y")
        await wait_until(lambda: app.store.get_thread(second) is None)
        await wait_until(lambda: app.current == first)
        assert app.sidebar.shown_ids == [first]
        import openai

        try:
            await app.connection.client.beta.threads.retrieve(second)
            raise AssertionError("thread still on the server")
        except openai.NotFoundError:
            pass


async def test_help_and_palette(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {k.binding_id for k in app.screen.keys}
        assert {"spool.new_thread", "spool.cancel", "spool.copy_reply", "spool.quit"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"New thread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 2, what="palette new thread")


async def test_copy_last_reply(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyperclip

    def no_clipboard(text: str) -> None:
        raise pyperclip.PyperclipException("Pyperclip could not find a copy/paste mechanism")

    monkeypatch.setattr(pyperclip, "determine_clipboard", lambda: (no_clipboard, no_clipboard))
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "copy me")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+y")
        await wait_until(lambda: app.clipboard == "You said: copy me", what="OSC 52 copy")


async def test_keymap_remaps_binding(isolated_dirs: Path) -> None:
    from spool.config import Config, Profile

    config = Config(profiles={"local": Profile("local")}, keymap={"spool.new_thread": "ctrl+t"})
    app = make_app(isolated_dirs / "data", config=config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("ctrl+t")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 2)


async def test_filter_threads(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "apples and pears")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+n")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 2)
        await type_and_send(pilot, "bananas")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+f")
        await pilot.press(*"pear")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 1)
        await pilot.press("enter")  # opens the first match and focuses the composer
        await wait_until(lambda: app.sidebar.row(app.current).title == "apples and pears")
        assert app.focused is app.composer
        await pilot.press("ctrl+f", "escape")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 2)
        assert app.focused is app.composer


async def test_server_gone_message_is_delivered_when_it_is_back(isolated_dirs: Path) -> None:
    """Embedded server killed, then a message sent: it waits as unsent (with the reason), spool
    starts a new server and delivers it, once; nothing is ever put back over the composer."""
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        app.connection.server.process.kill()
        app.connection.server.process.wait(5)
        await pilot.press(*"typed meanwhile")
        await type_and_send(pilot, "is anyone there?")
        await pilot.press(*"typed meanwhile")
        # the app starts a new embedded server by itself and sends the message
        await wait_until(
            lambda: texts(view(app))[-1] == ("assistant", "You said: is anyone there?"),
            timeout=60,
            what="delivered after reconnecting",
        )
        assert app.composer.text == "typed meanwhile"
        assert [t for k, t in texts(view(app)) if k == "user"] == ["is anyone there?"]
        assert app.store.all_outbox() == []


async def test_unreachable_remote_profile(isolated_dirs: Path) -> None:
    from spool.config import Config, Profile

    config = Config(
        profiles={"local": Profile("local"), "far": Profile("far", "http://127.0.0.1:9/v1")}
    )
    app = make_app(isolated_dirs / "data", config=config, profile="far")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: app.connection_state.startswith("offline"), timeout=30)
        await pilot.pause()
        assert "Cannot connect" in (app.last_error or "")
        assert "retrying in" in str(app.status_bar.render_info())
        await type_and_send(pilot, "hello?")
        await pilot.pause()
        # queued (shown, kept in the index), the composer is free for the next message
        assert app.composer.text == ""
        [pending] = app.store.all_outbox("far")
        assert pending.text == "hello?"
        assert texts(view(app, NEW_THREAD))[-1] == ("user", "hello?")


async def test_reattach_to_active_run(isolated_dirs: Path) -> None:
    """A run started elsewhere (another client) is followed by polling to its end."""
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        client = app.connection.client
        tid = app.current
        await client.beta.threads.messages.create(tid, role="user", content="/sleep 1500")
        await client.beta.threads.runs.create(tid, assistant_id=app.assistant_id)
        # open the other thread and come back: the reload finds the active run
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != tid)
        app.workspace.drop(tid)
        await pilot.press("ctrl+down")
        assert app.current == tid
        await wait_until(lambda: view(app, tid).active, what="attached")
        assert await run_ended(app, tid) == "completed"
        assert texts(view(app, tid))[-1] == ("assistant", "slept 1500")


async def test_older_messages_load_on_scroll_up(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        client = app.connection.client
        tid = app.current
        for i in range(45):
            await client.beta.threads.messages.create(tid, role="user", content=f"message {i}")
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != tid)
        app.workspace.drop(tid)
        await pilot.press("ctrl+down")
        await wait_until(lambda: view(app, tid).loaded)
        await app.wait_for_ui()
        await pilot.pause()
        v = view(app, tid)
        assert len(v.items) == 20 and v.has_more_before
        assert v.items[-1].text == "message 44"
        for _ in range(3):
            app.transcript.scroll_home(animate=False, immediate=True)
            app.transcript.load_older_now()
            await pilot.pause(0.2)
            await app.wait_for_ui()
        await wait_until(lambda: len(v.items) == 45, what="all pages")
        assert v.items[0].text == "message 0"


async def test_follows_the_stream_only_at_the_bottom(isolated_dirs: Path) -> None:
    from spool.client.view_model import MessageItem

    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/long 400")
        assert await run_ended(app) == "completed"
        md = [w for w in app.transcript.query(MessageView)][-1].markdown
        await wait_until(lambda: md.settled, what="rendered")
        await pilot.pause(0.2)
        t = app.transcript
        assert t.max_scroll_y > 0 and t.scroll_y >= t.max_scroll_y - 1  # followed to the end
        # the user scrolls up: new text arrives but the view stays where the user put it
        t.scroll_home(animate=False, immediate=True)
        await pilot.pause(0.1)
        v = view(app)
        item = v.add(MessageItem("msg_x", "assistant", "more\n\n" * 30, status="in_progress"))
        for i in range(5):
            item.text += f"\n\nline {i}"
            v.updated(item)
            await pilot.pause(0.15)
        await app.wait_for_ui()
        assert t.scroll_y == 0
        # back at the bottom: following resumes
        t.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.1)
        item.text += "\n\nthe end\n\n" * 10
        v.updated(item)
        await pilot.pause(0.4)
        assert t.scroll_y >= t.max_scroll_y - 1


async def test_theme_switch_from_palette_is_persisted(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p", *"theme", "enter")
        await pilot.pause(0.3)
        await pilot.press(*"nord")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: app.theme == "nord", what="theme")
    app2 = make_app(data, connect=False)
    async with app2.run_test(size=SIZE):
        assert app2.theme == "nord"
