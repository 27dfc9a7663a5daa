"""Message search and the thread filter in a real terminal (tmux 120×40), from `spool`."""

from __future__ import annotations

import shutil
import time

import pytest

from .test_terminal_tmux import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def send(term: Terminal, text: str, reply: str) -> None:
    term.keys(text)
    time.sleep(0.2)  # not a paste: a separate Enter sends
    term.keys("Enter")
    term.wait_for(lambda s: reply in s)


def transcript(screen: str) -> str:
    """The right of the sidebar's border, line by line."""
    return "\n".join(line.split("▎", 1)[1] for line in screen.splitlines() if "▎" in line)


def test_f12_finds_a_message_and_ctrl_f_enter_opens_a_thread(terminal: Terminal) -> None:  # noqa: F811
    terminal.wait_for(lambda s: "idle" in s)
    send(terminal, "pelicans fly over the bay", "You said: pelicans fly over the bay")
    terminal.keys("C-n")
    time.sleep(1.0)
    send(terminal, "bananas are yellow", "You said: bananas are yellow")
    terminal.keys("F12")
    terminal.wait_for(lambda s: "Type to search" in s)
    terminal.keys("pelic")
    screen = terminal.wait_for(lambda s: "2 results" in s)
    assert "Searching the text of every message on the server." in screen
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: "2 results" not in s and "You said: pelicans" in s)
    assert "bananas are yellow" not in transcript(screen)
    terminal.keys("C-f")
    time.sleep(0.2)
    terminal.keys("zzz")
    terminal.wait_for(lambda s: "no threads match" in s)
    terminal.keys("Escape")
    time.sleep(0.2)
    terminal.keys("C-f")
    time.sleep(0.2)
    terminal.keys("yellow")
    time.sleep(0.4)
    terminal.keys("Enter")
    time.sleep(0.5)
    terminal.keys("typed after")  # the composer has the focus
    screen = terminal.wait_for(lambda s: "typed after" in s)
    assert "You said: bananas are yellow" in transcript(screen)
