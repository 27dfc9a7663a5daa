"""Full-text search over message text (spool's search extension): the SQL behind
`GET /v1/spool/search`.

Messages live in `messages_fts` (FTS5, migration 6 of `db.py`, kept in step by triggers). The
user's words are never handed to FTS5 as query syntax: each word becomes a quoted phrase (the
last one a prefix), so any input is a valid query. Results are newest first (FTS5 walks its
rowids backwards and stops at the limit, so a common word costs no more than a rare one).

On PostgreSQL the text is `messages.search` (a tsvector kept by a trigger, migration 6; english
configuration, GIN index), the query the same words AND-ed (`'word'`, the last `'word':*`), and
the snippet `ts_headline` of the message text with the same marks.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from spool.server.storage import Database

MAX_QUERY_CHARS = 500
MAX_WORDS = 16
SNIPPET_TOKENS = 16
_OPEN, _CLOSE = "\x02", "\x03"  # snippet() marks; turned into `highlights` offsets
_WORD = re.compile(r"\w+", re.UNICODE)

_SQL = f"""
SELECT m.id, m.thread_id, json_extract(m.data, '$.role'), json_extract(m.data, '$.created_at'),
       snippet(messages_fts, 0, char(2), char(3), '…', {SNIPPET_TOKENS})
FROM messages_fts JOIN messages AS m ON m.seq = messages_fts.rowid
WHERE messages_fts MATCH ? AND messages_fts.rowid < ? ORDER BY messages_fts.rowid DESC LIMIT ?
"""
# Where a page ends: the position of the `after` message (a deleted one keeps its tombstone's).
_CURSOR_SQL = """
SELECT seq FROM messages WHERE id = ?
UNION ALL SELECT seq FROM tombstones WHERE id = ? AND tbl = 'messages' LIMIT 1
"""
_NO_CURSOR = 2**63 - 1


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


_PG_SQL = f"""
SELECT m.id, m.thread_id, m.data::jsonb->>'role', (m.data::jsonb->>'created_at')::bigint,
       ts_headline('english', spool_message_text(m.data), q.query,
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords={SNIPPET_TOKENS}, '
                   'MinWords={SNIPPET_TOKENS // 2}')
FROM messages AS m, (SELECT to_tsquery('english', ?) AS query) AS q
WHERE m.search @@ q.query AND m.seq < ? ORDER BY m.seq DESC LIMIT ?
"""


def tsquery_expression(query_words: list[str]) -> str:
    """A tsquery matching every word (the last as a prefix); each word quoted."""
    quoted = ["'" + w.replace("'", "''").replace("\\", "\\\\") + "'" for w in query_words]
    quoted[-1] += ":*"
    return " & ".join(quoted)


class UnknownCursor(Exception):
    """The `after` message of a search page does not exist."""


async def search_database(
    db: Database, query_words: list[str], limit: int, after: str | None = None
) -> tuple[list[Hit], bool]:
    """`search` on either backend (SQLite: in a worker thread with its read-only connection).
    `after`: the last message of the previous page (raises UnknownCursor when unknown)."""
    if db.dialect == "sqlite":
        reader = db.reader  # type: ignore[attr-defined]
        return await asyncio.to_thread(lambda: search(reader(), query_words, limit, after))
    before = _NO_CURSOR
    if after is not None:
        found = await db.fetchall(_CURSOR_SQL, (after, after))
        if not found:
            raise UnknownCursor(after)
        before = int(found[0][0])
    rows = await db.fetchall(_PG_SQL, (tsquery_expression(query_words), before, limit + 1))
    return _hits(rows, limit)


def search(
    conn: sqlite3.Connection, query_words: list[str], limit: int, after: str | None = None
) -> tuple[list[Hit], bool]:
    """The newest `limit` messages containing every word, older than the message `after`
    (the last of the previous page) when given; (hits, has_more). Raises UnknownCursor."""
    before = _NO_CURSOR
    if after is not None:
        row = conn.execute(_CURSOR_SQL, (after, after)).fetchone()
        if row is None:
            raise UnknownCursor(after)
        before = int(row[0])
    rows = conn.execute(_SQL, (match_expression(query_words), before, limit + 1)).fetchall()
    return _hits(rows, limit)


def _hits(rows: list[Any], limit: int) -> tuple[list[Hit], bool]:
    hits = []
    for message_id, thread_id, role, created_at, marked in rows[:limit]:
        snippet, spans = split_marks(" ".join((marked or "").split()))
        hits.append(Hit(message_id, thread_id, role or "", int(created_at or 0), snippet, spans))
    return hits, len(rows) > limit
