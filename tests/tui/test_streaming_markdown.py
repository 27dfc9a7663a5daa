"""The streaming Markdown renderer: frozen blocks + a live tail show the whole text."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from spool.tui.widgets import message
from spool.tui.widgets.message import MarkdownChunk, StreamingMarkdown, finished_prefix_length

TEXT = (
    "# Title\n\nA paragraph with `code` and **bold**.\n\n- one\n- two\n- three\n\n"
    "```python\ndef f(x):\n    return x\n```\n\n1. first\n2. second\n\n"
    "> a quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end."
)


def test_finished_prefix_length() -> None:
    assert finished_prefix_length("just one line") == 0
    assert finished_prefix_length("para\n\nsecond") == len("para\n\n")
    assert finished_prefix_length("```\ncode\n\nmore") == 0  # open fence: one block
    text = "- a\n- b\n\npara"
    assert text[: finished_prefix_length(text)] == "- a\n- b\n\n"


class Harness(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield StreamingMarkdown("", streaming=True)


async def test_streamed_chunks_cover_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message, "MERGE_CHARS", 60)  # small leaves: several get frozen
    app = Harness()
    async with app.run_test(size=(100, 60)) as pilot:
        sm = app.query_one(StreamingMarkdown)
        for i in range(0, len(TEXT), 5):
            sm.set_text(TEXT[: i + 5], streaming=True)
            await pilot.pause(0.01)
        sm.set_text(TEXT, streaming=False)
        for _ in range(100):
            await pilot.pause(0.05)
            if sm.settled:
                break
        assert sm.settled
        chunks = list(sm.query(MarkdownChunk).results(MarkdownChunk))
        assert len(chunks) >= 4  # finished blocks were frozen along the way
        assert chunks[-1].has_class("tail")
        joined = "\n".join(c.source for c in chunks)
        assert joined.split() == TEXT.split()


async def test_replaced_text_starts_over() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        sm = app.query_one(StreamingMarkdown)
        sm.set_text("para one\n\npara two\n\nthree", streaming=True)
        await pilot.pause(0.3)
        sm.set_text("something else", streaming=False)
        await pilot.pause(0.3)
        chunks = list(sm.query(MarkdownChunk).results(MarkdownChunk))
        assert [c.source for c in chunks] == ["something else"]
