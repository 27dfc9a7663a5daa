"""The PostgreSQL backend: psycopg 3 async with a connection pool (psycopg-pool), shared by
any number of `spool serve` replicas.

Each call takes a pooled connection (autocommit) for one statement. `transaction()` pins one
connection for the block: the calls inside it (in the same task) use it, found through a
context variable; the holder is emptied when the block ends, so a task or timer started inside
never reuses a finished transaction. Statements are written with `?` placeholders (translated
to psycopg's `%s` once per statement text). Migrations run under an advisory lock, so replicas
starting together upgrade the schema once.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from spool.server.errors import ApiError
from spool.server.storage.base import PAGE_BYTES, Database
from spool.server.storage.migrations import POSTGRES_MIGRATIONS, SCHEMA_VERSION

MIGRATION_LOCK = 0x5F001  # pg_advisory_xact_lock key while upgrading the schema
POOL_TIMEOUT_S = 10.0  # waiting longer for a pooled connection answers 503
OPEN_TIMEOUT_S = 10.0  # the database must answer within this at start


def unavailable(exc: BaseException) -> ApiError:
    """What a client is told when the database cannot be reached (retryable)."""
    return ApiError(
        503,
        "The database is unavailable right now; retry shortly.",
        type="server_error",
        code="database_unavailable",
        headers={"retry-after": "1", "x-should-retry": "true"},
    )


@contextlib.asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Lost connections and an exhausted pool become a 503 (never a 500)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise unavailable(exc) from exc


@functools.lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Pinned:
    """The connection of an open transaction (None once it ended)."""

    __slots__ = ("after", "conn")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.after: list[Callable[[], None]] = []


class PostgresDatabase(Database):
    """A PostgreSQL database (see the module docstring); create with `await open(url)`."""

    dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.url = url
        self.fixed_modes = []
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            name="spool",
            timeout=POOL_TIMEOUT_S,
        )
        self._pinned: contextvars.ContextVar[_Pinned | None] = contextvars.ContextVar(
            f"spool-pg-{id(self)}", default=None
        )

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> PostgresDatabase:
        import psycopg

        try:  # one plain connection first: its error says what is wrong (the pool's would not)
            probe = await psycopg.AsyncConnection.connect(url, connect_timeout=OPEN_TIMEOUT_S)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise RuntimeError(f"cannot connect to PostgreSQL: {reason}") from exc
        await probe.close()
        db = cls(url, **kwargs)
        await db.pool.open(wait=True, timeout=OPEN_TIMEOUT_S)
        try:
            await db.migrate()
        except BaseException:
            await db.pool.close()
            raise
        return db

    async def migrate(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
            )
            row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
            if row is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                version = 0
            else:
                version = row[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database has schema version {version}, newer than this spool "
                    f"({SCHEMA_VERSION}); upgrade spool or use another database"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in POSTGRES_MIGRATIONS[target]:
                    await conn.execute(statement)
                await conn.execute("UPDATE schema_version SET version = %s", (target,))

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT version FROM schema_version")
        return row[0] if row else 0

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        pinned = self._pinned.get()
        if pinned is not None and pinned.conn is not None:
            yield pinned.conn
            return
        async with _reachable(), self.pool.connection() as conn:
            yield conn

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cursor = await conn.execute(to_psycopg(sql), params)
            return await cursor.fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._conn() as conn:
            cursor = await conn.execute(to_psycopg(sql), params)
            return cursor.rowcount

    async def copy_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        """COPY rows into a table (in the open transaction, if any); how many were copied."""
        count = 0
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        async with (
            self._conn() as conn,
            conn.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                await copy.write_row(row)
                count += 1
        return count

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        pinned = self._pinned.get()
        if pinned is not None and pinned.conn is not None:
            yield
            return
        holder = None
        async with _reachable(), self.pool.connection() as conn, conn.transaction():
            holder = _Pinned(conn)
            token = self._pinned.set(holder)
            try:
                yield
            finally:
                holder.conn = None
                self._pinned.reset(token)
        for callback in holder.after:  # committed (an exception skips this)
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        pinned = self._pinned.get()
        if pinned is not None and pinned.conn is not None:
            pinned.after.append(callback)
        else:
            callback()

    async def _page_rows(
        self, table: str, where_sql: str, params: list[Any], direction: str, limit: int
    ) -> tuple[list[str], list[str], bool]:
        # The running size (octet_length reads a TOASTed value's size without detoasting it)
        # decides in the database which rows' data is sent: one round trip, and the rows past
        # the cut cost an id (a WindowAgg over ORDER BY seq … LIMIT streams, it stops early).
        sql = (
            f"SELECT id, CASE WHEN n = 1 OR running <= {PAGE_BYTES} THEN data END FROM ("
            f"SELECT id, data, row_number() OVER w AS n, sum(octet_length(data)) OVER w AS running"
            f" FROM {table}{where_sql}"
            f" WINDOW w AS (ORDER BY seq {direction} ROWS UNBOUNDED PRECEDING)"
            f" ORDER BY seq {direction} LIMIT ?) AS page ORDER BY n"
        )
        ids: list[str] = []
        rows: list[str] = []
        for object_id, data in await self.fetchall(sql, (*params, limit + 1)):
            if len(rows) == limit or data is None:
                return ids, rows, True
            ids.append(object_id)
            rows.append(data)
        return ids, rows, False

    async def lock(self, key: str) -> None:
        await self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    async def put_tombstone(
        self, object_id: str, table: str, seq: int, thread_id: str | None, run_id: str | None
    ) -> None:
        await self.execute(
            "INSERT INTO tombstones (id, tbl, seq, thread_id, run_id) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET tbl = excluded.tbl, seq = excluded.seq, "
            "thread_id = excluded.thread_id, run_id = excluded.run_id",
            (object_id, table, seq, thread_id, run_id),
        )
