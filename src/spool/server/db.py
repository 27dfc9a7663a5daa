"""SQLite persistence for the server: one JSON document per object, ordered by insertion.

Tables hold the API object as JSON plus the columns needed to find and order it. `seq` (an
INTEGER PRIMARY KEY) gives a stable total order, so objects created within the same second page
in creation order. The schema version lives in `PRAGMA user_version`; `migrate()` upgrades it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from spool.server.private import private_file

SCHEMA_VERSION = 6
PAGE_BYTES = 8 * 1024 * 1024  # a list page stops early (has_more) once its objects reach this

Table = Literal[
    "assistants",
    "threads",
    "messages",
    "runs",
    "steps",
    "files",
    "vector_stores",
    "vector_store_files",
    "file_batches",
]
TABLES: tuple[str, ...] = get_args(Table)

# A message's text parts joined by newlines (SQL over a row's JSON `data`; migration 6).
_MESSAGE_TEXT = (
    "(SELECT group_concat(json_extract(p.value, '$.text.value'), char(10)) "
    "FROM json_each({row}.data, '$.content') AS p WHERE json_extract(p.value, '$.type') = 'text')"
)

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE assistants (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE threads (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, thread_id TEXT NOT NULL,
        run_id TEXT, data TEXT NOT NULL);
    CREATE INDEX messages_thread ON messages (thread_id, seq);
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, thread_id TEXT NOT NULL,
        status TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX runs_thread ON runs (thread_id, seq);
    CREATE INDEX runs_status ON runs (status);
    CREATE TABLE steps (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, run_id TEXT NOT NULL,
        thread_id TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX steps_run ON steps (run_id, seq);
    """,
    # Deleted objects keep their position, so a list cursor naming one still resolves.
    2: """
    CREATE TABLE tombstones (
        id TEXT PRIMARY KEY, tbl TEXT NOT NULL, seq INTEGER NOT NULL,
        thread_id TEXT, run_id TEXT);
    """,
    # Files: metadata here, bytes in <data dir>/files/blobs/ named by their sha256 (files.py).
    3: """
    CREATE TABLE files (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, purpose TEXT NOT NULL,
        sha256 TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX files_purpose ON files (purpose, seq);
    CREATE INDEX files_sha256 ON files (sha256);
    """,
    # Vector stores (vector_stores.py) and their search index (retrieval/index.py): a store's
    # file is keyed by (vector_store_id, file id); `chunks` holds positions, `chunks_fts` the
    # text (FTS5, BM25), `parsed` each file's parsed text (the file content endpoint).
    4: """
    CREATE TABLE vector_stores (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, data TEXT NOT NULL);
    CREATE TABLE vector_store_files (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL, vector_store_id TEXT NOT NULL,
        status TEXT NOT NULL, batch_id TEXT, data TEXT NOT NULL,
        UNIQUE (vector_store_id, id));
    CREATE INDEX vector_store_files_file ON vector_store_files (id);
    CREATE INDEX vector_store_files_status ON vector_store_files (status);
    CREATE TABLE file_batches (
        seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, vector_store_id TEXT NOT NULL,
        data TEXT NOT NULL);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY, vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
        position INTEGER NOT NULL, tokens INTEGER NOT NULL);
    CREATE INDEX chunks_file ON chunks (vector_store_id, file_id, position);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(
        text, tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE TABLE parsed (
        vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (vector_store_id, file_id));
    """,
    # What server-side tool calls (file_search, code_interpreter) answered the model, and the
    # citation markers they offered (runs.py; the steps show only the public part).
    5: """
    CREATE TABLE tool_outputs (
        call_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, type TEXT NOT NULL,
        arguments TEXT NOT NULL, output TEXT NOT NULL, citations TEXT NOT NULL);
    CREATE INDEX tool_outputs_run ON tool_outputs (run_id);
    """,
    # spool's message search (routes/spool_search.py): the text parts of every message in FTS5,
    # rowid = messages.seq, kept in step by triggers (every write path, runs included); a reply
    # is indexed once it is no longer in_progress.
    6: f"""
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, tokenize = 'porter unicode61 remove_diacritics 2');
    INSERT INTO messages_fts (rowid, text) SELECT seq, {_MESSAGE_TEXT.format(row="messages")}
        FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.seq, {_MESSAGE_TEXT.format(row="new")});
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF data ON messages
        WHEN json_extract(new.data, '$.status') IS NOT 'in_progress' BEGIN
        DELETE FROM messages_fts WHERE rowid = old.seq;
        INSERT INTO messages_fts (rowid, text) VALUES (new.seq, {_MESSAGE_TEXT.format(row="new")});
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = old.seq;
    END;
    """,
}


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script (a trigger keeps the `;` inside its BEGIN … END)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


# Extra indexed columns per table, taken from the object on every write.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "assistants": (),
    "threads": (),
    "messages": ("thread_id", "run_id"),
    "runs": ("thread_id", "status"),
    "steps": ("run_id", "thread_id"),
    "files": ("purpose", "sha256"),
    "vector_stores": (),
    "vector_store_files": ("vector_store_id", "status", "batch_id"),
    "file_batches": ("vector_store_id",),
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class Page:
    """One page of a list endpoint, objects still as their stored JSON text."""

    ids: list[str]
    rows: list[str]
    has_more: bool


class Database:
    """The server's SQLite file (WAL), private to its owner (0600).

    `conn` is used from the event-loop thread only, for short calls. Longer reads (a run's
    whole conversation) go through `reader()`: one read-only connection per worker thread,
    which WAL lets run beside the loop's writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        fixed = private_file(path)
        self.fixed_modes = [fixed] if fixed else []
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.migrate()
        for suffix in ("-wal", "-shm"):
            fixed = private_file(Path(f"{path}{suffix}"), create=False)
            if fixed:
                self.fixed_modes.append(fixed)

    def reader(self) -> sqlite3.Connection:
        """This thread's read-only connection (for work done off the event loop)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this spool "
                f"({SCHEMA_VERSION}); upgrade spool or use another data dir"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.conn:
                self.conn.execute("BEGIN")
                for statement in _statements(_MIGRATIONS[target]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self.conn.close()

    # --- documents -----------------------------------------------------------------------

    def insert(self, table: Table, obj: dict[str, Any], **columns: Any) -> None:
        """Store an object; indexed columns come from `columns` or else from the object."""
        cols = _COLUMNS[table]
        names = ", ".join(("id", *cols, "data"))
        marks = ", ".join("?" * (len(cols) + 2))
        values = (obj["id"], *(columns.get(c, obj.get(c)) for c in cols), _dumps(obj))
        self.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)

    def update(self, table: Table, obj: dict[str, Any]) -> None:
        cols = [c for c in _COLUMNS[table] if c in obj]
        sets = ", ".join(f"{c} = ?" for c in (*cols, "data"))
        values = (*(obj.get(c) for c in cols), _dumps(obj), obj["id"])
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", values)

    def get(self, table: Table, object_id: str) -> dict[str, Any] | None:
        raw = self.get_raw(table, object_id)
        return json.loads(raw) if raw is not None else None

    def get_raw(self, table: Table, object_id: str) -> str | None:
        """The stored JSON text of an object (answered as is: no decode/encode on the loop)."""
        row = self.conn.execute(f"SELECT data FROM {table} WHERE id = ?", (object_id,)).fetchone()
        return row[0] if row else None

    def delete(self, table: Table, object_id: str) -> bool:
        """Delete one object, keeping a tombstone of its list position for cursors."""
        cols = [c for c in ("thread_id", "run_id") if c in _COLUMNS[table]]
        select = ", ".join(("seq", *cols))
        row = self.conn.execute(f"SELECT {select} FROM {table} WHERE id = ?", (object_id,))
        found = row.fetchone()
        if found is None:
            return False
        values = dict(zip(("seq", *cols), found, strict=True))
        with self.transaction():
            self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
            self.conn.execute(
                "INSERT OR REPLACE INTO tombstones (id, tbl, seq, thread_id, run_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (object_id, table, values["seq"], values.get("thread_id"), values.get("run_id")),
            )
        return True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN … COMMIT (or ROLLBACK), joining the caller's transaction when one is open."""
        if self.conn.in_transaction:
            yield
            return
        with self.conn:
            self.conn.execute("BEGIN")
            yield

    def delete_where(self, table: Table, column: str, value: str) -> None:
        assert column in _COLUMNS[table]
        self.conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (value,))

    def all_where(
        self, table: Table, column: str, value: str, *, order: str = "asc"
    ) -> list[dict[str, Any]]:
        assert column in _COLUMNS[table]
        direction = "ASC" if order == "asc" else "DESC"
        rows = self.conn.execute(
            f"SELECT data FROM {table} WHERE {column} = ? ORDER BY seq {direction}", (value,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def with_status(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(statuses))
        rows = self.conn.execute(
            f"SELECT data FROM runs WHERE status IN ({marks}) ORDER BY seq", statuses
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def page(
        self,
        table: Table,
        *,
        where: dict[str, str],
        limit: int,
        order: str,
        after: str | None,
        before: str | None,
    ) -> Page | None:
        """One page of a list endpoint; None when a cursor never was in this list.

        `after` moves in the requested order; `before` returns the objects just before the
        cursor (still in the requested order). A cursor naming an object deleted meanwhile
        resolves to the position it had. A page also ends (with `has_more`) once its objects
        reach `PAGE_BYTES`, so one response never holds more than that plus one object.
        """
        for column in where:
            assert column in _COLUMNS[table]
        clauses = [f"{c} = ?" for c in where]
        params: list[Any] = list(where.values())
        desc = order == "desc"
        reverse = False
        if after:
            seq = self._cursor_seq(table, after, where)
            if seq is None:
                return None
            clauses.append("seq < ?" if desc else "seq > ?")
            params.append(seq)
        if before:
            seq = self._cursor_seq(table, before, where)
            if seq is None:
                return None
            clauses.append("seq > ?" if desc else "seq < ?")
            params.append(seq)
            if not after:
                reverse = True  # walk backwards from the cursor, then flip
        direction = "DESC" if desc != reverse else "ASC"
        sql = f"SELECT id, data FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY seq {direction} LIMIT ?"
        params.append(limit + 1)
        ids: list[str] = []
        rows: list[str] = []
        size = 0
        has_more = False
        for object_id, data in self.conn.execute(sql, params):
            if len(rows) == limit or (rows and size + len(data) > PAGE_BYTES):
                has_more = True
                break
            ids.append(object_id)
            rows.append(data)
            size += len(data)
        if reverse:
            ids.reverse()
            rows.reverse()
        return Page(ids, rows, has_more)

    def _cursor_seq(self, table: Table, object_id: str, where: dict[str, str]) -> int | None:
        """The list position of a cursor id (live or deleted) that belongs to this list."""
        cols = list(where)
        select = ", ".join(("seq", *cols))
        # (ids of a store's files repeat across stores: look the cursor up in this list first)
        match = "".join(f" AND {c} = ?" for c in cols)
        row = self.conn.execute(
            f"SELECT {select} FROM {table} WHERE id = ?{match}", (object_id, *where.values())
        )
        found = (
            row.fetchone()
            or self.conn.execute(
                f"SELECT {select} FROM {table} WHERE id = ?", (object_id,)
            ).fetchone()
        )
        if found is None:
            if any(c not in ("thread_id", "run_id") for c in cols):
                return None
            found = self.conn.execute(
                f"SELECT {select} FROM tombstones WHERE id = ? AND tbl = ?", (object_id, table)
            ).fetchone()
            if found is None:
                return None
        if list(found[1:]) != list(where.values()):
            return None  # an id from another list
        return found[0]
