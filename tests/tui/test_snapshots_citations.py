"""SVG snapshots: a reply with citations and its sources list (one source's chunk shown), the
cited chunk in context, and the vector store screen with a test search. Fixed names, fixed clock;
ids are not shown. Update with `--snapshot-update` and look at the SVGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spool.tui.screens.citation import CitationScreen
from spool.tui.screens.vector_stores import VectorStoresScreen
from spool.tui.widgets.message import MessageView
from spool.tui.widgets.sources import SourceRow

from .helpers import ready, run_ended, type_and_send, wait_until
from .test_citations import BREAD, GUIDE, QUESTION, searchable_assistant
from .test_snapshots import SIZE, snapshot_app


async def _settled(app: Any, pilot: Any) -> None:
    await app.wait_for_ui()
    await wait_until(
        lambda: all(
            w.markdown is None or w.markdown.settled for w in app.transcript.query(MessageView)
        ),
        what="rendered",
    )
    await pilot.pause(0.3)


async def _cited(app: Any, pilot: Any, tmp: Path) -> SourceRow:
    await ready(app)
    await searchable_assistant(app, tmp)
    await type_and_send(pilot, QUESTION)
    assert await run_ended(app) == "completed"
    row = await wait_until(lambda: app.transcript.query(SourceRow).first(), what="source row")
    await _settled(app, pilot)
    return row


def test_reply_with_citations_and_sources(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        row = await _cited(app, pilot, isolated_dirs)
        row.focus()
        await pilot.press("c")  # the cited chunk under the source
        await wait_until(lambda: row.chunk is not None, what="chunk")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


LOG = "# Keeper's log\n\n" + "\n\n".join(
    "On day 90 the storm came early, so the keeper trimmed the wick twice before midnight."
    if day == 90
    else f"Day {day}: the keeper cleaned the lens, logged the wind and swept the gallery."
    for day in range(1, 160)
)


def test_cited_chunk_in_context(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        client = app.connection.client
        path = isolated_dirs / "keeper-log.md"
        path.write_text(LOG)
        file_id = (await client.files.create(file=path, purpose="assistants")).id
        store = await client.vector_stores.create(name="Logs")
        await client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=[file_id], poll_interval_ms=50
        )
        await client.beta.assistants.update(
            app.assistant_id,
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        await type_and_send(pilot, "/search storm came early wick twice")
        assert await run_ended(app) == "completed"
        row = await wait_until(lambda: app.transcript.query(SourceRow).first(), what="source")
        await _settled(app, pilot)
        row.focus()
        await pilot.press("enter")
        await wait_until(
            lambda: isinstance(app.screen, CitationScreen) and app.screen.chunk, what="chunk"
        )
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_vector_store_screen(snap_compare: Any, isolated_dirs: Path) -> None:
    app = snapshot_app(isolated_dirs / "data")

    async def run_before(pilot: Any) -> None:
        await ready(app)
        client = app.connection.client
        await client.vector_stores.create(name="Recipes")
        ids = []
        for name, text in (("lighthouse.md", GUIDE), ("bread.txt", BREAD)):
            path = isolated_dirs / name
            path.write_text(text)
            ids.append((await client.files.create(file=path, purpose="assistants")).id)
        store = await client.vector_stores.create(name="Manuals")
        await client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=ids, poll_interval_ms=50
        )
        await pilot.press("alt+v")
        screen = await wait_until(
            lambda: isinstance(app.screen, VectorStoresScreen) and app.screen, what="screen"
        )
        await wait_until(lambda: len(screen.rows) == 2 and len(screen.files) == 2, what="load")
        await pilot.press("slash", *"wick", "enter")
        await wait_until(lambda: screen.hits, what="hits")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
