"""Retrieval quality of file_search: recall@5 and MRR@10 over a fixed question set.

The documents ship with the repository or its dependencies (the four Assistants walkthroughs in
tests/walkthroughs/, spool's README, benchmarks/README.md, and the package descriptions of
tinydb, uvicorn, click and platformdirs from the venv), uploaded to a fresh `spool serve` through
the SDK and searched with `POST /vector_stores/{id}/search`. Each question of
`retrieval/questions.json` names its document and a passage that answers it; a result is a hit
when it comes from that document and contains the passage (whitespace-insensitive). Questions
whose passage is no longer in its document are reported as stale and left out.

    .venv/bin/python benchmarks/bench_retrieval.py [--chunk 800/400]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import metadata
from pathlib import Path

from _server import API_KEY, spool_server

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = Path(__file__).parent / "retrieval" / "questions.json"


def documents() -> dict[str, bytes]:
    """name → bytes of every document of the set."""
    docs: dict[str, bytes] = {}
    walkthroughs = ROOT / "tests" / "walkthroughs"
    for path in sorted(walkthroughs.glob("*.md")):
        docs[path.name if path.name != "README.md" else "walkthroughs-README.md"] = (
            path.read_bytes()
        )
    docs["README.md"] = (ROOT / "README.md").read_bytes()
    docs["benchmarks-README.md"] = (ROOT / "benchmarks" / "README.md").read_bytes()
    for package, name in (
        ("tinydb", "tinydb.rst"),
        ("uvicorn", "uvicorn.md"),
        ("click", "click.md"),
        ("platformdirs", "platformdirs.rst"),
    ):
        description = metadata.metadata(package).get_payload() or ""
        docs[name] = description.encode()
    return docs


def norm(text: str) -> str:
    return " ".join(text.split())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk", default="800/400", help="max/overlap tokens (static)")
    args = parser.parse_args()
    size, overlap = (int(x) for x in args.chunk.split("/"))
    import openai

    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    docs = documents()
    with spool_server() as url:
        client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
        ids = {}
        for name, data in docs.items():
            ids[client.files.create(file=(name, data), purpose="assistants").id] = name
        started = time.perf_counter()
        strategy = {
            "type": "static",
            "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
        }
        store = client.vector_stores.create(name="bench")
        client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id,
            file_ids=list(ids),
            chunking_strategy=strategy,  # type: ignore[arg-type]
            poll_interval_ms=50,
        )
        indexed_s = time.perf_counter() - started
        hits5 = 0
        reciprocal = 0.0
        stale = []
        misses = []
        latencies = []
        for item in questions:
            answer = norm(item["answer"])
            if answer not in norm(docs[item["doc"]].decode("utf-8", "replace")):
                stale.append(item["q"])
                continue
            t0 = time.perf_counter()
            page = client.vector_stores.search(store.id, query=item["q"], max_num_results=10)
            latencies.append(time.perf_counter() - t0)
            rank = next(
                (
                    i
                    for i, r in enumerate(page.data, start=1)
                    if r.filename == item["doc"] and answer in norm(r.content[0].text)
                ),
                None,
            )
            if rank is not None and rank <= 5:
                hits5 += 1
            if rank is not None:
                reciprocal += 1 / rank
            else:
                misses.append(item["q"])
        n = len(questions) - len(stale)
        latencies.sort()
        print(f"documents: {len(docs)} ({sum(len(d) for d in docs.values()) // 1024} KB), "
              f"chunks {size}/{overlap} tokens, indexed in {indexed_s:.2f} s")  # fmt: skip
        print(f"questions: {n} (stale: {len(stale)})")
        print(f"BM25   recall@5 {hits5 / n:.3f}   MRR@10 {reciprocal / n:.3f}   "
              f"search p50 {latencies[len(latencies) // 2] * 1000:.1f} ms")  # fmt: skip
        print("dense  (not built: no embedding model wired in yet)")
        for q in misses:
            print(f"  miss: {q}")
        for q in stale:
            print(f"  stale: {q}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
