"""The storage backends side by side, in one run: SQLite before the async storage interface
(`--before COMMIT`, extracted with `git archive`), SQLite now, PostgreSQL now.

Per variant, one fresh echo server: p50/p99 of sequential `assistants.retrieve` (a read),
of sequential `messages.create` (a write), of `messages.list(limit=20)` on a 200-message
thread (a page), server CPU per streamed event over `--streams` concurrent raw SSE runs
of `/long WORDS` (every delta also updates the stored message now and then), and a
`max_prompt_tokens=256` run on a thread of `--history` messages: its time and the worst
`GET /v1/models` of another client meanwhile. With `--before` naming a tree that has the
PostgreSQL backend, PostgreSQL is measured before and now too.

    .venv/bin/python benchmarks/bench_storage.py [--before 33b3cb1] [--streams 50] [--history 5000]

PostgreSQL: `SPOOL_TEST_DATABASE_URL` (see tests/postgres_server.py); each run gets a fresh
database, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx
import openai

from _server import API_KEY, cpu_seconds

warnings.filterwarnings("ignore", category=DeprecationWarning)
ROOT = Path(__file__).resolve().parents[1]
HEADERS = {"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "assistants=v2"}


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = "spool_bench_" + secrets.token_hex(4)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def server(extra: list[str], pythonpath: str | None) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="spool-bench-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text('default_model = "echo"\n', encoding="utf-8")
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        args = [sys.executable, "-m", "spool", "serve", "--port", "0", "--api-key", API_KEY,
                "--data-dir", tmp, "--config", str(config), "--echo-delay-ms", "2", *extra]  # fmt: skip
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
        if url is None:
            proc.kill()
            raise RuntimeError("spool serve did not start")
        try:
            yield url, proc.pid
        finally:
            proc.terminate()
            proc.wait(10)


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.2f} / {p99:.2f}"


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def streams(url: str, assistant_id: str, n: int, words: int) -> int:
    async with httpx.AsyncClient(headers=HEADERS, timeout=120) as http:
        threads = []
        for _ in range(n):
            r = await http.post(f"{url}/threads", json={})
            threads.append(r.json()["id"])

        async def one(thread_id: str) -> int:
            count = 0
            body = {
                "assistant_id": assistant_id,
                "stream": True,
                "additional_messages": [{"role": "user", "content": f"/long {words}"}],
            }
            async with http.stream("POST", f"{url}/threads/{thread_id}/runs", json=body) as r:
                async for line in r.aiter_lines():
                    count += line.startswith("event: ")
            return count

        return sum(await asyncio.gather(*(one(t) for t in threads)))


def truncated_run(url: str, client: openai.OpenAI, assistant_id: str, n: int) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from server_helpers import StallProbe, wait_for_run

    class Target:  # what StallProbe needs of a server
        base_url = url
        api_key = API_KEY

    text = " ".join(["word"] * 50)
    with httpx.Client(base_url=url + "/", headers=HEADERS, timeout=30) as http:
        thread = http.post("threads", json={}).json()["id"]
        for _ in range(n):
            http.post(f"threads/{thread}/messages", json={"role": "user", "content": text})
    with StallProbe(Target()) as probe:
        start = time.perf_counter()
        run = client.beta.threads.runs.create(
            thread_id=thread, assistant_id=assistant_id, max_prompt_tokens=256
        )
        run = wait_for_run(client, thread, run.id, timeout=120)
        took = (time.perf_counter() - start) * 1000
    assert run.status == "completed", run.last_error
    return f"{took:.0f} ms / {probe.worst_ms:.1f} ms"


def measure(url: str, pid: int, args: argparse.Namespace) -> dict[str, str]:
    with openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0) as client:
        assistant = client.beta.assistants.create(model="echo")
        thread = client.beta.threads.create()
        reads = timed(lambda: client.beta.assistants.retrieve(assistant.id), args.requests)
        writes = timed(
            lambda: client.beta.threads.messages.create(thread.id, role="user", content="hi"),
            args.requests,
        )
        pages = timed(lambda: client.beta.threads.messages.list(thread.id, limit=20), 100)
        history = truncated_run(url, client, assistant.id, args.history)
    before = cpu_seconds(pid)
    events = asyncio.run(streams(url, assistant.id, args.streams, args.words))
    cpu = cpu_seconds(pid) - before
    return {
        "read p50/p99 ms": ms(reads),
        "write p50/p99 ms": ms(writes),
        "page p50/p99 ms": ms(pages),
        "events per CPU s": f"{events / cpu:,.0f} ({events} events)",
        "truncated run / worst stall": history,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="33b3cb1", help="commit before the async storage")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--history", type=int, default=5000)
    args = parser.parse_args()
    results: dict[str, dict[str, str]] = {}
    admin = os.environ.get("SPOOL_TEST_DATABASE_URL")
    if not admin:
        print("(PostgreSQL skipped: set SPOOL_TEST_DATABASE_URL)")
    with tempfile.TemporaryDirectory(prefix="spool-before-") as old:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
        old_src = str(Path(old) / "src")
        has_postgres = (Path(old_src) / "spool/server/storage/postgres.py").exists()
        for label, pythonpath in ((f"@{args.before}", old_src), ("now", None)):
            with server([], pythonpath) as (url, pid):
                results[f"SQLite {label}"] = measure(url, pid, args)
            if admin and (pythonpath is None or has_postgres):
                with (
                    fresh_database(admin) as database,
                    server(["--database", database], pythonpath) as (url, pid),
                ):
                    results[f"PostgreSQL {label}"] = measure(url, pid, args)
    keys = next(iter(results.values())).keys()
    for key in keys:
        print(key)
        for name, row in results.items():
            print(f"  {name:<24} {row[key]}")


if __name__ == "__main__":
    main()
