"""The TinyDB index: atomic off-loop writes, coalescing, single instance, damaged files,
backups, file modes, drafts and the outbox."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spool.store import Store, ThreadRecord


def test_threads_roundtrip_and_order(tmp_path: Path) -> None:
    now = [1000.0]
    store = Store(tmp_path, clock=lambda: now[0])
    store.add_thread(ThreadRecord("t1", "local", "first"))
    now[0] = 2000.0
    store.add_thread(ThreadRecord("t2", "local", "second"))
    store.add_thread(ThreadRecord("r1", "remote", "elsewhere"))
    assert [t.id for t in store.threads("local")] == ["t2", "t1"]
    now[0] = 3000.0
    store.update_thread("t1", touch=True, title="renamed")
    assert [t.id for t in store.threads("local")] == ["t1", "t2"]
    store.set_draft("t2", "half-typed")
    store.set_setting("theme", "nord")
    store.close()
    again = Store(tmp_path)
    assert again.get_thread("t1").title == "renamed"
    assert again.get_draft("t2") == "half-typed"
    assert again.get_setting("theme") == "nord"
    again.delete_thread("t2")
    assert again.get_thread("t2") is None and again.get_draft("t2") == ""
    again.close()


def test_writes_are_coalesced_and_off_the_caller(tmp_path: Path) -> None:
    store = Store(tmp_path, coalesce_s=0.05)
    store.add_threads([ThreadRecord(f"t{i}", "local", f"title {i}") for i in range(5000)])
    store.flush()
    before = store.storage.write_count
    start = time.perf_counter()
    for i in range(200):
        store.update_thread(f"t{i}", title=f"new {i}")
    spent = time.perf_counter() - start
    store.flush()
    writes = store.storage.write_count - before
    assert writes < 20, writes  # 200 updates, a handful of file writes
    assert spent / 200 < 0.02  # the caller never waits for the disk
    data = json.loads((tmp_path / "index.json").read_text())
    titles = {d["id"]: d["title"] for d in data["threads"].values()}
    assert titles["t199"] == "new 199"
    store.close()


def test_second_instance_is_read_only(tmp_path: Path) -> None:
    first = Store(tmp_path)
    first.add_thread(ThreadRecord("t1", "local", "mine"))
    first.flush()
    code = (
        "import sys; from spool.store import Store, ThreadRecord;"
        f"s = Store({str(tmp_path)!r}); print(s.read_only, len(s.threads()));"
        "s.add_thread(ThreadRecord('t2', 'local', 'theirs')); s.close();"
        "print(s.warnings[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "True 1"
    assert "Another spool" in lines[1]
    first.close()
    data = json.loads((tmp_path / "index.json").read_text())
    assert [d["id"] for d in data["threads"].values()] == ["t1"]


def test_kill_9_never_tears_the_file(tmp_path: Path) -> None:
    code = (
        "from spool.store import Store, ThreadRecord\n"
        f"s = Store({str(tmp_path)!r}, coalesce_s=0.0)\n"
        "s.add_threads([ThreadRecord(f't{i}', 'local', 'x' * 200) for i in range(3000)])\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    s.update_thread('t1', title='y' * (i % 5000))\n"
    )
    for delay in (0.4, 0.7, 1.0):
        proc = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(delay)
        proc.kill()
        proc.wait()
        path = tmp_path / "index.json"
        if path.exists():
            json.loads(path.read_text())  # parses: old or new, never torn
    for leftover in tmp_path.glob("*.tmp"):
        os.unlink(leftover)


# --- damaged files ------------------------------------------------------------------------------
def _thread(i: int, **extra: Any) -> dict[str, Any]:
    doc = {"id": f"t{i}", "profile": "local", "title": f"title {i}", "assistant_id": None}
    return {**doc, "created_at": 1000.0 + i, "updated_at": 1000.0 + i, "preview": "", **extra}


def _index(threads: dict[str, Any], **tables: Any) -> str:
    return json.dumps({"threads": threads, **tables})


def _ids(store: Store) -> set[str]:
    return {t.id for t in store.threads()}


def _written(tmp_path: Path, count: int = 3) -> str:
    """An index of `count` threads, a setting and a draft, written by the store itself."""
    store = Store(tmp_path)
    for i in range(1, count + 1):
        store.add_thread(ThreadRecord(f"t{i}", "local", f"title {i}", updated_at=1000.0 + i))
    store.set_setting("theme", "nord")
    store.set_draft("t1", "half-typed")
    store.close()
    return (tmp_path / "index.json").read_text()


@pytest.mark.parametrize(
    ("content", "bad"),
    [
        (_index({"1": _thread(1), "2": _thread(2, updated_at="yesterday")}), "updated_at"),
        (_index({"1": _thread(1), "2": "a thread"}), "must be an object"),
        (_index({"1": _thread(1), "2": _thread(2, title=["x"])}), "title"),
        (_index({"1": _thread(1), "x": _thread(2)}), "record id"),
        (_index({"1": _thread(1)}, settings={"1": ["theme", "nord"]}), "settings #1"),
        (_index({"1": _thread(1)}, settings=["theme"]), "settings"),
        (_index({"1": _thread(1)}, drafts={"1": {"thread_id": "t1", "text": 5}}), "text"),
        (_index({"1": _thread(1)}, assistants={"1": {"id": 7, "profile": "local"}}), "id"),
        (_index({"1": _thread(1), "2": {"title": "no id"}}), "id is missing"),
    ],
    ids=[
        "updated_at-yesterday",
        "thread-is-a-string",
        "title-is-a-list",
        "record-id-not-a-number",
        "settings-doc-is-a-list",
        "settings-table-is-a-list",
        "draft-text-is-a-number",
        "assistant-id-is-a-number",
        "thread-without-id",
    ],
)
def test_invalid_records_are_skipped_reported_once_and_kept(
    tmp_path: Path, content: str, bad: str
) -> None:
    (tmp_path / "index.json").write_text(content)
    store = Store(tmp_path)
    assert "t1" in _ids(store)  # the rest loads
    store.get_setting("theme")
    store.get_draft("t1")
    store.assistants("local")
    [warning] = store.warnings
    assert "invalid" in warning and bad in warning, warning
    [kept] = tmp_path.glob("index.json.invalid-*")
    assert kept.read_text() == content  # the skipped records are not lost
    assert kept.name in warning
    store.add_thread(ThreadRecord("t9", "local", "new"))
    store.close()
    again = Store(tmp_path)
    assert again.warnings == []  # reported once, not on every launch
    assert {"t1", "t9"} <= _ids(again)
    again.close()


def test_truncated_index_is_salvaged_and_moved_aside(tmp_path: Path) -> None:
    full = _written(tmp_path)
    (tmp_path / "index.json.bak").unlink()
    cut = full[: full.index('"title 3"')]  # in the middle of the third thread
    (tmp_path / "index.json").write_text(cut)
    store = Store(tmp_path)
    assert _ids(store) == {"t1", "t2"}
    [warning] = store.warnings
    assert "corrupt" in warning and "salvaged 2 thread(s)" in warning, warning
    [aside] = tmp_path.glob("index.json.corrupt-*")
    assert aside.read_text() == cut and aside.name in warning
    store.close()
    assert len(json.loads((tmp_path / "index.json").read_text())["threads"]) == 2


def test_salvage_goes_on_after_a_damaged_stretch(tmp_path: Path) -> None:
    full = _written(tmp_path, count=4)
    start = full.index('"title 2"')
    damaged = full[:start] + "\x00garbage{[" + full[start + 30 :]
    (tmp_path / "index.json").write_text(damaged)
    (tmp_path / "index.json.bak").unlink()
    store = Store(tmp_path)
    assert _ids(store) == {"t1", "t3", "t4"}  # t2 is damaged, the records after it are not
    assert store.get_setting("theme") == "nord"
    assert store.get_draft("t1") == "half-typed"
    store.close()


def test_backup_fills_in_what_salvage_cannot_find(tmp_path: Path) -> None:
    full = _written(tmp_path)
    assert json.loads((tmp_path / "index.json.bak").read_text()) == json.loads(full)
    (tmp_path / "index.json").write_text(full[: full.index('"t2"')])
    store = Store(tmp_path)
    assert _ids(store) == {"t1", "t2", "t3"}
    assert store.get_setting("theme") == "nord" and store.get_draft("t1") == "half-typed"
    [warning] = store.warnings
    assert "more from the backup index.json.bak" in warning, warning
    store.close()


def test_garbage_file_uses_the_backup(tmp_path: Path) -> None:
    _written(tmp_path)
    (tmp_path / "index.json").write_bytes(b"\x89PNG\r\n not an index at all")
    store = Store(tmp_path)
    assert _ids(store) == {"t1", "t2", "t3"}
    assert "corrupt" in store.warnings[0]
    store.close()


@pytest.mark.parametrize("with_backup", [False, True])
def test_empty_index_is_reported(tmp_path: Path, with_backup: bool) -> None:
    _written(tmp_path)
    if not with_backup:
        (tmp_path / "index.json.bak").unlink()
    (tmp_path / "index.json").write_text("  \n")
    store = Store(tmp_path)
    [warning] = store.warnings
    assert "is empty" in warning, warning
    if with_backup:
        assert _ids(store) == {"t1", "t2", "t3"} and "restored 3 thread(s)" in warning
    else:
        assert _ids(store) == set() and "empty thread list" in warning
    store.close()


def test_a_clean_start_refreshes_the_backup(tmp_path: Path) -> None:
    full = _written(tmp_path)
    (tmp_path / "index.json.bak").write_text(_index({"1": _thread(1)}))  # an older backup
    store = Store(tmp_path)  # a clean index, nothing written in this session
    assert store.warnings == []
    store.close()
    assert json.loads((tmp_path / "index.json.bak").read_text()) == json.loads(full)


def test_missing_index_with_a_backup_is_restored(tmp_path: Path) -> None:
    _written(tmp_path)
    (tmp_path / "index.json").unlink()
    store = Store(tmp_path)
    assert _ids(store) == {"t1", "t2", "t3"}
    assert "missing" in store.warnings[0]
    store.close()


def test_two_corruptions_in_the_same_second_keep_both_copies(tmp_path: Path) -> None:
    for garbage in ("first garbage", "second garbage"):
        (tmp_path / "index.json").write_text(garbage)
        Store(tmp_path, clock=lambda: 1_700_000_000.0).close()
    copies = sorted(tmp_path.glob("index.json.corrupt-*"))
    assert sorted(p.read_text() for p in copies) == ["first garbage", "second garbage"]


def test_read_only_store_salvages_without_touching_the_files(tmp_path: Path) -> None:
    full = _written(tmp_path)
    (tmp_path / "index.json.bak").unlink()
    cut = full[: full.index('"title 3"')]
    (tmp_path / "index.json").write_text(cut)
    store = Store(tmp_path, read_only=True)
    assert _ids(store) == {"t1", "t2"}
    assert store.warnings
    store.close()
    assert (tmp_path / "index.json").read_text() == cut
    assert not list(tmp_path.glob("index.json.*-*"))


# --- files, durability ------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _written(tmp_path)
        for name in ("index.json", "index.json.bak", "index.lock"):
            assert _mode(tmp_path / name) == 0o600, name
        for name in ("index.json", "index.json.bak"):
            os.chmod(tmp_path / name, 0o644)  # e.g. restored by hand or by a backup tool
        (tmp_path / "index.json").write_text((tmp_path / "index.json").read_text() + "junk")
        Store(tmp_path).close()
        for path in tmp_path.glob("index.json*"):
            assert _mode(path) == 0o600, path.name
    finally:
        os.umask(old)


def test_a_change_after_a_quiet_moment_is_written_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path, coalesce_s=1.0)  # a long window: only bursts may wait for it
    store.add_thread(ThreadRecord("t1", "local", "one"))
    store.flush()
    time.sleep(1.1)  # a quiet moment, longer than the window
    store.set_draft("t1", "typed")
    deadline = time.monotonic() + 0.5
    while "typed" not in (tmp_path / "index.json").read_text():
        assert time.monotonic() < deadline, "an isolated change waited for the window"
        time.sleep(0.01)
    store.close()


def test_draft_is_on_disk_within_a_second_of_set_draft(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from spool.store import Store\n"
        f"s = Store({str(tmp_path)!r})\n"
        "s.set_draft('t1', 'typed before the terminal closed')\n"
        "print('set', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "set\n"
    time.sleep(1.0)
    proc.kill()  # kill -9: no close(), no flush()
    proc.wait()
    store = Store(tmp_path)
    assert store.get_draft("t1") == "typed before the terminal closed"
    store.close()


# --- outbox -------------------------------------------------------------------------------------
def test_outbox_survives_a_restart(tmp_path: Path) -> None:
    now = [1000.0]
    store = Store(tmp_path, clock=lambda: now[0])
    store.add_thread(ThreadRecord("t1", "local", "one"))
    store.add_thread(ThreadRecord("r1", "remote", "elsewhere"))
    first = store.add_outbox("t1", "first message")
    now[0] = 1001.0
    second = store.add_outbox("t1", "second message")
    remote = store.add_outbox("r1", "over there")
    assert first.id != second.id and first.id.startswith("out_")
    assert (first.state, first.error, first.created_at, first.profile) == (
        "pending",
        None,
        1000.0,
        "local",
    )
    assert remote.profile == "remote"
    failed = store.update_outbox(second.id, state="failed", error="the server went away")
    assert failed is not None and failed.state == "failed"
    store.close()

    again = Store(tmp_path)
    assert [i.text for i in again.outbox("t1")] == ["first message", "second message"]
    [reloaded] = [i for i in again.outbox("t1") if i.id == second.id]
    assert (reloaded.state, reloaded.error) == ("failed", "the server went away")
    assert [i.id for i in again.all_outbox()] == [first.id, second.id, remote.id]
    assert [i.id for i in again.all_outbox("remote")] == [remote.id]
    assert again.remove_outbox(first.id) is True
    assert again.remove_outbox(first.id) is False
    assert [i.id for i in again.outbox("t1")] == [second.id]
    again.delete_thread("t1")
    assert again.outbox("t1") == [] and [i.id for i in again.all_outbox()] == [remote.id]
    again.close()


def test_outbox_update_rejects_bad_fields(tmp_path: Path) -> None:
    store = Store(tmp_path)
    item = store.add_outbox("t1", "hello", profile="local")
    with pytest.raises(ValueError, match="state"):
        store.update_outbox(item.id, state="sent")
    with pytest.raises(ValueError, match="thread_id"):
        store.update_outbox(item.id, thread_id="t2")
    assert store.update_outbox("out_nosuch", state="failed") is None
    assert store.outbox("t1")[0].state == "pending"
    edited = store.update_outbox(item.id, text="hello again", state="pending", error=None)
    assert edited is not None and edited.text == "hello again"
    store.close()


def test_invalid_outbox_records_are_skipped(tmp_path: Path) -> None:
    good = {"id": "out_1", "thread_id": "t1", "profile": "local", "text": "hi"}
    good |= {"created_at": 1.0, "state": "pending", "error": None}
    bad = {**good, "id": "out_2", "state": "sent"}
    (tmp_path / "index.json").write_text(_index({}, outbox={"1": good, "2": bad}))
    store = Store(tmp_path)
    assert [i.id for i in store.outbox("t1")] == ["out_1"]
    assert "outbox #2: state" in store.warnings[0]
    store.close()


def test_run_options_round_trip_and_junk_is_ignored(tmp_path: Path) -> None:
    from spool.client.run_options import RunOptions

    store = Store(tmp_path)
    options = RunOptions(model="echo", temperature=0.5, last_messages=4, mcp_servers=("fs",))
    store.set_run_options("thread_a", options.to_doc())
    store.close()
    again = Store(tmp_path)
    assert RunOptions.from_doc(again.get_run_options("thread_a")) == options
    assert again.get_run_options("thread_b") is None
    again.set_run_options("thread_a", {})  # cleared: forgotten
    assert again.get_run_options("thread_a") is None
    again.close()
    junk = {"model": 3, "temperature": "hot", "last_messages": True, "mcp_servers": "fs"}
    assert RunOptions.from_doc(junk) == RunOptions()
    assert RunOptions.from_doc(["not", "a", "dict"]) is None
