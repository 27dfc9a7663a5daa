"""Files the server produced (code_interpreter images, `file_path` links): fetched with
`files.retrieve` + `files.content`, cached, and saved to a folder the user chose.

* `FileCache.get(file_id)` returns a `FetchedFile` (name, size, bytes); concurrent asks for the
  same file share one download, and the cache keeps the most recent files up to `max_bytes`;
* `save_file(folder, name, data)` writes atomically, never over an existing file (`out (1).csv`);
* `default_save_folder()` is the user's Downloads folder when there is one, else the cwd.

No Textual here; `client` is an `openai.AsyncOpenAI`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spool.client.connection import describe_error
from spool.client.sizes import human_size

MAX_CACHE_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024


class FetchError(Exception):
    """A file could not be read from the server (the message says why)."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A server file's name and content."""

    file_id: str
    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


class FileCache:
    """Downloads server files once; keeps the latest ones in memory (least recently used out)."""

    def __init__(self, client: Any, *, max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self._files: OrderedDict[str, FetchedFile] = OrderedDict()
        self._pending: dict[str, asyncio.Future[FetchedFile]] = {}
        self.downloads = 0  # how many files were fetched from the server (tests)

    def cached(self, file_id: str) -> FetchedFile | None:
        """The file when it is in memory already."""
        found = self._files.get(file_id)
        if found is not None:
            self._files.move_to_end(file_id)
        return found

    async def get(self, file_id: str) -> FetchedFile:
        """The file's name and bytes (from memory, else from the server); raises FetchError."""
        found = self.cached(file_id)
        if found is not None:
            return found
        pending = self._pending.get(file_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[FetchedFile] = asyncio.get_running_loop().create_future()
        self._pending[file_id] = future
        try:
            fetched = await self._download(file_id)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, FetchError) else FetchError(str(exc)))
            future.exception()  # (retrieved: no "never retrieved" warning when no one waits)
            raise
        finally:
            self._pending.pop(file_id, None)
        future.set_result(fetched)
        self._keep(fetched)
        return fetched

    async def _download(self, file_id: str) -> FetchedFile:
        try:
            info = await self.client.files.retrieve(file_id)
            if (info.bytes or 0) > MAX_FILE_BYTES:
                raise FetchError(f"{info.filename} is too large to show ({human_size(info.bytes)})")
            response = await self.client.files.content(file_id)
            data = response.content  # (the async client has read the body already)
        except FetchError:
            raise
        except Exception as exc:
            raise FetchError(describe_error(exc)) from exc
        self.downloads += 1
        return FetchedFile(file_id, info.filename or file_id, bytes(data))

    def _keep(self, fetched: FetchedFile) -> None:
        if fetched.size > self.max_bytes:
            return
        self._files[fetched.file_id] = fetched
        total = sum(f.size for f in self._files.values())
        while total > self.max_bytes and self._files:
            _, dropped = self._files.popitem(last=False)
            total -= dropped.size


def default_save_folder() -> Path:
    """Where saved files go unless the user says otherwise: ~/Downloads if it exists, else the
    current directory."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while target.exists():
        target = folder / f"{stem} ({n}){suffix}"
        n += 1
    return target


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name without directories (a server name like `../x` cannot escape the folder)."""
    base = Path(name.replace("\\", "/")).name.strip()
    return base if base not in ("", ".", "..") else fallback


def save_file(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` as `folder/name` (a free variant of the name when it exists); the folder is
    created when missing. Returns the path written; raises OSError."""
    folder = folder.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, safe_name(name))
    tmp = folder / f".spool-{uuid.uuid4().hex}.part"  # (open() gives the umask's mode)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
