"""Search: queries → the best chunks of a set of vector stores, scored in [0, 1].

BM25 (SQLite FTS5) always. A chunk's score in [0, 1] is the mean of two parts: its raw BM25
score (−bm25, unbounded) mapped by `s / (s + BM25_HALF)` (raw `BM25_HALF` gives 0.5), and the
share of the query's words it contains (a word matches a chunk word with the same first five
letters, like the porter stemmer would). The second part keeps a chunk that has every query
word above 0 when BM25 alone says ~0 (a word in every chunk of a small store has no IDF).
With several queries a chunk keeps its best score. Attribute `filters` select the files first; `score_threshold`
drops weaker chunks. On SQLite it runs in a worker thread with a read-only connection; on
PostgreSQL the keyword half is `ts_rank_cd` (index_postgres.py), mapped with `TS_RANK_HALF`.

The dense half (dense.py) joins only when an embedding model is configured *and* the searched
stores have chunks embedded by it: then each query's keyword ranking (by the score above) and
its dense ranking (by cosine similarity), `max_results` of each, are fused by reciprocal rank fusion (fusion.py,
k = 60, equal weights), and a chunk's score is its fused score divided by the best possible
one (first in both rankings), so it stays in [0, 1] (1: first in both; 0.5: first in one, not
found by the other) and `score_threshold` applies to it as before. A query the model fails to
embed is searched by keywords alone (a warning logged). Without vectors nothing changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from spool.server.retrieval import dense, filters, index, index_postgres
from spool.server.retrieval.fusion import RRF_K
from spool.server.storage import Database

log = logging.getLogger("spool.server")

BM25_HALF = 5.0
TS_RANK_HALF = 0.1
_WORD = re.compile(r"\w+", re.UNICODE)


def coverage(query_terms: list[str], text: str) -> float:
    """The share of query terms found in a text (stem-like prefix match)."""
    if not query_terms:
        return 0.0
    words = {w[:5] for w in _WORD.findall(text.lower())}
    return sum(1 for t in query_terms if t[:5] in words) / len(query_terms)


@dataclass(slots=True)
class Result:
    """One found chunk."""

    vector_store_id: str
    file_id: str
    chunk_id: int
    text: str
    score: float
    attributes: dict[str, Any] | None


def _files(
    conn: sqlite3.Connection, store_ids: list[str]
) -> dict[tuple[str, str], dict[str, Any] | None]:
    marks = ", ".join("?" * len(store_ids))
    rows = conn.execute(
        f"SELECT vector_store_id, id, data FROM vector_store_files "
        f"WHERE vector_store_id IN ({marks}) AND status = 'completed'",
        store_ids,
    ).fetchall()
    return {(vs, fid): json.loads(data).get("attributes") for vs, fid, data in rows}


async def search_async(
    db: Database,
    store_ids: list[str],
    queries: list[str],
    *,
    max_results: int,
    score_threshold: float = 0.0,
    filter_: dict[str, Any] | None = None,
    embedder: dense.EmbeddingModel | None = None,
) -> list[Result]:
    """`search` on either backend (SQLite: in a worker thread with its read-only connection);
    hybrid when `embedder` is given and the stores have chunks embedded by it."""
    vectors = await _query_vectors(db, store_ids, queries, embedder)
    model = embedder.name if embedder is not None else None
    if db.dialect == "sqlite":
        reader = db.reader  # type: ignore[attr-defined]
        return await asyncio.to_thread(
            lambda: search(
                reader(),
                store_ids,
                queries,
                max_results=max_results,
                score_threshold=score_threshold,
                filter_=filter_,
                model=model,
                query_vectors=vectors,
            )
        )
    if not store_ids:
        return []
    marks = ", ".join("?" * len(store_ids))
    rows = await db.fetchall(
        f"SELECT vector_store_id, id, data FROM vector_store_files "
        f"WHERE vector_store_id IN ({marks}) AND status = 'completed'",
        store_ids,
    )
    files = {(vs, fid): json.loads(data).get("attributes") for vs, fid, data in rows}
    allowed = _allowed(files, filter_)
    if allowed is not None and not allowed:
        return []
    hits = {}
    for query in queries:
        hits[query] = await index_postgres.rank(db, store_ids, allowed, query, max_results * 2)
    if vectors is None or model is None:
        return _rank(files, queries, hits, TS_RANK_HALF, max_results, score_threshold)
    near = {
        query: await dense.nearest_postgres(db, store_ids, allowed, model, v, max_results)
        for query, v in zip(queries, vectors, strict=True)
    }
    return _fuse(files, queries, hits, near, TS_RANK_HALF, max_results, score_threshold)


async def _query_vectors(
    db: Database, store_ids: list[str], queries: list[str], embedder: dense.EmbeddingModel | None
) -> list[Any] | None:
    """The queries' vectors when the stores have chunks embedded by `embedder` (else None)."""
    if embedder is None or not store_ids or not queries:
        return None
    marks = ", ".join("?" * len(store_ids))
    sql = f"SELECT 1 FROM chunks WHERE vector_store_id IN ({marks}) AND embedding_model = ? LIMIT 1"
    params = (*store_ids, embedder.name)
    if db.dialect == "sqlite":
        reader = db.reader  # type: ignore[attr-defined]
        found = await asyncio.to_thread(lambda: reader().execute(sql, params).fetchone())
    else:
        found = await db.fetchone(sql, params)
    if found is None:
        return None
    try:
        return await embedder.embed(queries)
    except dense.EmbeddingError as exc:
        log.warning("file_search: %s; searching by keywords only", exc)
        return None


def _allowed(
    files: dict[tuple[str, str], dict[str, Any] | None], filter_: dict[str, Any] | None
) -> set[tuple[str, str]] | None:
    if filter_ is None:
        return None
    return {key for key, attrs in files.items() if filters.matches(attrs, filter_)}


def _rank(
    files: dict[tuple[str, str], dict[str, Any] | None],
    queries: list[str],
    hits: dict[str, list[index.Hit]],
    half: float,
    max_results: int,
    score_threshold: float,
) -> list[Result]:
    best: dict[int, Result] = {}
    for query in queries:
        terms = list(dict.fromkeys(t.lower() for t in _WORD.findall(query)))
        for hit in hits[query]:
            keyword = hit.raw / (hit.raw + half) if hit.raw > 0 else 0.0
            score = (keyword + coverage(terms, hit.text)) / 2
            known = best.get(hit.chunk_id)
            if known is None or score > known.score:
                best[hit.chunk_id] = Result(
                    hit.vector_store_id,
                    hit.file_id,
                    hit.chunk_id,
                    hit.text,
                    round(score, 6),
                    files.get((hit.vector_store_id, hit.file_id)),
                )
    ranked = sorted(best.values(), key=lambda r: (-r.score, r.chunk_id))
    return [r for r in ranked if r.score >= score_threshold][:max_results]


def _fuse(
    files: dict[tuple[str, str], dict[str, Any] | None],
    queries: list[str],
    hits: dict[str, list[index.Hit]],
    near: dict[str, list[index.Hit]],
    half: float,
    max_results: int,
    score_threshold: float,
) -> list[Result]:
    """Each half's best `max_results` per query fused (RRF), scored by fused / best possible;
    equal scores (e.g. first for one half only) go to the better keyword rank (the
    measured-better half), then chunk order. Longer lists let a weak dense half drown the
    keyword ranking (bench_retrieval --server-dense: SmolLM2 recall@5 0.565 with 2 ×
    max_results, 0.891 with max_results)."""
    best_possible = 2.0 / (RRF_K + 1)
    best: dict[int, Result] = {}
    keyword_rank: dict[int, int] = {}
    for query in queries:
        keyword = _rank(files, [query], {query: hits[query]}, half, len(hits[query]), 0.0)
        for rank, result in enumerate(keyword, start=1):
            keyword_rank[result.chunk_id] = min(rank, keyword_rank.get(result.chunk_id, rank))
        fused: dict[int, float] = {}
        found: dict[int, index.Hit | Result] = {}
        for ranking in (keyword[:max_results], near[query][:max_results]):
            for rank, item in enumerate(ranking, start=1):
                fused[item.chunk_id] = fused.get(item.chunk_id, 0.0) + 1.0 / (RRF_K + rank)
                found.setdefault(item.chunk_id, item)
        for chunk_id, value in fused.items():
            score = round(value / best_possible, 6)
            known = best.get(chunk_id)
            if known is None or score > known.score:
                item = found[chunk_id]
                best[chunk_id] = Result(
                    item.vector_store_id,
                    item.file_id,
                    chunk_id,
                    item.text,
                    score,
                    files.get((item.vector_store_id, item.file_id)),
                )
    unranked = len(keyword_rank) + 1
    ranked = sorted(
        best.values(),
        key=lambda r: (-r.score, keyword_rank.get(r.chunk_id, unranked), r.chunk_id),
    )
    return [r for r in ranked if r.score >= score_threshold][:max_results]


def search(
    conn: sqlite3.Connection,
    store_ids: list[str],
    queries: list[str],
    *,
    max_results: int,
    score_threshold: float = 0.0,
    filter_: dict[str, Any] | None = None,
    model: str | None = None,
    query_vectors: list[Any] | None = None,
) -> list[Result]:
    """The best `max_results` chunks over the stores (ties broken by chunk order); hybrid
    with `query_vectors` (one per query) against the chunks embedded by `model`."""
    if not store_ids:
        return []
    files = _files(conn, store_ids)
    allowed = _allowed(files, filter_)
    if allowed is not None and not allowed:
        return []
    hits = {q: index.bm25(conn, store_ids, allowed, q, max_results * 2) for q in queries}
    if query_vectors is None or model is None:
        return _rank(files, queries, hits, BM25_HALF, max_results, score_threshold)
    near = {
        query: dense.nearest_sqlite(conn, store_ids, allowed, model, v, max_results)
        for query, v in zip(queries, query_vectors, strict=True)
    }
    return _fuse(files, queries, hits, near, BM25_HALF, max_results, score_threshold)
