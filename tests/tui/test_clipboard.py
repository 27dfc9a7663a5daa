"""The clipboard order (system clipboard verified by read-back, else OSC 52), with pyperclip
monkeypatched to each behaviour measured in reference/textual-notes.md §4."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyperclip
import pytest

from spool.tui import clipboard
from spool.tui.clipboard import LARGE_CHARS, TOAST_WIDTH, copy_text, system_copy


class FakeApp:
    """Records what `copy_to_clipboard` (OSC 52) received."""

    def __init__(self, fail: bool = False) -> None:
        self.osc52: list[str] = []
        self.fail = fail

    def copy_to_clipboard(self, text: str) -> None:
        if self.fail:
            raise RuntimeError("no driver")
        self.osc52.append(text)


def use(monkeypatch: pytest.MonkeyPatch, copy: Any, paste: Any) -> None:
    monkeypatch.setattr(pyperclip, "determine_clipboard", lambda: (copy, paste))


def working_clipboard() -> tuple[Callable[[str], None], Callable[[], str]]:
    """A clipboard that works (like xclip with a live display)."""
    store: dict[str, str] = {"text": ""}

    def copy_xclip(text: str) -> None:
        store["text"] = text

    def paste_xclip() -> str:
        return store["text"]

    return copy_xclip, paste_xclip


async def test_system_clipboard_first(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, *working_clipboard())
    app = FakeApp()
    report = await copy_text(app, "hello", "the last reply")
    assert report.path == "system"
    assert "system clipboard (xclip)" in report.detail
    assert len(report.message) <= TOAST_WIDTH  # the toast fits on one line
    assert "the last reply" in report.message
    assert app.osc52 == []  # no need for OSC 52


async def test_dead_display_is_caught_by_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """xclip with a dead DISPLAY: copy returns normally, paste gives ''."""
    copied: list[str] = []

    def copy_xclip(text: str) -> None:
        copied.append(text)

    use(monkeypatch, copy_xclip, lambda: "")
    app = FakeApp()
    report = await copy_text(app, "hello", "the last reply")
    assert copied == ["hello"]  # pyperclip was tried first
    assert report.path == "osc52"
    assert app.osc52 == ["hello"]
    assert "OSC 52" in report.message and "xclip copied nothing" in report.detail
    assert len(report.message) <= TOAST_WIDTH


async def test_pyperclip_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def copy(text: str) -> None:
        raise pyperclip.PyperclipException(
            "Pyperclip could not find a copy/paste mechanism for your system. For more info…"
        )

    use(monkeypatch, copy, lambda: "")
    app = FakeApp()
    report = await copy_text(app, "hello", "the message")
    assert report.path == "osc52"
    assert app.osc52 == ["hello"]
    assert "could not find a copy/paste mechanism" in report.detail


async def test_no_mechanism_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unavailable:
        def __bool__(self) -> bool:
            return False

        def __call__(self, *args: Any) -> None:
            raise AssertionError("must not be called")

    use(monkeypatch, Unavailable(), Unavailable())
    app = FakeApp()
    report = await copy_text(app, "hello", "the message")
    assert report.path == "osc52"
    assert "no clipboard tool" in report.detail


async def test_large_text_warns_about_tmux(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, lambda text: None, lambda: "")
    app = FakeApp()
    big = "x" * (LARGE_CHARS + 1)
    report = await copy_text(app, big, "the last reply")
    assert report.path == "osc52" and report.severity == "warning"
    assert "tmux" in report.detail and "large" in report.message


async def test_nothing_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, lambda text: None, lambda: "")
    report = await copy_text(FakeApp(fail=True), "hello", "the last reply")
    assert report.path == "none" and report.severity == "error"
    assert "Nothing copied" in report.message
    empty = await copy_text(FakeApp(), "", "the last reply")
    assert empty.path == "none" and "empty" in empty.message


def test_stderr_of_helpers_is_silenced(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import os

    def copy_xsel(text: str) -> None:
        os.write(2, b"Can't open display\n")

    use(monkeypatch, copy_xsel, lambda: "")
    result = system_copy("hello")
    assert not result.ok and result.mechanism == "xsel"
    assert "Can't open display" not in capfd.readouterr().err


def test_mechanism_names() -> None:
    def copy_wl(text: str) -> None: ...
    def copy_osx_pbcopy(text: str) -> None: ...

    assert clipboard._mechanism_name(copy_wl) == "wl-clipboard"
    assert clipboard._mechanism_name(copy_osx_pbcopy) == "pbcopy"
