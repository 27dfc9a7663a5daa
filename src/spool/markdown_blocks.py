"""Where a growing Markdown text can be cut: the prefix made of finished top-level blocks.

Used to render streamed Markdown block by block (the TUI's transcript, `spool ask` on a
terminal): every top-level block but the last is finished, later text can only extend the
last one. No Textual here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like")  # as the transcript has always cut blocks


def finished_prefix_length(text: str) -> int:
    """Length of the prefix of `text` made of finished top-level Markdown blocks."""
    if "\n" not in text:
        return 0
    tokens = _parser().parse(text)
    starts = [
        t.map[0] for t in tokens if t.level == 0 and t.map is not None and t.nesting in (0, 1)
    ]
    if len(starts) < 2:
        return 0
    last_start = starts[-1]
    if last_start == 0:
        return 0
    offset = 0
    for _ in range(last_start):
        nl = text.find("\n", offset)
        if nl < 0:
            return 0
        offset = nl + 1
    return offset
