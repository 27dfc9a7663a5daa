"""The dense half of file_search: the configured embedding model and vector search.

`[retrieval] embedding_model = "NAME"` names a `[models.NAME]` entry (off by default):
`engine = "openai"` calls its OpenAI-compatible `POST {base_url}/embeddings` (vLLM, Ollama,
llama.cpp's server, OpenAI; `upstream_model`, `api_key_env`, `timeout` as for chat), and
`engine = "llama"` embeds with its GGUF (`path`) through llama-cpp-python in a worker thread.
Calls are async and off the event loop, `BATCH` texts per request, each under the model's
`timeout`; any failure is an `EmbeddingError` (indexing then keeps the file keyword-only).

Vectors are L2-normalised float32 (a dot product is the cosine), stored per chunk with the
name of the model that made them (`chunks.embedding_model`), so a store embedded by another
model (or by none) is simply searched by keywords. SQLite: a BLOB of little-endian float32,
searched exactly in the search's worker thread (numpy when installed, `array` otherwise).
PostgreSQL: a pgvector `vector` column without a fixed dimension, searched exactly by
`<=>` (cosine distance) over the searched stores' chunks.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from array import array
from typing import Any

from spool.config import Config, ModelSpec
from spool.server.retrieval.index import Hit
from spool.server.retrieval.vectors import from_blob, normalise, to_blob, to_pgvector
from spool.server.storage import Database

BATCH = 32  # texts per embeddings request
MAX_CHARS = 8000  # a chunk's text sent to the model is cut here (800 tokens are ~3,500 chars)


class EmbeddingError(Exception):
    """The embedding model could not embed (unreachable, timed out, a bad answer)."""


class EmbeddingModel:
    """The configured embedding model: texts → unit vectors, async, batched, with a timeout."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.timeout = spec.timeout
        self._client: Any = None
        self._client_loop: Any = None
        self._llama: Any = None
        self._llama_lock = threading.Lock()

    async def embed(self, texts: list[str]) -> list[array]:
        """One unit vector per text (EmbeddingError when the model fails)."""
        out: list[array] = []
        for start in range(0, len(texts), BATCH):
            batch = [t[:MAX_CHARS] or " " for t in texts[start : start + BATCH]]
            try:
                rows = await asyncio.wait_for(self._embed(batch), self.timeout)
            except TimeoutError as exc:
                raise EmbeddingError(
                    f"embedding model {self.name!r} timed out ({self.timeout:g} s)"
                ) from exc
            except EmbeddingError:
                raise
            except Exception as exc:
                raise EmbeddingError(f"embedding model {self.name!r} failed: {exc}") from exc
            if len(rows) != len(batch) or not rows or not rows[0]:
                raise EmbeddingError(
                    f"embedding model {self.name!r} answered {len(rows)} vectors "
                    f"for {len(batch)} texts"
                )
            dims = len(rows[0])
            if any(len(r) != dims for r in rows) or (out and len(out[0]) != dims):
                raise EmbeddingError(f"embedding model {self.name!r} mixed vector sizes")
            out.extend(normalise(r) for r in rows)
        return out

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        if self.spec.engine == "llama":
            return await asyncio.to_thread(self._llama_embed, texts)
        response = await self._openai().embeddings.create(
            model=self.spec.upstream_model or self.name, input=texts
        )
        return [list(item.embedding) for item in sorted(response.data, key=lambda d: d.index)]

    def _openai(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            from openai import AsyncOpenAI

            env = self.spec.api_key_env
            base = self.spec.base_url or os.environ.get(
                "OPENAI_BASE_URL", "https://api.openai.com/v1"
            )
            self._client = AsyncOpenAI(
                base_url=base.rstrip("/"),
                api_key=os.environ.get(env, "") if env else "not-needed",
                timeout=self.timeout,
                max_retries=1,
            )
            self._client_loop = loop
        return self._client

    def _llama_embed(self, texts: list[str]) -> list[list[float]]:
        with self._llama_lock:  # one GGUF, one caller at a time
            if self._llama is None:
                if not self.spec.path:
                    raise EmbeddingError(f"embedding model {self.name!r} needs path = GGUF")
                from spool.server.retrieval.embed import LlamaEmbedder

                self._llama = LlamaEmbedder(
                    os.path.expanduser(self.spec.path),
                    n_ctx=self.spec.n_ctx,
                    n_threads=self.spec.n_threads,
                )
            return [list(map(float, row)) for row in self._llama.embed(texts)]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def model_for(config: Config) -> EmbeddingModel | None:
    """The configured embedding model (aliases followed), or None (keyword-only search)."""
    name = config.embedding_model
    seen: set[str] = set()
    while name is not None and name not in seen:
        seen.add(name)
        spec = config.models.get(name)
        if spec is None:
            return None
        if spec.alias is None:
            if spec.engine in ("openai", "llama"):
                return EmbeddingModel(spec)
            return None
        name = spec.alias
    return None


# --- search -------------------------------------------------------------------------------


def _dot(a: Any, b: Any) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))


def nearest_sqlite(
    conn: sqlite3.Connection,
    store_ids: list[str],
    file_ids: set[tuple[str, str]] | None,
    model: str,
    query: array,
    limit: int,
) -> list[Hit]:
    """The `limit` chunks most similar to `query` (exact: every vector of the stores)."""
    marks = ", ".join("?" * len(store_ids))
    rows = conn.execute(
        "SELECT c.id, c.vector_store_id, c.file_id, c.embedding FROM chunks c "
        "JOIN vector_store_files v ON v.vector_store_id = c.vector_store_id AND v.id = c.file_id "
        f"WHERE c.vector_store_id IN ({marks}) AND v.status = 'completed' "
        "AND c.embedding_model = ? AND length(c.embedding) = ?",
        (*store_ids, model, 4 * len(query)),
    ).fetchall()
    if file_ids is not None:
        rows = [r for r in rows if (r[1], r[2]) in file_ids]
    if not rows:
        return []
    try:
        import numpy as np
    except ImportError:
        scored = [(_dot(from_blob(r[3]), query), r[0]) for r in rows]
    else:
        matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), -1)
        sims = matrix @ np.frombuffer(to_blob(query), dtype="<f4")
        scored = [(float(s), r[0]) for s, r in zip(sims, rows, strict=True)]
    scored = [item for item in scored if item[0] > 0]  # unrelated (orthogonal or opposite)
    scored.sort(key=lambda item: (-item[0], item[1]))
    best = scored[:limit]
    ids = [chunk_id for _, chunk_id in best]
    if not ids:
        return []
    found = {
        row[0]: row
        for row in conn.execute(
            "SELECT c.id, c.vector_store_id, c.file_id, c.position, f.text FROM chunks c "
            f"JOIN chunks_fts f ON f.rowid = c.id WHERE c.id IN ({', '.join('?' * len(ids))})",
            ids,
        )
    }
    return [Hit(*found[i], raw=s) for s, i in best if i in found]


async def nearest_postgres(
    db: Database,
    store_ids: list[str],
    file_ids: set[tuple[str, str]] | None,
    model: str,
    query: array,
    limit: int,
) -> list[Hit]:
    """The same on PostgreSQL: pgvector's exact cosine distance `<=>` over the stores."""
    marks = ", ".join("?" * len(store_ids))
    text = to_pgvector(query)
    rows = await db.fetchall(
        "SELECT c.id, c.vector_store_id, c.file_id, c.position, c.text, "
        "1 - (c.embedding <=> ?::vector) AS sim FROM chunks c "
        "JOIN vector_store_files v ON v.vector_store_id = c.vector_store_id AND v.id = c.file_id "
        f"WHERE c.vector_store_id IN ({marks}) AND v.status = 'completed' "
        "AND c.embedding_model = ? AND vector_dims(c.embedding) = ? "
        "AND c.embedding <=> ?::vector < 1 ORDER BY c.embedding <=> ?::vector, c.id LIMIT ?",
        (
            text,
            *store_ids,
            model,
            len(query),
            text,
            text,
            limit if file_ids is None else limit * 20,
        ),
    )
    hits = [Hit(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]
    if file_ids is not None:
        hits = [h for h in hits if (h.vector_store_id, h.file_id) in file_ids][:limit]
    return hits


async def has_vector_column(db: Database) -> bool:
    """True when `chunks.embedding` exists (PostgreSQL: only with pgvector; SQLite: always)."""
    if db.dialect == "sqlite":
        return True
    row = await db.fetchone(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'chunks' AND column_name = 'embedding' "
        "AND table_schema = current_schema()"
    )
    return row is not None
