"""The vector store and sources keys in a real terminal (tmux 120×40): alt+v and alt+c reach
the app while the composer has the focus (the composer took them as the letters v and c before
the bindings had priority; Pilot's key presses did not show it)."""

from __future__ import annotations

import shutil

import pytest

from .test_terminal_tmux import Terminal, terminal  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_alt_v_opens_the_vector_stores_and_alt_c_is_not_typed(terminal: Terminal) -> None:  # noqa: F811
    terminal.wait_for(lambda s: "Message…" in s and "idle" in s)  # connected
    terminal.keys("M-c")
    terminal.wait_for(lambda s: "No reply here cites a source" in s)
    terminal.keys("M-v")
    screen = terminal.wait_for(lambda s: "Vector stores" in s and "No vector stores yet" in s)
    assert "n new · a add files" in screen
    terminal.keys("Escape")
    screen = terminal.wait_for(lambda s: "Vector stores" not in s)
    assert "Message…" in screen  # the composer is empty: neither c nor v was typed
