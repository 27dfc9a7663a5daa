"""An unknown `--profile` is a clear error (exit 2, the known profiles listed) before any UI
starts or anything connects, for the TUI and for every client command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def spool(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `python -m spool ARGS` with the test's environment (isolated dirs), no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "spool", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def config_dir(isolated_dirs: Path) -> Path:
    """A config file with one remote profile besides the built-in `local`."""
    conf = isolated_dirs / "config"
    (conf / "config.toml").write_text(
        '[profiles.work]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "WORK_KEY"\n',
        encoding="utf-8",
    )
    return conf


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["--profile", "nosuch"], "spool: "),  # the TUI
        (["--profile", "nosuch", "ask", "hi"], "spool ask: "),
        (["ask", "--profile", "nosuch", "-"], "spool ask: "),  # before reading stdin
        (["threads", "list", "--profile", "nosuch"], "spool threads list: "),
        (["threads", "add", "thread_x", "--profile", "nosuch"], "spool threads add: "),
        (["export", "thread_x", "--profile", "nosuch"], "spool export: "),
    ],
    ids=["tui", "group-option-ask", "ask", "threads-list", "threads-add", "export"],
)
def test_unknown_profile_exits_2_listing_the_known_ones(
    config_dir: Path, args: list[str], prefix: str
) -> None:
    result = spool(*args)
    assert result.returncode == 2, (result.stdout[-500:], result.stderr)
    assert result.stdout == ""  # no UI drawn, nothing printed
    assert result.stderr.startswith(f"{prefix}unknown profile 'nosuch' (known: local, work)")
    assert str(config_dir / "config.toml") in result.stderr


def test_known_remote_profile_is_accepted(config_dir: Path) -> None:
    result = spool("threads", "list", "--profile", "work")
    assert result.returncode == 0, result.stderr
