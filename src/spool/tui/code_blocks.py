"""Fenced (and indented) code blocks of a Markdown text, for copying one block at a time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One code block: its language (may be ""), its code, and its source lines [start, end)."""

    lang: str
    code: str
    start_line: int
    end_line: int

    @property
    def label(self) -> str:
        """`python, 3 lines`-style description."""
        lines = self.code.count("\n") + 1 if self.code else 0
        kind = self.lang or "code"
        return f"{kind}, {lines} line{'s' if lines != 1 else ''}"


def find_code_blocks(markdown: str) -> list[CodeBlock]:
    """Every code block of `markdown`, in order (nested ones included)."""
    from spool.markdown_blocks import _parser

    blocks: list[CodeBlock] = []
    for token in _parser().parse(markdown):
        if token.type not in ("fence", "code_block") or token.map is None:
            continue
        lang = token.info.strip().split()[0] if token.type == "fence" and token.info else ""
        code = token.content.removesuffix("\n")
        blocks.append(CodeBlock(lang, code, token.map[0], token.map[1]))
    return blocks


def split_around(markdown: str, block: CodeBlock) -> tuple[str, str]:
    """The Markdown before and after `block` (by source lines)."""
    lines = markdown.split("\n")
    before = "\n".join(lines[: block.start_line])
    after = "\n".join(lines[block.end_line :])
    return before, after
