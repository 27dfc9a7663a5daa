"""Citations in the TUI against the embedded echo server: `/search` with an assistant that has
file_search and a vector store gives a reply whose marker shows as `[1]` and a sources list;
a source opens the cited chunk in its file's context (enter, click) or shows the chunk under it
(c); the same after a reload; the shared `Footnotes` logic in `spool.client.citations`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spool.client.citations import Footnotes, Passage, chunks_for, locate
from spool.tui.screens.citation import CitationScreen
from spool.tui.widgets.message import MessageView
from spool.tui.widgets.sources import SourceRow, SourcesList

from .helpers import make_app, ready, run_ended, type_and_send, view, wait_until

GUIDE = (
    "# Lighthouse keeping\n\nThe keeper lights the lamp at dusk and trims the wick every four "
    "hours during the night watch.\n\nFog signals sound every thirty seconds when visibility "
    "drops below two miles.\n"
)
BREAD = "Sourdough bread needs a starter fed with flour and water every day.\n"
QUESTION = "/search how often is the wick trimmed"


async def searchable_assistant(app: Any, tmp: Path) -> str:
    """The app's assistant gets file_search over a store "Manuals" (lighthouse.md, bread.txt)."""
    client = app.connection.client
    ids = []
    for name, text in (("lighthouse.md", GUIDE), ("bread.txt", BREAD)):
        path = tmp / name
        path.write_text(text)
        ids.append((await client.files.create(file=path, purpose="assistants")).id)
    store = await client.vector_stores.create(name="Manuals")
    await client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=ids, poll_interval_ms=50
    )
    await client.beta.assistants.update(
        app.assistant_id,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    return ids[0]


def reply_widget(app: Any) -> MessageView:
    return [w for w in app.transcript.query(MessageView) if w.item.role == "assistant"][-1]


async def cited_reply(
    app: Any, pilot: Any, tmp: Path, streamed: list[str] | None = None
) -> tuple[MessageView, str]:
    """Ask `/search`; `streamed` collects the shown text of updates while the reply streams."""
    await ready(app)
    guide_id = await searchable_assistant(app, tmp)
    if streamed is not None:

        def listen(_view: Any, change: Any) -> None:
            item = change.item
            if getattr(item, "role", None) == "assistant" and item.streaming:
                streamed.append(item.citations.show(item.text))

        view(app).listeners.append(listen)
    await type_and_send(pilot, QUESTION)
    assert await run_ended(app) == "completed"
    widget = await wait_until(
        lambda: (w := reply_widget(app)) and w._sources is not None and w, what="sources"
    )
    await wait_until(lambda: widget.query(SourceRow), what="source rows")
    return widget, guide_id


async def test_a_cited_reply_shows_numbered_markers_and_its_sources(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", server_args=["--echo-delay-ms", "60"])  # (updates per delta)
    async with app.run_test(size=(120, 40)) as pilot:
        streamed: list[str] = []
        widget, guide_id = await cited_reply(app, pilot, tmp_path, streamed)
        # the annotation arrived in a delta: the marker showed as [1] while the reply streamed
        assert streamed and any(text.endswith("[1]") for text in streamed), streamed[-3:]
        assert not any("【" in text for text in streamed)
        item = widget.item
        assert "【" in item.text  # the item keeps the server's text
        assert widget.shown_reply.endswith("[1]") and "【" not in widget.shown_reply
        assert widget.shown_reply.startswith('Top result: "# Lighthouse keeping The keeper')
        assert "【" not in widget.shown_text and "[1]" in widget.shown_text
        (row,) = widget.query(SourceRow)
        assert (row.source.number, row.source.file_id, row.source.name) == (
            1,
            guide_id,
            "lighthouse.md",
        )
        assert "[1] lighthouse.md" in str(row.render())

        # the key: the cited chunk under the row
        row.focus()
        await pilot.press("c")
        await wait_until(lambda: row.chunk is not None, what="chunk preview")
        assert "trims the wick every four hours" in row.chunk
        assert "trims the wick every four" in str(row.render())
        await pilot.press("c")
        assert row.chunk is None

        # enter: the chunk in its file's context
        await pilot.press("enter")
        screen = await wait_until(
            lambda: isinstance(app.screen, CitationScreen) and app.screen.chunk and app.screen,
            what="citation screen",
        )
        (passage,) = screen.chunk.passages
        assert passage.found and "trims the wick" in passage.text
        assert screen.chunk.store_id and not screen.chunk.note
        shown = str(screen.query_one(".passage").render())
        assert "trims the wick" in shown and "Cited passage" in shown
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, CitationScreen), what="closed")

        # a click opens it too
        await pilot.click(SourceRow)
        await wait_until(lambda: isinstance(app.screen, CitationScreen), what="click opens")
        await pilot.press("q")
        await wait_until(lambda: not isinstance(app.screen, CitationScreen), what="closed")


async def test_sources_key_and_reload(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        widget, guide_id = await cited_reply(app, pilot, tmp_path)
        app.composer.focus()
        await pilot.press("alt+c")  # spool.sources: the last reply's first source
        assert isinstance(app.focused, SourceRow)
        assert app.focused.source.file_id == guide_id
        await pilot.press("up")  # past the first row: back to the message
        assert app.focused is widget
        await pilot.press("s")  # message.sources
        assert isinstance(app.focused, SourceRow)

        # a reload (messages from the server) keeps the markers and the sources
        v = view(app)
        await app.driver.load(v)
        await app.wait_for_ui()
        again = await wait_until(
            lambda: (w := reply_widget(app)) and w is not widget and w._sources and w,
            what="reloaded reply",
        )
        assert again.shown_reply.endswith("[1]")
        assert [r.source.name for r in again.query(SourceRow)] == ["lighthouse.md"]
        assert again.item.citations.sources()[0].file_id == guide_id


async def test_no_citations_no_sources_list(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        await type_and_send(pilot, "hello")
        assert await run_ended(app) == "completed"
        await app.wait_for_ui()
        assert not reply_widget(app).query(SourcesList)
        await pilot.press("alt+c")
        await pilot.pause()
        assert not isinstance(app.focused, SourceRow)


# --- the shared logic --------------------------------------------------------------------------
def test_footnotes_number_files_and_take_names_from_markers() -> None:
    notes = Footnotes()
    annotations = [
        {"type": "file_citation", "text": "【0:0†a.md】", "file_citation": {"file_id": "f1"}},
        {"type": "file_citation", "text": "【0:1†b.txt】", "file_citation": {"file_id": "f2"}},
        {"type": "file_citation", "text": "【0:2†a.md】", "file_citation": {"file_id": "f1"}},
        {"type": "file_citation", "text": "【4:0†source】", "file_citation": {"file_id": "f3"}},
        {"type": "file_path", "text": "sandbox:/x", "file_path": {"file_id": "f9"}},
    ]
    assert notes.add(annotations)
    assert not notes.add(annotations[:1])  # nothing new
    text = "A【0:0†a.md】 B【0:1†b.txt】 C【0:2†a.md】 D【4:0†source】"
    assert notes.show(text) == "A[1] B[2] C[1] D[3]"
    assert [(s.number, s.name) for s in notes.sources()] == [(1, "a.md"), (2, "b.txt"), (3, "f3")]
    assert notes.unnamed() == ["f1", "f2", "f3"]
    notes.names["f3"] = "report.pdf"
    assert notes.lines() == ["[1] a.md", "[2] b.txt", "[3] report.pdf"]
    assert notes.sources()[0].markers == ["【0:0†a.md】", "【0:2†a.md】"]


def test_chunks_follow_the_marker_and_locate_in_the_file() -> None:
    def result(file_id: str, text: str, score: float) -> dict[str, Any]:
        return {"file_id": file_id, "score": score, "content": [{"type": "text", "text": text}]}

    steps = [
        {
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "type": "file_search",
                        "file_search": {
                            "results": [result("f1", "alpha", 0.9), result("f1", "beta", 0.5)]
                        },
                    }
                ],
            }
        }
    ]
    notes = Footnotes()
    notes.add([{"type": "file_citation", "text": "【0:1†a】", "file_citation": {"file_id": "f1"}}])
    (passage,) = chunks_for(steps, notes.sources()[0])
    assert (passage.text, passage.score) == ("beta", 0.5)
    other = Footnotes()
    other.add([{"type": "file_citation", "text": "[x]", "file_citation": {"file_id": "f1"}}])
    assert [p.text for p in chunks_for(steps, other.sources()[0])] == ["alpha"]  # best result

    doc = "zero one two three four five six seven"
    placed = locate(Passage("three  four"), doc, context=8)
    assert placed.found and placed.before == "…two " and placed.after == " five…"
    assert not locate(Passage("absent"), doc).found


async def test_export_keeps_citations_as_footnotes(tmp_path: Path) -> None:
    import json

    from spool.client.export import export_thread

    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        _widget, guide_id = await cited_reply(app, pilot, tmp_path)
        client, thread_id = app.connection.client, app.current
        md = await export_thread(client, thread_id, "md")
        assert "【" not in md
        reply = next(line for line in md.splitlines() if line.startswith("Top result:"))
        assert reply.endswith('" [^1]')
        assert "\n[^1]: lighthouse.md\n" in md
        doc = json.loads(await export_thread(client, thread_id, "json"))
        (note,) = doc["footnotes"]
        assert note["number"] == 1 and note["file_id"] == guide_id
        assert note["file_name"] == "lighthouse.md" and note["markers"] == ["【0:0†lighthouse.md】"]
        assert note["message_ids"] == [doc["messages"][-1]["id"]]
        annotation = doc["messages"][-1]["content"][0]["text"]["annotations"][0]
        assert annotation["file_citation"]["file_id"] == guide_id  # the API object as it is


async def test_copy_gives_numbered_markers_and_sources(tmp_path: Path, monkeypatch: Any) -> None:
    from .test_clipboard import use, working_clipboard

    copy, paste = working_clipboard()
    use(monkeypatch, copy, paste)
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        widget, _guide_id = await cited_reply(app, pilot, tmp_path)
        app.composer.focus()
        await pilot.press("ctrl+y")  # the last reply
        await wait_until(lambda: paste(), what="copied")
        assert paste().endswith('night" [1]\n\n[1] lighthouse.md') and "【" not in paste()
        widget.focus()
        copy("")
        await pilot.press("ctrl+y")  # the focused message
        await wait_until(lambda: paste(), what="copied again")
        assert paste().endswith("[1] lighthouse.md")


async def test_names_the_markers_do_not_give_are_looked_up(tmp_path: Path) -> None:
    from spool.client.view_model import MessageItem

    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        path = tmp_path / "handbook.pdf.txt"
        path.write_text("Leave: 25 days a year.\n")
        file_id = (await app.connection.client.files.create(file=path, purpose="assistants")).id
        item = MessageItem("msg_cited", "assistant", "25 days【4:0†source】 and more【4:1†source】")
        item.citations.add(
            [
                {
                    "type": "file_citation",
                    "text": "【4:0†source】",
                    "file_citation": {"file_id": file_id},
                },
                {
                    "type": "file_citation",
                    "text": "【4:1†source】",
                    "file_citation": {"file_id": "file-gone"},
                },
            ]
        )
        view(app).add(item)
        await app.wait_for_ui()
        rows = await wait_until(lambda: list(app.transcript.query(SourceRow)), what="rows")
        await wait_until(lambda: rows[0].source.name == "handbook.pdf.txt", what="name learnt")
        assert rows[1].source.name == "file-gone"  # a file that is gone keeps its id
        assert "25 days[1] and more[2]" in rows[0].parent.parent.shown_reply
        await pilot.pause()
