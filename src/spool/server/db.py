"""SQLite persistence for the server: one JSON document per object, ordered by insertion.

Tables hold the API object as JSON plus the columns needed to find and order it. `seq` (an
INTEGER PRIMARY KEY) gives a stable total order, so objects created within the same second page
in creation order. The schema version lives in `PRAGMA user_version`; `migrate()` upgrades it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1

TABLES = ("assistants", "threads", "messages", "runs", "steps")
Table = Literal["assistants", "threads", "messages", "runs", "steps"]

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
}

# Extra indexed columns per table, taken from the object on every write.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "assistants": (),
    "threads": (),
    "messages": ("thread_id", "run_id"),
    "runs": ("thread_id", "status"),
    "steps": ("run_id", "thread_id"),
}

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Database:
    """The server's SQLite file (WAL). Used from the event-loop thread only; calls are short."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.migrate()

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
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        self.conn.close()

    # --- documents -----------------------------------------------------------------------

    def insert(self, table: Table, obj: dict[str, Any]) -> None:
        cols = _COLUMNS[table]
        names = ", ".join(("id", *cols, "data"))
        marks = ", ".join("?" * (len(cols) + 2))
        values = (obj["id"], *(obj.get(c) for c in cols), _dumps(obj))
        self.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)

    def update(self, table: Table, obj: dict[str, Any]) -> None:
        cols = _COLUMNS[table]
        sets = ", ".join(f"{c} = ?" for c in (*cols, "data"))
        values = (*(obj.get(c) for c in cols), _dumps(obj), obj["id"])
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", values)

    def get(self, table: Table, object_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT data FROM {table} WHERE id = ?", (object_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, table: Table, object_id: str) -> bool:
        cur = self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
        return cur.rowcount > 0

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
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """One page of a list endpoint; None when the `after`/`before` cursor is unknown.

        Returns (objects, has_more). `after` moves in the requested order; `before` returns the
        objects just before the cursor (still in the requested order).
        """
        for column in where:
            assert column in _COLUMNS[table]
        clauses = [f"{c} = ?" for c in where]
        params: list[Any] = list(where.values())
        desc = order == "desc"

        def cursor_seq(object_id: str) -> int | None:
            row = self.conn.execute(
                f"SELECT seq FROM {table} WHERE id = ?", (object_id,)
            ).fetchone()
            return row[0] if row else None

        reverse = False
        if after:
            seq = cursor_seq(after)
            if seq is None:
                return None
            clauses.append("seq < ?" if desc else "seq > ?")
            params.append(seq)
        if before:
            seq = cursor_seq(before)
            if seq is None:
                return None
            clauses.append("seq > ?" if desc else "seq < ?")
            params.append(seq)
            if not after:
                reverse = True  # walk backwards from the cursor, then flip
        direction = "DESC" if desc != reverse else "ASC"
        sql = f"SELECT data FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY seq {direction} LIMIT ?"
        params.append(limit + 1)
        rows = self.conn.execute(sql, params).fetchall()
        has_more = len(rows) > limit
        objects = [json.loads(r[0]) for r in rows[:limit]]
        if reverse:
            objects.reverse()
        return objects, has_more
