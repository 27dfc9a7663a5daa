"""The cost of the dense half's exact search: one store of N chunks with random unit vectors
(`--dims`, default 768), the nearest 20 to a random query through `retrieval/dense.py`'s
SQLite (numpy, and pure Python with `--no-numpy`) and PostgreSQL (pgvector `<=>`) paths.

    .venv/bin/python benchmarks/bench_dense_scan.py [--sizes 1000,10000,50000] [--database URL]

The chunks are written straight into a fresh database of the current schema (SQLite in a temp
dir; PostgreSQL: a fresh database made on the server at URL and dropped after); it prints the
search p50 per size and backend (11 queries each, the first not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from spool.server.retrieval import dense
from spool.server.retrieval.vectors import normalise, to_blob, to_pgvector
from spool.server.storage import open_database

STORE = "vs_bench"
MODEL = "bench"


def unit(dims: int, rng: random.Random) -> list[float]:
    return list(normalise([rng.gauss(0, 1) for _ in range(dims)]))


async def fill(db, n: int, dims: int, rng: random.Random, start: int) -> None:
    """Chunks start..n-1 with vectors (one completed file per 1,000 chunks)."""
    for first in range(start, n, 1000):
        file_id = f"file-{first // 1000}"
        await db.execute(
            "INSERT INTO vector_store_files (id, vector_store_id, status, data) "
            "VALUES (?, ?, 'completed', '{}') ON CONFLICT DO NOTHING",
            (file_id, STORE),
        )
        async with db.transaction():
            for i in range(first, min(first + 1000, n)):
                v = unit(dims, rng)
                if db.dialect == "sqlite":
                    await db.execute(
                        "INSERT INTO chunks (id, vector_store_id, file_id, position, tokens, "
                        "embedding_model, embedding) VALUES (?, ?, ?, ?, 1, ?, ?)",
                        (i + 1, STORE, file_id, i, MODEL, to_blob(normalise(v))),
                    )
                    await db.execute(
                        "INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", (i + 1, f"c{i}")
                    )
                else:
                    await db.execute(
                        "INSERT INTO chunks (id, vector_store_id, file_id, position, tokens, "
                        "text, embedding_model, embedding) "
                        "VALUES (?, ?, ?, ?, 1, ?, ?, ?::vector)",
                        (i + 1, STORE, file_id, i, f"c{i}", MODEL, to_pgvector(v)),
                    )


async def timed(db, dims: int, rng: random.Random) -> float:
    samples = []
    for _ in range(11):
        query = normalise(unit(dims, rng))
        t0 = time.perf_counter()
        if db.dialect == "sqlite":
            reader = db.reader()
            await asyncio.to_thread(dense.nearest_sqlite, reader, [STORE], None, MODEL, query, 20)
        else:
            await dense.nearest_postgres(db, [STORE], None, MODEL, query, 20)
        samples.append(time.perf_counter() - t0)
    samples = sorted(samples[1:])
    return samples[len(samples) // 2]


async def run(url: str | None, sizes: list[int], dims: int) -> list[tuple[int, float]]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="spool-bench-scan-") as tmp:
        db = await open_database(url, Path(tmp))
        out = []
        done = 0
        try:
            for n in sizes:
                await fill(db, n, dims, rng, done)
                done = n
                out.append((n, await timed(db, dims, rng)))
        finally:
            await db.close()
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--database", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--no-numpy", action="store_true", help="SQLite: the pure-Python path")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.no_numpy:
        sys.modules["numpy"] = None  # type: ignore[assignment]  # import numpy → ImportError
    label = "SQLite (pure Python)" if args.no_numpy else "SQLite (numpy)"
    results = {label: asyncio.run(run(None, sizes, args.dims))}
    if args.database:
        import psycopg

        name = "spool_bench_" + secrets.token_hex(4)
        with psycopg.connect(args.database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            target = urlunsplit(urlsplit(args.database)._replace(path="/" + name))
            results["PostgreSQL (pgvector)"] = asyncio.run(run(target, sizes, args.dims))
        finally:
            with psycopg.connect(args.database, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"exact dense search, {args.dims} dims, nearest 20 of one store: p50 per query")
    for label, rows in results.items():
        print(f"{label:<22} " + "   ".join(f"{n:>6} chunks {s * 1000:7.1f} ms" for n, s in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
