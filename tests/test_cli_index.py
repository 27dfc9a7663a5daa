"""A damaged thread index never stops a command: `spool threads list` lists what is valid and
says what was skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_threads_list_with_a_wrong_typed_field(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    good = {"id": "thread_good1", "profile": "local", "title": "kept", "updated_at": 1.0}
    bad = {"id": "thread_bad1", "profile": "local", "title": "odd", "updated_at": "yesterday"}
    (data / "index.json").write_text(json.dumps({"threads": {"1": good, "2": bad}}))
    result = subprocess.run(
        [sys.executable, "-m", "spool", "threads", "list"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("thread_good1\tkept\t")
    assert "Traceback" not in result.stderr
    assert "threads #2: updated_at must be a number" in result.stderr
