"""App actions for tool outputs, the run inspector, copying, export and import.

`WorkflowsMixin` is mixed into `SpoolApp` (its bindings and palette entries are declared there,
in `ACTIONS` / `BINDINGS`, plus `PALETTE` below for palette-only commands):

* requires_action: local tools, MCP tools, asking before a tool runs and the tool outputs
  dialog live in `spool.tui.tool_answers` (`ToolAnswersMixin`, a base of this mixin);
* the run inspector for the focused message's run (or the thread's last run);
* copy: the focused message or the last reply; a code block, cycling through the blocks of the
  focused message (or the last reply) and framing the one copied (`spool.tui.clipboard` does the
  copying and says how);
* export the thread to Markdown or JSON (`spool.client.export`), import a thread by id
  (`spool.client.thread_import`).

Everything that talks to the server goes through `spool.client`; nothing here builds requests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.widget import Widget

from spool.client.citations import cited_text
from spool.client.view_model import MessageItem, ThreadView
from spool.tui.clipboard import CopyReport, copy_text
from spool.tui.screens.help import KeyHelp
from spool.tui.tool_answers import LOCAL_TOOL, MAX_AUTO_ROUNDS, TOOL_PALETTE, ToolAnswersMixin

if TYPE_CHECKING:
    from spool.tui.widgets.message import MessageView

__all__ = ["LOCAL_TOOL", "MAX_AUTO_ROUNDS", "PALETTE", "WorkflowsMixin", "extra_key_help"]

# Palette-only commands: (name, action, help).
PALETTE: list[tuple[str, str, str]] = [
    ("Export thread as Markdown", "export_thread('md')", "Write the thread to a .md file"),
    ("Export thread as JSON", "export_thread('json')", "Write the thread to a .json file"),
    ("Import thread by id", "import_thread", "Add an existing thread (by id) to the list"),
    *TOOL_PALETTE,  # MCP status, forget tool approvals (spool.tui.tool_answers)
]


def extra_key_help() -> list[KeyHelp]:
    """Help lines for the keys of the dialogs and widgets of this module."""
    from spool.tui.screens import export, prompt, run_inspector, tool_approval, tool_outputs

    return [
        KeyHelp("shift+tab (composer)", "Focus the last message", "—"),
        KeyHelp("up, down (message)", "Previous / next message", "message.prev, message.next"),
        *tool_outputs.KEYS,
        *tool_approval.KEYS,
        *run_inspector.KEYS,
        *export.KEYS,
        *prompt.KEYS,
    ]


@dataclass
class WorkflowState:
    """What the workflows remember between actions."""

    code: tuple[int, int] | None = None  # (id of the message item, index) of the last code block
    highlighted: MessageView | None = None  # the message showing a framed code block


class WorkflowsMixin(ToolAnswersMixin):
    """Tool outputs, run inspector, copy, export and import actions of `SpoolApp`."""

    if TYPE_CHECKING:  # provided by SpoolApp
        from spool.tui.widgets.transcript import Transcript

        cursor_blink: bool
        clock: Any
        transcript: Transcript
        focused: Widget | None

        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def copy_to_clipboard(self, text: str) -> None: ...
        def _run_submit(self, view: ThreadView, outputs: dict[str, str]) -> Any: ...
        def _cancel(self, view: ThreadView) -> Any: ...
        def _select_thread(
            self, thread_id: str, *, load: bool = True, force: bool = False
        ) -> None: ...
        def _set_error(self, message: str) -> None: ...

    last_copy: CopyReport | None = None  # the last copy's outcome (tests)
    last_export: Path | None = None  # the last exported file (tests)

    def _workflow_state(self) -> WorkflowState:
        state = self.__dict__.get("_wf_state")
        if state is None:
            state = self.__dict__["_wf_state"] = WorkflowState()
        return state

    # --- focus helpers ----------------------------------------------------------------------
    def focused_message(self) -> MessageView | None:
        """The focused message of the transcript, if a message has focus."""
        from spool.tui.widgets.message import MessageView

        focused = self.focused
        while focused is not None and not isinstance(focused, MessageView):
            parent = focused.parent
            focused = parent if isinstance(parent, Widget) else None
        return focused

    def last_reply_widget(self) -> MessageView | None:
        """The last assistant message shown in the transcript."""
        from spool.tui.widgets.message import MessageView

        for widget in reversed(list(self.transcript.query(MessageView))):
            if widget.item.role == "assistant" and widget.item.text:
                return widget
        return None

    # --- the run inspector --------------------------------------------------------------------
    def action_inspect_run(self) -> None:
        """Show the run of the focused message (or the thread's last run) and its steps."""
        if self.current is None or self.driver is None:
            self.notify("Not connected yet.", severity="warning")
            return
        thread_id = self.current
        view = self.workspace.views.get(thread_id)
        message = self.focused_message()
        run_id = message.item.run_id if message is not None else None
        if run_id is None and message is not None and view is not None:
            # a user message: the run that answered it
            items = view.items
            if message.item in items:
                later = items[items.index(message.item) + 1 :]
                run_id = next(
                    (getattr(i, "run_id", None) for i in later if getattr(i, "run_id", None)), None
                )
        if run_id is None and view is not None and view.run is not None:
            run_id = view.run.id
        self.run_worker(
            self._open_inspector(thread_id, run_id), group="inspector", exit_on_error=False
        )

    async def _open_inspector(self, thread_id: str, run_id: str | None) -> None:
        from spool.client.run_details import RunDetailsError, fetch_run_details, latest_run_id
        from spool.tui.screens.run_inspector import RunInspectorScreen

        client = self.connection.client
        if run_id is None:
            try:
                run_id = await latest_run_id(client, thread_id)
            except RunDetailsError as exc:
                self.notify(f"Could not list the runs: {exc}", severity="error")
                return
        if run_id is None:
            self.notify("This thread has no run yet.")
            return
        rid = run_id

        store = self.store

        async def loader() -> Any:
            details = await fetch_run_details(client, thread_id, rid)
            if store is not None:
                details.measured_s = store.run_duration(rid)
            return details

        self.push_screen(RunInspectorScreen(title=f"Run inspector · {rid}", loader=loader))

    # --- copy -----------------------------------------------------------------------------------
    def copy_out(self, text: str, what: str) -> None:
        """Copy `text` (system clipboard, else OSC 52) in a worker; the toast says how."""
        self.run_worker(self._copy(text, what), group="clipboard", exit_on_error=False)

    async def _copy(self, text: str, what: str) -> None:
        report = await copy_text(self, text, what)
        self.last_copy = report
        self.notify(report.message, title="Copy", severity=report.severity)

    def copy_message_or_reply(self) -> None:
        """Copy the focused message, else the last assistant reply."""
        message = self.focused_message()
        if message is not None:
            who = "your message" if message.item.role == "user" else "the message"
            self.copy_out(cited_text(message.item.text, message.item.citations), who)
            return
        view = self.workspace.views.get(self.current or "")
        replies = [
            i
            for i in (view.items if view else [])
            if isinstance(i, MessageItem) and i.role == "assistant" and i.text
        ]
        text = cited_text(replies[-1].text, replies[-1].citations) if replies else None
        if not text:
            self.notify("No reply to copy yet.", severity="warning")
            return
        self.copy_out(text, "the last reply")

    def action_copy_code(self) -> None:
        """Copy the next code block of the focused message (or the last reply), framing it."""
        from spool.tui.code_blocks import find_code_blocks

        widget = self.focused_message() or self.last_reply_widget()
        if widget is None:
            self.notify("No reply to copy code from yet.", severity="warning")
            return
        blocks = find_code_blocks(widget.item.text)
        state = self._workflow_state()
        previous = state.highlighted
        if previous is not None and previous is not widget:
            previous.clear_highlight()
            state.highlighted = None
        if not blocks:
            self.notify("No code block in this message.", severity="warning")
            return
        last = state.code
        index = 0
        if last is not None and last[0] == id(widget.item) and widget.highlighted:
            index = (last[1] + 1) % len(blocks)
        state.code = (id(widget.item), index)
        block = blocks[index]
        key = self._first_key("spool.copy_code", "ctrl+g")
        more = f" · {key}: next" if len(blocks) > 1 else ""
        widget.highlight_code(
            block, f" copied: block {index + 1}/{len(blocks)} ({block.label}){more} "
        )
        state.highlighted = widget
        widget.scroll_visible(animate=False)
        self.copy_out(block.code, f"code block {index + 1}/{len(blocks)} ({block.lang or 'code'})")

    # --- export and import --------------------------------------------------------------------
    def action_export_thread(self, fmt: str = "md") -> None:
        """Export the current thread to Markdown or JSON (asks for the path)."""
        from spool.tui.screens.export import ExportRequest, ExportScreen

        if self.current is None or self.driver is None or self.store is None:
            self.notify("Not connected yet.", severity="warning")
            return
        thread_id = self.current
        rec = self.store.get_thread(thread_id)
        title = rec.title if rec else ""

        def done(request: ExportRequest | None) -> None:
            if request is not None:
                self.run_worker(
                    self._export(thread_id, title, request), group="export", exit_on_error=False
                )

        self.push_screen(
            ExportScreen(thread_id, title, fmt=fmt, cursor_blink=self.cursor_blink), done
        )

    async def _export(self, thread_id: str, title: str, request: Any) -> None:
        from spool.client.export import export_thread

        try:
            text = await export_thread(
                self.connection.client, thread_id, request.fmt, title=title or None
            )
        except Exception as exc:
            from spool.client.connection import describe_error

            self.notify(f"Export failed: {describe_error(exc)}", severity="error")
            return
        path: Path = request.path

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            self.notify(f"Could not write {path}: {exc.strerror or exc}", severity="error")
            return
        self.last_export = path
        kind = "Markdown" if request.fmt == "md" else "JSON"
        self.notify(f"Exported the thread ({kind}) to {path}", title="Export", timeout=10)

    def action_import_thread(self) -> None:
        """Add an existing thread (by id) to the list and open it."""
        from spool.tui.screens.prompt import PromptScreen

        if self.driver is None or self.store is None:
            self.notify("Not connected yet.", severity="warning")
            return

        def done(thread_id: str | None) -> None:
            if thread_id:
                self.run_worker(self.import_thread(thread_id), group="threads", exit_on_error=False)

        self.push_screen(
            PromptScreen(
                "Import a thread by id",
                placeholder="thread_…",
                cursor_blink=self.cursor_blink,
            ),
            done,
        )

    async def import_thread(self, thread_id: str) -> bool:
        """Fetch the thread, add it to the index and the sidebar, and open it."""
        from spool.client.thread_import import ImportFailed, fetch_thread_summary
        from spool.store import ThreadRecord

        assert self.store is not None
        thread_id = thread_id.strip()
        if self.store.get_thread(thread_id) is not None:
            self._select_thread(thread_id)
            self.notify("That thread is already in the list: opened it.")
            return True
        try:
            summary = await fetch_thread_summary(self.connection.client, thread_id)
        except ImportFailed as exc:
            self.notify(f"Import failed: {exc}", severity="error")
            return False
        now = float(self.clock())
        self.store.add_thread(
            ThreadRecord(
                summary.id,
                self.profile,
                title=summary.title,
                assistant_id=summary.assistant_id,
                created_at=summary.created_at or now,
                updated_at=now,
                preview=summary.preview,
            )
        )
        self._update_row(summary.id, to_top=True)
        self._select_thread(summary.id)
        label = summary.title or summary.id
        self.notify(f"Imported “{label}”.", title="Import")
        return True
