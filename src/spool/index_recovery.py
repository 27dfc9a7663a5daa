"""Loading the thread index without ever crashing or silently losing records.

`load_index` turns whatever is in `index.json` into valid TinyDB data plus human warnings:

* every record is validated against its table's fields (`validate`); a record that fails (a
  thread whose `updated_at` is "yesterday", a thread doc that is a string, a settings doc that is
  a list, …) is skipped, the rest load, and the file as it was is kept as
  `index.json.invalid-<time>` so the skipped records are not lost;
* a file that does not parse (truncated, garbage) is salvaged record by record (`salvage`),
  moved aside as `index.json.corrupt-<time>`, and topped up from the last-good backup
  (`index.json.bak`) with the records the salvage could not find;
* an empty file is reported (and the backup used when there is one).

Moved-aside names are unique (`-2`, `-3`, … when a name is taken), every file written here is
mode 0600, and nothing in this module imports TinyDB.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Data = dict[str, dict[str, Any]]
FILE_MODE = 0o600
BACKUP_SUFFIX = ".bak"
OUTBOX_STATES = (
    "pending",
    "failed",
    "refused",
)  # refused: the server said no (not sent again by itself)


# --- files ------------------------------------------------------------------------------------
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
    """Write `text` to `path` atomically (0600 temp file + fsync + os.replace + dir fsync)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with open(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), FILE_MODE)
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def make_private(path: Path) -> None:
    """chmod 0600 a file that others may read (best effort; missing files are fine)."""
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)


def unique_name(path: Path, tag: str, clock: Callable[[], float] = time.time) -> Path:
    """`<path>.<tag>-<YYYYmmdd-HHMMSS>`, with `-2`, `-3`, … when that name is taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    base = path.with_name(f"{path.name}.{tag}-{stamp}")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def backup_path(path: Path) -> Path:
    """The last-good copy beside the index."""
    return path.with_name(path.name + BACKUP_SUFFIX)


# --- validation -------------------------------------------------------------------------------
def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _opt_num(v: Any) -> bool:
    return v is None or _num(v)


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _opt_text(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _id(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _object(v: Any) -> bool:
    return isinstance(v, dict)


def _state(v: Any) -> bool:
    return v in OUTBOX_STATES


Check = tuple[Callable[[Any], bool], str, bool]  # test, what it must be, required
_DESC = {
    _num: "a number",
    _opt_num: "a number",
    _text: "a string",
    _opt_text: "a string or null",
    _id: "a non-empty string",
    _object: "an object",
    _state: f"one of {', '.join(OUTBOX_STATES)}",
}


def _fields(required: tuple[str, ...], **checks: Callable[[Any], bool]) -> dict[str, Check]:
    return {name: (test, _DESC[test], name in required) for name, test in checks.items()}


TABLE_FIELDS: dict[str, dict[str, Check]] = {
    "threads": _fields(
        ("id",),
        id=_id,
        profile=_text,
        title=_opt_text,
        assistant_id=_opt_text,
        created_at=_opt_num,
        updated_at=_opt_num,
        preview=_opt_text,
    ),
    "assistants": _fields(("id",), id=_id, profile=_text, name=_opt_text, model=_opt_text),
    "settings": {},
    "drafts": _fields(("thread_id", "text"), thread_id=_id, text=_text),
    "history": _fields(("thread_id", "text"), thread_id=_text, text=_text, at=_opt_num),
    "run_durations": _fields(("run_id", "seconds"), run_id=_id, seconds=_num, at=_opt_num),
    "run_options": _fields(("thread_id", "options"), thread_id=_id, options=_object),
    "outbox": _fields(
        ("id", "thread_id", "text", "state"),
        id=_id,
        thread_id=_id,
        profile=_text,
        text=_text,
        created_at=_num,
        state=_state,
        error=_opt_text,
    ),
}
# The natural key of a record (for merging a salvage with the backup).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "threads": ("id",),
    "assistants": ("id", "profile"),
    "drafts": ("thread_id",),
    "outbox": ("id",),
    "history": ("text",),
    "run_durations": ("run_id",),
    "run_options": ("thread_id",),
}


def record_problem(table: str, doc_id: Any, doc: Any) -> str | None:
    """Why one record is invalid (None when it is fine)."""
    where = f"{table} #{doc_id}"
    if not (isinstance(doc_id, str) and doc_id.isdigit()):
        return f"{where}: the record id must be a number"
    if not isinstance(doc, dict):
        return f"{where}: must be an object, not {type(doc).__name__}"
    for name, (test, what, required) in TABLE_FIELDS.get(table, {}).items():
        if name not in doc:
            if required:
                return f"{where}: {name} is missing"
            continue
        if not test(doc[name]):
            return f"{where}: {name} must be {what} (got {json.dumps(doc[name])[:40]})"
    return None


def validate(data: Any) -> tuple[Data, list[str]]:
    """The valid tables and records of parsed index data, and a problem per skipped part."""
    if not isinstance(data, dict):
        return {}, [f"the file holds {type(data).__name__}, not an object of tables"]
    clean: Data = {}
    problems: list[str] = []
    for table, records in data.items():
        if not isinstance(records, dict):
            problems.append(f"{table}: must be an object of records, not {type(records).__name__}")
            continue
        kept = {}
        for doc_id, doc in records.items():
            problem = record_problem(table, doc_id, doc)
            if problem is None:
                kept[doc_id] = doc
            else:
                problems.append(problem)
        clean[table] = kept
    return clean, problems


def count_records(data: Data) -> int:
    """How many records the tables hold."""
    return sum(len(records) for records in data.values())


def count_threads(data: Data) -> int:
    """How many threads the index lists."""
    return len(data.get("threads", {}))


# --- salvage ----------------------------------------------------------------------------------
_TABLE_RE = re.compile(
    r'"(' + "|".join(map(re.escape, [*TABLE_FIELDS, "_default"])) + r')"\s*:\s*\{'
)
_RECORD_RE = re.compile(r'"(\d+)"\s*:\s*(?=\{)')


def salvage(raw: str) -> tuple[Any, bool]:
    """Recover what a damaged file still holds: (data, complete).

    `complete` means the whole document parsed (only trailing garbage was wrong). Otherwise the
    text is scanned for `"<table>": {` and `"<n>": {…}` and every record that still decodes is
    kept under the table named last before it, including records after a damaged stretch.
    """
    decoder = json.JSONDecoder()
    start = len(raw) - len(raw.lstrip())
    with contextlib.suppress(ValueError):
        data, _ = decoder.raw_decode(raw, start)
        return data, True
    found: Data = {}
    table: str | None = None
    pos = 0
    markers = sorted(
        [(m.start(), m.end(), "table", m.group(1)) for m in _TABLE_RE.finditer(raw)]
        + [(m.start(), m.end(), "record", m.group(1)) for m in _RECORD_RE.finditer(raw)]
    )
    for begin, end, kind, name in markers:
        if begin < pos:
            continue  # inside a record decoded already
        if kind == "table":
            table = name
            found.setdefault(table, {})
            pos = end
            continue
        if table is None:
            continue
        try:
            doc, doc_end = decoder.raw_decode(raw, end)
        except ValueError:
            pos = end  # a damaged record: look for the next one inside or after it
            continue
        found[table][name] = doc
        pos = doc_end
    return found, False


def merge_missing(primary: Data, extra: Data) -> int:
    """Add to `primary` the records of `extra` it lacks (by natural key); returns how many."""
    added = 0
    for table, records in extra.items():
        target = primary.setdefault(table, {})
        if table == "settings":
            base = target.setdefault("1", {}) if "1" in records else None
            if base is not None:
                for key, value in records["1"].items():
                    if key not in base:
                        base[key] = value
                        added += 1
            continue
        key_fields = NATURAL_KEYS.get(table)
        if key_fields is None:
            continue
        have = {tuple(doc.get(k) for k in key_fields) for doc in target.values()}
        next_id = max((int(k) for k in target), default=0) + 1
        for doc in records.values():
            key = tuple(doc.get(k) for k in key_fields)
            if key not in have:
                target[str(next_id)] = doc
                next_id += 1
                have.add(key)
                added += 1
    return added


# --- loading ----------------------------------------------------------------------------------
@dataclass
class LoadResult:
    """What `load_index` found: the data to use, warnings, and whether the file was clean."""

    data: Data = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    clean: bool = True  # parsed and valid: the backup may be refreshed from it
    raw: str = ""


def _summary(problems: list[str], limit: int = 3) -> str:
    shown = "; ".join(problems[:limit])
    more = len(problems) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


def _read_backup(path: Path) -> tuple[Data, str | None]:
    """The valid records of the backup, and why it could not be used (None: fine)."""
    bak = backup_path(path)
    try:
        raw = bak.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, "there is no backup"
    except OSError as exc:
        return {}, f"the backup cannot be read ({exc})"
    data, complete = salvage(raw)
    clean, _ = validate(data)
    if not complete and not clean:
        return {}, "the backup is damaged too"
    return clean, None


def _keep_copy(path: Path, tag: str, *, move: bool, clock: Callable[[], float]) -> str:
    """Move or copy the file aside under a unique name; returns the name (or why not)."""
    aside = unique_name(path, tag, clock)
    try:
        if move:
            os.replace(path, aside)
        else:
            atomic_write_text(aside, path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return f"(could not keep a copy: {exc})"
    make_private(aside)
    return aside.name


def load_index(
    path: Path, *, read_only: bool = False, clock: Callable[[], float] = time.time
) -> LoadResult:
    """Read, validate, salvage: the data to start with and what to tell the user."""
    result = LoadResult()
    name = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        backup, why = _read_backup(path)
        if why is None and count_records(backup):
            result.data, result.clean = backup, False
            result.warnings.append(
                f"The thread index {name} is missing; restored {count_threads(backup)} "
                f"thread(s) from its backup {backup_path(path).name}."
            )
        return result
    except (OSError, UnicodeDecodeError) as exc:
        raw = ""
        with contextlib.suppress(OSError):
            raw = path.read_bytes().decode("utf-8", errors="replace")
        if not raw:
            result.clean = False
            result.warnings.append(f"cannot read {name}: {exc}")
            return result
    result.raw = raw
    if not raw.strip():
        return _from_backup_only(path, result, read_only, "is empty")
    data, complete = salvage(raw)
    clean, problems = validate(data)
    if complete and not problems:
        result.data = clean
        return result
    result.clean = False
    result.data = clean
    if complete:  # valid JSON, some records wrong: skip them, keep the file as it was
        kept = "" if read_only else _keep_copy(path, "invalid", move=False, clock=clock)
        where = f"; the file as it was is kept as {kept}" if kept else ""
        result.warnings.append(
            f"The thread index {name} has {len(problems)} invalid record(s), skipped "
            f"({_summary(problems)}){where}. The other {count_records(clean)} loaded."
        )
        return result
    aside = "" if read_only else _keep_copy(path, "corrupt", move=True, clock=clock)
    message = (
        f"The thread index {name} was corrupt (it does not parse as JSON); salvaged "
        f"{count_threads(clean)} thread(s) and {count_records(clean)} record(s) in all"
    )
    if problems:
        message += f", skipped {len(problems)} invalid ({_summary(problems)})"
    backup, why = _read_backup(path)
    if why is None:
        added = merge_missing(clean, backup)
        message += f"; {added} more from the backup {backup_path(path).name}" if added else ""
    if aside:
        message += f"; the damaged file is kept as {aside}"
    result.warnings.append(message + ".")
    return result


def _from_backup_only(path: Path, result: LoadResult, read_only: bool, what: str) -> LoadResult:
    """The index file holds nothing usable: report it and start from the backup if any."""
    result.clean = False
    backup, why = _read_backup(path)
    if why is None and count_records(backup):
        result.data = backup
        result.warnings.append(
            f"The thread index {path} {what}; restored {count_threads(backup)} thread(s) "
            f"from its backup {backup_path(path).name}."
        )
    else:
        result.warnings.append(
            f"The thread index {path} {what} ({why or 'the backup is empty'}); "
            "starting with an empty thread list."
        )
    return result
