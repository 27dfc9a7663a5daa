"""The file store: bytes on disk in the blobs dir (`--blobs`, default `<data dir>/files/`),
metadata (the `file` objects) in the database.

Blobs are content-addressed (`blobs/<sha256[:2]>/<sha256>`), so uploading the same bytes twice
costs no space; each is written atomically (a temp file in `files/tmp/`, fsync, rename, fsync of
the directory), so a crash never leaves a half blob under a real name. A blob is removed when
the last file naming it is deleted.

For other server parts (code_interpreter's images and produced files):

* `await store.store_bytes(data, filename)` / `await store.store_path(path, filename)` make a
  server-made file (purpose `assistants_output` by default) and return its `file` object;
* `await store.path_of(file_id)` is the blob's path on disk (None for an unknown or expired id);
* `await store.get(file_id)` is the `file` object (None when unknown).

Replicas on one PostgreSQL share one blobs dir (a network filesystem): it must give atomic
rename within the dir and read-after-write across machines (NFSv4 with close-to-open
consistency, CephFS, EFS, Azure Files NFS do).

Call them from the event-loop thread (the disk work runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mimetypes
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from spool.server import objects
from spool.server.errors import ApiError
from spool.server.storage import Database

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
SERVER_PURPOSES = ("assistants_output",)
CHUNK_BYTES = 1024 * 1024
STALE_UPLOAD_S = 3600  # a temp upload file untouched this long is a crash's leftover


def max_file_bytes() -> int:
    """The upload limit: `SPOOL_SERVE_MAX_FILE_BYTES` or 512 MB (OpenAI's)."""
    value = os.environ.get("SPOOL_SERVE_MAX_FILE_BYTES", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_FILE_BYTES


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"File too large: the maximum file size is {limit} bytes.",
        param="file",
        code="file_too_large",
    )


class BlobWriter:
    """Receives a blob's bytes into a temp file, hashing as it goes; `commit` names it."""

    def __init__(self, store: FileStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._fd: int | None = fd
        self._tmp = Path(name)

    def write(self, data: bytes) -> None:
        """Append bytes (page-cache writes: microseconds per chunk, fine on the loop)."""
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit)
        self._hash.update(data)
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def commit(self) -> tuple[str, int]:
        """fsync, rename to the content address (or drop if present); returns (sha256, size)."""
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        digest = self._hash.hexdigest()
        final = self.store.blob_path(digest)
        if final.exists():
            self._tmp.unlink(missing_ok=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
        return digest, self.size

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore:
    """Files: blobs on disk (content-addressed, atomic) and their `file` objects in the database.

    `root` is the blobs dir (default `<data_dir>/files`)."""

    def __init__(
        self, data_dir: Path, db: Database, max_bytes: int | None = None, root: Path | None = None
    ) -> None:
        self.root = root or data_dir / "files"
        self.blob_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        for path in (self.root, self.blob_dir, self.tmp_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        # uploads a crash interrupted (old ones only: replicas share this dir, and another
        # one's upload in progress keeps its temp file's mtime fresh)
        stale = time.time() - STALE_UPLOAD_S
        for leftover in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < stale:
                    leftover.unlink(missing_ok=True)
        self.db = db
        self.max_bytes = max_bytes or max_file_bytes()

    def blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest[:2] / digest

    def writer(self) -> BlobWriter:
        return BlobWriter(self, self.max_bytes)

    # --- objects ---------------------------------------------------------------------------

    async def create(
        self,
        *,
        filename: str,
        purpose: str,
        digest: str,
        size: int,
        expires_after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Insert the `file` object for a committed blob."""
        created = objects.now()
        file = {
            "id": objects.new_id("file-"),
            "object": "file",
            "bytes": size,
            "created_at": created,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        if expires_after:
            file["expires_at"] = created + int(expires_after["seconds"])
        async with self.db.transaction():
            await self.db.lock(f"blob:{digest}")  # against a replica deleting these bytes
            await self.db.insert("files", file, sha256=digest)
            if not self.blob_path(digest).exists():  # that delete won the race: say so, keep none
                raise ApiError(
                    503,
                    "The file's bytes were removed while it was being stored; upload it again.",
                    type="server_error",
                    headers={"x-should-retry": "true"},
                )
        return file

    async def get(self, file_id: str) -> dict[str, Any] | None:
        """The `file` object (None when unknown or expired)."""
        file = await self.db.get("files", file_id)
        if file is None:
            return None
        if file.get("expires_at") and file["expires_at"] <= objects.now():
            await self.delete(file_id)
            return None
        return file

    async def digest_of(self, file_id: str) -> str | None:
        row = await self.db.fetchone("SELECT sha256 FROM files WHERE id = ?", (file_id,))
        return row[0] if row else None

    async def path_of(self, file_id: str) -> Path | None:
        """Where the file's bytes are on disk (None for an unknown or expired file)."""
        if await self.get(file_id) is None:
            return None
        digest = await self.digest_of(file_id)
        return self.blob_path(digest) if digest else None

    async def delete(self, file_id: str) -> bool:
        """Delete the object; the blob goes when no other file has the same bytes."""
        digest = await self.digest_of(file_id)
        if digest is None:
            return False
        async with self.db.transaction():
            await self.db.lock(f"blob:{digest}")  # against a replica storing the same bytes
            await self.db.delete("files", file_id)
            left = await self.db.fetchone("SELECT 1 FROM files WHERE sha256 = ? LIMIT 1", (digest,))
            if left is None:
                self.blob_path(digest).unlink(missing_ok=True)
        return True

    # --- server-made files -----------------------------------------------------------------

    async def store_bytes(
        self, data: bytes, filename: str, purpose: str = "assistants_output"
    ) -> dict[str, Any]:
        """Store bytes as a new file (written in a worker thread); returns its `file` object."""
        digest, size = await asyncio.to_thread(self._write_all, [data])
        return await self.create(filename=filename, purpose=purpose, digest=digest, size=size)

    async def store_path(
        self, path: Path, filename: str | None = None, purpose: str = "assistants_output"
    ) -> dict[str, Any]:
        """Copy a file from disk into the store; returns its `file` object."""
        digest, size = await asyncio.to_thread(self._copy, path)
        name = filename or path.name
        return await self.create(filename=name, purpose=purpose, digest=digest, size=size)

    def _write_all(self, chunks: list[bytes]) -> tuple[str, int]:
        writer = self.writer()
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def _copy(self, path: Path) -> tuple[str, int]:
        writer = self.writer()
        try:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise


def media_type(filename: str) -> str:
    """The content type a file's bytes are answered with (from its name)."""
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
