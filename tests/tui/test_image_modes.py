"""How images are drawn: which terminals are asked about Kitty/Sixel graphics before Textual
starts, half blocks elsewhere (textual-image imported later, in a thread, without asking the
terminal), and a placeholder where stdout is no terminal or TERM is dumb."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from spool.tui.widgets import image_view
from spool.tui.widgets.image_view import load_library, may_have_graphics, prepare_terminal_graphics


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM": "xterm-kitty"}, True),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, True),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, True),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, True),
        ({"TERM": "xterm-256color", "KONSOLE_VERSION": "230804"}, True),
        ({"TERM": "foot"}, True),
        ({"TERM": "xterm-ghostty"}, True),
        ({"TERM": "xterm-256color"}, False),
        ({"TERM": "screen-256color", "TMUX": "/tmp/tmux-0/default,1,0"}, False),
        ({}, False),
    ],
)
def test_which_terminals_are_asked(env: dict[str, str], expected: bool) -> None:
    assert may_have_graphics(env) is expected


class FakeTTY:
    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise AssertionError(f"the terminal was asked something: {text!r}")

    def flush(self) -> None:
        pass


def test_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_view, "_mode", "placeholder")
    # pytest's stdout is no terminal: placeholder
    assert prepare_terminal_graphics() == "placeholder"
    monkeypatch.setattr(sys, "__stdout__", FakeTTY())
    monkeypatch.setenv("TERM", "dumb")
    assert prepare_terminal_graphics() == "placeholder"
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("KITTY_WINDOW_ID", raising=False)
    monkeypatch.delenv("TERM_PROGRAM", raising=False)
    monkeypatch.delenv("KONSOLE_VERSION", raising=False)
    assert prepare_terminal_graphics() == "halfcell"  # nothing asked (FakeTTY.write raises)
    assert prepare_terminal_graphics("placeholder") == "placeholder"
    assert image_view._mode == "placeholder"


async def test_the_library_loads_without_asking_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("textual_image")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "__stdout__", FakeTTY())
    await load_library()  # (FakeTTY.write would raise if a query were sent)
    assert "textual_image.widget" in sys.modules
    assert isinstance(sys.__stdout__, FakeTTY)  # put back


def test_the_config_file_says_how(isolated_dirs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from spool.config import load_config

    path = isolated_dirs / "config" / "config.toml"
    path.write_text('images = "none"\n')
    assert load_config(path).images == "none"
    monkeypatch.setattr(sys, "__stdout__", FakeTTY())
    monkeypatch.setenv("TERM", "xterm-kitty")
    assert prepare_terminal_graphics("none") == "placeholder"  # not asked, even in kitty
    path.write_text('images = "sixel"\n')
    config = load_config(path)
    assert config.images == "auto" and any("images must be one of" in p for p in config.problems)


def test_ask_asks_any_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import textual_image.widget  # noqa: F401  (already asked: the import asks nothing again)

    monkeypatch.setattr(image_view, "_mode", "placeholder")
    monkeypatch.setattr(sys, "__stdout__", FakeTTY())
    monkeypatch.setenv("TERM", "xterm")
    assert not may_have_graphics()
    assert prepare_terminal_graphics("auto") == "halfcell"
    assert prepare_terminal_graphics("ask") == "auto"  # textual-image's own choice
