"""The keyword half of file_search on PostgreSQL: `chunks.tsv` (a generated `tsvector`,
english configuration: stemmed like SQLite's porter tokenizer) ranked by `ts_rank_cd`.

A query's words are OR-ed (each through `plainto_tsquery`, so no tsquery syntax gets through),
as the FTS5 query is on SQLite. `ts_rank_cd` (cover density, no length normalisation) is
unbounded like −bm25 but smaller: about 0.1 per matching word occurrence, so `search.py` maps
it with its own half-point (`TS_RANK_HALF`) where the BM25 mapping uses `BM25_HALF`; the
coverage half of the score is the same on both.
"""

from __future__ import annotations

from spool.server.retrieval.index import _TERM, MAX_QUERY_TERMS, Hit
from spool.server.storage import Database


def terms(query: str) -> list[str]:
    return list(dict.fromkeys(t.lower() for t in _TERM.findall(query)))[:MAX_QUERY_TERMS]


async def rank(
    db: Database,
    store_ids: list[str],
    file_ids: set[tuple[str, str]] | None,
    query: str,
    limit: int,
) -> list[Hit]:
    """The best `limit` chunks of the stores for a query by ts_rank_cd (raw > 0)."""
    words = terms(query)
    if not words or not store_ids:
        return []
    tsquery = " || ".join("plainto_tsquery('english', ?)" for _ in words)
    marks = ", ".join("?" * len(store_ids))
    rows = await db.fetchall(
        f"WITH q AS (SELECT ({tsquery}) AS query) "
        "SELECT c.id, c.vector_store_id, c.file_id, c.position, c.text, "
        "ts_rank_cd(c.tsv, q.query) AS raw FROM chunks c CROSS JOIN q "
        "JOIN vector_store_files v ON v.vector_store_id = c.vector_store_id AND v.id = c.file_id "
        f"WHERE c.tsv @@ q.query AND c.vector_store_id IN ({marks}) AND v.status = 'completed' "
        "ORDER BY raw DESC, c.id LIMIT ?",
        (*words, *store_ids, limit if file_ids is None else limit * 20),
    )
    hits = [Hit(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]
    if file_ids is not None:
        hits = [h for h in hits if (h.vector_store_id, h.file_id) in file_ids][:limit]
    return hits
