"""SVG snapshot of the message search screen with results from the server's search extension.

Update with `.venv/bin/pytest tests/tui/test_snapshots_search.py --snapshot-update` and look at
the SVG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spool.tui.screens.search import SearchScreen

from .helpers import ready, wait_until
from .test_search import seed_thread
from .test_snapshots import SIZE, snapshot_app


def test_search_screen_with_results(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        bread, _ = await seed_thread(
            app,
            "Sourdough starter",
            ["It smells like nail polish.", "How often should I feed my sourdough starter?"],
        )
        await app.connection.client.beta.threads.runs.create_and_poll(
            thread_id=bread, assistant_id=app.assistant_id, poll_interval_ms=20
        )
        await seed_thread(app, "Trip to Lisbon", ["Is the sourdough bread in Lisbon any good?"])
        await pilot.press("f12", *"sourdough")
        screen = await wait_until(lambda: isinstance(app.screen, SearchScreen) and app.screen)
        await wait_until(lambda: screen.answer is not None and len(screen.answer.results) == 3)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
