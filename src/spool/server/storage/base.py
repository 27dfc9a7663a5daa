"""The storage interface every route and manager awaits: one JSON document per object, in a
total order (`seq`), with the few columns needed to find it, tombstones for list cursors, and
short transactions.

Two backends implement it: `sqlite.SQLiteDatabase` (the embedded default, one WAL file) and
`postgres.PostgresDatabase` (psycopg 3 async with a pool; N replicas share it). Calls are
coroutines on both; the SQLite ones never suspend (a short call needs no thread hop), so a
transaction made only of database calls runs on the loop without interleaving.

Portable SQL for the few hand-written queries goes through `fetchall`/`fetchone`/`execute`
with `?` placeholders; what differs between dialects is behind named methods.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, get_args

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

# Extra indexed columns per table, taken from the object on every write.
COLUMNS: dict[str, tuple[str, ...]] = {
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

dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class Page:
    """One page of a list endpoint, objects still as their stored JSON text."""

    ids: list[str]
    rows: list[str]
    has_more: bool


Dialect = Literal["sqlite", "postgresql"]


class Database(ABC):
    """What the server stores, whichever engine holds it (see the module docstring)."""

    dialect: Dialect
    fixed_modes: list[str]

    # --- lifecycle -----------------------------------------------------------------------

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    # --- portable SQL ----------------------------------------------------------------------

    @abstractmethod
    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query written with `?` placeholders in SQL both dialects understand."""

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (`?` placeholders); returns the number of rows it changed."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """BEGIN … COMMIT (or ROLLBACK), joining the caller's transaction when one is open."""

    @abstractmethod
    async def lock(self, key: str) -> None:
        """Hold a lock named `key` until the open transaction ends (PostgreSQL: an advisory
        lock shared by every replica; SQLite: one process whose transactions do not
        interleave, so nothing to do)."""

    @abstractmethod
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the open transaction commits (now when none is open): work
        handed to another task (an indexing queue) must not look before the commit."""

    # --- documents -------------------------------------------------------------------------

    async def insert(self, table: Table, obj: dict[str, Any], **columns: Any) -> None:
        """Store an object; indexed columns come from `columns` or else from the object."""
        cols = COLUMNS[table]
        names = ", ".join(("id", *cols, "data"))
        marks = ", ".join("?" * (len(cols) + 2))
        values = (obj["id"], *(columns.get(c, obj.get(c)) for c in cols), dumps(obj))
        await self.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)

    async def update(self, table: Table, obj: dict[str, Any]) -> None:
        cols = [c for c in COLUMNS[table] if c in obj]
        sets = ", ".join(f"{c} = ?" for c in (*cols, "data"))
        values = (*(obj.get(c) for c in cols), dumps(obj), obj["id"])
        await self.execute(f"UPDATE {table} SET {sets} WHERE id = ?", values)

    async def get(self, table: Table, object_id: str) -> dict[str, Any] | None:
        raw = await self.get_raw(table, object_id)
        return json.loads(raw) if raw is not None else None

    async def get_raw(self, table: Table, object_id: str) -> str | None:
        """The stored JSON text of an object (answered as is: no decode/encode on the loop)."""
        row = await self.fetchone(f"SELECT data FROM {table} WHERE id = ?", (object_id,))
        return row[0] if row else None

    async def delete(self, table: Table, object_id: str) -> bool:
        """Delete one object, keeping a tombstone of its list position for cursors."""
        cols = [c for c in ("thread_id", "run_id") if c in COLUMNS[table]]
        select = ", ".join(("seq", *cols))
        async with self.transaction():
            found = await self.fetchone(f"SELECT {select} FROM {table} WHERE id = ?", (object_id,))
            if found is None:
                return False
            values = dict(zip(("seq", *cols), found, strict=True))
            await self.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
            await self.put_tombstone(
                object_id, table, values["seq"], values.get("thread_id"), values.get("run_id")
            )
        return True

    @abstractmethod
    async def put_tombstone(
        self, object_id: str, table: str, seq: int, thread_id: str | None, run_id: str | None
    ) -> None:
        """Insert or replace the tombstone of a deleted object."""

    async def put_tool_output(self, row: tuple[str, str, str, str, str, str]) -> None:
        """Insert or replace (call_id, run_id, type, arguments, output, citations)."""
        await self.execute(
            "INSERT INTO tool_outputs (call_id, run_id, type, arguments, output, citations) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE SET "
            "run_id = excluded.run_id, type = excluded.type, arguments = excluded.arguments, "
            "output = excluded.output, citations = excluded.citations",
            row,
        )

    async def delete_where(self, table: Table, column: str, value: str) -> None:
        assert column in COLUMNS[table]
        await self.execute(f"DELETE FROM {table} WHERE {column} = ?", (value,))

    async def all_where(
        self, table: Table, column: str, value: str, *, order: str = "asc"
    ) -> list[dict[str, Any]]:
        assert column in COLUMNS[table]
        direction = "ASC" if order == "asc" else "DESC"
        rows = await self.fetchall(
            f"SELECT data FROM {table} WHERE {column} = ? ORDER BY seq {direction}", (value,)
        )
        return [json.loads(r[0]) for r in rows]

    async def with_status(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(statuses))
        rows = await self.fetchall(
            f"SELECT data FROM runs WHERE status IN ({marks}) ORDER BY seq", statuses
        )
        return [json.loads(r[0]) for r in rows]

    async def page(
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
            assert column in COLUMNS[table]
        clauses = [f"{c} = ?" for c in where]
        params: list[Any] = list(where.values())
        desc = order == "desc"
        reverse = False
        if after:
            seq = await self._cursor_seq(table, after, where)
            if seq is None:
                return None
            clauses.append("seq < ?" if desc else "seq > ?")
            params.append(seq)
        if before:
            seq = await self._cursor_seq(table, before, where)
            if seq is None:
                return None
            clauses.append("seq > ?" if desc else "seq < ?")
            params.append(seq)
            if not after:
                reverse = True  # walk backwards from the cursor, then flip
        direction = "DESC" if desc != reverse else "ASC"
        where_sql = " WHERE " + " AND ".join(clauses) if clauses else ""
        ids, rows, has_more = await self._page_rows(table, where_sql, params, direction, limit)
        if reverse:
            ids.reverse()
            rows.reverse()
        return Page(ids, rows, has_more)

    @abstractmethod
    async def _page_rows(
        self, table: str, where_sql: str, params: list[Any], direction: str, limit: int
    ) -> tuple[list[str], list[str], bool]:
        """(ids, JSON texts, has_more) of up to `limit` rows in `seq` order, cut once they
        reach PAGE_BYTES (at least one row), reading no more of the rows than that."""

    async def _cursor_seq(self, table: Table, object_id: str, where: dict[str, str]) -> int | None:
        """The list position of a cursor id (live or deleted) that belongs to this list."""
        cols = list(where)
        select = ", ".join(("seq", *cols))
        # (ids of a store's files repeat across stores: look the cursor up in this list first)
        match = "".join(f" AND {c} = ?" for c in cols)
        found = await self.fetchone(
            f"SELECT {select} FROM {table} WHERE id = ?{match}", (object_id, *where.values())
        ) or await self.fetchone(f"SELECT {select} FROM {table} WHERE id = ?", (object_id,))
        if found is None:
            if any(c not in ("thread_id", "run_id") for c in cols):
                return None
            found = await self.fetchone(
                f"SELECT {select} FROM tombstones WHERE id = ? AND tbl = ?", (object_id, table)
            )
            if found is None:
                return None
        if list(found[1:]) != list(where.values()):
            return None  # an id from another list
        return found[0]
