"""`spool serve` as a command: key handling, loopback refusal, the server.json handshake,
config problems, and `spool --help` staying light."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import openai
import pytest


def _spool(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spool", *args], capture_output=True, text=True, timeout=timeout
    )


def test_non_loopback_without_key_is_refused(tmp_path: Path) -> None:
    result = _spool("serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "--api-key" in result.stderr


@pytest.fixture
def keyless_server(tmp_path: Path):
    """A server started without --api-key (the embedded-server path)."""
    data = tmp_path / "keyless"
    data.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "SPOOL_API_KEY"},
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "listening on" in line:
            break
    yield data, lines, proc
    proc.terminate()
    proc.wait(10)


def test_keyless_server_generates_a_private_key_and_handshake(keyless_server) -> None:
    data, lines, proc = keyless_server
    key_file = data / "api_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any(str(key_file) in line for line in lines), lines
    handshake = json.loads((data / "server.json").read_text())
    assert handshake["pid"] == proc.pid
    url = lines[-1].split("listening on ", 1)[1].strip()
    assert handshake["url"] == url
    key = key_file.read_text().strip()
    with openai.OpenAI(base_url=url, api_key=key, max_retries=0) as client:
        assert any(m.id == "echo" for m in client.models.list().data)
    with (
        openai.OpenAI(base_url=url, api_key="wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()
    proc.terminate()
    proc.wait(10)
    assert not (data / "server.json").exists()


def test_broken_config_is_reported_not_fatal(start_server) -> None:
    server = start_server(config_toml="default_model = [broken\n")
    output = "".join(server.output)
    assert "config problem (ignored)" in output
    with server.client() as client:
        assert client.models.list().data[0].id  # still serving


def test_help_is_light() -> None:
    code = (
        "import sys, runpy; sys.argv=['spool','--help'];\n"
        "try:\n    runpy.run_module('spool', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('textual','openai','spool.server','uvicorn','starlette') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_locate_prints_the_paths(isolated_dirs: Path) -> None:
    config = _spool("locate", "config")
    data = _spool("locate", "data")
    themes = _spool("locate", "themes")
    assert config.stdout.strip() == str(isolated_dirs / "config" / "config.toml")
    assert data.stdout.strip() == str(isolated_dirs / "data")
    assert themes.stdout.strip() == str(isolated_dirs / "config" / "themes")
    explicit = _spool("--data-dir", str(isolated_dirs / "elsewhere"), "locate", "data")
    assert explicit.stdout.strip() == str(isolated_dirs / "elsewhere")


def test_locate_without_argument_prints_all_three(isolated_dirs: Path) -> None:
    result = _spool("locate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"config  {isolated_dirs / 'config' / 'config.toml'}",
        f"data    {isolated_dirs / 'data'}",
        f"themes  {isolated_dirs / 'config' / 'themes'}",
    ]


def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path) -> None:
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(15) == 0, rest
    assert "spool serve: stopped" in rest and "Aborted" not in rest
    assert not (tmp_path / "server.json").exists()
