"""The vector store screen (alt+v) against the embedded echo server: list, create, add files
(upload with progress), remove a file, a test search with ranked chunks, delete after asking;
bad input (a missing path, an empty query) is said in the status line and nothing is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import DataTable, Input

from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.prompt import PromptScreen
from spool.tui.screens.vector_stores import VectorStoresScreen

from .helpers import make_app, ready, wait_until

GUIDE = (
    "# Lighthouse keeping\n\nThe keeper lights the lamp at dusk and trims the wick every four "
    "hours during the night watch.\n"
)
BREAD = "Sourdough bread needs a starter fed with flour and water every day.\n"


async def open_screen(app: Any, pilot: Any) -> VectorStoresScreen:
    await ready(app)
    await pilot.press("alt+v")
    screen = await wait_until(
        lambda: isinstance(app.screen, VectorStoresScreen) and app.screen, what="screen"
    )
    await wait_until(lambda: screen.status_text or screen.rows, what="first load")
    return screen


async def answer(app: Any, pilot: Any, text: str) -> None:
    prompt = await wait_until(lambda: isinstance(app.screen, PromptScreen) and app.screen)
    prompt.query_one(Input).value = text
    await pilot.press("enter")


async def test_create_add_search_remove_delete(tmp_path: Path) -> None:
    guide, bread = tmp_path / "lighthouse.md", tmp_path / "bread.txt"
    guide.write_text(GUIDE)
    bread.write_text(BREAD)
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        assert screen.rows == [] and "No vector stores yet" in screen.status_text

        await pilot.press("n")
        await answer(app, pilot, "Manuals")
        await answer(app, pilot, "")  # never expires
        await wait_until(lambda: [r.name for r in screen.rows] == ["Manuals"], what="created")
        assert "Created Manuals" in screen.status_text
        table = screen.query_one("#stores", DataTable)
        assert table.get_row_at(0)[:3] == ["Manuals", "completed", "0 files"]

        seen: list[tuple[str, int, int]] = []
        shown = screen._progress
        screen._progress = lambda n, s, t: (seen.append((n, s, t)), shown(n, s, t))  # type: ignore[method-assign]
        await pilot.press("a")
        await answer(app, pilot, f"{guide} '{bread}'")
        await wait_until(lambda: len(screen.files) == 2, what="files added")
        assert sorted(f.name for f in screen.files) == ["bread.txt", "lighthouse.md"]
        assert all(f.status == "completed" for f in screen.files)
        assert screen.rows[0].counts_text == "2 files" and screen.rows[0].usage_bytes > 0
        assert ("lighthouse.md", len(GUIDE), len(GUIDE)) in seen  # progress reached the end
        assert screen.query_one("#progress-row").has_class("-idle")  # hidden again

        await pilot.press("slash")
        assert screen.focused is screen.query_one("#query", Input)
        await pilot.press(*"wick", "enter")
        await wait_until(lambda: screen.hits, what="hits")
        assert screen.hits[0].file_name == "lighthouse.md"
        assert "trims the wick" in screen.hits[0].text and screen.hits[0].score > 0
        assert "chunk" in screen.status_text
        scores = [h.score for h in screen.hits]
        assert scores == sorted(scores, reverse=True)

        files = screen.query_one("#files", DataTable)
        files.focus()
        row = [f.name for f in screen.files].index("bread.txt")
        files.move_cursor(row=row)
        await pilot.press("x")
        await wait_until(lambda: len(screen.files) == 1, what="removed")
        assert screen.files[0].name == "lighthouse.md"
        assert "Removed bread.txt" in screen.status_text

        table.focus()
        await pilot.press("d")
        confirm = await wait_until(lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "Manuals" in str(confirm.question)
        await pilot.press("y")
        await wait_until(lambda: screen.rows == [], what="deleted")
        assert "Deleted Manuals" in screen.status_text
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, VectorStoresScreen), what="closed")


async def test_bad_input_is_said_and_nothing_is_lost(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("a")  # no store yet
        assert "Create a store first" in screen.status_text
        await pilot.press("x")
        assert "No file to remove" in screen.status_text
        await pilot.press("n")
        await answer(app, pilot, "Notes")
        await answer(app, pilot, "0")
        await wait_until(lambda: "from 1 to 365" in screen.status_text, what="bad expiry")
        assert screen.rows == []
        await pilot.press("n")
        await answer(app, pilot, "Notes")
        await answer(app, pilot, "7")
        await wait_until(lambda: screen.rows, what="created")
        assert screen.rows[0].expires_days == 7
        assert screen.query_one("#stores", DataTable).get_row_at(0)[4] == "in 7 d"
        await pilot.press("a")
        await answer(app, pilot, str(tmp_path / "missing.txt"))
        await wait_until(lambda: "No such file" in screen.status_text, what="missing file")
        assert screen.query_one("#status").has_class("-error")
        assert screen.files == [] and screen.rows[0].total == 0
        await pilot.press("a")
        await answer(app, pilot, "'unterminated")
        await wait_until(lambda: "Cannot read those paths" in screen.status_text)
        await pilot.press("slash", "enter")  # an empty query
        await wait_until(lambda: "Type something" in screen.status_text, what="empty query")
        # the store is still there after a reload
        screen.query_one("#stores", DataTable).focus()
        await pilot.press("r")
        await wait_until(lambda: [r.name for r in screen.rows] == ["Notes"])


async def test_help_lines_bindings_and_palette(tmp_path: Path) -> None:
    from spool.tui.screens.citation import CitationScreen
    from spool.tui.screens.help import HelpScreen
    from spool.tui.widgets.message import MessageView
    from spool.tui.widgets.sources import SourceRow

    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        await pilot.press("f1")
        help_screen = await wait_until(lambda: isinstance(app.screen, HelpScreen) and app.screen)
        keys = {k.binding_id: k.keys for k in help_screen.keys}
        assert keys["spool.vector_stores"] == "alt+v" and keys["spool.sources"] == "alt+c"
        # every binding of the new widgets and screens has an id and a help line
        for owner in (VectorStoresScreen, CitationScreen, SourceRow):
            for binding in owner.BINDINGS:
                assert binding.id and binding.id in keys, (owner.__name__, binding)
        assert "message.sources" in keys
        assert any(b.id == "message.sources" for b in MessageView.BINDINGS)
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("ctrl+p", *"vector stores", "enter")
        await wait_until(lambda: isinstance(app.screen, VectorStoresScreen), what="palette")
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, VectorStoresScreen))
        await pilot.press("ctrl+p", *"sources of the", "enter")
        await wait_until(
            lambda: any("cites a source" in n.message for n in app._notifications),
            what="no sources",
        )


async def test_the_add_prompt_completes_paths(tmp_path: Path) -> None:
    (tmp_path / "lighthouse.md").write_text(GUIDE)
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("n")
        await answer(app, pilot, "Manuals")
        await answer(app, pilot, "")
        await wait_until(lambda: screen.rows, what="created")
        await pilot.press("a")
        prompt = await wait_until(lambda: isinstance(app.screen, PromptScreen) and app.screen)
        await pilot.press(*f"{tmp_path}/ligh")
        field = prompt.query_one(Input)
        await wait_until(lambda: field._suggestion.endswith("lighthouse.md"), what="suggestion")
        await pilot.press("right", "enter")
        await wait_until(lambda: [f.name for f in screen.files] == ["lighthouse.md"], what="added")


async def test_add_uploaded_files_by_id(tmp_path: Path) -> None:
    (tmp_path / "bread.txt").write_text(BREAD)
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(app, pilot)
        uploaded = await app.connection.client.files.create(
            file=tmp_path / "bread.txt", purpose="assistants"
        )
        await pilot.press("n")
        await answer(app, pilot, "Kitchen")
        await answer(app, pilot, "")
        await wait_until(lambda: screen.rows, what="created")
        await pilot.press("a")
        await answer(app, pilot, "file-doesnotexist")
        await wait_until(lambda: "Could not add the files" in screen.status_text, what="refused")
        assert screen.files == []
        await pilot.press("a")
        await answer(app, pilot, uploaded.id)
        await wait_until(lambda: [f.name for f in screen.files] == ["bread.txt"], what="added")
        assert "Added bread.txt" in screen.status_text
