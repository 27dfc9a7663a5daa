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
    assert shown[2] == "python"  # the language label
    assert shown[3].strip() == "x = 1"
    assert shown[4] == shown[3].replace("x = 1", "    y = 2")  # indentation kept


def test_code_blocks_say_their_language() -> None:
    lines = [line for line in render("```python\nx = 1\n```") if line.strip()]
    assert lines[0] == "python" and lines[1].strip() == "x = 1"
    assert [line for line in render("```\nplain\n```") if line.strip()] == [" plain"]


def test_code_colours_follow_the_theme() -> None:
    from spool.tui.chat_markdown import code_theme_for

    assert code_theme_for("spool-light", dark=False) == "friendly"
    assert code_theme_for("spool-dark", dark=True) == "monokai"
    assert code_theme_for("spool-high-contrast", dark=True) == "native"


def test_long_code_lines_continue_indented_with_a_mark() -> None:
    long = (
        "    return some_function_name(argument_one, argument_two, argument_three, argument_four)"
    )
    lines = [line for line in render(f"```python\ndef f():\n{long}\nx = 1\n```") if line.strip()]
    assert lines[0] == "python" and lines[1].strip() == "def f():"
    body = lines[2:-1]
    assert body[0].startswith("     return some_function_name(")
    assert all(row.startswith("     ↪ ") for row in body[1:])  # as indented as the line
    joined = body[0].strip() + "".join(row.split("↪ ", 1)[1].rstrip() for row in body[1:])
    assert joined == long.strip()  # nothing lost, nothing cut
    assert lines[-1].strip() == "x = 1"
