"""`spool serve migrate --from DIR --to URL`: copy a SQLite data dir into an empty PostgreSQL
database, losing nothing.

Every table is copied with its positions (`seq`, chunk ids), so list order, cursors (tombstones
included), file_search chunks and message search come out the same; identity sequences then
continue after the highest copied value. The whole copy is one transaction: a failure leaves the
target empty, so the command can simply be run again. A target that already holds anything is
refused. The source is opened as `spool serve` would open it (its schema is upgraded first).
Blobs stay where they are unless a blobs dir is given, then they are copied there
(content-addressed: a blob already present is kept).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spool.server.retrieval.dense import has_vector_column
from spool.server.retrieval.vectors import from_blob, to_pgvector
from spool.server.storage.postgres import PostgresDatabase
from spool.server.storage.sqlite import SQLiteDatabase

# (table, columns): copied as they are (chunks separately: their text is in chunks_fts)
PLAIN_TABLES: list[tuple[str, tuple[str, ...]]] = [
    ("assistants", ("seq", "id", "data")),
    ("threads", ("seq", "id", "data")),
    ("messages", ("seq", "id", "thread_id", "run_id", "data")),
    ("runs", ("seq", "id", "thread_id", "status", "data")),
    ("steps", ("seq", "id", "run_id", "thread_id", "data")),
    ("files", ("seq", "id", "purpose", "sha256", "data")),
    ("vector_stores", ("seq", "id", "data")),
    ("vector_store_files", ("seq", "id", "vector_store_id", "status", "batch_id", "data")),
    ("file_batches", ("seq", "id", "vector_store_id", "data")),
    ("tombstones", ("id", "tbl", "seq", "thread_id", "run_id")),
    ("tool_outputs", ("call_id", "run_id", "type", "arguments", "output", "citations")),
    ("parsed", ("vector_store_id", "file_id", "text")),
    ("index_jobs", ("vector_store_id", "file_id", "queued_at")),
]
CHUNK_COLUMNS = ("id", "vector_store_id", "file_id", "position", "tokens", "text")
IDENTITIES = [(t, "seq") for t, cols in PLAIN_TABLES if cols[0] == "seq"] + [("chunks", "id")]
EVERY_TABLE = [t for t, _ in PLAIN_TABLES] + ["chunks"]


class MigrateError(Exception):
    """Why the copy did not happen (said to the user as is)."""


@dataclass
class Copied:
    """What was copied: rows per table, blobs copied and already present."""

    rows: dict[str, int] = field(default_factory=dict)
    blobs_copied: int = 0
    blobs_present: int = 0


async def migrate(
    source_dir: Path,
    url: str,
    *,
    blobs_to: Path | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> Copied:
    """Copy `source_dir`'s spool.db (and blobs, with `blobs_to`) into the database at `url`."""
    path = source_dir / "spool.db"
    if not path.is_file():
        raise MigrateError(f"{path} does not exist: --from names a spool data dir")
    if not url.startswith(("postgresql://", "postgres://")):
        raise MigrateError("--to must be a postgresql:// URL")
    source = SQLiteDatabase(path)
    try:
        target = await PostgresDatabase.open(url)
    except Exception as exc:
        source.close_now()
        raise MigrateError(f"cannot open {url}: {exc}") from exc
    copied = Copied()
    try:
        for table in EVERY_TABLE:
            row = await target.fetchone(f"SELECT 1 FROM {table} LIMIT 1")
            if row is not None:
                raise MigrateError(
                    f"the target database is not empty (table {table} has rows): "
                    "migrate into an empty database"
                )
        async with target.transaction():
            for table, columns in PLAIN_TABLES:
                rows = source.conn.execute(f"SELECT {', '.join(columns)} FROM {table}")
                copied.rows[table] = await target.copy_rows(table, columns, rows)
            chunks = source.conn.execute(
                "SELECT c.id, c.vector_store_id, c.file_id, c.position, c.tokens, f.text, "
                "c.embedding_model, c.embedding "
                "FROM chunks c JOIN chunks_fts f ON f.rowid = c.id ORDER BY c.id"
            )
            if await has_vector_column(target):
                copied.rows["chunks"] = await target.copy_rows(
                    "chunks", (*CHUNK_COLUMNS, "embedding_model", "embedding"), _vectors(chunks)
                )
            else:  # no pgvector on the target: the chunks stay searchable by keywords
                copied.rows["chunks"] = await target.copy_rows(
                    "chunks", CHUNK_COLUMNS, (row[:6] for row in chunks)
                )
            for table, column in IDENTITIES:
                await target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                )
        for table, count in copied.rows.items():
            if count:
                say(f"{table}: {count}")
    finally:
        source.close_now()
        await target.close()
    blobs_from = source_dir / "files" / "blobs"
    if blobs_to is not None and blobs_from.is_dir():
        _copy_blobs(blobs_from, blobs_to / "blobs", copied)
        say(f"blobs: {copied.blobs_copied} copied, {copied.blobs_present} already there")
    return copied


def _vectors(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Chunk rows with their SQLite BLOB vector in pgvector's text form."""
    for row in rows:
        blob = row[7]
        vector = to_pgvector(from_blob(blob)) if blob is not None and row[6] else None
        yield (*row[:6], row[6] if vector is not None else None, vector)


def _copy_blobs(source: Path, target: Path, copied: Copied) -> None:
    for blob in sorted(source.glob("*/*")):
        destination = target / blob.parent.name / blob.name
        if destination.exists() and destination.stat().st_size == blob.stat().st_size:
            copied.blobs_present += 1
            continue
        destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        shutil.copyfile(blob, partial)
        partial.replace(destination)  # atomic: a reader never sees half a blob
        copied.blobs_copied += 1
