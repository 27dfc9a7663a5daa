"""Where the server keeps its objects: one interface (`base.Database`), two backends (SQLite,
the embedded default; PostgreSQL, for N replicas), chosen by a database URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from spool.server.storage.base import COLUMNS, PAGE_BYTES, TABLES, Database, Page, Table
from spool.server.storage.migrations import SCHEMA_VERSION

__all__ = [
    "COLUMNS",
    "PAGE_BYTES",
    "SCHEMA_VERSION",
    "TABLES",
    "Database",
    "Page",
    "Table",
    "check_url",
    "open_database",
]

DEFAULT_FILE = "spool.db"


def check_url(url: str | None) -> str | None:
    """Why a `--database` value cannot work (None when it can)."""
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            return "a SQLite URL is sqlite:///PATH (three slashes, then the file's path)"
        return None
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            return (
                "PostgreSQL needs the postgres extra: pip install 'spool[postgres]' "
                "(psycopg and psycopg-pool)"
            )
        return None
    return f"unknown database URL scheme {scheme!r}: use sqlite:///PATH or postgresql://…"


async def open_database(url: str | None, data_dir: Path) -> Database:
    """The database a URL names (default: `spool.db` in the data dir), migrated."""
    problem = check_url(url)
    if problem:
        raise ValueError(problem)
    if url and not url.startswith("sqlite:"):
        from spool.server.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    from spool.server.storage.sqlite import SQLiteDatabase

    # sqlite:////abs/path.db is absolute, sqlite:///rel.db relative to the working directory
    path = Path(url.removeprefix("sqlite:///")) if url else data_dir / DEFAULT_FILE
    return SQLiteDatabase(path)
