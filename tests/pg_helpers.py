"""PostgreSQL for the replica tests: the server named by `SPOOL_TEST_DATABASE_URL`, one fresh
database per test (created and dropped here), skipped with a message when the variable is unset.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "SPOOL_TEST_DATABASE_URL"
SKIP_MESSAGE = (
    f"{ENV} is unset: the replica tests need a PostgreSQL server: export {ENV}=$("
    ".venv/bin/python tests/postgres_server.py start /tmp/spool-pg) (as .ci/run does; README, "
    "Development)"
)


def server_url() -> str:
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(SKIP_MESSAGE)
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def fresh_database() -> Iterator[str]:
    """A new empty database on the test server (dropped afterwards); yields its URL."""
    import psycopg

    url = server_url()
    name = "spool_t_" + secrets.token_hex(6)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
