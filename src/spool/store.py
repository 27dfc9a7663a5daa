"""The local index (TinyDB): saved threads, assistant cache, settings and unsent drafts.

The Assistants API has no list-threads endpoint, so this file is the user's only list of threads.

Durability and speed:

* `DeferredAtomicStorage` keeps the data in memory; TinyDB reads come from memory and every
  write only marks the data dirty and wakes a writer thread. The writer coalesces bursts of
  writes (one file write per `coalesce_s`) and writes atomically: temp file, `fsync`,
  `os.replace`, directory `fsync`. A `kill -9` leaves either the old or the new file, never a
  torn one, and the UI's event loop never waits for the disk.
* A single-instance lock (`index.lock`, `fcntl.flock`) makes a second spool on the same data
  dir open the index read-only (`Store.read_only`, with `Store.warnings` saying so).
* A corrupt index is moved aside (`index.json.corrupt-<time>`) with a warning, and spool starts
  with an empty one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

INDEX_NAME = "index.json"
LOCK_NAME = "index.lock"

Clock = Callable[[], float]


def _fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temp file + fsync + os.replace + dir fsync)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class DeferredAtomicStorage(Storage):
    """A TinyDB storage: reads from memory, writes atomically from a coalescing writer thread.

    `lock` must be held by anyone mutating the data (the `Store` holds it around every TinyDB
    call); the writer thread holds it only while serialising.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock: threading.RLock | None = None,
        read_only: bool = False,
        coalesce_s: float = 0.05,
        warnings: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock = lock or threading.RLock()
        self.read_only = read_only
        self.coalesce_s = coalesce_s
        self.warnings = warnings if warnings is not None else []
        self._data: dict[str, Any] | None = None
        self._dirty = False
        self._wake = threading.Event()
        self._stop = False
        self._written = threading.Condition(threading.Lock())
        self._generation = 0  # bumped on every write()
        self._flushed_generation = 0
        self.write_count = 0  # file writes done (for tests and benchmarks)
        self.last_write_s = 0.0
        self._thread: threading.Thread | None = None
        if not read_only:
            self._thread = threading.Thread(
                target=self._run, name="spool-index-writer", daemon=True
            )
            self._thread.start()

    # --- TinyDB Storage API -------------------------------------------------------------
    def read(self) -> dict[str, Any] | None:
        """The in-memory data (loaded from the file the first time)."""
        if self._data is None:
            self._data = self._load()
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        """Remember `data` and wake the writer thread (returns at once)."""
        self._data = data
        if self.read_only:
            return
        self._generation += 1
        self._dirty = True
        self._wake.set()

    def close(self) -> None:
        """Write what is pending and stop the writer thread."""
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join(10)
            self._thread = None
        if self._dirty and not self.read_only:
            self._write_now()

    # --- internals ------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            if not self.read_only:
                with contextlib.suppress(OSError):
                    stale.unlink()
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.warnings.append(f"cannot read {self.path}: {exc}")
            return {}
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError("not a TinyDB document")
        except ValueError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            if not self.read_only:
                with contextlib.suppress(OSError):
                    os.replace(self.path, aside)
                self.warnings.append(
                    f"The thread index {self.path} was corrupt ({exc}); moved it to {aside.name} "
                    "and started a new one."
                )
            else:
                self.warnings.append(f"The thread index {self.path} is corrupt ({exc}).")
            return {}
        return data

    def _write_now(self) -> None:
        with self.lock:
            if self._data is None:
                return
            text = json.dumps(self._data, ensure_ascii=False, separators=(",", ":"))
            generation = self._generation
            self._dirty = False
        start = time.perf_counter()
        try:
            atomic_write_text(self.path, text)
        except OSError as exc:
            self.warnings.append(f"cannot write {self.path}: {exc}")
            self._dirty = True
        self.last_write_s = time.perf_counter() - start
        self.write_count += 1
        with self._written:
            self._flushed_generation = max(self._flushed_generation, generation)
            self._written.notify_all()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop:
                return
            time.sleep(self.coalesce_s)  # let a burst of writes pile up
            self._wake.clear()
            if self._dirty:
                self._write_now()
            if self._stop:
                return

    def wait_flushed(self, timeout: float = 10.0) -> bool:
        """Block until everything written so far is on disk (tests, benchmarks)."""
        target = self._generation
        deadline = time.monotonic() + timeout
        with self._written:
            while self._flushed_generation < target and not self.read_only:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._written.wait(remaining)
        return True


class InstanceLock:
    """A non-blocking exclusive `flock` on `<data dir>/index.lock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class ThreadRecord:
    """One saved thread in the index."""

    id: str
    profile: str
    title: str = ""
    assistant_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    preview: str = ""

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "profile": self.profile,
            "title": self.title,
            "assistant_id": self.assistant_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "preview": self.preview,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ThreadRecord:
        return cls(
            id=str(doc.get("id", "")),
            profile=str(doc.get("profile", "local")),
            title=str(doc.get("title") or ""),
            assistant_id=doc.get("assistant_id"),
            created_at=float(doc.get("created_at") or 0.0),
            updated_at=float(doc.get("updated_at") or 0.0),
            preview=str(doc.get("preview") or ""),
        )


@dataclass(slots=True)
class AssistantRecord:
    """A cached assistant (id, name, model) of one profile."""

    id: str
    profile: str
    name: str = "Assistant"
    model: str = ""

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "profile": self.profile, "name": self.name, "model": self.model}


@dataclass
class Store:
    """The index of one data dir. Methods are cheap (memory); the disk is written off-thread."""

    data_dir: Path
    clock: Clock = time.time
    coalesce_s: float = 0.05
    read_only: bool = False
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / INDEX_NAME
        self._lock = threading.RLock()
        self._instance_lock = InstanceLock(self.data_dir / LOCK_NAME)
        if not self.read_only and not self._instance_lock.acquire():
            self.read_only = True
            self.warnings.append(
                f"Another spool is using {self.data_dir}: this window's thread list is read-only "
                "(changes are not saved)."
            )
        self._storage_args = {
            "lock": self._lock,
            "read_only": self.read_only,
            "coalesce_s": self.coalesce_s,
            "warnings": self.warnings,
        }
        self.db = TinyDB(self.path, storage=self._make_storage)
        self.storage: DeferredAtomicStorage = self.db.storage  # type: ignore[assignment]
        self._threads = self.db.table("threads", cache_size=0)
        self._assistants = self.db.table("assistants", cache_size=0)
        self._settings = self.db.table("settings", cache_size=0)
        self._drafts = self.db.table("drafts", cache_size=0)
        with self._lock:
            self._thread_doc_ids: dict[str, int] = {
                str(doc.get("id")): doc.doc_id for doc in self._threads.all()
            }

    def _make_storage(self, path: str) -> DeferredAtomicStorage:
        return DeferredAtomicStorage(path, **self._storage_args)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # --- threads ----------------------------------------------------------------------------
    def threads(self, profile: str | None = None) -> list[ThreadRecord]:
        """Saved threads, newest (last updated) first."""
        with self._locked():
            docs = list(self._threads._read_table().values())  # no Document wrapping: fast
        records = [ThreadRecord.from_doc(d) for d in docs]
        if profile is not None:
            records = [r for r in records if r.profile == profile]
        records.sort(key=lambda r: (r.updated_at, r.created_at), reverse=True)
        return records

    def get_thread(self, thread_id: str) -> ThreadRecord | None:
        """One thread by id."""
        with self._locked():
            doc_id = self._thread_doc_ids.get(thread_id)
            if doc_id is None:
                return None
            doc = self._threads.get(doc_id=doc_id)
        return ThreadRecord.from_doc(doc) if doc else None

    def add_thread(self, record: ThreadRecord) -> ThreadRecord:
        """Add (or replace) a thread."""
        now = self.clock()
        record.created_at = record.created_at or now
        record.updated_at = record.updated_at or now
        with self._locked():
            doc_id = self._thread_doc_ids.get(record.id)
            if doc_id is not None:
                self._threads.update(record.to_doc(), doc_ids=[doc_id])
            else:
                self._thread_doc_ids[record.id] = self._threads.insert(record.to_doc())
        return record

    def add_threads(self, records: list[ThreadRecord]) -> None:
        """Bulk insert (benchmarks, imports)."""
        with self._locked():
            ids = self._threads.insert_multiple(r.to_doc() for r in records)
            for r, doc_id in zip(records, ids, strict=True):
                self._thread_doc_ids[r.id] = doc_id

    def update_thread(self, thread_id: str, *, touch: bool = False, **fields: Any) -> None:
        """Change fields of a thread (`touch` also sets updated_at to now)."""
        if touch:
            fields["updated_at"] = self.clock()
        with self._locked():
            doc_id = self._thread_doc_ids.get(thread_id)
            if doc_id is not None:
                self._threads.update(fields, doc_ids=[doc_id])

    def delete_thread(self, thread_id: str) -> None:
        """Forget a thread (and its draft)."""
        with self._locked():
            doc_id = self._thread_doc_ids.pop(thread_id, None)
            if doc_id is not None:
                self._threads.remove(doc_ids=[doc_id])
        self.set_draft(thread_id, "")

    # --- assistants -------------------------------------------------------------------------
    def assistants(self, profile: str) -> list[AssistantRecord]:
        """Cached assistants of a profile."""
        with self._locked():
            docs = list(self._assistants._read_table().values())
        return [
            AssistantRecord(d["id"], d.get("profile", ""), d.get("name") or "", d.get("model", ""))
            for d in docs
            if d.get("profile") == profile
        ]

    def put_assistant(self, record: AssistantRecord) -> None:
        """Add or refresh a cached assistant."""
        from tinydb import Query

        with self._locked():
            q = Query()
            self._assistants.upsert(
                record.to_doc(), (q.id == record.id) & (q.profile == record.profile)
            )

    def delete_assistant(self, assistant_id: str, profile: str) -> None:
        """Forget a cached assistant (deleted on the server)."""
        from tinydb import Query

        with self._locked():
            q = Query()
            self._assistants.remove((q.id == assistant_id) & (q.profile == profile))

    # --- settings and drafts -------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        """A setting (theme, last thread per profile, …)."""
        with self._locked():
            doc = self._settings.get(doc_id=1)
        return (doc or {}).get(key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a setting."""
        with self._locked():
            if self._settings.get(doc_id=1) is None:
                from tinydb.table import Document

                self._settings.insert(Document({key: value}, doc_id=1))
            else:
                self._settings.update({key: value}, doc_ids=[1])

    def get_draft(self, thread_id: str) -> str:
        """The unsent text of a thread."""
        with self._locked():
            for doc in self._drafts._read_table().values():
                if doc.get("thread_id") == thread_id:
                    return str(doc.get("text", ""))
        return ""

    def set_draft(self, thread_id: str, text: str) -> None:
        """Remember (or with "" forget) the unsent text of a thread."""
        from tinydb import Query

        q = Query()
        with self._locked():
            if text:
                self._drafts.upsert(
                    {"thread_id": thread_id, "text": text}, q.thread_id == thread_id
                )
            elif self.get_draft(thread_id):
                self._drafts.remove(q.thread_id == thread_id)

    # --- lifecycle -----------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every change so far is on disk."""
        return self.storage.wait_flushed(timeout)

    def close(self) -> None:
        """Flush, stop the writer and release the single-instance lock."""
        with contextlib.suppress(Exception):
            self.db.close()
        self._instance_lock.release()
