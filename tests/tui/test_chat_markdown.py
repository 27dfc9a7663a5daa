"""Chat Markdown: a single newline inside a paragraph is a line break (issue 11)."""

from __future__ import annotations

from rich.console import Console

from spool.tui.chat_markdown import ChatMarkdown


def render(text: str) -> list[str]:
    console = Console(width=40, record=True, color_system=None)
    console.print(ChatMarkdown(text))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_single_newlines_are_line_breaks() -> None:
    lines = render("Roses are red\nViolets are blue\n\nA new paragraph")
    assert lines[:4] == ["Roses are red", "Violets are blue", "", "A new paragraph"]


def test_code_blocks_and_lists_are_unchanged() -> None:
    lines = render("- one\n- two\n\n```python\nx = 1\n    y = 2\n```")
    shown = [line for line in lines if line.strip()]
    assert "• one" in shown[0] and "• two" in shown[1]
    assert shown[2].strip() == "x = 1"
    assert shown[3] == shown[2].replace("x = 1", "    y = 2")  # indentation kept
