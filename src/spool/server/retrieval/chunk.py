"""Chunking: windows of at most `max_tokens` estimated tokens, each starting so that it shares
at most `overlap` tokens with the previous one (OpenAI's `auto` is 800 / 400)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from spool.server.retrieval import tokens

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400


@dataclass(frozen=True, slots=True)
class Chunk:
    """A chunk as a character span of the parsed text, with its token estimate."""

    start: int
    end: int
    tokens: int


def chunk(text: str, max_tokens: int = AUTO_MAX_TOKENS, overlap: int = AUTO_OVERLAP_TOKENS):
    """The chunks of `text` (a list); whitespace-only text has none."""
    spans = list(tokens.pieces(text))
    if not spans or not text.strip():
        return []
    cum = [0]
    for _, _, n in spans:
        cum.append(cum[-1] + n)
    out: list[Chunk] = []
    start = 0
    total = len(spans)
    while start < total:
        # the furthest end with cum[end] - cum[start] <= max_tokens (at least one piece)
        end = bisect.bisect_right(cum, cum[start] + max_tokens, lo=start + 1) - 1
        end = max(end, start + 1)
        piece_text = text[spans[start][0] : spans[end - 1][1]]
        if piece_text.strip():
            out.append(Chunk(spans[start][0], spans[end - 1][1], cum[end] - cum[start]))
        if end >= total:
            break
        # the earliest next start that overlaps by at most `overlap` tokens
        next_start = bisect.bisect_left(cum, cum[end] - overlap, lo=start + 1, hi=end)
        start = max(next_start, start + 1)
    return out
