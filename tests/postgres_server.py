"""A throwaway PostgreSQL 16 (with pgvector) for the PostgreSQL tests, through `pgserver`.

    python tests/postgres_server.py start DIR   # prints the URL for SPOOL_TEST_DATABASE_URL
    python tests/postgres_server.py stop DIR

`pgserver` (PyPI) ships PostgreSQL's binaries and pgvector in its wheel; as root it runs the
server as a system user `pgserver` (created with useradd), since PostgreSQL refuses to run as
root. The server listens on a Unix socket inside DIR only (no TCP port), so keep DIR short
(a socket path has at most 107 bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path


def start(pgdata: Path) -> str:
    """Start (or reuse) the server in `pgdata`; it keeps running after this process exits."""
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return server.get_uri()


def stop(pgdata: Path) -> None:
    import pgserver

    pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    pgdata = Path(argv[2]).resolve()
    if argv[1] == "start":
        print(start(pgdata))
    else:
        stop(pgdata)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
