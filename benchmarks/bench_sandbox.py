"""code_interpreter's sandbox: session cold start, warm call overhead, 10 sessions at once.

Cold start: the first call of a thread (bubblewrap + kernel up, `print(1)` back), 20 runs.
Warm: `pass` round trips in a warm session, 20 runs. Goals: cold <= 1.5 s, warm <= 50 ms.
Then 10 threads run numpy code at once: all must complete; memory (RSS, and PSS where
readable) of this process (the server side) and of all sandbox processes.

Last, the same through `spool serve` and the SDK: a whole echo run of `/code print(1)` (create
and poll) in a new thread (cold) and again in the same thread (warm).

    .venv/bin/python benchmarks/bench_sandbox.py [--runs 20] [--threads 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from spool.server.sandbox import SandboxManager, SandboxSettings


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB (PSS 0 when unreadable)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def line(name: str, samples: list[float], unit: str = "ms") -> str:
    return (
        f"{name}: p50 {percentile(samples, 0.5):.1f} {unit}, p95 {percentile(samples, 0.95):.1f} "
        f"{unit}, min {min(samples):.1f}, max {max(samples):.1f} (n={len(samples)})"
    )


async def main(runs: int, threads: int) -> None:
    hidden = [Path(tempfile.mkdtemp())]
    manager = SandboxManager(SandboxSettings(max_sessions=threads + 2), hidden=hidden)
    problem = manager.problem()
    if problem:
        raise SystemExit(problem)
    cold = []
    for i in range(runs):
        start = time.perf_counter()
        result = await manager.run(f"cold-{i}", "print(1)")
        cold.append((time.perf_counter() - start) * 1000)
        assert result.logs == "1\n", result.logs
        await manager.end(f"cold-{i}")
    print(line("cold start (first call of a thread, print(1))", cold))
    await manager.run("warm", "pass")
    warm = []
    for _ in range(runs):
        start = time.perf_counter()
        await manager.run("warm", "pass")
        warm.append((time.perf_counter() - start) * 1000)
    print(line("warm call overhead (pass)", warm))
    await manager.end("warm")

    code = "import numpy as np\nprint(int(np.arange(1_000_000).sum()))"
    start = time.perf_counter()
    results = await asyncio.gather(*(manager.run(f"par-{i}", code) for i in range(threads)))
    took = time.perf_counter() - start
    ok = sum(r.logs == "499999500000\n" for r in results)
    print(f"{threads} threads at once (cold, numpy): {ok}/{threads} completed in {took:.2f} s")
    server_rss, server_pss = memory_kb(os.getpid())
    total_rss = total_pss = 0
    count = 0
    for session in manager.sessions.values():
        assert session.proc is not None
        for pid in descendants(session.proc.pid):
            rss, pss = memory_kb(pid)
            total_rss += rss
            total_pss += pss
            count += 1
    print(
        f"memory: server process RSS {server_rss / 1024:.0f} MiB (PSS {server_pss / 1024:.0f}); "
        f"{threads} sandboxes ({count} processes) RSS {total_rss / 1024:.0f} MiB, "
        f"PSS {total_pss / 1024:.0f} MiB ({total_pss / 1024 / threads:.0f} MiB each)"
    )
    await manager.shutdown()


def through_server(runs: int) -> None:
    import warnings

    import openai

    from _server import API_KEY, spool_server

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with spool_server() as url, openai.OpenAI(base_url=url, api_key=API_KEY) as client:
        assistant = client.beta.assistants.create(
            model="echo", tools=[{"type": "code_interpreter"}]
        )

        def one(thread_id: str) -> float:
            client.beta.threads.messages.create(thread_id, role="user", content="/code print(1)")
            start = time.perf_counter()
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread_id, assistant_id=assistant.id, poll_interval_ms=5
            )
            took = (time.perf_counter() - start) * 1000
            assert run.status == "completed", run.last_error
            return took

        cold, warm = [], []
        for _ in range(runs):
            thread = client.beta.threads.create()
            cold.append(one(thread.id))
            warm.append(one(thread.id))
    print(line("spool serve, whole run of /code print(1), new thread", cold))
    print(line("spool serve, whole run of /code print(1), same thread again", warm))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.threads))
    through_server(args.runs)
