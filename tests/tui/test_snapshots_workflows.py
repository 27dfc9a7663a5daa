"""SVG snapshots of the tool outputs dialog and the run inspector (fixed size, fixed clock, no
blinking, no server: the thread and the run are built in the view model).

Update with `.venv/bin/pytest tests/tui/test_snapshots_workflows.py --snapshot-update` and look
at the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spool.client.run_details import RunDetails, StepDetail, ToolCallDetail, Usage
from spool.client.tools import ToolRegistry
from spool.client.view_model import MessageItem, RunState, ToolCallItem
from spool.store import ThreadRecord
from spool.tui.screens.run_inspector import RunInspectorScreen

from .helpers import FIXED_NOW, make_app, view

SIZE = (120, 40)
QUESTION = "What's the weather in Paris, and what time is it in Tokyo?"


def snapshot_app(data_dir: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("clock", lambda: FIXED_NOW)
    kwargs.setdefault("status_tick_s", 3600)
    kwargs.setdefault("connect", False)
    app = make_app(data_dir, **kwargs)
    app.animation_level = "none"
    return app


def seed_thread(app: Any) -> Any:
    """One thread with a question, offline, as the current thread."""
    app.store.add_thread(
        ThreadRecord("thread_demo", "local", "Weather and time", None, FIXED_NOW - 60, FIXED_NOW)
    )
    app.assistant_names["asst_demo"] = "Assistant"
    app.assistant_models["asst_demo"] = "echo"
    app.assistant_id = "asst_demo"
    app.connection_state = "connected"
    app._refresh_sidebar()
    app._select_thread("thread_demo", load=False)
    v = view(app, "thread_demo")
    v.reset([MessageItem("msg_u", "user", QUESTION)], has_more=False, oldest_id="msg_u")
    return v


def get_time(city: str) -> str:
    """A local tool of the snapshot (prefills the second call)."""
    return f"09:41 in {city}"


def test_tool_outputs_dialog(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        v = seed_thread(app)
        v.add(
            ToolCallItem(
                "call_weather",
                "get_weather",
                '{"city": "Paris", "unit": "celsius", "days": 2}',
                status="pending",
                run_id="run_demo",
            )
        )
        v.add(
            ToolCallItem(
                "call_time", "get_time", '{"city": "Tokyo"}', status="pending", run_id="run_demo"
            )
        )
        v.run = RunState(
            id="run_demo", status="requires_action", model="echo", started_at=FIXED_NOW - 2.5
        )
        v.run_changed()
        registry = ToolRegistry()
        registry.add("get_time", get_time, source="tools.py")
        app._wf_registry = registry  # instead of the user's tools.py
        await app.wait_for_ui()
        await app._answer_tool_calls(v)
        await pilot.pause()
        await pilot.press(*"18 C, light rain")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def demo_details() -> RunDetails:
    """A finished run with a tool call step and a message step, at fixed times."""
    t0 = FIXED_NOW - 10
    return RunDetails(
        id="run_demo",
        thread_id="thread_demo",
        status="completed",
        model="echo",
        assistant_id="asst_demo",
        created_at=t0,
        started_at=t0 + 0.2,
        ended_at=t0 + 4.65,
        ended_how="completed",
        usage=Usage(31, 12, 43),
        steps=[
            StepDetail(
                id="step_tools",
                type="tool_calls",
                status="completed",
                created_at=t0 + 0.3,
                completed_at=t0 + 3.9,
                ended_at=t0 + 3.9,
                usage=Usage(24, 9, 33),
                tool_calls=[
                    ToolCallDetail(
                        "call_weather",
                        "function",
                        "get_weather",
                        '{"city": "Paris", "unit": "celsius"}',
                        '{"temp": 18, "sky": "light rain"}',
                    )
                ],
            ),
            StepDetail(
                id="step_message",
                type="message_creation",
                status="completed",
                created_at=t0 + 4.0,
                completed_at=t0 + 4.6,
                ended_at=t0 + 4.6,
                usage=Usage(7, 3, 10),
                message_id="msg_reply",
                message_text='get_weather returned: {"temp": 18, "sky": "light rain"}',
            ),
        ],
    )


def test_run_inspector(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        v = seed_thread(app)
        v.add(
            MessageItem(
                "msg_reply",
                "assistant",
                'get_weather returned: {"temp": 18, "sky": "light rain"}',
                run_id="run_demo",
            )
        )
        v.run = RunState(
            id="run_demo", status="completed", model="echo", started_at=FIXED_NOW - 9.8
        )
        v.run.ended_at = FIXED_NOW - 5.35
        v.run.prompt_tokens, v.run.completion_tokens = 31, 12
        v.run_changed()
        await app.wait_for_ui()
        app.push_screen(
            RunInspectorScreen(title="Run inspector · run_demo", details=demo_details())
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
