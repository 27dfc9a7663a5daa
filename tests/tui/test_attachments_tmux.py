"""Attachments in a real terminal (tmux 120×40): the attach and files keys reach spool (alt+f
does not: terminals send ESC f, which Textual reads as ctrl+right), path completion, a pasted
(bracketed) path, and a `/search` over the attached document."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from .test_terminal_tmux import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_attach_paste_search_and_files_panel(terminal: Terminal, isolated_dirs: Path) -> None:  # noqa: F811
    docs = isolated_dirs / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(
        "# Guide\n\nThe lighthouse keeper packs a brass telescope and wool blankets.\n"
    )
    (docs / "my data.csv").write_text("x,y\n1,2\n")
    terminal.wait_for(lambda s: "idle" in s)
    terminal.keys("M-a")
    terminal.wait_for(lambda s: "Attach files to the next message" in s)
    terminal.keys("-l", f"{docs}/gu")
    time.sleep(0.5)
    terminal.keys("Tab")  # completes guide.md
    terminal.wait_for(lambda s: f"{docs}/guide.md" in s)
    terminal.keys("Enter")
    terminal.wait_for(lambda s: "guide.md  ·  74 B  ·  search" in s)
    terminal.keys("Enter")  # an empty path: attach
    terminal.wait_for(lambda s: "Attached to the next message:" in s and "guide.md" in s)

    terminal.tmux("set-buffer", f"'{docs}/my data.csv'")  # a dropped file: its path, quoted
    terminal.tmux("paste-buffer", "-p", "-t", terminal.name)  # bracketed, as terminals paste
    terminal.wait_for(lambda s: "Attach this file to the next message? my data.csv" in s)
    terminal.keys("y")
    terminal.wait_for(lambda s: "my data.csv · 8 B · code" in s)

    terminal.keys("-l", "/search what does the keeper pack")
    time.sleep(0.2)
    terminal.keys("Enter")
    screen = terminal.wait_for(lambda s: 'Top result: "# Guide The lighthouse keeper' in s)
    assert "▤ guide.md · 74 B · search" in screen
    assert "▤ my data.csv · 8 B · code" in screen
    assert "Attached to the next message:" not in screen

    terminal.keys("M-l")
    screen = terminal.wait_for(lambda s: "Files of" in s and "2 files." in s)
    assert "user message (search)" in screen and "user message (code)" in screen
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Files of" not in s)
    terminal.keys("C-q")
    terminal.wait_for(lambda s: "Filter threads" not in s, 20)
