"""The TinyDB index: atomic off-loop writes, coalescing, single instance, corrupt files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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


def test_corrupt_index_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text('{"threads": {"1": {"id": "t1"}}}garbage')
    store = Store(tmp_path)
    assert store.threads() == []
    assert any("corrupt" in w for w in store.warnings)
    assert list(tmp_path.glob("index.json.corrupt-*"))
    store.add_thread(ThreadRecord("t2", "local", "fresh"))
    store.close()
    assert json.loads((tmp_path / "index.json").read_text())["threads"]


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
