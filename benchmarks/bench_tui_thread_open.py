"""Opening a thread of 1,000 messages: time from the key press to the first painted page.

The thread is filled through the SDK on a `spool serve` (echo), then the TUI (headless 120×40)
opens it with ctrl+down. Only the newest page (20 messages) is fetched, and a screenful of it
mounted; older ones are mounted / fetched as the user scrolls up. Goal: first paint ≤ 300 ms.

Usage: python benchmarks/bench_tui_thread_open.py [--messages 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tui_stream import start_server


async def fill(url: str, key: str, n: int) -> str:
    import warnings

    import openai

    warnings.filterwarnings("ignore")
    client = openai.AsyncOpenAI(base_url=url, api_key=key)
    thread = await client.beta.threads.create()
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with sem:
            role = "user" if i % 2 == 0 else "assistant"
            body = f"Message {i}: " + ("some **markdown** text " * 8)
            await client.beta.threads.messages.create(thread.id, role=role, content=body)

    for start in range(0, n, 100):  # keep creation order
        for i in range(start, min(n, start + 100)):
            await one(i)
    await client.close()
    return str(thread.id)


async def measure(data: Path, thread_id: str, repeat: int) -> list[float]:
    from spool.config import Config, Profile
    from spool.store import ThreadRecord
    from spool.tui.app import SpoolApp
    from spool.tui.widgets.message import MessageView
    from spool.tui.widgets.transcript import WINDOW

    times: list[float] = []
    phases: list[tuple[float, float, float]] = []
    app = SpoolApp(
        data_dir=data,
        model="echo",
        cursor_blink=False,
        config=Config(profiles={"local": Profile("local")}),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        app.store.add_thread(ThreadRecord(thread_id, "local", "big thread", None, 1.0, 1.0))
        app._refresh_sidebar()
        for _ in range(repeat):
            app.workspace.drop(thread_id)
            await pilot.pause()
            t0 = time.perf_counter()
            # what ctrl+down runs (pilot.press itself waits for the app to go idle first)
            app.action_next_thread()  # the big thread is the oldest: below the current one
            view = app.workspace.view(thread_id)
            while not view.loaded:
                await asyncio.sleep(0.002)
            t_loaded = time.perf_counter()
            await app.wait_for_ui()
            t_mounted = time.perf_counter()
            await pilot.pause()
            times.append(time.perf_counter() - t0)
            phases.append((t_loaded - t0, t_mounted - t_loaded, time.perf_counter() - t_mounted))
            shown = len(app.transcript.query(MessageView))
            assert shown == WINDOW, shown
            await pilot.press("ctrl+up")
            await pilot.pause()
    for loaded, mounted, painted in phases:
        print(
            f"  fetch {loaded * 1000:.0f} ms, mount {mounted * 1000:.0f} ms, "
            f"paint {painted * 1000:.0f} ms"
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        proc, url, key = start_server(data, 0)
        try:
            t0 = time.perf_counter()
            thread_id = asyncio.run(fill(url, key, args.messages))
            print(f"filled {args.messages} messages in {time.perf_counter() - t0:.1f} s")
            times = asyncio.run(measure(data, thread_id, args.repeat))
        finally:
            proc.terminate()
            proc.wait(10)
    print(
        f"open a {args.messages}-message thread → first paint: median "
        f"{statistics.median(times) * 1000:.0f} ms, runs {[round(t * 1000) for t in times]} ms "
        "(goal ≤ 300 ms)"
    )


if __name__ == "__main__":
    main()
