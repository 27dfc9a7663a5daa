"""SVG snapshots of attachments (issue 12): the attach prompt with two files, and a sent message
with its files (plus the chips of the next message's file above the composer).

Update with `.venv/bin/pytest tests/tui/test_snapshots_attachments.py --snapshot-update` and
look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spool.tui.screens.attach import AttachScreen
from spool.tui.screens.thread_files import ThreadFilesScreen
from spool.tui.widgets.attachments import AttachmentsBar, UploadProgress
from spool.tui.widgets.message import MessageView

from .helpers import FIXED_NOW, make_app, ready, run_ended, type_and_send, wait_until
from .test_attachments import files, indexed

SIZE = (120, 40)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def snapshot_app(data_dir: Path, **kwargs: Any):
    kwargs.setdefault("clock", lambda: FIXED_NOW)
    kwargs.setdefault("status_tick_s", 3600)
    app = make_app(data_dir, **kwargs)
    app.animation_level = "none"
    return app


def test_attach_prompt_with_two_files(snap_compare: Any, isolated_dirs: Path) -> None:
    guide, image = files(isolated_dirs)
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        await pilot.press("alt+a")
        screen = await wait_until(lambda: isinstance(app.screen, AttachScreen) and app.screen)
        screen.add_paths([guide, image])
        screen.query_one("#files").focus()
        await pilot.press("up", "c")  # the guide: for code too
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_message_with_attachments(snap_compare: Any, isolated_dirs: Path) -> None:
    guide, image = files(isolated_dirs)
    table = guide.parent / "supplies.csv"
    table.write_text("item,count\nblanket,3\ntea,1\n")
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        app.add_pending_paths([guide, table])  # (an image's id would be in echo's reply)
        await type_and_send(pilot, "What does the keeper pack? The list is attached.")
        assert await run_ended(app) == "completed"
        app.add_pending_paths([image])  # a chip for the next message
        await app.wait_for_ui()
        await wait_until(lambda: len(app.transcript.query(MessageView)) == 2, what="messages")
        await pilot.pause(0.3)
        app.set_focus(None)  # (blur would focus the last message)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_upload_progress(snap_compare: Any, isolated_dirs: Path) -> None:
    """The bar above the composer while a message's second file uploads (set by hand: a real
    upload over loopback is too quick to catch at a fixed point)."""
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        progress = UploadProgress()
        progress.files = (2, 2)
        progress.step("survey.csv", 31_400_000, 52_000_000)
        app.query_one("#attachments", AttachmentsBar).start_upload(progress)
        await pilot.pause(0.3)
        app.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_thread_files_panel(snap_compare: Any, isolated_dirs: Path) -> None:
    guide, _image = files(isolated_dirs)
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        app.add_pending_paths([guide])
        await type_and_send(pilot, "the guide")
        assert await run_ended(app) == "completed"
        await indexed(app)  # (the row says the store's status)
        await pilot.press("alt+l")
        await wait_until(
            lambda: isinstance(app.screen, ThreadFilesScreen) and app.screen.loaded, what="files"
        )
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
