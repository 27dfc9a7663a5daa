"""Message search at scale: 10,000 threads × 20 messages in spool's server.

1. Builds the server's database through its own storage layer (`Database.insert`, so the FTS
   triggers index every message as the routes would), ~30 words a message drawn from a
   Zipf-like vocabulary of 5,000 words (a few very common words, a long tail of rare ones).
2. Starts `spool serve` on it and times `GET /v1/spool/search` through the SDK client on one
   kept-alive connection: rare, medium and common words, two-word queries and prefixes
   (search as you type). Goal: p50 ≤ 50 ms.
3. Times the TUI search screen (headless 120×40, the real `SearchScreen` and
   `spool.client.search`) from a query to its results drawn. Goal: ≤ 200 ms.

Usage: python benchmarks/bench_search.py [--threads 10000] [--messages 20] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

API_KEY = "sk-bench"
VOCABULARY = 5000


def make_words(rng: random.Random) -> list[str]:
    """5,000 distinct pronounceable words."""
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        n = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(n)))
    return sorted(words, key=lambda w: (len(w), w))


def build(data_dir: Path, threads: int, per_thread: int) -> tuple[list[str], float]:
    """The database with `threads` × `per_thread` messages; returns (vocabulary by rank, s)."""
    import asyncio

    from spool.server import objects
    from spool.server.storage.sqlite import SQLiteDatabase as Database

    rng = random.Random(11)
    words = make_words(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf: rank 1 is the commonest
    db = Database(data_dir / "spool.db")
    t0 = time.perf_counter()
    run = asyncio.new_event_loop().run_until_complete
    with db.sync_transaction():
        for _ in range(threads):
            thread = objects.thread({})
            run(db.insert("threads", thread))
            for j in range(per_thread):
                text = " ".join(rng.choices(words, weights, k=rng.randint(10, 50)))
                role = "user" if j % 2 == 0 else "assistant"
                run(
                    db.insert(
                        "messages",
                        objects.user_message(thread["id"], {"role": role, "content": text}),
                    )
                )
    db.close_now()
    return words, time.perf_counter() - t0


def start_server(data_dir: Path) -> tuple[str, subprocess.Popen[str]]:
    config = data_dir / "config.toml"
    config.write_text('default_model = "echo"\n', encoding="utf-8")
    args = [
        sys.executable, "-m", "spool", "serve", "--port", "0", "--api-key", API_KEY,
        "--data-dir", str(data_dir), "--config", str(config),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on " in line:
            return line.split("listening on ", 1)[1].strip(), proc
    proc.kill()
    raise RuntimeError("spool serve did not start")


def queries(words: list[str]) -> dict[str, list[str]]:
    return {
        "common word (top 10)": words[:5],
        "medium word (rank ~100)": words[100:105],
        "rare word (rank ~4,000)": words[4000:4005],
        "two words": [f"{words[3]} {words[200]}", f"{words[50]} {words[60]}"],
        "prefix, 3 letters": [words[300][:3], words[2000][:3]],
        "no match": ["qqqqxx"],
    }


def bench_server(url: str, words: list[str], repeat: int) -> list[float]:
    import openai

    client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    client.get("/spool/search", cast_to=object, options={"params": {"q": "warm"}})
    everything: list[float] = []
    for label, qs in queries(words).items():
        times, hits = [], 0
        for _ in range(repeat):
            for q in qs:
                t0 = time.perf_counter()
                body = client.get("/spool/search", cast_to=object, options={"params": {"q": q}})
                times.append((time.perf_counter() - t0) * 1000)
                hits = max(hits, len(body["data"]))
        everything += times
        print(
            f"  {label:24} p50 {statistics.median(times):6.1f} ms  max {max(times):6.1f} ms"
            f"  ({hits} results on the page)"
        )
    client.close()
    return everything


async def bench_screen(url: str, words: list[str]) -> list[float]:
    import openai
    from textual.app import App

    from spool.client.search import MessageSearch, SearchAnswer
    from spool.tui.screens.search import SearchScreen

    client = openai.AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    searcher = MessageSearch(client)

    async def search(q: str) -> SearchAnswer:
        return await searcher.search(q, [])

    screen = SearchScreen(search, lambda tid: f"thread {tid[-6:]}", debounce_s=0)

    class Harness(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    times: list[float] = []
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for qs in queries(words).values():
            for q in qs:
                t0 = time.perf_counter()
                screen.search_now(q)
                while screen.answer is None or screen.answer.query != q:
                    await asyncio.sleep(0.001)
                await pilot.pause()  # the refresh that draws them
                times.append((time.perf_counter() - t0) * 1000)
    await client.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=10000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spool-bench-search-") as tmp:
        data_dir = Path(tmp)
        words, took = build(data_dir, args.threads, args.messages)
        size = (data_dir / "spool.db").stat().st_size / 1e6
        total = args.threads * args.messages
        print(f"built {args.threads} threads × {args.messages} = {total} messages in {took:.1f} s")
        print(f"  ({total / took:,.0f} inserts/s with the FTS triggers; database {size:.0f} MB)")
        url, proc = start_server(data_dir)
        try:
            print("GET /v1/spool/search through the SDK (one kept-alive connection):")
            server = bench_server(url, words, args.repeat)
            print(
                f"  all queries: p50 {statistics.median(server):.1f} ms, "
                f"p95 {statistics.quantiles(server, n=20)[-1]:.1f} ms (goal p50 ≤ 50 ms)"
            )
            screen = asyncio.run(bench_screen(url, words))
            print(
                f"search screen, query → results drawn: p50 {statistics.median(screen):.0f} ms, "
                f"max {max(screen):.0f} ms (first, with the capability check: {screen[0]:.0f} ms;"
                " goal ≤ 200 ms)"
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
