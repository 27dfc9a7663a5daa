"""Pilot tests of the tool outputs dialog, the local tool registry, the run inspector, copy,
export and import, against the embedded `spool serve` with the echo model."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyperclip
import pytest
from rich.console import Console
from textual.widgets import Input, Static

from spool.client.view_model import MessageItem, RunState, ToolCallItem
from spool.store import ThreadRecord
from spool.tui.screens.export import ExportScreen
from spool.tui.screens.help import HelpScreen
from spool.tui.screens.prompt import PromptScreen
from spool.tui.screens.run_inspector import RunInspectorScreen
from spool.tui.screens.tool_outputs import ToolOutputsScreen
from spool.tui.widgets.message import MessageView
from spool.tui.widgets.tool_call import ToolCallView

from .helpers import make_app, ready, run_ended, texts, type_and_send, view, wait_until

SIZE = (120, 40)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = '/call get_weather {"city": "Paris", "days": 2}'

TWO_BLOCKS = """Two blocks:

```python
print("one")
```

and

```sh
echo two
```"""


async def with_weather_tool(app: Any) -> None:
    await app.connection.client.beta.assistants.update(app.assistant_id, tools=[WEATHER])


def write_tools(isolated_dirs: Path, source: str) -> Path:
    path = isolated_dirs / "config" / "tools.py"
    path.write_text(source, encoding="utf-8")
    return path


def static_text(widget: Static) -> str:
    """What a Static shows, as plain text (trailing spaces stripped)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def working_clipboard(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """pyperclip that works (like xclip with a live display); returns its store."""
    store = {"text": ""}

    def copy_xclip(text: str) -> None:
        store["text"] = text

    def paste_xclip() -> str:
        return store["text"]

    monkeypatch.setattr(pyperclip, "determine_clipboard", lambda: (copy_xclip, paste_xclip))
    return store


def dead_display_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """xclip with a dead display: copy returns normally and copies nothing."""
    monkeypatch.setattr(pyperclip, "determine_clipboard", lambda: (lambda text: None, lambda: ""))


# --- the tool outputs dialog ------------------------------------------------------------------
async def test_tool_outputs_dialog_submit_all(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        screen = app.screen
        assert isinstance(screen, ToolOutputsScreen)
        await pilot.pause()
        # name and pretty-printed arguments
        assert "get_weather" in static_text(screen.query_one(".call-name", Static))
        args = static_text(screen.query_one(".call-args", Static))
        assert args == json.dumps({"city": "Paris", "days": 2}, indent=2)
        # an empty output is refused, with the reason shown
        await pilot.click("#submit")
        await pilot.pause()
        assert app.screen is screen
        assert "still empty" in static_text(screen.query_one("#problem", Static))
        screen.inputs[0].value = "rainy"
        await pilot.pause()
        # a Button ignores clicks while it still shows the previous press (`-active`, 0.2 s)
        submit = screen.query_one("#submit")
        await wait_until(lambda: not submit.has_class("-active"), what="button released")
        await pilot.click("#submit")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "get_weather returned: rainy")
        call = next(i for i in view(app).items if isinstance(i, ToolCallItem))
        assert call.output == "rainy" and call.answered_by is None


async def test_tool_outputs_dialog_cancel_run(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        await pilot.pause()
        await pilot.click("#cancel-run")
        assert await run_ended(app) == "cancelled"
        assert not isinstance(app.screen, ToolOutputsScreen)
        run = await app.connection.client.beta.threads.runs.retrieve(
            view(app).run.id, thread_id=app.current
        )
        assert run.status == "cancelled"


async def test_tool_outputs_dialog_hide_and_reopen(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        await pilot.pause()
        await pilot.press(*"fog")
        await pilot.press("escape")  # closes the dialog, keeps the run waiting
        assert not isinstance(app.screen, ToolOutputsScreen)
        assert view(app).run.status == "requires_action"
        await app.wait_for_ui()
        await pilot.pause()
        title = str(app.transcript.query_one(ToolCallView).query_one("Collapsible").title)
        assert "needs output (ctrl+o answers)" in title
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ToolOutputsScreen)
        assert app.screen.inputs[0].value == "fog"  # the draft came back
        await pilot.press("enter")
        assert await run_ended(app) == "completed"
        assert texts(view(app))[-1] == ("assistant", "get_weather returned: fog")


# --- the local tool registry ------------------------------------------------------------------
async def test_registry_answers_automatically(isolated_dirs: Path) -> None:
    write_tools(
        isolated_dirs,
        "def get_weather(city, days=1):\n    return {'city': city, 'forecast': ['sun'] * days}\n",
    )
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)
        assert await run_ended(app) == "completed"
        output = json.dumps({"city": "Paris", "forecast": ["sun", "sun"]})
        assert texts(view(app))[-1] == ("assistant", f"get_weather returned: {output}")
        assert not isinstance(app.screen, ToolOutputsScreen)
        call = next(i for i in view(app).items if isinstance(i, ToolCallItem))
        assert call.answered_by == "local tool" and call.output == output
        await app.wait_for_ui()
        await pilot.pause()
        # shown, never hidden: expanded, with arguments and output
        widget = app.transcript.query_one(ToolCallView)
        collapsible = widget.query_one("Collapsible")
        assert not collapsible.collapsed
        assert "answered by the local tool" in str(collapsible.title)
        details = static_text(widget.query_one(".args", Static))
        assert '"city": "Paris"' in details and output in details
        assert any("Answered get_weather" in n.message for n in app._notifications)


async def test_registry_problems_reported_once(isolated_dirs: Path) -> None:
    write_tools(isolated_dirs, "def broken(:\n")
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await app.tool_registry()
        await pilot.pause()
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)  # not known: the dialog asks
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        toasts = [n for n in app._notifications if "failed to load" in (n.title or "")]
        assert len(toasts) == 1 and "SyntaxError" in toasts[0].message


async def test_registry_prefills_the_calls_it_knows(isolated_dirs: Path) -> None:
    """Two pending calls, one known to the registry: its output is prefilled, the other asked."""
    write_tools(isolated_dirs, "def lookup(key):\n    return key.upper()\n")
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.store.add_thread(ThreadRecord("thread_t", "local", "Tools"))
        app._refresh_sidebar()
        app._select_thread("thread_t", load=False)
        v = view(app, "thread_t")
        v.reset([MessageItem("msg_u", "user", "look things up")], has_more=False, oldest_id=None)
        v.add(ToolCallItem("call_a", "lookup", '{"key": "abc"}', status="pending", run_id="run_1"))
        v.add(ToolCallItem("call_b", "unknown_fn", '{"n": 1}', status="pending", run_id="run_1"))
        v.run = RunState(id="run_1", status="requires_action")
        await app._answer_tool_calls(v)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ToolOutputsScreen)
        assert [i.value for i in screen.inputs] == ["ABC", ""]
        notes = [static_text(s) for s in screen.query(".call-note").results(Static)]
        assert notes == ["✔ output prefilled by the local tool"]
        assert app.focused is screen.inputs[1]  # the first empty field
        assert all(c.status == "pending" for c in v.pending_tool_calls())  # nothing sent yet


# --- the run inspector --------------------------------------------------------------------------
async def test_run_inspector_message_and_tool_steps(isolated_dirs: Path) -> None:
    write_tools(isolated_dirs, "def get_weather(city, days=1):\n    return f'sunny in {city}'\n")
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "hello there")
        assert await run_ended(app) == "completed"
        first_run = view(app).run.id
        await with_weather_tool(app)
        await type_and_send(pilot, CALL)
        assert await run_ended(app) == "completed"
        second_run = view(app).run.id
        await app.wait_for_ui()
        # no message focused: the last run
        await pilot.press("f3")
        await wait_until(lambda: isinstance(app.screen, RunInspectorScreen), what="inspector")
        screen = app.screen
        await wait_until(lambda: screen.details is not None, what="details")
        details = screen.details
        assert details.id == second_run and details.status == "completed"
        assert [s.type for s in details.steps] == ["tool_calls", "message_creation"]
        call = details.steps[0].tool_calls[0]
        assert (call.name, json.loads(call.arguments), call.output) == (
            "get_weather",
            {"city": "Paris", "days": 2},
            "sunny in Paris",
        )
        assert details.steps[1].message_text == "get_weather returned: sunny in Paris"
        assert details.usage is not None and details.usage.total_tokens > 0
        assert details.created_at and details.ended_at and details.duration_s is not None
        await pilot.pause()
        shown = static_text(screen.query_one("#content", Static))
        for expected in ("tool calls", "message creation", "get_weather", '"city": "Paris"',
                         "sunny in Paris", "Duration", "Usage", "completed"):  # fmt: skip
            assert expected in shown, expected
        await pilot.press("escape")
        assert not isinstance(app.screen, RunInspectorScreen)
        # a focused message: its own run
        first_reply = next(
            w for w in app.transcript.query(MessageView) if w.item.text == "You said: hello there"
        )
        first_reply.focus()
        await pilot.press("f3")
        await wait_until(lambda: isinstance(app.screen, RunInspectorScreen), what="inspector")
        screen = app.screen
        await wait_until(lambda: screen.details is not None, what="details")
        assert screen.details.id == first_run
        assert [s.type for s in screen.details.steps] == ["message_creation"]
        assert screen.details.steps[0].message_text == "You said: hello there"


async def test_run_inspector_shows_errors(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await type_and_send(pilot, "/fail")
        assert await run_ended(app) == "failed"
        await app.run_action("inspect_run")
        await wait_until(lambda: isinstance(app.screen, RunInspectorScreen), what="inspector")
        screen = app.screen
        await wait_until(lambda: screen.details is not None, what="details")
        assert screen.details.status == "failed"
        assert screen.details.error and "server_error" in screen.details.error
        await pilot.pause()
        assert "server_error" in static_text(screen.query_one("#content", Static))


# --- copy -------------------------------------------------------------------------------------
async def test_copy_reply_and_focused_message(
    isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = working_clipboard(monkeypatch)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "copy me")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+y")
        await wait_until(lambda: app.last_copy is not None, what="copied")
        assert app.last_copy.path == "system"
        assert store["text"] == "You said: copy me"
        assert "system clipboard (xclip)" in app.last_copy.detail
        assert app.clipboard == ""  # OSC 52 was not needed
        # focus the user message (shift+tab from the composer, then up) and copy it
        await app.wait_for_ui()
        await pilot.press("shift+tab")
        assert isinstance(app.focused, MessageView) and app.focused.item.role == "assistant"
        await pilot.press("up")
        assert isinstance(app.focused, MessageView) and app.focused.item.role == "user"
        app.last_copy = None
        await pilot.press("ctrl+y")
        await wait_until(lambda: app.last_copy is not None, what="copied")
        assert store["text"] == "copy me"
        assert "your message" in app.last_copy.message


async def test_copy_falls_back_to_osc52(
    isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_display_clipboard(monkeypatch)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "copy me")
        assert await run_ended(app) == "completed"
        await pilot.press("ctrl+y")
        await wait_until(lambda: app.last_copy is not None, what="copied")
        assert app.last_copy.path == "osc52"
        assert app.clipboard == "You said: copy me"
        toast = next(n for n in app._notifications if n.title == "Copy")
        assert "OSC 52" in toast.message and "copied nothing" in app.last_copy.detail


async def test_copy_code_blocks_cycle(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = working_clipboard(monkeypatch)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert any("No reply" in n.message for n in app._notifications)
        await type_and_send(pilot, TWO_BLOCKS)
        assert await run_ended(app) == "completed"
        await app.wait_for_ui()
        reply = app.last_reply_widget()
        assert reply is not None
        seen = []
        for _ in range(3):
            app.last_copy = None
            await pilot.press("ctrl+g")
            await wait_until(lambda: app.last_copy is not None, what="copied")
            seen.append(store["text"])
            assert reply.highlighted
        assert seen == ['print("one")', "echo two", 'print("one")']
        await pilot.pause()
        frame = static_text(reply.query_one(".code-highlight", Static))
        assert "block 1/2" in frame
        assert "code block 1/2 (python) (1 line, 12 chars)" in app.last_copy.detail
        # the reply text changes (e.g. it is re-rendered): the frame goes away
        reply.refresh_item()
        assert not reply.highlighted


# --- export and import ----------------------------------------------------------------------
async def test_export_markdown_and_json(
    isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = isolated_dirs / "out"
    out_dir.mkdir()
    monkeypatch.chdir(out_dir)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        await type_and_send(pilot, "export me please")
        assert await run_ended(app) == "completed"
        tid = app.current
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ExportScreen)
        path_input = app.screen.query_one("#path", Input)
        assert path_input.value == f"export-me-please-{tid}.md"
        await pilot.press("enter")  # the default: the current directory
        await wait_until(lambda: app.last_export is not None, what="export")
        md_path = out_dir / f"export-me-please-{tid}.md"
        assert app.last_export == md_path
        md = md_path.read_text(encoding="utf-8")
        assert md.startswith("# export me please")
        assert "## User" in md and "export me please" in md
        assert "## Assistant" in md and "You said: export me please" in md
        await pilot.pause()
        assert any(str(md_path) in n.message for n in app._notifications)
        # JSON (as the palette's "Export thread as JSON"), to a path typed in the dialog
        app.last_export = None
        await app.run_action("export_thread('json')")
        await pilot.pause()
        path_input = app.screen.query_one("#path", Input)
        assert path_input.value.endswith(".json")
        path_input.value = "sub/thread.json"
        await pilot.press("enter")
        await wait_until(lambda: app.last_export is not None, what="export")
        doc = json.loads((out_dir / "sub" / "thread.json").read_text(encoding="utf-8"))
        assert doc["thread"]["id"] == tid
        assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
        assert doc["runs"][0]["steps"][0]["type"] == "message_creation"


async def test_export_dialog_switches_extension(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("ctrl+s")
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        await pilot.click("#fmt-json")
        await pilot.pause()
        assert screen.fmt == "json"
        assert screen.query_one("#path", Input).value.endswith(".json")
        await pilot.press("escape")
        assert not isinstance(app.screen, ExportScreen)


async def test_import_thread_by_id(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(app)
        client = app.connection.client
        # a thread made elsewhere (another client): not in the index
        thread = await client.beta.threads.create()
        await client.beta.threads.messages.create(thread.id, role="user", content="imported hi")
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=app.assistant_id
        )
        assert run.status == "completed"
        assert app.store.get_thread(thread.id) is None
        # from the palette
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Import thread")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, PromptScreen), what="prompt")
        await pilot.press(*thread.id, "enter")
        await wait_until(lambda: app.current == thread.id, what="opened")
        rec = app.store.get_thread(thread.id)
        assert rec is not None and rec.title == "imported hi"
        assert rec.assistant_id == app.assistant_id
        assert app.sidebar.shown_ids[0] == thread.id
        await wait_until(lambda: view(app).loaded, what="loaded")
        assert texts(view(app)) == [("user", "imported hi"), ("assistant", "You said: imported hi")]
        # an unknown id: an error toast, nothing added
        assert not await app.import_thread("thread_doesnotexist")
        assert app.store.get_thread("thread_doesnotexist") is None
        await pilot.pause()
        assert any("Import failed" in n.message for n in app._notifications)


async def test_help_lists_the_new_keys(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {k.binding_id for k in app.screen.keys}
        assert {
            "spool.copy_code",
            "spool.tool_outputs",
            "spool.inspect_run",
            "spool.export",
            "tool_outputs.hide",
            "inspector.close",
            "inspector.reload",
            "export.cancel",
            "prompt.cancel",
        } <= ids
        assert "message.prev, message.next" in ids


async def test_reopened_thread_waiting_for_outputs_asks(isolated_dirs: Path) -> None:
    """A run that already waits for tool outputs when its thread is opened opens the dialog."""
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_weather_tool(app)
        client = app.connection.client
        tid = app.current
        await client.beta.threads.messages.create(tid, role="user", content=CALL)
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=tid, assistant_id=app.assistant_id
        )
        assert run.status == "requires_action"
        # open another thread and come back: the reload finds the waiting run
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != tid)
        app.workspace.drop(tid)
        await pilot.press("ctrl+down")
        assert app.current == tid
        await wait_until(lambda: isinstance(app.screen, ToolOutputsScreen), what="dialog")
        await pilot.pause()
        await pilot.press(*"cloudy", "enter")
        assert await run_ended(app, tid) == "completed"
        assert texts(view(app, tid))[-1] == ("assistant", "get_weather returned: cloudy")
