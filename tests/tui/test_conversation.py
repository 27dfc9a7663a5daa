"""Conversation control (issue 11): regenerate, edit and resend, delete a message, with Pilot
against the real embedded server (echo model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.widgets.message import MessageView

from .helpers import make_app, ready, run_ended, texts, type_and_send, view, wait_until

SIZE = (120, 40)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def server_messages(app) -> list[tuple[str, str]]:
    page = await app.connection.client.beta.threads.messages.list(app.current, order="asc")
    return [(m.role, m.content[0].text.value) for m in page.data]


def message_widget(app, role: str, index: int = -1) -> MessageView:
    return [w for w in app.transcript.query(MessageView) if w.item.role == role][index]


async def test_regenerate_replaces_the_last_reply(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "hello")
        assert await run_ended(app) == "completed"
        first_run = view(app).run.id
        await pilot.press("f5")
        await wait_until(lambda: view(app).run.id != first_run, what="a new run")
        assert await run_ended(app) == "completed"
        assert await server_messages(app) == [("user", "hello"), ("assistant", "You said: hello")]
        assert texts(view(app)) == [("user", "hello"), ("assistant", "You said: hello")]
        runs = await app.connection.client.beta.threads.runs.list(app.current)
        assert len(runs.data) == 2


async def test_edit_a_sent_message_deletes_what_follows_after_asking(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "one")
        assert await run_ended(app) == "completed"
        await type_and_send(pilot, "two")
        await wait_until(lambda: texts(view(app))[-1] == ("assistant", "You said: two"))
        await app.wait_for_ui()
        message_widget(app, "user", 0).focus()
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert "3 messages after it" in app.screen.question
        await pilot.press("y")
        await wait_until(lambda: app.composer.text == "one", what="text back in the composer")
        assert await server_messages(app) == []
        assert texts(view(app)) == []
        await pilot.press("end", *" more", "enter", "wait:60")
        await wait_until(lambda: texts(view(app))[-1] == ("assistant", "You said: one more"))
        assert await server_messages(app) == [
            ("user", "one more"),
            ("assistant", "You said: one more"),
        ]


async def test_delete_one_message_after_asking(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "keep me")
        assert await run_ended(app) == "completed"
        await app.wait_for_ui()
        message_widget(app, "assistant").focus()
        await pilot.press("delete")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("n")
        assert len(await server_messages(app)) == 2
        message_widget(app, "assistant").focus()
        await pilot.press("delete")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_until(lambda: texts(view(app)) == [("user", "keep me")], what="deleted")
        assert await server_messages(app) == [("user", "keep me")]


async def test_editing_during_a_run_is_refused(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "/sleep 1500")
        await wait_until(lambda: view(app).active, what="run started")
        await app.wait_for_ui()
        message_widget(app, "user").focus()
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("in progress" in n.message for n in app._notifications)
        assert await run_ended(app) == "completed"
        assert [r for r, _ in await server_messages(app)] == ["user", "assistant"]


# --- prompt history -------------------------------------------------------------------------------
async def test_up_and_down_walk_through_what_was_sent(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        first = app.current
        await type_and_send(pilot, "in the first thread")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first and view(app).loaded)
        await type_and_send(pilot, "alpha")
        assert await run_ended(app) == "completed"
        await type_and_send(pilot, "beta")
        assert await run_ended(app) == "completed"
        app.composer.focus()
        await pilot.press(*"half typed")
        await pilot.press("up")
        assert app.composer.text == "beta"  # this thread's first, newest first
        await pilot.press("up")
        assert app.composer.text == "alpha"
        await pilot.press("up")
        assert app.composer.text == "in the first thread"  # then the other threads
        await pilot.press("up")
        assert app.composer.text == "in the first thread"  # the oldest: stays
        await pilot.press("down", "down")
        assert app.composer.text == "beta"
        await pilot.press("down")
        assert app.composer.text == "half typed"  # past the newest: what was being typed


async def test_ctrl_r_searches_what_was_sent(isolated_dirs: Path) -> None:
    from spool.tui.screens.history_search import HistorySearchScreen

    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        for text in ("plot the sales", "fix the bug", "plot the costs"):
            await type_and_send(pilot, text)
            assert await run_ended(app) == "completed"
        app.composer.focus()
        await pilot.press("ctrl+r")
        await wait_until(lambda: isinstance(app.screen, HistorySearchScreen), what="search")
        screen = app.screen
        await pilot.press(*"plot")
        assert screen.shown == ["plot the costs", "plot the sales"]
        await pilot.press("down", "enter")
        await wait_until(lambda: app.screen is not screen)
        assert app.composer.text == "plot the sales"
        assert app.focused is app.composer


# --- reading comfort ------------------------------------------------------------------------------
async def test_the_transcript_scrolls_from_the_composer(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/long 600")
        assert await run_ended(app) == "completed"
        await app.wait_for_ui()
        await pilot.pause(0.3)
        t = app.transcript
        assert t.max_scroll_y > 0 and t.scroll_y >= t.max_scroll_y - 1
        app.composer.focus()
        bottom = t.scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert t.scroll_y < bottom
        await pilot.press("pagedown")
        await pilot.pause()
        assert t.scroll_y >= bottom - 1
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert t.scroll_y == 0
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert t.scroll_y >= t.max_scroll_y - 1
        await pilot.press("home")  # empty composer: Home and End act on the transcript too
        await pilot.pause()
        assert t.scroll_y == 0
        await pilot.press(*"abc", "home")  # with text they move the cursor
        await pilot.pause()
        assert app.composer.cursor_location == (0, 0) and t.scroll_y == 0
        assert app.focused is app.composer


def test_status_bar_shows_reply_tokens_and_rate_while_streaming() -> None:
    from spool.client.view_model import RunState
    from spool.tui.widgets.status_bar import StatusBar, StatusInfo

    now = [100.0]
    bar = StatusBar(lambda: now[0])
    run = RunState(id="run_1", status="in_progress", started_at=98.0)
    run.prompt_tokens, run.completion_tokens = 40, 120
    bar.info = StatusInfo(connection="connected", run=run)
    shown = str(bar.render_info())
    assert "~120 tok 60 tok/s" in shown  # the reply so far, 120 tokens in 2 s
    run.status, run.ended_at = "completed", 100.0
    assert "160 tok" in str(bar.render_info())  # at the end: prompt + completion


async def test_the_demo_model_says_what_it_is_on_the_first_screen(isolated_dirs: Path) -> None:
    from textual.widgets import Static

    app = make_app(isolated_dirs / "data", model="smollm2")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await app.wait_for_ui()
        await pilot.pause()
        empty = app.transcript.query_one("#empty", Static)
        assert "SmolLM2-135M, is a tiny offline demo" in str(empty.render())
    echo = make_app(isolated_dirs / "data2")
    async with echo.run_test(size=SIZE) as pilot:
        await ready(echo)
        await echo.wait_for_ui()
        await pilot.pause()
        assert "demo" not in str(echo.transcript.query_one("#empty", Static).render())


async def test_the_thread_list_hides_and_shows(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.sidebar.display
        await pilot.press("ctrl+b")
        assert not app.sidebar.display and app.focused is app.composer
        await pilot.press("ctrl+b")
        assert app.sidebar.display
    narrow = make_app(isolated_dirs / "data", connect=False)
    async with narrow.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        assert not narrow.sidebar.display  # under 90 columns it hides itself
        await pilot.press("ctrl+b")
        assert narrow.sidebar.display  # and shows on request
        await pilot.resize_terminal(120, 40)
        await wait_until(lambda: narrow.size.width == 120)
        await pilot.pause()
        assert narrow.sidebar.display
        await pilot.resize_terminal(70, 30)
        await wait_until(lambda: not narrow.sidebar.display, what="hidden when narrowed")


# --- background runs ------------------------------------------------------------------------------
async def test_a_run_that_ends_on_another_thread_is_marked_until_opened(
    isolated_dirs: Path,
) -> None:
    app = make_app(isolated_dirs / "data")
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]  # count the terminal bell
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        first = app.current
        await type_and_send(pilot, "/sleep 1500")
        await wait_until(lambda: view(app).active, what="run started")
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first, what="second thread")
        await wait_until(lambda: app.unread.get(first) == "completed", what="unread mark")
        await wait_until(
            lambda: any("New reply in “/sleep 1500”" in n.message for n in app._notifications),
            what="a toast naming the thread",
        )
        row = app.sidebar.row(first)
        assert row is not None and row.unread == "completed"
        prompt = str(app.sidebar.prompt(row, app.clock()))
        assert prompt.startswith("◆ ") and "new reply · " in prompt
        assert rings == []  # the bell rings for tool calls by default, not for replies
        app._select_thread(first)
        await pilot.pause()
        assert first not in app.unread and not app.sidebar.row(first).unread


async def test_the_run_state_leads_the_row_so_it_is_never_cut(isolated_dirs: Path) -> None:
    from spool.tui.widgets.sidebar import SidebarRow

    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE):
        row = SidebarRow(
            "thread_1", "A title", "A rather long assistant name", 0.0, True, "in_progress"
        )
        line = str(app.sidebar.prompt(row, 100.0)).splitlines()[1]
        assert line.startswith("  in progress · ")
        assert "…" not in line.split(" · ")[0]


async def test_a_tool_call_on_another_thread_rings_the_bell(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        tool = {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object"}},
        }
        await app.connection.client.beta.assistants.update(app.assistant_id, tools=[tool])
        first = app.current
        await type_and_send(pilot, "/sleep 600")
        await wait_until(lambda: view(app).active, what="run started")
        await type_and_send(pilot, "/call lookup {}")  # queued behind the sleep
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first, what="second thread")
        await wait_until(lambda: app.unread.get(first) == "requires_action", timeout=30)
        assert rings == [1]
        assert "requires action · " in str(app.sidebar.prompt(app.sidebar.row(first), app.clock()))


def test_bell_and_sidebar_width_come_from_the_config(tmp_path: Path) -> None:
    from spool.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('bell = "always"\nsidebar_width = 40\n')
    config = load_config(path)
    assert (config.bell, config.sidebar_width, config.problems) == ("always", 40, [])
    path.write_text('bell = "loud"\nsidebar_width = 5\n')
    config = load_config(path)
    assert (config.bell, config.sidebar_width) == ("requires_action", 34)
    assert len(config.problems) == 2 and "bell must be one of" in config.problems[0]


async def test_sidebar_width_is_applied(isolated_dirs: Path) -> None:
    from spool.config import Config, Profile

    config = Config(profiles={"local": Profile("local")}, sidebar_width=44)
    app = make_app(isolated_dirs / "data", config=config, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.sidebar.outer_size.width == 44


async def test_offline_says_when_it_retries_and_f5_retries_now(isolated_dirs: Path) -> None:
    from spool.config import Config, Profile

    config = Config(
        profiles={"local": Profile("local"), "far": Profile("far", "http://127.0.0.1:9/v1")}
    )
    app = make_app(isolated_dirs / "data", config=config, profile="far")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: app.connection_state.startswith("offline"), timeout=30)
        assert "(f5 now)" in str(app.status_bar.render_info())
        first_delay = app._reconnect_delay
        await pilot.press("f5")
        await wait_until(lambda: app._reconnect_delay > first_delay, what="retried at once")
        assert app.connection_state.startswith("offline")


async def test_the_key_footer_shows_the_main_keys_and_hides(isolated_dirs: Path) -> None:
    from spool.config import Config, Profile
    from spool.tui.widgets.key_footer import KeyFooter

    config = Config(profiles={"local": Profile("local")}, keymap={"spool.new_thread": "ctrl+t"})
    app = make_app(isolated_dirs / "data", connect=False, config=config)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.query_one("#footer", KeyFooter)
        shown = str(footer.render_keys())
        assert "ctrl+t new" in shown and "f1 help" in shown  # remapped keys are shown
        assert footer.display
        await pilot.press("f10")
        assert not footer.display
    quiet = make_app(
        isolated_dirs / "data",
        connect=False,
        config=Config(profiles={"local": Profile("local")}, footer=False),
    )
    async with quiet.run_test(size=SIZE):
        assert not quiet.query_one("#footer", KeyFooter).display


async def test_a_runs_duration_survives_a_reload(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/sleep 1200")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+q")
    again = make_app(data)
    async with again.run_test(size=SIZE) as pilot:
        await ready(again)
        run = view(again).run
        assert run is not None and run.status == "completed"
        assert 1.0 <= run.elapsed(again.clock()) <= 3.0  # the server's times, not 0.0 s
        assert "0.0s" not in str(again.status_bar.render_info())


async def test_status_bar_and_inspector_agree_on_a_runs_duration_across_reloads(
    isolated_dirs: Path,
) -> None:
    """The API's timestamps are whole seconds; the client's measurement is the one shown."""
    from spool.client.run_details import fetch_run_details
    from spool.tui.timefmt import format_duration

    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/sleep 1300")
        assert await run_ended(app) == "completed"
        run = view(app).run
        assert run is not None and run.id
        live = run.elapsed(app.clock())
        assert 1.2 <= live <= 3.0
        shown = f"{live:.1f}s"
        assert shown in str(app.status_bar.render_info())
        details = await fetch_run_details(app.connection.client, view(app).thread_id, run.id)
        details.measured_s = app.store.run_duration(run.id)
        assert format_duration(details.duration_s) == f"{live:.1f} s"
        await pilot.press("ctrl+q")
    again = make_app(data)
    async with again.run_test(size=SIZE) as pilot:
        await ready(again)
        reloaded = view(again).run
        assert reloaded is not None and reloaded.id == run.id
        assert abs(reloaded.elapsed(again.clock()) - live) < 0.002
        assert shown in str(again.status_bar.render_info())
