"""The SQLite backend: one WAL file in the data dir, private to its owner (0600).

Its coroutines run the statement right away on the loop's connection and never suspend: a
short call costs what it did when this interface was synchronous. Longer reads (a run's whole
conversation, searches) go through `reader()`: one read-only connection per worker thread,
which WAL lets run beside the loop's writes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from spool.server.private import private_file
from spool.server.storage.base import PAGE_BYTES, Database
from spool.server.storage.migrations import SCHEMA_VERSION, SQLITE_MIGRATIONS, sqlite_statements


class SQLiteDatabase(Database):
    """The server's SQLite file (see the module docstring); `conn` is the loop's connection."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        fixed = private_file(path)
        self.fixed_modes = [fixed] if fixed else []
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._after: list[Callable[[], None]] = []
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
                for statement in sqlite_statements(SQLITE_MIGRATIONS[target]):
                    _execute_ddl(self.conn, statement)
                self.conn.execute(f"PRAGMA user_version = {target}")

    async def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def close_now(self) -> None:
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self.conn.close()

    async def close(self) -> None:
        self.close_now()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.conn.execute(sql, params).fetchone()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self.conn.in_transaction:
            yield
            return
        self._after = []
        try:
            with self.conn:
                self.conn.execute("BEGIN")
                yield
        except BaseException:
            self._after = []
            raise
        after, self._after = self._after, []
        for callback in after:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self.conn.in_transaction:
            self._after.append(callback)
        else:
            callback()

    @contextlib.contextmanager
    def sync_transaction(self) -> Any:
        """The same for synchronous SQLite-only code (bulk loads, benchmarks)."""
        if self.conn.in_transaction:
            yield
            return
        with self.conn:
            self.conn.execute("BEGIN")
            yield

    async def _page_rows(
        self, table: str, where_sql: str, params: list[Any], direction: str, limit: int
    ) -> tuple[list[str], list[str], bool]:
        sql = f"SELECT id, data FROM {table}{where_sql} ORDER BY seq {direction} LIMIT ?"
        ids: list[str] = []
        rows: list[str] = []
        size = 0
        for object_id, data in self.conn.execute(sql, (*params, limit + 1)):  # lazily
            if len(rows) == limit or (rows and size + len(data) > PAGE_BYTES):
                return ids, rows, True
            ids.append(object_id)
            rows.append(data)
            size += len(data)
        return ids, rows, False

    async def lock(self, key: str) -> None:
        return None  # one process, and its transactions never interleave

    async def put_tombstone(
        self, object_id: str, table: str, seq: int, thread_id: str | None, run_id: str | None
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO tombstones (id, tbl, seq, thread_id, run_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (object_id, table, seq, thread_id, run_id),
        )


def _execute_ddl(conn: sqlite3.Connection, statement: str) -> None:
    """One migration statement; an `ALTER TABLE … ADD COLUMN` of a column that is already
    there counts as done (SQLite has no ADD COLUMN IF NOT EXISTS; a migration run again)."""
    try:
        conn.execute(statement)
    except sqlite3.OperationalError as exc:
        if not (
            str(exc).startswith("duplicate column name")
            and statement.lstrip().upper().startswith("ALTER TABLE")
        ):
            raise
