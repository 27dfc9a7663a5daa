"""The data dir is private: 0700, and every file the server writes (spool.db, its -wal/-shm,
server.json, api_key) is 0600; a data dir left readable by an older spool is fixed on start,
with a note."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

SERVER_FILES = ("spool.db", "spool.db-wal", "spool.db-shm", "server.json")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_data_dir_is_private(start_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    server = start_server(data_dir=data)
    with server.client() as client:
        client.beta.threads.create(messages=[{"role": "user", "content": "secret"}])
    assert _mode(data) == 0o700
    for name in SERVER_FILES:
        assert (data / name).exists(), name
        assert _mode(data / name) == 0o600, (name, oct(_mode(data / name)))


def test_existing_readable_files_are_fixed_with_a_note(start_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "old"
    first = start_server(data_dir=data)
    with first.client() as client:
        client.beta.threads.create()
    first.stop()
    os.chmod(data, 0o755)
    for name in ("spool.db", "spool.db-wal", "spool.db-shm"):
        if (data / name).exists():
            os.chmod(data / name, 0o644)
    (data / "api_key").write_text("sk-old\n")
    os.chmod(data / "api_key", 0o644)
    second = start_server(data_dir=data)
    with second.client() as client:
        client.beta.threads.create()
    assert _mode(data) == 0o700
    for name in ("spool.db", "spool.db-wal", "spool.db-shm", "server.json", "api_key"):
        if (data / name).exists():
            assert _mode(data / name) == 0o600, name
    output = "".join(second.output)
    assert "spool.db" in output and "0644" in output and "0600" in output, output
    assert "0755" in output and "0700" in output, output


def test_keyless_start_makes_a_private_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "keyless" / "nested"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "SPOOL_API_KEY"},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        assert _mode(data) == 0o700
        assert _mode(data / "api_key") == 0o600
        assert _mode(data / "server.json") == 0o600
    finally:
        proc.terminate()
        proc.wait(10)
