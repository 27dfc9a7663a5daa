"""Files and vector stores on the server, for `spool ask --file`, `spool files …` and
`spool stores …` (and later the TUI): upload with progress, list, delete, create a store, add
files to it, search it (citations → footnotes: `spool.client.citations`). No Textual here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

FILE_SEARCH = {"type": "file_search"}
Progress = Callable[[int, int], None]  # (bytes sent, total)


class _Reading:
    """A binary file that reports how much of it was read (the upload's progress)."""

    def __init__(self, f: BinaryIO, total: int, progress: Progress | None) -> None:
        self._f = f
        self.total = total
        self.sent = 0
        self.progress = progress
        self.name = getattr(f, "name", "upload")

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self.sent += len(data)
        if self.progress:
            self.progress(self.sent, self.total)
        return data

    def __iter__(self):
        while chunk := self.read(64 * 1024):
            yield chunk


async def upload(
    client: Any, path: Path, *, purpose: str = "assistants", progress: Progress | None = None
) -> Any:
    """Upload a file (streamed from disk); returns the SDK `FileObject`."""
    total = path.stat().st_size
    with path.open("rb") as f:
        body = _Reading(f, total, progress)
        return await client.files.create(file=(path.name, body), purpose=purpose)


async def list_files(client: Any, purpose: str | None = None) -> list[Any]:
    kwargs = {"purpose": purpose} if purpose else {}
    return [f async for f in client.files.list(**kwargs)]


async def delete_file(client: Any, file_id: str) -> None:
    await client.files.delete(file_id)


async def list_stores(client: Any) -> list[Any]:
    return [s async for s in client.vector_stores.list(limit=100)]


async def create_store(client: Any, name: str, file_ids: list[str]) -> Any:
    """A store with these files, polled until their indexing ends."""
    store = await client.vector_stores.create(name=name)
    if file_ids:
        await client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=file_ids, poll_interval_ms=100
        )
    return await client.vector_stores.retrieve(store.id)


async def add_to_store(client: Any, store_id: str, file_ids: list[str]) -> Any:
    """Add files to a store and wait for their indexing; returns the batch."""
    return await client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store_id, file_ids=file_ids, poll_interval_ms=100
    )


async def search_store(client: Any, store_id: str, query: str, limit: int = 10) -> list[Any]:
    page = await client.vector_stores.search(store_id, query=query, max_num_results=limit)
    return list(page.data)


def with_file_search(tools: list[Any]) -> list[dict[str, Any]]:
    """An assistant's tools (SDK objects) as run tools, plus file_search when missing."""
    out = [t.model_dump(exclude_unset=True) if hasattr(t, "model_dump") else t for t in tools]
    if not any(t.get("type") == "file_search" for t in out):
        out.append(dict(FILE_SEARCH))
    return out
