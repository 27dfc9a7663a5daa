"""The local index (TinyDB): saved threads, assistant cache, settings, drafts and the outbox.

The Assistants API has no list-threads endpoint, so this file is the user's only list of threads.

Durability and speed:

* `DeferredAtomicStorage` keeps the data in memory; TinyDB reads come from memory and every
  write only marks the data dirty and wakes a writer thread, so the UI's event loop never waits
  for the disk, and every method is safe to call from any thread.
* The writer writes atomically (0600 temp file, `fsync`, `os.replace`, directory `fsync`): a
  `kill -9` leaves either the old or the new file, never a torn one.
* When the writer has been idle, a change is written at once (leading edge); changes that
  follow a write within `coalesce_s` (50 ms) are coalesced into one write at the end of that
  window. So what a `kill -9` or a closed terminal can lose is the changes of the last
  `coalesce_s` plus one file write (~20 ms with 10,000 threads here) — never more than
  about 0.1 s of actions, and nothing after `Store.close()` or `Store.flush()`.
* The outbox (`add_outbox`, …) keeps messages the user sent that are not posted yet, and
  drafts (`set_draft`) the unsent text, with the same guarantee.
* A single-instance lock (`index.lock`, `fcntl.flock`) makes a second spool on the same data
  dir open the index read-only (`Store.read_only`, with `Store.warnings` saying so).
* Loading never crashes and never loses records silently (`spool.index_recovery`): invalid
  records are skipped and reported in `Store.warnings`, a corrupt file is salvaged record by
  record and moved aside, and `index.json.bak` (the last good index, refreshed after a clean load
  and at most every `BACKUP_INTERVAL_S` after a write, and on close) fills in what a salvage
  cannot find. Every file the store writes is mode 0600; looser existing ones are fixed on open.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tinydb import TinyDB
from tinydb.storages import Storage

from spool.index_recovery import (
    OUTBOX_STATES,
    atomic_write_text,
    backup_path,
    count_records,
    load_index,
    make_private,
)

INDEX_NAME = "index.json"
LOCK_NAME = "index.lock"
BACKUP_INTERVAL_S = 30.0  # the writer refreshes index.json.bak at most this often (and on close)
COALESCE_S = 0.05

Clock = Callable[[], float]


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
        coalesce_s: float = COALESCE_S,
        warnings: list[str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
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
        self._last_write_end = float("-inf")  # time.monotonic() after the last file write
        self._last_backup = float("-inf")
        self._closing = False
        self._pending_backup: str | None = None  # a clean index to copy to index.json.bak
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
        self._closing = True
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join(10)
            self._thread = None
        if self._dirty and not self.read_only:
            self._write_now()
        self._backup_if_pending()

    # --- internals ------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        for stale in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            if not self.read_only:
                with contextlib.suppress(OSError):
                    stale.unlink()
        result = load_index(self.path, read_only=self.read_only, clock=self.clock)
        self.warnings.extend(result.warnings)
        if self.read_only:
            return result.data
        if not result.clean:
            self._generation += 1  # put what was recovered on disk at once
            self._dirty = True
            self._wake.set()
        elif count_records(result.data):
            self._pending_backup = result.raw  # the writer thread copies it: no disk here
            self._wake.set()
        return result.data

    def _refresh_backup(self, text: str) -> None:
        """Keep `index.json.bak` as the last good index (best effort, off the caller)."""
        self._last_backup = time.monotonic()
        bak = backup_path(self.path)
        with contextlib.suppress(OSError):
            if bak.exists() and bak.read_text(encoding="utf-8") == text:
                return
        try:
            atomic_write_text(bak, text)
        except OSError as exc:
            self.warnings.append(f"cannot write the backup {bak}: {exc}")

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
        else:
            if self._closing or time.monotonic() - self._last_backup >= BACKUP_INTERVAL_S:
                self._pending_backup = None  # older than this text
                self._refresh_backup(text)
        self.last_write_s = time.perf_counter() - start
        self._last_write_end = time.monotonic()
        self.write_count += 1
        with self._written:
            self._flushed_generation = max(self._flushed_generation, generation)
            self._written.notify_all()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop:
                return
            # Leading edge: a change after a quiet moment is written at once; a change that
            # follows a write within `coalesce_s` waits out the rest of that window, so a
            # burst of changes costs one file write per window.
            pause = self.coalesce_s - (time.monotonic() - self._last_write_end)
            if pause > 0:
                time.sleep(pause)
            self._wake.clear()
            if self._dirty:
                self._write_now()
            self._backup_if_pending()
            if self._stop:
                return

    def _backup_if_pending(self) -> None:
        text, self._pending_backup = self._pending_backup, None
        if text is not None:
            self._refresh_backup(text)

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


HISTORY_MAX = 1000  # prompts kept for Up / ctrl+r in the composer
RUN_DURATIONS_MAX = 2000  # measured run durations kept (the status bar and the run inspector)


@dataclass(slots=True)
class OutboxItem:
    """A message the user sent that is not posted yet (queued, or its post failed)."""

    MUTABLE: ClassVar[frozenset[str]] = frozenset({"text", "state", "error", "attachments"})

    id: str
    thread_id: str
    text: str
    profile: str = "local"
    created_at: float = 0.0
    state: str = "pending"  # "pending" | "failed"
    error: str | None = None
    # files on the message (`view_model.Attachment.to_doc()`): a local path until uploaded, then
    # also its file id, so a retry uploads only what is missing
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "profile": self.profile,
            "text": self.text,
            "created_at": self.created_at,
            "state": self.state,
            "error": self.error,
            "attachments": list(self.attachments),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> OutboxItem:
        return cls(
            id=str(doc["id"]),
            thread_id=str(doc["thread_id"]),
            text=str(doc.get("text", "")),
            profile=str(doc.get("profile") or "local"),
            created_at=float(doc.get("created_at") or 0.0),
            state=str(doc.get("state") or "pending"),
            error=doc.get("error"),
            attachments=[a for a in doc.get("attachments") or [] if isinstance(a, dict)],
        )


@dataclass
class Store:
    """The index of one data dir. Methods are cheap (memory); the disk is written off-thread."""

    data_dir: Path
    clock: Clock = time.time
    coalesce_s: float = COALESCE_S
    read_only: bool = False
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.data_dir / INDEX_NAME
        for private in (self.path, backup_path(self.path), self.data_dir / LOCK_NAME):
            make_private(private)
        for private in self.data_dir.glob(f"{INDEX_NAME}.*-*"):  # moved-aside copies
            make_private(private)
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
            "clock": self.clock,
        }
        self.db = TinyDB(self.path, storage=self._make_storage)
        self.storage: DeferredAtomicStorage = self.db.storage  # type: ignore[assignment]
        self._threads = self.db.table("threads", cache_size=0)
        self._assistants = self.db.table("assistants", cache_size=0)
        self._settings = self.db.table("settings", cache_size=0)
        self._drafts = self.db.table("drafts", cache_size=0)
        self._outbox = self.db.table("outbox", cache_size=0)
        self._history = self.db.table("history", cache_size=0)
        self._run_durations = self.db.table("run_durations", cache_size=0)
        self._run_options = self.db.table("run_options", cache_size=0)
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
        """Forget a thread (and its draft, run options and unsent messages)."""
        with self._locked():
            doc_id = self._thread_doc_ids.pop(thread_id, None)
            if doc_id is not None:
                self._threads.remove(doc_ids=[doc_id])
            for item in self.outbox(thread_id):
                self.remove_outbox(item.id)
        self.set_draft(thread_id, "")
        self.set_run_options(thread_id, None)

    # --- assistants -------------------------------------------------------------------------
    def assistants(self, profile: str) -> list[AssistantRecord]:
        """Cached assistants of a profile."""
        with self._locked():
            docs = list(self._assistants._read_table().values())
        return [
            AssistantRecord(
                d["id"], d.get("profile") or "", d.get("name") or "", d.get("model") or ""
            )
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
        """Remember (or with "" forget) the unsent text of a thread.

        Safe to call from any thread and cheap enough for every keystroke: it changes memory
        and wakes the writer. The draft is on disk within about `coalesce_s` plus one file
        write (well under a second), so a closed terminal or a `kill -9` loses at most that.
        """
        from tinydb import Query

        q = Query()
        with self._locked():
            if text:
                self._drafts.upsert(
                    {"thread_id": thread_id, "text": text}, q.thread_id == thread_id
                )
            elif self.get_draft(thread_id):
                self._drafts.remove(q.thread_id == thread_id)

    # --- prompt history: what the user sent, newest last -----------------------------------
    def add_history(self, thread_id: str, text: str) -> None:
        """Remember a sent prompt (a repeat moves to the end); keeps the last HISTORY_MAX."""
        from tinydb import Query

        if not text.strip():
            return
        with self._locked():
            self._history.remove(Query().text == text)
            self._history.insert({"thread_id": thread_id, "text": text, "at": self.clock()})
            docs = self._history._read_table()
            if len(docs) > HISTORY_MAX:
                oldest = sorted(docs.items(), key=lambda kv: kv[1].get("at", 0))
                drop = [int(k) for k, _ in oldest[: len(docs) - HISTORY_MAX]]
                self._history.remove(doc_ids=drop)

    def history(self, thread_id: str | None = None) -> list[str]:
        """Sent prompts, oldest first; with `thread_id`, that thread's first, then the rest."""
        with self._locked():
            docs = sorted(self._history._read_table().values(), key=lambda d: d.get("at", 0))
        mine = [str(d["text"]) for d in docs if d.get("thread_id") == thread_id]
        rest = [str(d["text"]) for d in docs if d.get("thread_id") != thread_id]
        return rest + mine  # walking back from the end: this thread's first

    # --- run options: what the user set for a thread's next runs (F9) --------------------
    def get_run_options(self, thread_id: str) -> dict[str, Any] | None:
        """A thread's run options as stored (see `RunOptions.to_doc`), None when unset."""
        with self._locked():
            for doc in self._run_options._read_table().values():
                if doc.get("thread_id") == thread_id:
                    options = doc.get("options")
                    return dict(options) if isinstance(options, dict) else None
        return None

    def set_run_options(self, thread_id: str, options: dict[str, Any] | None) -> None:
        """Keep (or with None / {} forget) a thread's run options."""
        from tinydb import Query

        q = Query()
        with self._locked():
            if options:
                self._run_options.upsert(
                    {"thread_id": thread_id, "options": options}, q.thread_id == thread_id
                )
            else:
                self._run_options.remove(q.thread_id == thread_id)

    # --- run durations: measured by the client (the API's timestamps are whole seconds) -----
    def run_duration(self, run_id: str) -> float | None:
        """How long a run took, as measured when this client watched it end (else None)."""
        with self._locked():
            for doc in self._run_durations._read_table().values():
                if doc.get("run_id") == run_id:
                    return float(doc["seconds"])
        return None

    def set_run_duration(self, run_id: str, seconds: float) -> None:
        """Remember a run's measured duration; keeps the last RUN_DURATIONS_MAX."""
        from tinydb import Query

        with self._locked():
            self._run_durations.upsert(
                {"run_id": run_id, "seconds": round(max(0.0, seconds), 3), "at": self.clock()},
                Query().run_id == run_id,
            )
            docs = self._run_durations._read_table()
            if len(docs) > RUN_DURATIONS_MAX:
                oldest = sorted(docs.items(), key=lambda kv: kv[1].get("at", 0))
                drop = [int(k) for k, _ in oldest[: len(docs) - RUN_DURATIONS_MAX]]
                self._run_durations.remove(doc_ids=drop)

    # --- outbox: messages the user sent that are not posted yet ------------------------------
    def outbox(self, thread_id: str) -> list[OutboxItem]:
        """The unsent messages of a thread, oldest first."""
        with self._locked():
            docs = list(self._outbox._read_table().items())
        items = [
            (int(k), OutboxItem.from_doc(d)) for k, d in docs if d.get("thread_id") == thread_id
        ]
        items.sort(key=lambda pair: (pair[1].created_at, pair[0]))
        return [item for _, item in items]

    def all_outbox(self, profile: str | None = None) -> list[OutboxItem]:
        """Every unsent message (of one profile), oldest first."""
        with self._locked():
            docs = list(self._outbox._read_table().items())
        items = [(int(k), OutboxItem.from_doc(d)) for k, d in docs]
        if profile is not None:
            items = [pair for pair in items if pair[1].profile == profile]
        items.sort(key=lambda pair: (pair[1].created_at, pair[0]))
        return [item for _, item in items]

    def add_outbox(
        self,
        thread_id: str,
        text: str,
        *,
        profile: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> OutboxItem:
        """Queue a message for a thread (state "pending"); `profile` defaults to the thread's.
        `attachments`: its files (dicts of `view_model.Attachment.to_doc()`)."""
        if profile is None:
            rec = self.get_thread(thread_id)
            profile = rec.profile if rec is not None else "local"
        item = OutboxItem(
            id=f"out_{uuid.uuid4().hex}",
            thread_id=thread_id,
            text=text,
            profile=profile,
            created_at=self.clock(),
            attachments=list(attachments or []),
        )
        with self._locked():
            self._outbox.insert(item.to_doc())
        return item

    def get_outbox(self, item_id: str) -> OutboxItem | None:
        """One queued message by id."""
        with self._locked():
            for doc in self._outbox._read_table().values():
                if doc.get("id") == item_id:
                    return OutboxItem.from_doc(doc)
        return None

    def update_outbox(self, item_id: str, **fields: Any) -> OutboxItem | None:
        """Change `text`, `state` ("pending"/"failed") or `error` of a queued message.

        Returns the updated item (None when there is no such item); other fields or a wrong
        state raise ValueError and change nothing.
        """
        unknown = set(fields) - OutboxItem.MUTABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of an outbox item")
        if "state" in fields and fields["state"] not in OUTBOX_STATES:
            raise ValueError(f"state must be one of {', '.join(OUTBOX_STATES)}")
        if "text" in fields and not isinstance(fields["text"], str):
            raise ValueError("text must be a string")
        if fields.get("error") is not None and not isinstance(fields["error"], str):
            raise ValueError("error must be a string or None")
        if "attachments" in fields and not (
            isinstance(fields["attachments"], list)
            and all(isinstance(a, dict) for a in fields["attachments"])
        ):
            raise ValueError("attachments must be a list of objects")
        from tinydb import Query

        with self._locked():
            if not self._outbox.update(fields, Query().id == item_id):
                return None
            return self.get_outbox(item_id)

    def remove_outbox(self, item_id: str) -> bool:
        """Drop a queued message (posted, or cancelled by the user); False when unknown."""
        from tinydb import Query

        with self._locked():
            return bool(self._outbox.remove(Query().id == item_id))

    # --- lifecycle -----------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every change so far is on disk."""
        return self.storage.wait_flushed(timeout)

    def close(self) -> None:
        """Flush, stop the writer and release the single-instance lock."""
        with contextlib.suppress(Exception):
            self.db.close()
        self._instance_lock.release()
