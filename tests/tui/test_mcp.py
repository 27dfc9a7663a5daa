"""Pilot tests of MCP tools in the TUI: a real MCP server subprocess (tests/mcp_server.py, the
`mcp` SDK over stdio) chosen in the run options, its tools offered to the run, the echo
engine's `/call NAME {json}` calling them, the approval dialog (once / always / deny), a server
that dies or stays silent, and the local tools asking when configured to."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, Static

from spool.client.approvals import DENIED_OUTPUT
from spool.client.view_model import ToolCallItem
from spool.config import Config, McpServerSpec, Profile
from spool.tui.screens.help import HelpScreen
from spool.tui.screens.run_options import RunOptionsScreen
from spool.tui.screens.tool_approval import GUARD_S, ToolApprovalScreen
from spool.tui.widgets.tool_call import ToolCallView

from .helpers import make_app, ready, run_ended, texts, type_and_send, view, wait_until

SIZE = (120, 40)
SERVER = str(Path(__file__).resolve().parents[1] / "mcp_server.py")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def mcp_config(tmp: Path, **kwargs: Any) -> Config:
    """A config with one MCP server `tools` (the test server; its calls logged in tmp)."""
    kwargs.setdefault("env", {"MCP_CALL_LOG": str(tmp / "calls.log")})
    spec = McpServerSpec("tools", command=sys.executable, args=[SERVER], **kwargs)
    return Config(profiles={"local": Profile("local")}, mcp={"tools": spec})


def calls_logged(tmp: Path) -> list[str]:
    path = tmp / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in lines if not line.startswith("pid")]


async def choose_mcp(pilot: Any) -> None:
    """F9, tick the server, apply; wait until its tools are offered to the thread's runs."""
    app = pilot.app
    await pilot.press("f9")
    await wait_until(lambda: isinstance(app.screen, RunOptionsScreen), what="run options")
    await pilot.click("#mcp-0")
    assert app.screen.query_one("#mcp-0", Checkbox).value
    await pilot.press("ctrl+s")
    await wait_until(lambda: not isinstance(app.screen, RunOptionsScreen), what="applied")
    options = app.run_options_for(app.current)
    await wait_until(lambda: options.tools is not None, what="MCP tools offered")


async def approve(pilot: Any, key: str) -> ToolApprovalScreen:
    app = pilot.app
    screen = await wait_until(
        lambda: app.screen if isinstance(app.screen, ToolApprovalScreen) else None,
        what="approval dialog",
    )
    await pilot.pause(GUARD_S + 0.1)
    await pilot.press(key)
    await wait_until(lambda: app.screen is not screen, what="dialog closed")
    return screen


def last_call(app: Any) -> ToolCallItem:
    return [i for i in view(app).items if isinstance(i, ToolCallItem)][-1]


async def test_mcp_tool_approved_once_answers_the_run(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", config=mcp_config(isolated_dirs))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        assert app.mcp_hub().state("tools") == "not started"  # started on demand only
        await choose_mcp(pilot)
        assert app.mcp_hub().state("tools") == "running"
        assert "mcp tools (6 tools)" in app.options_summary()
        app.action_mcp_status()
        await pilot.pause()
        status = [n.message for n in app._notifications if n.title == "MCP servers"]
        assert status == ["tools: running · asks · tools: add, shout, slow, crash, fail, picture"]
        await type_and_send(pilot, '/call add {"a": 2, "b": 3}')
        await wait_until(lambda: isinstance(app.screen, ToolApprovalScreen), what="dialog")
        app.handle_requires_action(view(app))  # the run reported twice: still one question
        await pilot.pause(0.2)
        assert sum(isinstance(s, ToolApprovalScreen) for s in app.screen_stack) == 1
        screen = await approve(pilot, "o")
        assert screen.request.tool == "add" and screen.request.source == "MCP server tools"
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "add returned: 5")
        call = last_call(app)
        assert call.answered_by == "MCP server tools" and call.output == "5"
        await app.wait_for_ui()
        await pilot.pause()
        widget = app.transcript.query(ToolCallView).last()
        assert "answered by the MCP server tools" in str(widget.query_one("Collapsible").title)
        assert any("Answered add with MCP server tools" in n.message for n in app._notifications)
        # "once" means once: the next call asks again
        await type_and_send(pilot, '/call add {"a": 1, "b": 1}')
        await approve(pilot, "o")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "add returned: 2")
        assert calls_logged(isolated_dirs) == ["add 2 3", "add 1 1"]
    assert not app.mcp_hub().connections["tools"].running  # stopped with the app


async def test_mcp_tool_always_and_deny(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", config=mcp_config(isolated_dirs))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await choose_mcp(pilot)
        await type_and_send(pilot, '/call shout {"text": "hey"}')
        await approve(pilot, "a")  # always for shout
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "shout returned: HEY")
        seen: list[Any] = []
        await type_and_send(pilot, '/call shout {"text": "again"}')
        while view(app).run is None or view(app).run.active or not view(app).run.id:
            seen.append(app.screen)
            await pilot.pause(0.02)
        assert await run_ended(app) == "completed"
        assert not any(isinstance(s, ToolApprovalScreen) for s in seen)  # no asking
        assert texts(view(app))[-1] == ("assistant", "shout returned: AGAIN")
        # another tool still asks; deny it: the server never sees the call, the run goes on
        await type_and_send(pilot, '/call add {"a": 7, "b": 8}')
        await approve(pilot, "d")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", f"add returned: {DENIED_OUTPUT}")
        assert last_call(app).answered_by == "MCP server tools, call denied"
        assert calls_logged(isolated_dirs) == ["shout hey", "shout again"]
        # the palette's "Forget tool approvals": shout asks again
        app.action_forget_tool_approvals()
        await type_and_send(pilot, '/call shout {"text": "third"}')
        await approve(pilot, "escape")  # escape denies
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", f"shout returned: {DENIED_OUTPUT}")


async def test_dead_and_slow_mcp_servers_are_errors_on_the_call(isolated_dirs: Path) -> None:
    config = mcp_config(isolated_dirs, ask=False, timeout=1.0)
    app = make_app(isolated_dirs / "data", config=config)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await choose_mcp(pilot)
        # ask = false: no dialog; the server dies during the call: the run still completes
        await type_and_send(pilot, "/call crash {}")
        assert await run_ended(app) == "completed"
        role, text = texts(view(app))[-1]
        assert role == "assistant"
        assert text.startswith("crash returned: error: MCP server 'tools' exited during the call")
        assert "about to crash" in text
        assert not isinstance(app.screen, ToolApprovalScreen)
        # silent past the timeout: a clear error, never a hung run
        await type_and_send(pilot, '/call slow {"seconds": 30}')
        assert await run_ended(app, timeout=15) == "completed"
        assert texts(view(app))[-1] == (
            "assistant",
            "slow returned: error: MCP server 'tools' did not answer slow within 1 s "
            "(timed out; the run goes on without it)",
        )
        # the server is started again on the next call
        await type_and_send(pilot, '/call add {"a": 20, "b": 22}')
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "add returned: 42")


async def test_mcp_server_that_cannot_start_is_reported(isolated_dirs: Path) -> None:
    spec = McpServerSpec("broken", command=sys.executable, args=["-c", "raise SystemExit(5)"])
    config = Config(profiles={"local": Profile("local")}, mcp={"broken": spec})
    app = make_app(isolated_dirs / "data", config=config)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await choose_mcp(pilot)
        await pilot.pause()
        errors = [n for n in app._notifications if n.title == "MCP server"]
        assert errors and "MCP server 'broken' could not be started" in errors[0].message
        assert app.run_options_for(app.current).mcp_tool_names == ()
        # the run options say so next time
        await pilot.press("f9")
        await wait_until(lambda: isinstance(app.screen, RunOptionsScreen), what="run options")
        hints = [str(s.content) for s in app.screen.query(".hint").results(Static)]
        assert any("failed: MCP server 'broken' could not be started" in h for h in hints)
        assert app.screen.query_one("#mcp-0", Checkbox).value  # still chosen


async def test_local_tools_ask_when_configured(isolated_dirs: Path) -> None:
    (isolated_dirs / "config" / "tools.py").write_text(
        "def get_weather(city, days=1):\n    return f'sunny in {city}'\n", encoding="utf-8"
    )
    config = Config(profiles={"local": Profile("local")}, tools_ask=True)
    app = make_app(isolated_dirs / "data", config=config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        weather = {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
        await app.connection.client.beta.assistants.update(app.assistant_id, tools=[weather])
        await type_and_send(pilot, '/call get_weather {"city": "Oslo"}')
        screen = await approve(pilot, "o")
        assert screen.request.source == "local tool"
        assert screen.request.where.endswith("tools.py")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "get_weather returned: sunny in Oslo")


async def test_help_and_palette_list_the_mcp_keys_and_commands(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False, config=mcp_config(isolated_dirs))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {k.binding_id for k in app.screen.keys}
        assert {"tool_approval.once", "tool_approval.always", "tool_approval.deny"} <= ids
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"MCP servers")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(
            lambda: any(n.title == "MCP servers" for n in app._notifications), what="status"
        )
        status = next(n for n in app._notifications if n.title == "MCP servers")
        assert status.message == "tools: not started · asks"


async def test_mcp_tools_go_beside_the_assistants_own_tools(isolated_dirs: Path) -> None:
    """The run gets the assistant's tools plus the MCP ones; choosing another assistant for the
    thread offers the MCP tools beside that one's tools."""
    app = make_app(isolated_dirs / "data", config=mcp_config(isolated_dirs, ask=False))
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await choose_mcp(pilot)
        options = app.run_options_for(app.current)
        names = [t["function"]["name"] for t in options.tools]
        assert names == ["add", "shout", "slow", "crash", "fail", "picture"]
        weather = {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
        other = await app.connection.client.beta.assistants.create(
            model="echo", name="Forecaster", tools=[weather]
        )
        app.assistant_names[other.id] = "Forecaster"
        app.use_assistant(other.id)
        await wait_until(
            lambda: options.tools and options.tools[0]["function"]["name"] == "get_weather",
            what="re-offered",
        )
        assert len(options.tools) == 7
        await type_and_send(pilot, '/call shout {"text": "both"}')
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "shout returned: BOTH")
        assert view(app).run.assistant_id == other.id


async def test_run_options_and_mcp_choice_are_kept_per_thread_across_launches(
    isolated_dirs: Path,
) -> None:
    data = isolated_dirs / "data"
    app = make_app(data, config=mcp_config(isolated_dirs))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "hello")
        assert await run_ended(app) == "completed"
        await choose_mcp(pilot)
        thread_id = app.current
        await pilot.press("ctrl+q")
    again = make_app(data, config=mcp_config(isolated_dirs))
    async with again.run_test(size=SIZE, notifications=True) as pilot:
        await ready(again)
        assert again.current == thread_id
        options = again.run_options_for(thread_id)
        assert options is not None and options.mcp_servers == ("tools",)
        await wait_until(lambda: options.tools is not None, what="MCP tools offered again")
        assert "mcp tools (6 tools)" in again.options_summary()
        await type_and_send(pilot, '/call add {"a": 4, "b": 5}')
        await approve(pilot, "o")
        assert await run_ended(again) == "completed"
        assert texts(view(again))[-1] == ("assistant", "add returned: 9")
