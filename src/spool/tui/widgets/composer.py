"""The composer: a multi-line text area, the one owner of what the user is typing.

Enter sends; shift+enter or ctrl+j inserts a newline. Three rules keep typed text safe:

* Enter sends exactly the text that is in the composer at that keypress: the composer empties
  itself in the same step and hands the text over in `Composer.Submitted`. Nothing else clears it.
* A burst of keys arriving within `PASTE_WINDOW_S` of an Enter is an unbracketed paste (or keys
  sent by a program, as `tmux send-keys` does): that Enter is a newline, not a send.
* Text handed back (`put_back`, e.g. a queued message taken back) never replaces what is there:
  it is added above it.

Every change posts `Composer.Edited` so the app can save the draft (debounced, off the UI loop).

A bracketed paste that is only paths of existing files (a file dropped on the terminal pastes its
path) is not inserted: `Composer.PathsPasted` asks the app, which attaches the files or hands the
text back with `paste_text` (inserted as the paste would have been).

Prompt history: Up on the first line walks back through what was sent (`prompt_history`, set by the
app: this thread's prompts first), Down on the last line walks forward and, past the newest,
brings back what was being typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea

# An Enter followed by another key within this many seconds was part of a paste. People type
# at most ~20 keys a second (50 ms apart); programs and unbracketed pastes deliver keys within
# microseconds of each other.
PASTE_WINDOW_S = 0.015


class Composer(TextArea):
    """Where the user types. Posts `Composer.Submitted` on Enter (with non-blank text)."""

    DEFAULT_CSS = """
    Composer {
        height: auto;
        min-height: 3;
        max-height: 10;
        border: tall $panel;
        padding: 0 1;
    }
    Composer:focus { border: tall $primary; }
    """

    BINDINGS = [
        Binding("shift+enter,ctrl+j", "newline", "Newline", id="composer.newline", show=False),
        Binding("ctrl+r", "search_history", "History", id="composer.history_search", show=False),
        Binding("alt+e", "open_editor", "Editor", id="composer.editor", show=False, priority=True),
        Binding(
            "pageup", "scroll_transcript('page_up')", "Scroll up", id="composer.page_up", show=False
        ),
        Binding(
            "pagedown",
            "scroll_transcript('page_down')",
            "Scroll down",
            id="composer.page_down",
            show=False,
        ),
        Binding(
            "ctrl+home",
            "scroll_transcript('home')",
            "Top",
            id="composer.transcript_top",
            show=False,
        ),
        Binding(
            "ctrl+end",
            "scroll_transcript('end')",
            "Bottom",
            id="composer.transcript_end",
            show=False,
        ),
    ]

    class Submitted(Message):
        """The user pressed Enter: `text` was in the composer, which is now empty."""

        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    class ScrollTranscript(Message):
        """Scroll the transcript from the composer: `where` is page_up, page_down, home, end."""

        def __init__(self, where: str) -> None:
            super().__init__()
            self.where = where

    class PathsPasted(Message):
        """A paste named only existing files (`paths`); `text` is what was pasted."""

        def __init__(self, composer: Composer, text: str, paths: list[Path]) -> None:
            super().__init__()
            self.composer = composer
            self.text = text
            self.paths = paths

    class Edited(Message):
        """The text changed (typing, paste, put back, thread switch)."""

        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

    def __init__(self, *, id: str | None = None, cursor_blink: bool = True) -> None:
        super().__init__(
            "",
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            highlight_cursor_line=False,
            placeholder="Message… (Enter sends, shift+enter / ctrl+j newline)",
        )
        self.cursor_blink = cursor_blink
        self._enter_at: float | None = None  # time of an Enter that waits to become a send
        self._enter_timer: Timer | None = None
        self.prompt_history: Callable[[], list[str]] | None = None  # sent prompts, oldest first
        self._walk: tuple[list[str], int, str] | None = None  # (prompts, index, typed text)
        self._walk_shown: str | None = None  # the text a history step put in
        self.offer_attach = True  # pasted file paths: ask to attach them (PathsPasted)

    # --- keys ----------------------------------------------------------------------------------
    async def _on_key(self, event: events.Key) -> None:
        if self._enter_at is not None:
            # A key while an Enter waits: if it came with the Enter, the Enter was a newline.
            if event.time - self._enter_at <= PASTE_WINDOW_S:
                self._enter_as_newline()
            else:
                self._commit_enter()
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._enter_at = event.time
            self._enter_timer = self.set_timer(PASTE_WINDOW_S, self._enter_timeout)
            return
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        if self._enter_at is not None:
            self._enter_as_newline()  # a paste right behind an Enter: the Enter was in it too
            return
        if self.offer_attach:
            from spool.client.attachments import pasted_paths

            paths = pasted_paths(event.text)
            if paths:  # dropped files: the app asks whether to attach them
                event.prevent_default()
                self.post_message(self.PathsPasted(self, event.text, paths))

    def paste_text(self, text: str) -> None:
        """Insert `text` at the cursor as a paste does (pasted paths the user did not attach)."""
        if result := self._replace_via_keyboard(text, *self.selection):
            self.move_cursor(result.end_location)

    async def _enter_timeout(self) -> None:
        # Let keys that were already read (queued behind the Enter) arrive before deciding.
        for _ in range(3):
            await asyncio.sleep(0)
        if self._enter_at is not None:
            self._commit_enter()

    def _stop_enter(self) -> None:
        self._enter_at = None
        if self._enter_timer is not None:
            self._enter_timer.stop()
            self._enter_timer = None

    def _enter_as_newline(self) -> None:
        self._stop_enter()
        self.action_newline()

    def _commit_enter(self) -> None:
        self._stop_enter()
        text = self.text
        if not text.strip():
            return
        self._walk = None
        self._set(text="")
        self.post_message(self.Submitted(self, text))

    @property
    def enter_pending(self) -> bool:
        """Whether an Enter waits to tell a send from a paste."""
        return self._enter_at is not None

    # --- scrolling the transcript from here -------------------------------------------------
    def action_scroll_transcript(self, where: str) -> None:
        """PageUp/PageDown, ctrl+Home/ctrl+End (and Home/End when empty) scroll the transcript."""
        self.post_message(self.ScrollTranscript(where))

    def action_cursor_line_start(self, select: bool = False) -> None:
        if not select and not self.text:
            self.action_scroll_transcript("home")
            return
        super().action_cursor_line_start(select)

    def action_cursor_line_end(self, select: bool = False) -> None:
        if not select and not self.text:
            self.action_scroll_transcript("end")
            return
        super().action_cursor_line_end(select)

    # --- prompt history ------------------------------------------------------------------------
    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self.step_history(-1):
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        last_row = self.document.line_count - 1
        walking = not select and self._walk is not None and self.cursor_location[0] == last_row
        if walking and self.step_history(1):
            return
        super().action_cursor_down(select)

    def step_history(self, step: int) -> bool:
        """Show the previous (-1) or next (1) sent prompt; False when there is none."""
        if self._walk is not None and self.text != self._walk_shown:
            self._walk = None  # edited since the last step: a new walk starts here
        if self._walk is None:
            prompts = self.prompt_history() if self.prompt_history is not None else []
            if step > 0 or not prompts:
                return False
            self._walk = (prompts, len(prompts), self.text)
        prompts, index, typed = self._walk
        index += step
        if index < 0:
            return True  # at the oldest: stay
        if index >= len(prompts):
            self._walk = None
            self._show(typed)  # past the newest: what was being typed
            return True
        self._walk = (prompts, index, typed)
        self._show(prompts[index])
        return True

    def action_search_history(self) -> None:
        """Search what was sent (a dialog); the chosen prompt comes into the composer."""
        from spool.tui.screens.history_search import HistorySearchScreen

        prompts = self.prompt_history() if self.prompt_history is not None else []

        def done(prompt: str | None) -> None:
            if prompt is not None:
                self._walk = None
                if self.text.strip():
                    self.put_back(prompt)
                else:
                    self._set(text=prompt)
            self.focus()

        self.app.push_screen(
            HistorySearchScreen(
                prompts, query=self.text.strip()[:80], cursor_blink=self.cursor_blink
            ),
            done,
        )

    # --- $VISUAL / $EDITOR -------------------------------------------------------------------
    def action_open_editor(self) -> None:
        """Write the prompt in `$VISUAL` / `$EDITOR` (else vi); the text comes back here."""
        import os
        import shlex
        import subprocess
        import tempfile
        from pathlib import Path

        from textual.app import SuspendNotSupported

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, name = tempfile.mkstemp(prefix="spool-prompt-", suffix=".md")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.text)
            try:
                with self.app.suspend():
                    result = subprocess.run([*shlex.split(editor), str(path)], check=False)
            except SuspendNotSupported:
                self.app.notify("This terminal cannot hand over to an editor.", severity="warning")
                return
            except OSError as exc:
                self.app.notify(f"Cannot start {editor!r}: {exc}", severity="error")
                return
            if result.returncode != 0:
                self.app.notify(
                    f"{editor} exited with {result.returncode}: the text is unchanged.",
                    severity="warning",
                )
                return
            edited = path.read_text(encoding="utf-8").removesuffix("\n")
        finally:
            path.unlink(missing_ok=True)
        self._walk = None
        self._set(text=edited)

    def _show(self, text: str) -> None:
        self._walk_shown = text
        self.text = text
        self.move_cursor((0, len(self.document[0])) if text else (0, 0))

    def action_newline(self) -> None:
        """Insert a newline at the cursor."""
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    # --- the text ------------------------------------------------------------------------------
    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.post_message(self.Edited(self, self.text))

    def _set(self, *, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    def show_draft(self, text: str) -> None:
        """Show another thread's draft (the app saved this thread's text first)."""
        self._stop_enter()
        self._set(text=text)

    def put_back(self, text: str) -> None:
        """Give text back to the user (a queued message taken back): above what is typed."""
        current = self.text
        if not current.strip():
            self._set(text=text)
        elif text.strip():
            self._set(text=f"{text}\n\n{current}")

    def set_text(self, text: str) -> None:
        """Replace the text and put the cursor at its end (tests and the editor round trip)."""
        self._set(text=text)
