"""Vector stores: the `vector_store`, `vector_store.file` and `vector_store.files_batch` objects,
and the background indexing of their files (parse → chunk → index, `retrieval/`).

Adding a file to a store records it `in_progress` and, in the same transaction, an `index_jobs`
row. Each server (replica) runs one indexing worker (a task on the loop) that claims the oldest
unclaimed job (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two replicas never take one job), for
`JOB_LEASE_S` renewed while it writes; a job whose claim lapsed (its replica died) is taken by
whichever worker looks next. The worker wakes when a job is added here and (PostgreSQL) polls
every `JOB_POLL_S` for jobs added elsewhere. It has each file parsed and chunked in a worker *process* (CPU-bound Python in a thread
held the GIL and slowed every request ~5 ms per hand-over), writes the chunks in small batches
(retrieval/index.py), then marks the file `completed` or `failed` (`last_error.code`
`unsupported_file` / `invalid_file`), never failing the store, and deletes the job. On SQLite
(one process) claims left by a crashed process are void at start. Store `file_counts`, `usage_bytes` and `status` are recomputed from the files
after every change; a store with `expires_after` expires `days` after its last activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from spool.server import objects
from spool.server.errors import bad_request, not_found
from spool.server.files import FileStore
from spool.server.retrieval import dense, index
from spool.server.retrieval.chunk import AUTO_MAX_TOKENS, AUTO_OVERLAP_TOKENS, chunk
from spool.server.retrieval.parse import ParseError, parse
from spool.server.storage import Database

log = logging.getLogger("spool.server")

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
STATUSES = ("in_progress", "completed", "failed", "cancelled")
THREAD_STORE_DAYS = 7
JOB_LEASE_S = 60.0  # a claimed indexing job is another worker's once its claim is this old
JOB_POLL_S = 1.0  # how often an idle worker looks for jobs added by other replicas
WRITE_PAUSE_S = 0.002  # between two index write batches on the loop


def chunking_strategy(value: dict[str, Any] | None) -> dict[str, Any]:
    """A request's chunking strategy in its response shape (`auto` is static 800/400)."""
    if not value or value.get("type") == "auto":
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": AUTO_MAX_TOKENS,
                "chunk_overlap_tokens": AUTO_OVERLAP_TOKENS,
            },
        }
    static = value["static"]
    size, overlap = static["max_chunk_size_tokens"], static["chunk_overlap_tokens"]
    if overlap > size // 2:
        raise bad_request(
            "Invalid 'chunking_strategy.static.chunk_overlap_tokens': the overlap must not "
            f"exceed half of max_chunk_size_tokens ({size // 2}), got {overlap}.",
            param="chunking_strategy.static.chunk_overlap_tokens",
            code="invalid_value",
        )
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
    }


def _counts(rows: list[tuple[str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in rows:
        counts[status] = n
    counts["total"] = sum(counts[s] for s in STATUSES)
    return counts


class VectorStores:
    """Stores, their files and batches, and the indexing worker (start/close in the lifespan)."""

    def __init__(
        self, db: Database, files: FileStore, embedder: dense.EmbeddingModel | None = None
    ) -> None:
        self.db = db
        self.embedder = embedder  # the dense half (None: keyword-only, the default)
        self._usage_bytes = (  # a file entry's usage_bytes, in SQL over its JSON text
            "json_extract(data, '$.usage_bytes')"
            if db.dialect == "sqlite"
            else "(data::jsonb->>'usage_bytes')::bigint"
        )
        self.files = files
        self.replica = objects.new_id("replica_")  # whose claim an index_jobs row holds
        self._wake = asyncio.Event()
        self.waiting = 0  # jobs waiting (last count seen by the worker; the metrics gauge)
        self.executor: ProcessPoolExecutor | None = None  # started on the first file
        self.worker: asyncio.Task[None] | None = None
        self.indexed_s = 0.0  # total seconds spent indexing (measured, for benchmarks/logs)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> int:
        """Start the worker; returns how many jobs a previous process left unfinished."""
        if self.embedder is not None and not await dense.has_vector_column(self.db):
            log.warning(
                "[retrieval] embedding_model %r is not used: the database has no pgvector "
                "(CREATE EXTENSION vector, as a superuser, then restart); file_search stays "
                "keyword-only",
                self.embedder.name,
            )
            self.embedder = None
        if self.db.dialect == "sqlite":  # one process: nobody else holds a claim
            await self.db.execute("UPDATE index_jobs SET replica = NULL, claimed_until = 0")
        # a file in progress without a job (written by hand, or an older copy): index it again
        await self.db.execute(
            "INSERT INTO index_jobs (vector_store_id, file_id, queued_at) "
            "SELECT v.vector_store_id, v.id, v.seq FROM vector_store_files v "
            "WHERE v.status = 'in_progress' AND NOT EXISTS (SELECT 1 FROM index_jobs j "
            "WHERE j.vector_store_id = v.vector_store_id AND j.file_id = v.id) "
            "ON CONFLICT DO NOTHING"
        )
        rows = await self.db.fetchall(
            "SELECT DISTINCT vector_store_id FROM index_jobs WHERE claimed_until < ?",
            (time.time(),),
        )
        for (store_id,) in rows:
            if await self.db.get("vector_stores", store_id) is not None:
                await self.refresh(store_id)  # its counts say in progress again
        left = await self.db.fetchone(
            "SELECT COUNT(*) FROM index_jobs WHERE claimed_until < ?", (time.time(),)
        )
        self.worker = asyncio.get_running_loop().create_task(self._work())
        return int(left[0]) if left else 0

    async def close(self) -> None:
        if self.worker:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
        if self.embedder is not None:
            await self.embedder.aclose()

    async def _in_worker(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` in the indexing process (a new one if the last one died)."""
        if self.executor is None:
            self.executor = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        except BrokenProcessPool:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
            raise

    # --- stores -----------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], *, store_id: str | None = None) -> dict[str, Any]:
        """A new store; its `file_ids` are queued for indexing."""
        strategy = chunking_strategy(body.get("chunking_strategy"))
        file_ids = list(dict.fromkeys(body.get("file_ids") or []))
        for file_id in file_ids:
            await self._file(file_id)
        created = objects.now()
        store: dict[str, Any] = {
            "id": store_id or objects.new_id("vs_"),
            "object": "vector_store",
            "created_at": created,
            "name": body.get("name") or "",
            "usage_bytes": 0,
            "file_counts": _counts([]),
            "status": "completed",
            "last_active_at": created,
            "metadata": body.get("metadata") or {},
            "expires_at": None,
        }
        if body.get("expires_after"):
            store["expires_after"] = body["expires_after"]
            store["expires_at"] = created + body["expires_after"]["days"] * 86400
        await self.db.insert("vector_stores", store)
        for file_id in file_ids:
            await self.add_file(store["id"], file_id, strategy, None)
        return await self.refresh(store["id"])

    async def get(self, store_id: str) -> dict[str, Any]:
        """The store (404 when unknown); an expired one says so."""
        store = await self.db.get("vector_stores", store_id)
        if store is None:
            raise not_found("vector store", store_id)
        expired = store["expires_at"] and store["expires_at"] <= objects.now()
        if expired and store["status"] != "expired":
            store["status"] = "expired"
            await self.db.update("vector_stores", store)
        return store

    async def touch(self, store: dict[str, Any]) -> None:
        """Record activity (a search, a run): moves `expires_at` of an `expires_after` store."""
        now = objects.now()
        if store["last_active_at"] == now:
            return
        store["last_active_at"] = now
        if store.get("expires_after"):
            store["expires_at"] = now + store["expires_after"]["days"] * 86400
        await self.db.update("vector_stores", store)

    async def modify(self, store: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if "name" in body:
            store["name"] = body["name"] or ""
        if "metadata" in body:
            store["metadata"] = body["metadata"] or {}
        if "expires_after" in body:
            if body["expires_after"]:
                store["expires_after"] = body["expires_after"]
                anchor = store["last_active_at"] or objects.now()
                store["expires_at"] = anchor + body["expires_after"]["days"] * 86400
            else:
                store.pop("expires_after", None)
                store["expires_at"] = None
        await self.db.update("vector_stores", store)
        return await self.get(store["id"])

    async def refresh(self, store_id: str) -> dict[str, Any]:
        """Recompute a store's counts, bytes and status from its files."""
        store = await self.get(store_id)
        rows = await self.db.fetchall(
            f"SELECT status, COUNT(*), CAST(COALESCE(SUM({self._usage_bytes}), 0) AS BIGINT) "
            "FROM vector_store_files WHERE vector_store_id = ? GROUP BY status",
            (store_id,),
        )
        store["file_counts"] = _counts([(s, n) for s, n, _ in rows])
        store["usage_bytes"] = sum(b for _, _, b in rows)
        if store["status"] != "expired":
            store["status"] = "in_progress" if store["file_counts"]["in_progress"] else "completed"
        await self.db.update("vector_stores", store)
        return store

    async def delete(self, store_id: str) -> None:
        await self.get(store_id)
        async with self.db.transaction():
            await self.db.execute(
                "DELETE FROM vector_store_files WHERE vector_store_id = ?", (store_id,)
            )
            await self.db.execute("DELETE FROM file_batches WHERE vector_store_id = ?", (store_id,))
            await self.db.delete("vector_stores", store_id)
        await self._delete_index(store_id, None)

    async def _delete_index(self, store_id: str, file_id: str | None) -> None:
        """Delete chunks in short batches, the loop free between them."""
        while await index.delete_batch(self.db, store_id, file_id):
            await asyncio.sleep(WRITE_PAUSE_S)

    # --- files of a store -------------------------------------------------------------------

    async def _file(self, file_id: str) -> dict[str, Any]:
        file = await self.files.get(file_id)
        if file is None:
            raise not_found("file", file_id)
        return file

    async def get_file(self, store_id: str, file_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT data FROM vector_store_files WHERE vector_store_id = ? AND id = ?",
            (store_id, file_id),
        )
        return json.loads(row[0]) if row else None

    async def _save_file(self, entry: dict[str, Any]) -> None:
        await self.db.execute(
            "UPDATE vector_store_files SET status = ?, data = ? WHERE vector_store_id = ? "
            "AND id = ?",
            (entry["status"], _dumps(entry), entry["vector_store_id"], entry["id"]),
        )

    async def add_file(
        self,
        store_id: str,
        file_id: str,
        strategy: dict[str, Any],
        attributes: dict[str, Any] | None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        """Attach a file (queued for indexing); an already attached file is returned as is."""
        await self._file(file_id)
        known = await self.get_file(store_id, file_id)
        if known is not None:
            return known
        entry = {
            "id": file_id,
            "object": "vector_store.file",
            "usage_bytes": 0,
            "created_at": objects.now(),
            "vector_store_id": store_id,
            "status": "in_progress",
            "last_error": None,
            "chunking_strategy": strategy,
            "attributes": attributes or {},
        }
        async with self.db.transaction():
            await self.db.insert("vector_store_files", entry, batch_id=batch_id)
            await self._queue_job(store_id, file_id)
        self.db.after_commit(self._wake.set)
        return entry

    async def _queue_job(self, store_id: str, file_id: str) -> None:
        await self.db.execute(
            "INSERT INTO index_jobs (vector_store_id, file_id, queued_at) VALUES (?, ?, ?) "
            "ON CONFLICT (vector_store_id, file_id) DO UPDATE SET replica = NULL, "
            "claimed_until = 0",
            (store_id, file_id, time.time()),
        )

    async def update_attributes(self, entry: dict[str, Any], attributes: dict[str, Any] | None):
        entry["attributes"] = attributes or {}
        await self._save_file(entry)
        return entry

    async def remove_file(self, store_id: str, file_id: str) -> None:
        """Detach a file from a store (its chunks go too)."""
        await self.db.execute(
            "DELETE FROM vector_store_files WHERE vector_store_id = ? AND id = ?",
            (store_id, file_id),
        )
        await self.refresh(store_id)
        await self._delete_index(store_id, file_id)

    async def detach_everywhere(self, file_id: str) -> None:
        """A deleted file leaves every store it was in."""
        rows = await self.db.fetchall(
            "SELECT vector_store_id FROM vector_store_files WHERE id = ?", (file_id,)
        )
        for (store_id,) in rows:
            await self.remove_file(store_id, file_id)

    async def file_content(self, store_id: str, file_id: str) -> str | None:
        return await index.parsed_text(self.db, store_id, file_id)

    # --- batches ----------------------------------------------------------------------------

    async def create_batch(
        self, store_id: str, items: list[tuple[str, dict[str, Any], dict[str, Any] | None]]
    ) -> dict[str, Any]:
        """A batch of (file id, chunking strategy, attributes) added to a store."""
        for file_id, _, _ in items:
            await self._file(file_id)
        batch = {
            "id": objects.new_id("vsfb_"),
            "object": "vector_store.files_batch",
            "created_at": objects.now(),
            "vector_store_id": store_id,
            "status": "in_progress",
            "file_counts": _counts([]),
        }
        await self.db.insert("file_batches", batch)
        for file_id, strategy, attributes in items:
            entry = await self.get_file(store_id, file_id)
            if entry is None:
                await self.add_file(store_id, file_id, strategy, attributes, batch["id"])
            else:  # already in the store: it now counts in this batch
                await self.db.execute(
                    "UPDATE vector_store_files SET batch_id = ? WHERE vector_store_id = ? "
                    "AND id = ?",
                    (batch["id"], store_id, file_id),
                )
        await self.refresh(store_id)
        return await self.refresh_batch(batch["id"])

    async def batch(self, store_id: str, batch_id: str) -> dict[str, Any]:
        batch = await self.db.get("file_batches", batch_id)
        if batch is None or batch["vector_store_id"] != store_id:
            raise not_found("vector store file batch", batch_id)
        return batch

    async def refresh_batch(self, batch_id: str) -> dict[str, Any]:
        batch = await self.db.get("file_batches", batch_id)
        assert batch is not None
        rows = await self.db.fetchall(
            "SELECT status, COUNT(*) FROM vector_store_files WHERE batch_id = ? GROUP BY status",
            (batch_id,),
        )
        batch["file_counts"] = _counts(rows)
        if batch["status"] != "cancelled":
            counts = batch["file_counts"]
            if counts["in_progress"]:
                batch["status"] = "in_progress"
            elif counts["total"] and counts["failed"] == counts["total"]:
                batch["status"] = "failed"
            else:
                batch["status"] = "completed"
        await self.db.update("file_batches", batch)
        return batch

    async def cancel_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Files of the batch not indexed yet are cancelled (finished ones stay)."""
        if batch["status"] != "in_progress":
            return batch
        for (file_id,) in await self.db.fetchall(
            "SELECT id FROM vector_store_files WHERE batch_id = ? AND status = 'in_progress'",
            (batch["id"],),
        ):
            entry = await self.get_file(batch["vector_store_id"], file_id)
            if entry:
                entry["status"] = "cancelled"
                await self._save_file(entry)
        batch["status"] = "cancelled"
        await self.db.update("file_batches", batch)
        await self.refresh(batch["vector_store_id"])
        return await self.refresh_batch(batch["id"])

    async def _batch_of(self, store_id: str, file_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT batch_id FROM vector_store_files WHERE vector_store_id = ? AND id = ?",
            (store_id, file_id),
        )
        return row[0] if row else None

    # --- indexing ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            try:
                job = await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming an indexing job failed")
                job = None
            if job is None:
                # SQLite is one process: only its own adds bring jobs (no polling when idle)
                poll = None if self.db.dialect == "sqlite" else JOB_POLL_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll)
                continue
            store_id, file_id = job
            try:
                await self._index(store_id, file_id)
            except asyncio.CancelledError:
                raise  # shutting down: the claim lapses and the job is done again
            except Exception:
                log.exception("indexing %s in %s failed", file_id, store_id)
            await self.db.execute(
                "DELETE FROM index_jobs WHERE vector_store_id = ? AND file_id = ? AND replica = ?",
                (store_id, file_id, self.replica),
            )

    async def _claim(self) -> tuple[str, str] | None:
        """The oldest job nobody holds, now this worker's (None when there is none)."""
        now = time.time()
        if self.db.dialect == "sqlite":
            async with self.db.transaction():
                row = await self.db.fetchone(
                    "SELECT vector_store_id, file_id FROM index_jobs WHERE claimed_until < ? "
                    "ORDER BY queued_at LIMIT 1",
                    (now,),
                )
                if row is not None:
                    await self.db.execute(
                        "UPDATE index_jobs SET replica = ?, claimed_until = ? "
                        "WHERE vector_store_id = ? AND file_id = ?",
                        (self.replica, now + JOB_LEASE_S, row[0], row[1]),
                    )
        else:
            row = await self.db.fetchone(
                "UPDATE index_jobs SET replica = ?, claimed_until = ? "
                "WHERE (vector_store_id, file_id) = (SELECT vector_store_id, file_id "
                "FROM index_jobs WHERE claimed_until < ? ORDER BY queued_at "
                "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING vector_store_id, file_id",
                (self.replica, now + JOB_LEASE_S, now),
            )
        waiting = await self.db.fetchone(
            "SELECT COUNT(*) FROM index_jobs WHERE claimed_until < ?", (now,)
        )
        self.waiting = int(waiting[0]) if waiting else 0
        return (row[0], row[1]) if row else None

    async def _renew_claim(self, store_id: str, file_id: str) -> None:
        await self.db.execute(
            "UPDATE index_jobs SET claimed_until = ? WHERE vector_store_id = ? AND file_id = ? "
            "AND replica = ?",
            (time.time() + JOB_LEASE_S, store_id, file_id, self.replica),
        )

    async def _index(self, store_id: str, file_id: str) -> None:
        entry = await self.get_file(store_id, file_id)
        if entry is None or entry["status"] != "in_progress":
            return
        file = await self.files.get(file_id)
        path = await self.files.path_of(file_id)
        error: dict[str, str] | None = None
        usage = 0
        if file is None or path is None:
            error = {"code": "invalid_file", "message": "The file was deleted."}
        else:
            strategy = entry["chunking_strategy"]["static"]
            try:
                usage = await self._write_index(
                    store_id,
                    file_id,
                    path,
                    file["filename"],
                    strategy["max_chunk_size_tokens"],
                    strategy["chunk_overlap_tokens"],
                )
            except ParseError as exc:
                error = {"code": exc.code, "message": exc.message}
            except Exception as exc:
                log.exception("indexing %s failed", file_id)
                error = {"code": "server_error", "message": f"Indexing failed: {exc!r}"}
        current = await self.get_file(store_id, file_id)
        if current is None or current["status"] != "in_progress":
            # removed or cancelled meanwhile: its chunks must not stay
            await self._delete_index(store_id, file_id)
            return
        if error:
            current.update(status="failed", last_error=error)
        else:
            current.update(status="completed", usage_bytes=usage)
        await self._save_file(current)
        if await self.db.get("vector_stores", store_id):
            await self.refresh(store_id)
        batch_id = await self._batch_of(store_id, file_id)
        if batch_id:
            await self.refresh_batch(batch_id)

    async def _write_index(
        self, store_id: str, file_id: str, path: Any, filename: str, size: int, overlap: int
    ) -> int:
        """Parse and chunk in the indexing thread, write on the loop in batches; the bytes."""
        started = time.perf_counter()
        text, chunks = await self._in_worker(_prepare, path, filename, size, overlap)
        await self._renew_claim(store_id, file_id)  # parsing a big file takes a while
        vectors = await self._embed(store_id, file_id, text, chunks)
        model = self.embedder.name if vectors is not None and self.embedder else None
        await self._delete_index(store_id, file_id)  # what a crash or earlier attempt left
        position = 0
        while position < len(chunks):
            position = await index.write_batch(
                self.db, store_id, file_id, text, chunks, position, vectors, model
            )
            if position % (index.BATCH * 100) == 0:
                await self._renew_claim(store_id, file_id)
            await asyncio.sleep(WRITE_PAUSE_S)  # requests go first
        await index.write_parsed(self.db, store_id, file_id, text)
        elapsed = time.perf_counter() - started
        self.indexed_s += elapsed
        log.info(
            "indexed %s (%d chunks, %d chars) in %.3f s", file_id, len(chunks), len(text), elapsed
        )
        return len(text.encode("utf-8"))

    async def _embed(
        self, store_id: str, file_id: str, text: str, chunks: list[Any]
    ) -> list[Any] | None:
        """The chunks' vectors from the embedding model (None without one, or when it fails:
        the file is then indexed keyword-only, still `completed`, and a warning logged)."""
        if self.embedder is None or not chunks:
            return None
        vectors: list[Any] = []
        step = dense.BATCH * 8
        try:
            for start in range(0, len(chunks), step):
                part = chunks[start : start + step]
                vectors.extend(await self.embedder.embed([text[c.start : c.end] for c in part]))
                await self._renew_claim(store_id, file_id)
        except dense.EmbeddingError as exc:
            log.warning("indexing %s keyword-only: %s", file_id, exc)
            return None
        return vectors


def _prepare(path: Any, filename: str, size: int, overlap: int) -> tuple[str, list[Any]]:
    """Parse and chunk a file (in the indexing thread)."""
    text = parse(path.read_bytes(), filename)
    return text, chunk(text, size, overlap)
