"""SVG snapshots of the seven screens named in the issue (fixed size, fixed clock, no blinking).

Update with `.venv/bin/pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from spool.client.view_model import MessageItem, RunState
from spool.store import ThreadRecord

from .helpers import FIXED_NOW, make_app, ready, run_ended, type_and_send, view, wait_until

SIZE = (120, 40)

MARKDOWN_MESSAGE = """Show me code:

```python
def greet(name):
    return f"Hello, {name}!"
```

- one
- two"""


def snapshot_app(data_dir: Path, **kwargs: Any):
    kwargs.setdefault("clock", lambda: FIXED_NOW)
    kwargs.setdefault("status_tick_s", 3600)
    app = make_app(data_dir, **kwargs)
    app.animation_level = "none"
    return app


@pytest.fixture
def fixed_dirs(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Data and config dirs at fixed paths (they are shown on the help screen)."""
    root = Path("/tmp/spool-snapshots")
    shutil.rmtree(root, ignore_errors=True)
    (root / "config").mkdir(parents=True)
    (root / "data").mkdir(parents=True)
    monkeypatch.setenv("SPOOL_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("SPOOL_DATA_DIR", str(root / "data"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def seed_threads(app: Any, n: int) -> None:
    """Fake threads in the index (never opened on a server)."""
    topics = ["python tinydb", "textual streaming", "go channels", "rust lifetimes", "sql joins"]
    records = [
        ThreadRecord(
            id=f"thread_{i:05d}",
            profile="local",
            title=f"{topics[i % len(topics)]} #{i:03d}",
            created_at=FIXED_NOW - 600 * (i + 1),
            updated_at=FIXED_NOW - 600 * (i + 1),
        )
        for i in range(n)
    ]
    app.store.add_threads(records)
    app._refresh_sidebar()


def test_first_run(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        await app.wait_for_ui()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_markdown_reply_with_code(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        await type_and_send(pilot, MARKDOWN_MESSAGE)
        assert await run_ended(app) == "completed"
        await app.wait_for_ui()
        from spool.tui.widgets.message import MessageView

        await wait_until(
            lambda: all(
                w.markdown is None or w.markdown.settled for w in app.transcript.query(MessageView)
            ),
            what="reply rendered",
        )
        await pilot.pause(0.3)
        app.set_focus(None)  # (blur would focus the last message)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_mid_stream(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        app.store.add_thread(ThreadRecord("thread_live", "local", "Streaming demo"))
        app.assistant_names["asst_x"] = "Assistant"
        app.assistant_models["asst_x"] = "echo"
        app.assistant_id = "asst_x"
        app.connection_state = "connected"
        app._refresh_sidebar()
        app._select_thread("thread_live", load=False)
        v = view(app, "thread_live")
        v.reset(
            [MessageItem("msg_u", "user", "Explain streaming, with a list and code")],
            has_more=False,
            oldest_id="msg_u",
        )
        v.run = RunState(id="run_1", status="in_progress", model="echo", started_at=FIXED_NOW - 3.4)
        v.run.completion_tokens = 42
        v.run_changed()
        reply = MessageItem("msg_a", "assistant", "", status="in_progress")
        v.add(reply)
        text = (
            "## Streaming\n\nTokens arrive one by one and the **tail** re-renders.\n\n"
            "1. batch deltas\n2. freeze finished blocks\n\n```python\nfor tok in stream:\n"
            "    show(tok)\n"
        )
        for i in range(0, len(text), 7):
            reply.text = text[: i + 7]
            v.updated(reply)
        await app.wait_for_ui()
        await pilot.pause(0.3)
        app.set_focus(None)  # (blur would focus the last message)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_failed_run(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        await type_and_send(pilot, "/fail")
        assert await run_ended(app) == "failed"
        await app.wait_for_ui()
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_filtered_sidebar(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        seed_threads(app, 40)
        await pilot.press("ctrl+f", *"rust")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 8)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare: Any, fixed_dirs: Path) -> None:
    app = snapshot_app(fixed_dirs / "data", connect=False)
    assert snap_compare(app, terminal_size=SIZE, press=["f1"])


def test_delete_confirmation(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        seed_threads(app, 3)
        app._select_thread("thread_00000", load=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, press=["ctrl+d"], run_before=run_before)


def test_queued_while_offline(snap_compare: Any, isolated_dirs: Path) -> None:
    """Messages sent before the connection is up: shown queued, counted in the status bar."""
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        await type_and_send(pilot, "first, typed while connecting")
        await type_and_send(pilot, "and a second one")
        await app.wait_for_ui()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_history_search(snap_compare: Any, isolated_dirs: Path) -> None:
    """ctrl+r in the composer: what was sent, newest first, filtered by what is typed."""
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        for text in (
            "Summarise the meeting notes",
            "Plot the quarterly sales\nas a bar chart",
            "Fix the failing test",
            "Plot the costs per region",
        ):
            app.store.add_history("thread_x", text)
        app.composer.focus()
        await pilot.press("ctrl+r", *"plot")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
