"""The search index: `chunks` (which file, which position), their text ranked by BM25 (SQLite:
`chunks_fts`, FTS5, rowid = chunk id) or by `ts_rank_cd` over a `tsvector` column (PostgreSQL,
`index_postgres.py`), and `parsed` (each file's parsed text).

The writers take the `Database` and work on either backend.
Writes go through the server's one writing connection (the event loop's), in short
transactions of `BATCH` chunks, with the loop free between them: a second writing connection
(in the indexing thread) made the loop's own writes wait in SQLite's busy handler for up to
a second while an index was being written (measured).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from spool.server.retrieval import vectors as vectors_
from spool.server.retrieval.chunk import Chunk
from spool.server.storage import Database

BATCH = 10  # chunks per write transaction (about a millisecond of the loop each)
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


async def write_batch(
    db: Database,
    store_id: str,
    file_id: str,
    text: str,
    chunks: list[Chunk],
    first: int,
    vectors: Sequence[array] | None = None,
    model: str | None = None,
) -> int:
    """Insert chunks[first : first + BATCH] (one short transaction); returns the next index.
    With `vectors` (one per chunk, from embedding `model`) each chunk gets its vector."""

    def vector(position: int) -> array | None:
        return vectors[position] if vectors is not None else None

    if db.dialect != "sqlite":
        async with db.transaction():
            for position, c in enumerate(chunks[first : first + BATCH], start=first):
                v = vector(position)
                if v is None:
                    await db.execute(
                        "INSERT INTO chunks (vector_store_id, file_id, position, tokens, text) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (store_id, file_id, position, c.tokens, text[c.start : c.end]),
                    )
                    continue
                await db.execute(
                    "INSERT INTO chunks (vector_store_id, file_id, position, tokens, text, "
                    "embedding_model, embedding) VALUES (?, ?, ?, ?, ?, ?, ?::vector)",
                    (
                        store_id,
                        file_id,
                        position,
                        c.tokens,
                        text[c.start : c.end],
                        model,
                        vectors_.to_pgvector(v),
                    ),
                )
        return first + BATCH
    conn: sqlite3.Connection = db.conn  # type: ignore[attr-defined]
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for position, c in enumerate(chunks[first : first + BATCH], start=first):
            v = vector(position)
            cursor = conn.execute(
                "INSERT INTO chunks (vector_store_id, file_id, position, tokens, "
                "embedding_model, embedding) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    store_id,
                    file_id,
                    position,
                    c.tokens,
                    model if v is not None else None,
                    vectors_.to_blob(v) if v is not None else None,
                ),
            )
            conn.execute(
                "INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)",
                (cursor.lastrowid, text[c.start : c.end]),
            )
    return first + BATCH


async def write_parsed(db: Database, store_id: str, file_id: str, text: str) -> None:
    await db.execute(
        "INSERT INTO parsed (vector_store_id, file_id, text) VALUES (?, ?, ?) "
        "ON CONFLICT (vector_store_id, file_id) DO UPDATE SET text = excluded.text",
        (store_id, file_id, text),
    )


async def delete_batch(db: Database, store_id: str, file_id: str | None) -> bool:
    """Delete up to 4 × BATCH chunks of a store's file (or of the whole store, with its parsed
    texts once no chunk is left); False when nothing was left to delete."""
    where, params = "vector_store_id = ?", (store_id,)
    if file_id is not None:
        where, params = where + " AND file_id = ?", (store_id, file_id)
    if db.dialect != "sqlite":
        async with db.transaction():
            rows = await db.fetchall(
                f"SELECT id FROM chunks WHERE {where} LIMIT {BATCH * 4}", params
            )
            if not rows:
                await db.execute(f"DELETE FROM parsed WHERE {where}", params)
                return False
            ids = [row[0] for row in rows]
            await db.execute(f"DELETE FROM chunks WHERE id IN ({', '.join('?' * len(ids))})", ids)
            return True
    conn: sqlite3.Connection = db.conn  # type: ignore[attr-defined]
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        ids = [
            row[0]
            for row in conn.execute(
                f"SELECT id FROM chunks WHERE {where} LIMIT {BATCH * 4}", params
            )
        ]
        if not ids:
            conn.execute(f"DELETE FROM parsed WHERE {where}", params)
            return False
        marks = ", ".join("?" * len(ids))
        conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
        conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", ids)
        return True


async def parsed_text(db: Database, store_id: str, file_id: str) -> str | None:
    """A file's parsed text (on SQLite read in a worker thread: it can be megabytes)."""
    sql = "SELECT text FROM parsed WHERE vector_store_id = ? AND file_id = ?"
    if db.dialect != "sqlite":
        found = await db.fetchone(sql, (store_id, file_id))
        return found[0] if found else None
    return await asyncio.to_thread(_parsed_text, db.reader(), store_id, file_id)  # type: ignore[attr-defined]


def _parsed_text(conn: sqlite3.Connection, store_id: str, file_id: str) -> str | None:
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
