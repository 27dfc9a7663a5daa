"""SVG snapshots: the assistant editor showing a validation error, and each bundled theme on the
same conversation (a user message and a Markdown reply with a code block).

Update with `.venv/bin/pytest tests/tui/test_snapshots_themes.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spool.client.assistants import AssistantSpec
from spool.client.view_model import MessageItem, RunState
from spool.store import ThreadRecord
from spool.tui.screens.assistant_editor import AssistantEditor

from .helpers import FIXED_NOW, view
from .test_snapshots import SIZE, snapshot_app

BUNDLED_THEMES = ["spool-dark", "spool-light", "spool-high-contrast", "spool-dusk"]

QUESTION = "How do I read a file line by line in Python?"
REPLY = """## Reading a file

Use a `with` block so the file is **closed** for you:

```python
with open("notes.txt", encoding="utf-8") as f:
    for line in f:
        print(line.rstrip())
```

- iterating the file object is lazy
- `rstrip()` drops the newline"""

BAD_TOOLS = """[
  {
    "name": "get weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
  }
]"""


def _conversation(app: Any) -> None:
    """One thread with a user message and a finished Markdown reply (no server)."""
    app.store.add_thread(ThreadRecord("thread_demo", "local", "Reading files"))
    app.assistant_names["asst_x"] = "Assistant"
    app.assistant_models["asst_x"] = "echo"
    app.assistant_id = "asst_x"
    app.connection_state = "connected"
    app._refresh_sidebar()
    app._select_thread("thread_demo", load=False)
    v = view(app, "thread_demo")
    v.reset(
        [
            MessageItem("msg_u", "user", QUESTION),
            MessageItem("msg_a", "assistant", REPLY, status="completed"),
        ],
        has_more=False,
        oldest_id="msg_u",
    )
    v.run = RunState(
        id="run_1", status="completed", model="echo", started_at=FIXED_NOW - 1.5, ended_at=FIXED_NOW
    )
    v.run.completion_tokens = 48
    v.run_changed()


@pytest.mark.parametrize("theme", BUNDLED_THEMES)
def test_bundled_theme(snap_compare: Any, isolated_dirs: Path, theme: str) -> None:
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        app.theme = theme
        _conversation(app)
        await app.wait_for_ui()
        await pilot.pause(0.3)
        app.set_focus(None)  # (blur would focus the last message)
        await pilot.pause()
        assert app.theme == theme

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_assistant_editor_validation_error(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data", connect=False)

    async def run_before(pilot: Any) -> None:
        spec = AssistantSpec(
            name="Weather bot",
            model="echo",
            description="Answers weather questions",
            instructions="You answer questions about the weather.\nCall get_weather first.",
            temperature=0.7,
            response_format="auto",
        )
        app.push_screen(
            AssistantEditor(
                spec,
                assistant_id="asst_weather",
                models=["echo", "gpt-4o", "gpt-4o-mini"],
                save=None,
                delete=None,
                cursor_blink=False,
            )
        )
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, AssistantEditor)
        editor.query_one("#tools").text = BAD_TOOLS
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "must match" in editor.error_text("tools")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
