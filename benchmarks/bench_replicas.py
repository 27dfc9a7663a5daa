"""One replica on SQLite vs one on PostgreSQL vs three on PostgreSQL, and failover time.

Load: N concurrent streamed echo runs (raw SSE over httpx, so the client stays cheap) of
`/long WORDS`, paced at `--echo-delay-ms 20` (50 tokens/s each), spread round-robin over the
replicas. Per configuration: errors (a stream that is not 200 or does not end with
`thread.run.completed`), time to first event p50/p99, the longest gap between two events of
one stream (p50/p99 over the streams), and CPU per 1,000 events: the spool processes', and the
PostgreSQL backends' serving this database (the replicas' connections).

Failover: three replicas on PostgreSQL with the default lease (2 s renewal, 10 s expiry); a
streamed `/long 5000` run on A; `kill -9` of A after its first delta; the time until another
replica answers the run as `failed`. Repeated `--failovers` times (a fresh A each time).

Needs a PostgreSQL server: SPOOL_TEST_DATABASE_URL (a database on it is created per
configuration and dropped afterwards).

    SPOOL_TEST_DATABASE_URL=postgresql://… .venv/bin/python benchmarks/bench_replicas.py \
        [--runs 200] [--words 150] [--echo-delay-ms 20] [--failovers 3] [--only sqlite-1,pg-1,pg-3,failover]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import openai

from _server import API_KEY, cpu_seconds

warnings.filterwarnings("ignore", category=DeprecationWarning)


@dataclass
class Replica:
    url: str
    proc: subprocess.Popen[str]


def start_replica(tmp: Path, index: int, *extra: str) -> Replica:
    data = tmp / f"replica-{index}"
    data.mkdir(parents=True, exist_ok=True)
    config = data / "config.toml"
    config.write_text('default_model = "echo"\n', encoding="utf-8")
    profile = os.environ.get("SPOOL_BENCH_PROFILE")  # a directory: cProfile each replica there
    prefix = ["-m", "cProfile", "-o", f"{profile}/replica-{index}.prof"] if profile else []
    args = [
        sys.executable, *prefix, "-m", "spool", "serve", "--port", "0", "--api-key", API_KEY,
        "--data-dir", str(data), "--config", str(config), *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
            # keep draining so the pipe never fills
            drain_output(proc)
            return Replica(url, proc)
    proc.kill()
    raise RuntimeError("spool serve did not start:\n" + "".join(lines))


def drain_output(proc: subprocess.Popen[str]) -> None:
    import threading

    def drain() -> None:
        for _ in proc.stdout:  # type: ignore[union-attr]
            pass

    threading.Thread(target=drain, daemon=True).start()


def stop(replicas: list[Replica]) -> None:
    for r in replicas:
        if r.proc.poll() is None:  # SIGINT: a clean stop that also lets cProfile write
            r.proc.send_signal(signal.SIGINT)
    for r in replicas:
        with contextlib.suppress(subprocess.TimeoutExpired):
            r.proc.wait(15)
        if r.proc.poll() is None:
            r.proc.kill()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    import psycopg

    name = "spool_bench_" + secrets.token_hex(4)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_backends_cpu(database_url: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to this database."""
    import psycopg

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchall()
        ]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


@dataclass
class StreamResult:
    ok: bool
    first: float = 0.0
    longest_gap: float = 0.0
    events: int = 0
    error: str = ""
    gap_at: str = ""  # the two events around the longest gap
    text_gap: float = 0.0  # the longest gap between two text deltas


@dataclass
class LoadResult:
    name: str
    streams: list[StreamResult] = field(default_factory=list)
    spool_cpu: float = 0.0
    pg_cpu: float = 0.0
    client_cpu: float = 0.0
    wall: float = 0.0


async def one_stream(url: str, assistant_id: str, thread_id: str) -> StreamResult:
    """One streamed run over a plain asyncio connection (HTTP/1.1, chunked): the client's cost
    per event is a few microseconds, so 200 streams in one process measure the server."""
    parts = urlsplit(url)
    body = json.dumps({"assistant_id": assistant_id, "stream": True}).encode()
    request = (
        f"POST {parts.path}/threads/{thread_id}/runs HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nOpenAI-Beta: assistants=v2\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    first = last = None
    gap = 0.0
    events = 0
    final = ""
    gap_at = ""
    previous = ""
    text_gap = 0.0
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            writer.close()
            return StreamResult(False, error=f"HTTP {status.decode()}")
        buffer = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                break
            chunk = await reader.readexactly(size + 2)
            now = time.perf_counter()
            buffer += chunk[:-2]
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if not frame.startswith(b"event: "):
                    continue
                name = frame.split(b"\n", 1)[0][7:].decode()
                if first is None:
                    first = now - start
                else:
                    if now - last > gap:  # type: ignore[operator]
                        gap = now - last  # type: ignore[operator]
                        gap_at = f"{previous} → {name}"
                    if name == previous == "thread.message.delta":
                        text_gap = max(text_gap, now - last)  # type: ignore[operator]
                last = now
                previous = name
                events += 1
                if name != "done":
                    final = name
        writer.close()
    except Exception as exc:  # a stream that breaks is an error, not a crash of the benchmark
        return StreamResult(False, error=repr(exc))
    ok = final == "thread.run.completed"
    return StreamResult(
        ok, first or 0.0, gap, events, "" if ok else f"ended with {final}", gap_at, text_gap
    )


async def load(
    name: str, replicas: list[Replica], runs: int, words: int, database_url: str | None
) -> LoadResult:
    urls = [r.url for r in replicas]
    async with openai.AsyncOpenAI(base_url=urls[0], api_key=API_KEY, max_retries=2) as client:
        assistant = await client.beta.assistants.create(model="echo")
        threads = []
        for i in range(runs):
            async with openai.AsyncOpenAI(
                base_url=urls[i % len(urls)], api_key=API_KEY, max_retries=2
            ) as c:
                threads.append(
                    await c.beta.threads.create(
                        messages=[{"role": "user", "content": f"/long {words}"}]
                    )
                )
    result = LoadResult(name)
    spool0 = sum(cpu_seconds(r.proc.pid) for r in replicas)
    pg0 = pg_backends_cpu(database_url) if database_url else 0.0
    client0 = time.process_time()
    wall0 = time.perf_counter()
    result.streams = await asyncio.gather(
        *(one_stream(urls[i % len(urls)], assistant.id, t.id) for i, t in enumerate(threads))
    )
    result.wall = time.perf_counter() - wall0
    result.client_cpu = time.process_time() - client0
    result.spool_cpu = sum(cpu_seconds(r.proc.pid) for r in replicas) - spool0
    result.pg_cpu = (pg_backends_cpu(database_url) - pg0) if database_url else 0.0
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(results: list[LoadResult], runs: int, words: int, delay: int) -> None:
    print(
        f"\n{runs} concurrent streamed echo runs of /long {words}, --echo-delay-ms {delay}, "
        f"spread round-robin over the replicas"
    )
    header = (
        f"{'config':<10} {'errors':>6} {'first p50':>10} {'first p99':>10} {'gap p50':>8} "
        f"{'gap p99':>8} {'events':>7} {'spool CPU/1k':>13} {'pg CPU/1k':>10} {'wall':>6}"
    )
    print(header)
    base = None
    for r in results:
        good = [s for s in r.streams if s.ok]
        errors = len(r.streams) - len(good)
        events = sum(s.events for s in r.streams)
        firsts = [s.first * 1000 for s in good]
        gaps = [s.longest_gap * 1000 for s in good]
        per_k = (r.spool_cpu / events * 1000 * 1000) if events else float("nan")  # ms
        pg_k = (r.pg_cpu / events * 1000 * 1000) if events else float("nan")
        total = per_k + pg_k
        base = base or total
        print(
            f"{r.name:<10} {errors:>6} {pct(firsts, 50):>8.0f}ms {pct(firsts, 99):>8.0f}ms "
            f"{pct(gaps, 50):>6.0f}ms {pct(gaps, 99):>6.0f}ms {events:>7} "
            f"{per_k:>11.1f}ms {pg_k:>8.1f}ms {r.wall:>5.1f}s   (CPU/1k total {total:.1f} ms, "
            f"{total / base:.2f}x of {results[0].name}; client CPU {r.client_cpu:.1f} s)"
        )
        for s in [s for s in r.streams if not s.ok][:3]:
            print(f"    error: {s.error}")
        where = collections.Counter(s.gap_at for s in good if s.longest_gap * 1000 >= pct(gaps, 90))
        shown = ", ".join(f"{k} ×{n}" for k, n in where.most_common(3))
        print(f"    the longest 10 % of gaps fall between: {shown}")
        text_gaps = [s.text_gap * 1000 for s in good]
        print(
            f"    longest gap between two text deltas: p50 {pct(text_gaps, 50):.0f} ms, "
            f"p99 {pct(text_gaps, 99):.0f} ms"
        )


async def failover(tmp: Path, database_url: str, delay: int) -> float:
    """Seconds from kill -9 of a streaming run's owner to the run shown failed elsewhere."""
    replicas = [
        start_replica(tmp, i, "--database", database_url, "--echo-delay-ms", str(delay))
        for i in range(3)
    ]
    try:
        a, b = replicas[0].url, replicas[1].url
        async with (
            openai.AsyncOpenAI(base_url=a, api_key=API_KEY, max_retries=0) as ca,
            openai.AsyncOpenAI(base_url=b, api_key=API_KEY, max_retries=0) as cb,
        ):
            assistant = await ca.beta.assistants.create(model="echo")
            thread = await ca.beta.threads.create(
                messages=[{"role": "user", "content": "/long 5000"}]
            )
            started = asyncio.Event()
            run_ids: list[str] = []

            async def stream() -> None:
                with contextlib.suppress(Exception):
                    async with ca.beta.threads.runs.stream(
                        thread_id=thread.id, assistant_id=assistant.id
                    ) as s:
                        async for event in s:
                            if event.event == "thread.run.created":
                                run_ids.append(event.data.id)
                            if event.event == "thread.message.delta":
                                started.set()

            task = asyncio.create_task(stream())
            await asyncio.wait_for(started.wait(), 20)
            replicas[0].proc.kill()
            killed = time.perf_counter()
            while True:
                run = await cb.beta.threads.runs.retrieve(run_ids[0], thread_id=thread.id)
                if run.status == "failed":
                    took = time.perf_counter() - killed
                    break
                if time.perf_counter() - killed > 60:
                    took = float("inf")
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return took
    finally:
        stop(replicas)


async def main_async(args: argparse.Namespace) -> None:
    server_url = os.environ.get("SPOOL_TEST_DATABASE_URL")
    only = set(args.only.split(",")) if args.only else {"sqlite-1", "pg-1", "pg-3", "failover"}
    if not server_url and only - {"sqlite-1"}:
        sys.exit("set SPOOL_TEST_DATABASE_URL to a PostgreSQL server (or --only sqlite-1)")
    delay = ["--echo-delay-ms", str(args.echo_delay_ms)]
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="spool-bench-replicas-") as tmp_name:
        tmp = Path(tmp_name)
        if "sqlite-1" in only:
            replicas = [start_replica(tmp / "sqlite", 0, *delay)]
            try:
                results.append(await load("sqlite-1", replicas, args.runs, args.words, None))
            finally:
                stop(replicas)
        for name, count in (("pg-1", 1), ("pg-3", 3)):
            if name not in only:
                continue
            with fresh_database(server_url) as db:  # type: ignore[arg-type]
                replicas = [
                    start_replica(tmp / name, i, "--database", db, *delay) for i in range(count)
                ]
                try:
                    results.append(await load(name, replicas, args.runs, args.words, db))
                finally:
                    stop(replicas)
        if results:
            report(results, args.runs, args.words, args.echo_delay_ms)
        if "failover" in only:
            times = []
            for i in range(args.failovers):
                with fresh_database(server_url) as db:  # type: ignore[arg-type]
                    times.append(await failover(tmp / f"failover-{i}", db, args.echo_delay_ms))
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"\nfailover (kill -9 of the owner → failed on another replica, default lease "
                f"2 s / 10 s): {shown} s; max {max(times):.2f} s (goal ≤ 12 s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--echo-delay-ms", type=int, default=20)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--only", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
