"""Starts a `spool serve` subprocess on loopback for the benchmark scripts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

API_KEY = "sk-bench"


@contextlib.contextmanager
def spool_server_process(
    *extra: str, config_toml: str = 'default_model = "echo"\n'
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Yield (base URL, process) of a fresh echo server (own temp data dir); stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="spool-bench-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_toml, encoding="utf-8")
        args = [
            sys.executable, "-m", "spool", "serve", "--port", "0", "--api-key", API_KEY,
            "--data-dir", tmp, "--config", str(config), *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
        if url is None:
            proc.kill()
            raise RuntimeError("spool serve did not start")
        try:
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def spool_server(*extra: str, config_toml: str = 'default_model = "echo"\n') -> Iterator[str]:
    """Yield the base URL of a fresh echo server (own temp data dir); stop it afterwards."""
    with spool_server_process(*extra, config_toml=config_toml) as (url, _proc):
        yield url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
