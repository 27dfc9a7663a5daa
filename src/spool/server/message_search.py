"""Full-text search over message text (spool's search extension): the SQL behind
`GET /v1/spool/search`.

Messages live in `messages_fts` (FTS5, migration 6 of `db.py`, kept in step by triggers). The
user's words are never handed to FTS5 as query syntax: each word becomes a quoted phrase (the
last one a prefix), so any input is a valid query. Results are newest first (FTS5 walks its
rowids backwards and stops at the limit, so a common word costs no more than a rare one).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

MAX_QUERY_CHARS = 500
MAX_WORDS = 16
SNIPPET_TOKENS = 16
_OPEN, _CLOSE = "\x02", "\x03"  # snippet() marks; turned into `highlights` offsets
_WORD = re.compile(r"\w+", re.UNICODE)

_SQL = f"""
SELECT m.id, m.thread_id, json_extract(m.data, '$.role'), json_extract(m.data, '$.created_at'),
       snippet(messages_fts, 0, char(2), char(3), '…', {SNIPPET_TOKENS})
FROM messages_fts JOIN messages AS m ON m.seq = messages_fts.rowid
WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?
"""


@dataclass(slots=True)
class Hit:
    """One matching message: where it is, and a snippet with the matches located."""

    message_id: str
    thread_id: str
    role: str
    created_at: int
    snippet: str
    highlights: list[tuple[int, int]]

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "spool.search_result",
            "message_id": self.message_id,
            "thread_id": self.thread_id,
            "role": self.role,
            "created_at": self.created_at,
            "snippet": self.snippet,
            "highlights": [list(span) for span in self.highlights],
        }


def words(query: str) -> list[str]:
    """The words of a query, as FTS5's tokenizer would split them (at most MAX_WORDS)."""
    return _WORD.findall(query)[:MAX_WORDS]


def match_expression(query_words: list[str]) -> str:
    """An FTS5 query matching every word (the last as a prefix, for search-as-you-type)."""
    phrases = ['"' + w.replace('"', '""') + '"' for w in query_words]
    phrases[-1] += "*"
    return " ".join(phrases)


def split_marks(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """A snippet without its marks, and the [start, end) character offsets they enclosed."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    size = 0
    start: int | None = None
    for part in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if part == _OPEN:
            start = size
        elif part == _CLOSE:
            if start is not None and size > start:
                spans.append((start, size))
            start = None
        else:
            out.append(part)
            size += len(part)
    return "".join(out), spans


def search(conn: sqlite3.Connection, query_words: list[str], limit: int) -> tuple[list[Hit], bool]:
    """The newest `limit` messages containing every word; (hits, has_more)."""
    rows = conn.execute(_SQL, (match_expression(query_words), limit + 1)).fetchall()
    hits = []
    for message_id, thread_id, role, created_at, marked in rows[:limit]:
        snippet, spans = split_marks(" ".join((marked or "").split()))
        hits.append(Hit(message_id, thread_id, role or "", int(created_at or 0), snippet, spans))
    return hits, len(rows) > limit
