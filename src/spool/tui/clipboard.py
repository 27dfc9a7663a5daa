"""Copying text out of the TUI: the system clipboard first, OSC 52 as the fallback.

The order follows the measurements in reference/textual-notes.md §4:

1. pyperclip (xclip, xsel, wl-copy, pbcopy…), verified by reading the text back. pyperclip raises
   when there is no mechanism, but with xclip/xsel/wl-copy present and a dead display it returns
   normally and copies nothing: only the read-back catches that. The helpers' stderr is silenced
   (fd level) so their complaints cannot scribble over the TUI. It blocks, so it runs in a thread.
2. Otherwise OSC 52 (`App.copy_to_clipboard`): the terminal may or may not honour it and never
   says; tmux passes it on only with `set -g set-clipboard on` and drops very large payloads.

`copy_text(app, text, what)` does both and returns a `CopyReport` whose `message` is the toast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# OSC 52 payloads this long may be dropped: tmux 3.3a silently dropped 1,000,000 characters
# (750,000 arrived), and several terminals have much lower limits.
LARGE_CHARS = 100_000


class _CopyTarget(Protocol):
    def copy_to_clipboard(self, text: str) -> None: ...


@dataclass(slots=True)
class SystemCopy:
    """The outcome of trying the system clipboard."""

    ok: bool
    mechanism: str = ""  # e.g. "xclip", "wl-clipboard", "pbcopy"
    reason: str = ""  # why it did not work


@dataclass(slots=True)
class CopyReport:
    """Which path got the text (`system`, `osc52`) or `none`, and the toast to show."""

    path: Literal["system", "osc52", "none"]
    message: str  # the toast: one line
    severity: Literal["information", "warning", "error"] = "information"
    detail: str = ""  # the whole story (how, and why the system clipboard was not used)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send fd 2 to /dev/null for the duration (xclip & co. write straight to it)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _mechanism_name(copy: Any) -> str:
    name = getattr(copy, "__name__", "") or ""
    name = name.removeprefix("copy_").removesuffix("_clipboard")
    known = {"wl": "wl-clipboard", "osx_pbcopy": "pbcopy", "windows": "Windows clipboard"}
    return known.get(name, name)


def system_copy(text: str) -> SystemCopy:
    """Copy with pyperclip and read it back (blocking: call it in a thread)."""
    try:
        import pyperclip
    except ImportError:
        return SystemCopy(False, reason="pyperclip is not installed")
    try:
        copy, paste = pyperclip.determine_clipboard()
        if not copy:
            return SystemCopy(False, reason="no clipboard tool (xclip, xsel, wl-copy…) found")
        mechanism = _mechanism_name(copy)
        with _quiet_stderr():
            copy(text)
            back = paste()
    except pyperclip.PyperclipException as exc:
        reason = str(exc).split("\n")[0].split(". ")[0].strip() or type(exc).__name__
        return SystemCopy(False, reason=reason)
    except Exception as exc:  # a broken helper must not break the copy
        return SystemCopy(False, reason=f"{type(exc).__name__}: {exc}")
    if back != text:
        return SystemCopy(
            False,
            mechanism,
            f"{mechanism or 'the clipboard tool'} copied nothing (no display?)",
        )
    return SystemCopy(True, mechanism)


TOAST_WIDTH = 56  # the text width of a toast: copy reports fit on one line


def _one_line(message: str) -> str:
    return message if len(message) <= TOAST_WIDTH else message[: TOAST_WIDTH - 1] + "…"


def size_label(text: str) -> str:
    """`12 lines, 345 chars`-style size of a text."""
    lines = text.count("\n") + 1
    return f"{lines} line{'s' if lines != 1 else ''}, {len(text):,} chars"


async def copy_text(app: _CopyTarget, text: str, what: str) -> CopyReport:
    """Copy `text` (system clipboard, else OSC 52) and say how; `what` names it in the toast."""
    if not text:
        return CopyReport("none", f"Nothing copied: {what} is empty.", "warning")
    system = await asyncio.to_thread(system_copy, text)
    if system.ok:
        detail = f"Copied {what} ({size_label(text)}) to the system clipboard ({system.mechanism})."
        return CopyReport(
            "system", _one_line(f"Copied {what} ({system.mechanism})."), detail=detail
        )
    try:
        app.copy_to_clipboard(text)
    except Exception as exc:
        return CopyReport(
            "none",
            f"Nothing copied: the system clipboard failed ({system.reason}) "
            f"and the terminal refused OSC 52 ({exc}).",
            "error",
        )
    # What OSC 52 means (unconfirmable; tmux needs set-clipboard) is on the help screen.
    message = _one_line(f"Copied {what} via OSC 52 ({system.reason}).")
    detail = (
        f"Copied {what} ({size_label(text)}) via OSC 52, the terminal's clipboard: no "
        "confirmation is possible (in tmux: set -g set-clipboard on). "
        f"System clipboard: {system.reason}."
    )
    severity: Literal["information", "warning"] = "information"
    if len(text) > LARGE_CHARS:
        message = _one_line(f"Copied {what} via OSC 52: large, terminals may drop it.")
        detail += " This text is large: tmux and many terminals drop OSC 52 payloads this big."
        severity = "warning"
    return CopyReport("osc52", message, severity, detail)
