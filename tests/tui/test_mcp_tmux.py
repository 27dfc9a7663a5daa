"""MCP tools in a real terminal (tmux 120×40): the README's flow with a real MCP server from
the config file — F9, tick the server, apply, `/call`, the approval dialog, the answer — and
nothing the server writes to stderr reaches the screen; quitting stops the server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_terminal_tmux import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

SERVER = Path(__file__).resolve().parents[1] / "mcp_server.py"


@pytest.fixture
def terminal(isolated_dirs: Path) -> Iterator[Terminal]:
    (isolated_dirs / "config" / "config.toml").write_text(
        f'[mcp.tools]\ncommand = "{sys.executable}"\nargs = ["{SERVER}"]\n'
        f'env = {{ MCP_CALL_LOG = "{isolated_dirs / "calls.log"}" }}\n',
        encoding="utf-8",
    )
    socket = f"spool-mcp-{uuid.uuid4().hex[:8]}"
    term = Terminal("spool", socket)
    env = {
        "SPOOL_DATA_DIR": str(isolated_dirs / "data"),
        "SPOOL_CONFIG_DIR": str(isolated_dirs / "config"),
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "spool", "-x", "120", "-y", "40"],
        check=True,
        env={**os.environ, "TMUX": ""},
    )
    term.keys(f"env {exports} {sys.executable} -m spool --model echo", "Enter")
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def server_pid(isolated_dirs: Path) -> int | None:
    path = isolated_dirs / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    pids = [int(line.split()[1]) for line in lines if line.startswith("pid ")]
    return pids[-1] if pids else None


def test_mcp_tool_call_in_a_real_terminal(terminal: Terminal, isolated_dirs: Path) -> None:
    terminal.wait_for(lambda s: "idle" in s, 60)
    terminal.keys("F9")
    # (the server's command line may wrap: a long checkout path pushes "started" down a line)
    terminal.wait_for(lambda s: "MCP tools" in s and "started" in s)
    for _ in range(6):  # model, instructions, additional, temperature, max tokens, truncation
        terminal.keys("Tab")
        time.sleep(0.15)
    terminal.keys("Space")
    time.sleep(0.3)
    terminal.keys("C-s")
    terminal.wait_for(lambda s: "mcp tools (6 tools)" in s)
    terminal.keys("-l", '/call add {"a": 2, "b": 40}')
    time.sleep(0.3)
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "Allow this tool call?" in s)
    assert "wants to call add" in screen and "MCP server tools" in screen
    assert "spool test MCP server starting" not in screen  # its stderr went to the log
    time.sleep(0.5)
    terminal.keys("o")
    screen = terminal.wait_for(lambda s: "add returned: 42" in s)
    assert "answered by the MCP server tools" in screen
    pid = server_pid(isolated_dirs)
    assert pid is not None
    log = isolated_dirs / "data" / "mcp-logs" / "mcp-tools.log"
    assert "spool test MCP server starting" in log.read_text()
    terminal.keys("C-q")
    terminal.wait_for(lambda s: "Filter threads" not in s, 20)  # back at the shell
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail("the MCP server still runs after spool quit")
