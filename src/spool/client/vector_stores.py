"""Vector stores for the TUI: rows to show (status, file counts, size, expiry), create, add files
(upload with progress), remove files, delete, and a test search with ranked chunks.

Built on the helpers `spool stores` uses (`spool.client.files`); every failure is a `StoreError`
with a readable message. No Textual here; `client` is an `openai.AsyncOpenAI`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spool.client import files
from spool.client.connection import describe_error

FileProgress = Callable[[str, int, int], None]  # (file name, bytes sent, total)


class StoreError(Exception):
    """A vector store call failed; the message is readable."""


@dataclass(slots=True)
class StoreRow:
    """One vector store as the screen lists it."""

    id: str
    name: str
    status: str
    completed: int = 0
    in_progress: int = 0
    failed: int = 0
    total: int = 0
    usage_bytes: int = 0
    expires_at: int | None = None
    expires_days: int | None = None

    @classmethod
    def from_sdk(cls, store: Any) -> StoreRow:
        counts = store.file_counts
        after = getattr(store, "expires_after", None)
        return cls(
            id=store.id,
            name=store.name or "",
            status=store.status or "",
            completed=counts.completed or 0,
            in_progress=counts.in_progress or 0,
            failed=(counts.failed or 0) + (counts.cancelled or 0),
            total=counts.total or 0,
            usage_bytes=store.usage_bytes or 0,
            expires_at=store.expires_at,
            expires_days=getattr(after, "days", None) if after is not None else None,
        )

    @property
    def counts_text(self) -> str:
        """`3 files` or `2/3 indexed, 1 failed`."""
        if self.total == self.completed:
            return f"{self.total} file" + ("" if self.total == 1 else "s")
        text = f"{self.completed}/{self.total} indexed"
        if self.in_progress:
            text += f", {self.in_progress} indexing"
        if self.failed:
            text += f", {self.failed} failed"
        return text

    def expiry_text(self, now: float) -> str:
        """`never`, `in 3 d` (days after last use), or `expired`."""
        if self.status == "expired":
            return "expired"
        if self.expires_at is None:
            return "never" if self.expires_days is None else f"{self.expires_days} d idle"
        left = self.expires_at - now
        if left <= 0:
            return "expired"
        if left < 3600:
            return f"in {max(1, int(left // 60))} min"
        if left < 86400:
            return f"in {int(left // 3600)} h"
        return f"in {math.ceil(left / 86400)} d"


@dataclass(slots=True)
class StoreFileRow:
    """A file of a store: its name, indexing status, size and error."""

    id: str
    name: str
    status: str
    usage_bytes: int = 0
    error: str = ""


@dataclass(slots=True)
class Hit:
    """One ranked chunk of a test search."""

    file_id: str
    file_name: str
    score: float
    text: str


class VectorStores:
    """The vector stores of one connection."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._names: dict[str, str] = {}  # file id -> file name

    async def list(self) -> list[StoreRow]:
        """Every store (newest first)."""
        try:
            return [StoreRow.from_sdk(s) for s in await files.list_stores(self.client)]
        except Exception as exc:
            raise StoreError(f"Could not list the vector stores: {describe_error(exc)}") from exc

    async def get(self, store_id: str) -> StoreRow:
        try:
            return StoreRow.from_sdk(await self.client.vector_stores.retrieve(store_id))
        except Exception as exc:
            raise StoreError(f"Could not load the vector store: {describe_error(exc)}") from exc

    async def create(self, name: str, *, expires_days: int | None = None) -> StoreRow:
        """A new empty store (expiring `expires_days` after its last use, when given)."""
        kwargs: dict[str, Any] = {"name": name}
        if expires_days:
            kwargs["expires_after"] = {"anchor": "last_active_at", "days": expires_days}
        try:
            return StoreRow.from_sdk(await self.client.vector_stores.create(**kwargs))
        except Exception as exc:
            raise StoreError(f"Could not create the vector store: {describe_error(exc)}") from exc

    async def delete(self, store_id: str) -> None:
        """Delete a store (already gone counts as deleted); its files stay uploaded."""
        import openai

        try:
            await self.client.vector_stores.delete(store_id)
        except openai.NotFoundError:
            return
        except Exception as exc:
            raise StoreError(f"Could not delete the vector store: {describe_error(exc)}") from exc

    async def file_name(self, file_id: str) -> str:
        """A file's name (remembered; its id when the file is gone)."""
        if file_id not in self._names:
            try:
                self._names[file_id] = (await self.client.files.retrieve(file_id)).filename
            except Exception:
                return file_id
        return self._names[file_id] or file_id

    async def files(self, store_id: str) -> list[StoreFileRow]:
        """The files of a store, with their names."""
        try:
            entries = [f async for f in self.client.vector_stores.files.list(store_id, limit=100)]
        except Exception as exc:
            raise StoreError(f"Could not list the store's files: {describe_error(exc)}") from exc
        rows = []
        for entry in entries:
            error = entry.last_error.message if entry.last_error is not None else ""
            rows.append(
                StoreFileRow(
                    entry.id,
                    await self.file_name(entry.id),
                    entry.status,
                    entry.usage_bytes or 0,
                    error,
                )
            )
        return rows

    async def uploaded(self) -> list[Any]:
        """The server's uploaded files (purpose `assistants`), for pickers."""
        try:
            found = await files.list_files(self.client, "assistants")
        except Exception as exc:
            raise StoreError(f"Could not list the files: {describe_error(exc)}") from exc
        for f in found:
            self._names[f.id] = f.filename
        return found

    async def upload(self, path: Path, progress: FileProgress | None = None) -> Any:
        """Upload one file (purpose `assistants`); returns the SDK FileObject."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise StoreError(f"No such file: {path}")

        def report(sent: int, total: int) -> None:
            if progress is not None:
                progress(path.name, sent, total)

        try:
            uploaded = await files.upload(self.client, path, progress=report)
        except OSError as exc:
            raise StoreError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        except Exception as exc:
            raise StoreError(f"Could not upload {path.name}: {describe_error(exc)}") from exc
        self._names[uploaded.id] = uploaded.filename
        return uploaded

    async def add_paths(
        self,
        store_id: str,
        paths: list[Path],
        progress: FileProgress | None = None,
        *,
        file_ids: list[str] | None = None,
    ) -> list[str]:
        """Upload files and add them, with already uploaded `file_ids`, to the store (waits for
        their indexing); returns every id added."""
        ids = [(await self.upload(p, progress)).id for p in paths] + list(file_ids or [])
        await self.add_files(store_id, ids)
        return ids

    async def add_files(self, store_id: str, file_ids: list[str]) -> None:
        """Add uploaded files to the store and wait for their indexing."""
        if not file_ids:
            return
        try:
            await files.add_to_store(self.client, store_id, file_ids)
        except Exception as exc:
            raise StoreError(f"Could not add the files: {describe_error(exc)}") from exc

    async def remove_file(self, store_id: str, file_id: str) -> None:
        """Take a file out of the store (the upload itself stays)."""
        import openai

        try:
            await self.client.vector_stores.files.delete(file_id, vector_store_id=store_id)
        except openai.NotFoundError:
            return
        except Exception as exc:
            raise StoreError(f"Could not remove the file: {describe_error(exc)}") from exc

    async def search(self, store_id: str, query: str, limit: int = 10) -> list[Hit]:
        """A test search: the ranked chunks (best first)."""
        if not query.strip():
            raise StoreError("Type something to search for.")
        try:
            results = await files.search_store(self.client, store_id, query, limit)
        except Exception as exc:
            raise StoreError(f"The search failed: {describe_error(exc)}") from exc
        return [
            Hit(
                r.file_id,
                r.filename or await self.file_name(r.file_id),
                float(r.score or 0.0),
                "".join(c.text or "" for c in r.content or []),
            )
            for r in results
        ]
