"""The search index in SQLite: `chunks` (which file, which position), `chunks_fts` (FTS5 over
the chunk text, rowid = chunk id, ranked by BM25) and `parsed` (each file's parsed text).

Writers run in the indexing thread on their own connection, in short transactions (a batch of
`BATCH` chunks each), so the event loop's own writes never wait long for the lock.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from spool.server.retrieval.chunk import Chunk

BATCH = 200
MAX_QUERY_TERMS = 64
_TERM = re.compile(r"\w+", re.UNICODE)


@dataclass(slots=True)
class Hit:
    """A chunk found by a search, with its raw ranker score (higher is better)."""

    chunk_id: int
    vector_store_id: str
    file_id: str
    position: int
    text: str
    raw: float


def write_file(
    conn: sqlite3.Connection, store_id: str, file_id: str, text: str, chunks: list[Chunk]
) -> list[int]:
    """Replace a file's chunks and parsed text in a store; returns the new chunk ids."""
    delete_file(conn, store_id, file_id)
    ids: list[int] = []
    for first in range(0, len(chunks), BATCH):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for position, c in enumerate(chunks[first : first + BATCH], start=first):
                cursor = conn.execute(
                    "INSERT INTO chunks (vector_store_id, file_id, position, tokens) "
                    "VALUES (?, ?, ?, ?)",
                    (store_id, file_id, position, c.tokens),
                )
                chunk_id = cursor.lastrowid
                assert chunk_id is not None
                conn.execute(
                    "INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)",
                    (chunk_id, text[c.start : c.end]),
                )
                ids.append(chunk_id)
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO parsed (vector_store_id, file_id, text) VALUES (?, ?, ?)",
            (store_id, file_id, text),
        )
    return ids


def delete_file(conn: sqlite3.Connection, store_id: str, file_id: str) -> None:
    """Remove a file's chunks and parsed text from a store."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN "
            "(SELECT id FROM chunks WHERE vector_store_id = ? AND file_id = ?)",
            (store_id, file_id),
        )
        conn.execute(
            "DELETE FROM chunks WHERE vector_store_id = ? AND file_id = ?", (store_id, file_id)
        )
        conn.execute(
            "DELETE FROM parsed WHERE vector_store_id = ? AND file_id = ?", (store_id, file_id)
        )


def delete_store(conn: sqlite3.Connection, store_id: str) -> None:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN "
            "(SELECT id FROM chunks WHERE vector_store_id = ?)",
            (store_id,),
        )
        conn.execute("DELETE FROM chunks WHERE vector_store_id = ?", (store_id,))
        conn.execute("DELETE FROM parsed WHERE vector_store_id = ?", (store_id,))


def parsed_text(conn: sqlite3.Connection, store_id: str, file_id: str) -> str | None:
    row = conn.execute(
        "SELECT text FROM parsed WHERE vector_store_id = ? AND file_id = ?", (store_id, file_id)
    ).fetchone()
    return row[0] if row else None


def fts_query(query: str) -> str | None:
    """A query's words as an FTS5 OR query (each quoted: no FTS syntax gets through)."""
    terms = list(dict.fromkeys(t.lower() for t in _TERM.findall(query)))[:MAX_QUERY_TERMS]
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


def bm25(
    conn: sqlite3.Connection,
    store_ids: list[str],
    file_ids: set[tuple[str, str]] | None,
    query: str,
    limit: int,
) -> list[Hit]:
    """The best `limit` chunks of the stores for a query by BM25 (raw = -bm25, > 0)."""
    match = fts_query(query)
    if match is None or not store_ids:
        return []
    marks = ", ".join("?" * len(store_ids))
    # only files whose indexing completed (a file being re-indexed is not half-searched)
    rows = conn.execute(
        "SELECT c.id, c.vector_store_id, c.file_id, c.position, f.text, -bm25(chunks_fts) "
        "FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
        "JOIN vector_store_files v ON v.vector_store_id = c.vector_store_id AND v.id = c.file_id "
        f"WHERE chunks_fts MATCH ? AND c.vector_store_id IN ({marks}) "
        "AND v.status = 'completed' ORDER BY bm25(chunks_fts) LIMIT ?",
        (match, *store_ids, limit if file_ids is None else limit * 20),
    ).fetchall()
    hits = [Hit(*row) for row in rows]
    if file_ids is not None:
        hits = [h for h in hits if (h.vector_store_id, h.file_id) in file_ids][:limit]
    return hits
