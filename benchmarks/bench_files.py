"""Files and vector stores under load, through the SDK against a fresh `spool serve`:

* upload throughput (MB/s to disk) of one 200 MB file;
* indexing time of 1,000 pages of text (one file; ~500 words a page, Zipf-distributed words),
  BM25 only (the indexing thread's own time is in the server log);
* search latency p50/p99 over a store of ≥ 10,000 chunks (default 800/400 chunking).

    .venv/bin/python benchmarks/bench_files.py [--upload-mb 200] [--pages 1000] [--chunks 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time

from _server import API_KEY, spool_server_process


def pages_of_text(pages: int, seed: int = 7) -> bytes:
    """Synthetic prose: `pages` pages of ~500 words from a 20,000-word Zipf vocabulary."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "po", "de", "an", "el", "or"]
    vocab = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) + str(i % 7)
        for i in range(20_000)
    ]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]
    out = []
    for page in range(pages):
        words = rng.choices(vocab, weights=weights, k=500)
        sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, 500, 12)]
        out.append(f"Page {page + 1}\n\n" + " ".join(sentences) + "\n\f\n")
    return "".join(out).encode()


def wait(client, store_id: str, timeout: float = 3600) -> float:
    started = time.perf_counter()
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError("indexing did not finish")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-mb", type=int, default=200)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    import openai

    with spool_server_process() as (url, proc):
        client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=600)

        blob = os.urandom(args.upload_mb * 1024 * 1024)
        started = time.perf_counter()
        client.files.create(file=("big.bin", blob), purpose="assistants")
        upload_s = time.perf_counter() - started
        print(f"upload: {args.upload_mb} MB in {upload_s:.2f} s = "
              f"{args.upload_mb / upload_s:.0f} MB/s")  # fmt: skip
        del blob

        text = pages_of_text(args.pages)
        file = client.files.create(file=("book.txt", text), purpose="assistants")
        store = client.vector_stores.create(name="book")
        started = time.perf_counter()
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        index_s = wait(client, store.id)
        db = sqlite3.connect(f"file:{proc.args[proc.args.index('--data-dir') + 1]}/spool.db"
                             "?mode=ro", uri=True)  # fmt: skip
        chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        print(f"indexing: {args.pages} pages ({len(text) / 1e6:.1f} MB, {chunks} chunks) in "
              f"{index_s:.2f} s (BM25 only)")  # fmt: skip

        big = client.vector_stores.create(name="big")
        per_page = max(chunks / args.pages, 0.1)
        pages = int(args.chunks / per_page) + 1
        text = pages_of_text(pages, seed=11)
        file = client.files.create(file=("library.txt", text), purpose="assistants")
        client.vector_stores.files.create(vector_store_id=big.id, file_id=file.id)
        big_index_s = wait(client, big.id)
        count = db.execute(
            "SELECT COUNT(*) FROM chunks WHERE vector_store_id = ?", (big.id,)
        ).fetchone()[0]
        print(f"indexing: {pages} pages ({len(text) / 1e6:.1f} MB, {count} chunks) in "
              f"{big_index_s:.2f} s")  # fmt: skip

        rng = random.Random(3)
        words = text.decode().split()
        latencies = []
        for _ in range(args.searches):
            query = " ".join(rng.choice(words).strip(".").lower() for _ in range(rng.randint(2, 6)))
            t0 = time.perf_counter()
            client.vector_stores.search(big.id, query=query, max_num_results=10)
            latencies.append(time.perf_counter() - t0)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"search over {count} chunks: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
              f"({args.searches} queries of 2-6 words, top 10)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
