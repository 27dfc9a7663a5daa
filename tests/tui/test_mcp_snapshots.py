"""SVG snapshot of the tool approval dialog (fixed size, fixed clock, no blinking, no server: the
thread and its pending MCP call are built in the view model).

Update with `.venv/bin/pytest tests/tui/test_mcp_snapshots.py --snapshot-update` and look at
the SVG.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spool.client.view_model import MessageItem, RunState, ToolCallItem
from spool.store import ThreadRecord
from spool.tui.screens.tool_approval import ApprovalRequest, ToolApprovalScreen

from .helpers import FIXED_NOW, make_app, view

SIZE = (120, 40)
ARGUMENTS = {"path": "notes/2026-09-21.md", "text": "Call the plumber.\nBuy milk.", "append": True}


def test_tool_approval_dialog(snap_compare: Any, isolated_dirs: Path) -> None:
    app = make_app(
        isolated_dirs / "data", clock=lambda: FIXED_NOW, status_tick_s=3600, connect=False
    )
    app.animation_level = "none"

    async def run_before(pilot: Any) -> None:
        app.store.add_thread(
            ThreadRecord("thread_demo", "local", "Notes for today", None, FIXED_NOW - 60, FIXED_NOW)
        )
        app.assistant_names["asst_demo"] = "Assistant"
        app.assistant_models["asst_demo"] = "echo"
        app.assistant_id = "asst_demo"
        app.connection_state = "connected"
        app._refresh_sidebar()
        app._select_thread("thread_demo", load=False)
        v = view(app, "thread_demo")
        v.reset(
            [MessageItem("msg_u", "user", "Add 'call the plumber' and 'buy milk' to my notes.")],
            has_more=False,
            oldest_id="msg_u",
        )
        call = ToolCallItem(
            "call_note", "append_note", json.dumps(ARGUMENTS), status="pending", run_id="run_demo"
        )
        v.add(call)
        v.run = RunState(
            id="run_demo", status="requires_action", model="echo", started_at=FIXED_NOW - 2.5
        )
        v.run_changed()
        await app.wait_for_ui()
        request = ApprovalRequest(
            tool="append_note",
            source="MCP server notes",
            where="uvx notes-mcp --dir ~/notes",
            arguments=call.pretty_arguments,
            thread="Notes for today",
        )
        app.push_screen(ToolApprovalScreen(request))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_run_options_with_mcp_servers(snap_compare: Any, isolated_dirs: Path) -> None:
    from spool.client.run_options import RunOptions
    from spool.config import Config, McpServerSpec, Profile

    config = Config(
        profiles={"local": Profile("local")},
        mcp={
            "notes": McpServerSpec("notes", command="uvx", args=["notes-mcp", "--dir", "~/notes"]),
            "search": McpServerSpec("search", url="http://127.0.0.1:9000/mcp", ask=False),
        },
    )
    app = make_app(
        isolated_dirs / "data",
        clock=lambda: FIXED_NOW,
        status_tick_s=3600,
        connect=False,
        config=config,
    )
    app.animation_level = "none"

    async def run_before(pilot: Any) -> None:
        app.store.add_thread(
            ThreadRecord("thread_demo", "local", "Notes for today", None, FIXED_NOW - 60, FIXED_NOW)
        )
        app.connection_state = "connected"
        app._refresh_sidebar()
        app._select_thread("thread_demo", load=False)
        app._run_options = {"thread_demo": RunOptions(mcp_servers=("notes",))}
        await app.wait_for_ui()
        await pilot.press("f9")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
