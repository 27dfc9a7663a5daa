"""spool in a real terminal (tmux 120×40): keys typed while it starts, and `tmux send-keys`
bursts, as a user meets them in the first minute (issue 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    """One tmux session running a command."""

    def __init__(self, name: str, socket: str) -> None:
        self.name = name
        self.socket = socket

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out; the screen was:\n{screen}")


@pytest.fixture
def terminal(isolated_dirs: Path) -> Iterator[Terminal]:
    socket = f"spool-test-{uuid.uuid4().hex[:8]}"
    term = Terminal("spool", socket)
    editor = isolated_dirs / "editor.sh"  # an "editor" that appends a line to the file
    editor.write_text('#!/bin/sh\nprintf "%s\\n" "written in the editor" >> "$1"\n')
    editor.chmod(0o755)
    env = {
        "SPOOL_DATA_DIR": str(isolated_dirs / "data"),
        "SPOOL_CONFIG_DIR": str(isolated_dirs / "config"),
        "TERM": "xterm-256color",
        "VISUAL": str(editor),
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"env {exports} {sys.executable} -m spool --model echo"
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "spool", "-x", "120", "-y", "40"],
        check=True,
        env={**os.environ, "TMUX": ""},
    )
    term.keys(command, "Enter")
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def test_keys_typed_while_starting_land_in_the_composer(terminal: Terminal) -> None:
    time.sleep(0.4)  # spool is starting: no frame yet
    terminal.keys("early bird")
    time.sleep(0.3)
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "You said: early bird" in s)
    assert "Filter threads" in screen  # the filter box kept its placeholder: nothing went there


def test_send_keys_burst_is_a_paste_and_enter_sends_exactly_it(terminal: Terminal) -> None:
    terminal.wait_for(lambda s: "idle" in s)
    terminal.keys("alpha", "Enter", "beta", "Enter", "gamma")
    screen = terminal.wait_for(lambda s: "gamma" in s)
    time.sleep(0.5)
    screen = terminal.screen()
    assert "You said" not in screen  # nothing was sent
    lines = [line.strip(" ▎▌") for line in screen.splitlines()]
    assert [x for x in lines if x in ("alpha", "beta", "gamma")] == ["alpha", "beta", "gamma"]
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "You said: alpha" in s)
    assert "alphabeta" not in screen
    time.sleep(0.3)
    reply = terminal.screen().split("You said: alpha", 1)[1].splitlines()
    assert [line.strip(" ▎▌") for line in reply[1:3]] == ["beta", "gamma"]  # one message
    terminal.keys("C-q")
    terminal.wait_for(lambda s: "Filter threads" not in s, 20)  # back at the shell


def test_alt_e_writes_the_prompt_in_the_editor(terminal: Terminal) -> None:
    terminal.wait_for(lambda s: "idle" in s)
    terminal.keys("first line")
    time.sleep(0.2)
    terminal.keys("M-e")
    terminal.wait_for(lambda s: "written in the editor" in s)
    terminal.keys("Enter")
    terminal.wait_for(lambda s: "You said: first line" in s and "written in the editor" in s)


def test_closing_the_terminal_ends_spool_under_make(isolated_dirs: Path) -> None:
    """Under `make run` no hangup signal reaches spool when its terminal closes: it must see
    the dead terminal itself and exit (else it pings its server for ever and spins)."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    pidfile = isolated_dirs / "spool.pid"
    makefile = isolated_dirs / "Makefile"
    makefile.write_text(
        f"run:\n\techo $$$$ > {pidfile}; exec {sys.executable} -m spool --model echo\n"
    )
    socket = f"spool-test-{uuid.uuid4().hex[:8]}"
    env = f"env SPOOL_DATA_DIR={isolated_dirs / 'data'} SPOOL_CONFIG_DIR={isolated_dirs / 'config'}"
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "m", "-x", "120", "-y", "40",
         f"{env} make -f {makefile} run"],
        check=True,
        env={**os.environ, "TMUX": ""},
    )  # fmt: skip
    try:
        term = Terminal("m", socket)
        term.wait_for(lambda s: "idle" in s)
        pid = int(pidfile.read_text())
        subprocess.run(["tmux", "-L", socket, "kill-session", "-t", "m"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            if state == "Z":
                break
            time.sleep(0.2)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, 9)
                raise AssertionError("spool outlived its terminal")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
