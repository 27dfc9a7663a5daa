"""Sending, for `SpoolApp`: Enter → the outbox → posted as soon as the thread can take it.

* Enter always succeeds: the composer hands its text over and empties itself; the text becomes
  a queued message at the bottom of the thread (`spool.client.outbox`), kept in the index.
* `pump(thread)` posts the thread's next queued message when the connection is up and the
  thread has no active run (the API locks a thread during a run); after each run it pumps again,
  so messages typed during a run go out in order when it ends.
* A post that fails leaves the message *unsent* (with the reason, in the transcript); it is sent
  again when the server is back, or at once with retry. A run that fails after its message was
  posted never puts the text back in the composer: retry starts a new run on the same message,
  take back deletes it from the thread and returns the text for editing.
* Drafts are saved as the user types (debounced; the store writes off the UI loop).
* Attachments (`spool.tui.attaching`) go with the message into the outbox; they are uploaded
  (in the send worker, with a progress bar) right before the post, and a failed upload leaves
  the message unsent with the reason (retry uploads only what is missing). A run on a message
  with attachments gets file_search / code_interpreter when the assistant lacks them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spool.client.attachments import AttachmentError, forget_missing, message_parts
from spool.client.outbox import NEW_THREAD, Outbox
from spool.client.runs import RunError
from spool.client.view_model import Attachment, MessageItem, ThreadView
from spool.tui.heap import settle_heap
from spool.tui.host import AppHost
from spool.tui.widgets.composer import Composer

DRAFT_SAVE_DELAY_S = 0.5
BACKGROUND_ENDS = frozenset({"completed", "failed", "expired", "incomplete", "requires_action"})
TITLE_MAX = 80

# (binding id, action, description): declared in SpoolApp.BINDINGS, listed in help and palette.
SENDING_ACTIONS: list[tuple[str, str, str]] = [
    ("spool.retry", "retry", "Regenerate the last reply / retry a failed run or unsent message"),
    ("spool.take_back", "take_back", "Take back the last queued or failed message to edit it"),
]


def title_from(text: str) -> str:
    """The thread title for a first message: its first non-blank line, trimmed."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:TITLE_MAX]
    return "New thread"


class SendingMixin(AppHost):
    """The send loop of `SpoolApp` (its state is created in `init_sending`)."""

    if TYPE_CHECKING:  # provided by SpoolApp

        @property
        def composer(self) -> Composer: ...
        @property
        def transcript(self) -> Any: ...
        def set_timer(self, delay: float, callback: Any) -> Any: ...
        def call_after_refresh(self, callback: Any) -> Any: ...
        def _assistant_for(self, thread_id: str | None) -> str | None: ...
        def _update_status(self) -> None: ...
        def _enqueue(self, thread_id: str | None, job: Any) -> None: ...
        def _set_error(self, message: str | None, *, toast: bool = True) -> None: ...
        def run_options_for(self, thread_id: str) -> Any: ...
        def handle_requires_action(self, view: ThreadView) -> None: ...
        def connection_lost(self, reason: str) -> None: ...
        def _reload_thread(self, thread_id: str, *, reattach: bool) -> None: ...
        def regenerate(self, view: ThreadView) -> bool: ...
        def bell(self) -> None: ...
        def action_reconnect(self) -> None: ...
        def take_pending(self) -> list[Attachment]: ...
        def give_back_pending(self, attachments: list[Attachment]) -> None: ...
        def show_pending(self) -> None: ...
        def move_pending(self, old: str, new: str) -> None: ...
        async def upload_attachments(self, view: ThreadView, item: MessageItem) -> None: ...
        async def tools_for(
            self, assistant_id: str, options: Any, attachments: list[Attachment]
        ) -> tuple[list[dict[str, Any]] | None, Any]: ...

        config: Any

    def init_sending(self) -> None:
        """Create the outbox (after the store opened) and show what it kept from last time."""
        self.outbox = Outbox(self.store, self.profile, self.workspace)
        self._delivering: set[str] = set()
        self.unread: dict[str, str] = {}  # thread -> how its run ended while not shown
        self.lost_threads: set[str] = set()  # threads whose error is "the server went away"
        self._draft_timer: Any = None
        self._draft_thread: str | None = None
        for thread_id in self.outbox.restore():
            self._update_row(thread_id)
        store = self.store
        if store is not None:  # Up / ctrl+r in the composer: this thread's prompts first
            self.composer.prompt_history = lambda: store.history(self.current or NEW_THREAD)

    # --- the composer ----------------------------------------------------------------------------
    def on_composer_submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        self.send(event.text, self.take_pending())

    def on_composer_edited(self, event: Composer.Edited) -> None:
        """Save the draft a moment after the last keystroke (a closed terminal loses ≤ 0.5 s)."""
        self._draft_thread = self.current
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_DELAY_S, self.save_draft)

    def save_draft(self) -> None:
        """Store the composer's text as the draft of the thread it belongs to."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        thread_id = self._draft_thread or self.current or NEW_THREAD
        if self.store is None:
            return
        try:
            text = self.composer.text
        except Exception:  # unmounted
            return
        self.store.set_draft(thread_id, text)

    def switch_composer(self, old: str | None, new: str) -> None:
        """The composer moves to thread `new`: keep `old`'s text as its draft, show `new`'s."""
        if self.store is None or old == new:
            return
        self._draft_thread = new
        if old is None:
            # No thread was shown (first launch): what is typed belongs to the new thread.
            typed = self.composer.text
            if typed.strip():
                self.store.set_draft(new, typed)
            else:
                self.composer.show_draft(self.store.get_draft(new))
            self.store.set_draft(NEW_THREAD, "")
            self.move_pending(NEW_THREAD, new)  # chosen files belong to it too
            return
        self._draft_thread = old
        self.save_draft()
        self._draft_thread = new
        self.composer.show_draft(self.store.get_draft(new))
        self.show_pending()

    # --- queueing --------------------------------------------------------------------------------
    def send(self, text: str, attachments: list[Attachment] | None = None) -> MessageItem:
        """Queue `text` (with its attachments) for the current thread and post it as soon as
        possible."""
        thread_id = self.current or NEW_THREAD
        view = self.workspace.view(thread_id)
        if thread_id == NEW_THREAD:
            transcript = self.transcript
            if transcript.view is not view:
                self._enqueue(None, lambda: transcript.show(view))
        item = self.outbox.add(view, text, attachments)
        if self.store is not None:
            self.store.add_history(thread_id, text)
        self.save_draft()
        if self.store is not None and thread_id != NEW_THREAD:
            rec = self.store.get_thread(thread_id)
            fields: dict[str, Any] = {"title": title_from(text)} if rec and not rec.title else {}
            self.store.update_thread(thread_id, touch=True, **fields)
            self._update_row(thread_id, to_top=True)
        self.pump(thread_id)  # else it waits, shown as queued (transcript and status bar)
        return item

    def pump(self, thread_id: str) -> None:
        """Post the thread's next queued message if the thread can take one now."""
        if self.driver is None or thread_id == NEW_THREAD or thread_id in self._delivering:
            return
        view = self.workspace.views.get(thread_id)
        if view is None or view.active:
            return
        item = self.outbox.next(view)
        if item is None or item.status != "queued":
            return  # nothing to send, or an unsent message waits for the server to be back
        assistant_id = self._assistant_for(thread_id)
        if assistant_id is None:
            return  # sent once the assistant exists (after connecting)
        self._delivering.add(thread_id)
        self.run_worker(self._deliver(view, item, assistant_id), group="run", exit_on_error=False)

    def pump_all(self) -> None:
        """Pump every thread that has messages waiting."""
        for thread_id, view in list(self.workspace.views.items()):
            if view.local_messages():
                self.pump(thread_id)

    async def _deliver(self, view: ThreadView, item: MessageItem, assistant_id: str) -> None:
        assert self.driver is not None
        tid = view.thread_id
        rec_id = self.outbox.record_id(item)
        if rec_id and self.outbox.maybe_posted(item):
            try:
                posted = await self.driver.find_posted(view, rec_id)
            except Exception:
                posted = False  # cannot tell: the post below fails or goes through
            if posted:  # the last process posted it and stopped before forgetting it
                self.outbox.posted(item)
                view.remove(item)
                self._delivering.discard(tid)
                if tid == self.current:
                    self._reload_thread(tid, reattach=True)
                self.pump(tid)
                return
        options = self.run_options_for(tid)
        tools: list[dict[str, Any]] | None = None
        content: Any = None
        listed: list[dict[str, Any]] | None = None
        if item.attachments:
            try:
                await self.upload_attachments(view, item)
                tools, options = await self.tools_for(assistant_id, options, item.attachments)
            except AttachmentError as exc:
                self._delivering.discard(tid)
                item.status, item.error = "unsent", str(exc)
                self.outbox.failed(item, str(exc), refused=exc.refused)
                view.updated(item)
                self._report_failure(tid, str(exc), connection_lost=exc.connection_lost)
                return
            content, listed = message_parts(item.text, item.attachments)
        try:
            outcome = await self.driver.send(
                view,
                item.text,
                assistant_id,
                options=options,
                item=item,
                metadata={"spool_outbox_id": rec_id} if rec_id else None,
                on_posted=self.outbox.posted,
                tools=tools,
                content=content,
                attachments=listed,
            )
        except RunError as exc:
            reason = str(exc)
            if not exc.sent and item.attachments and not exc.connection_lost:
                reason = await self._files_gone(item, reason)
            self._delivering.discard(tid)
            if not exc.sent:
                self.outbox.failed(item, reason, refused=item.refused)
            self._report_failure(tid, reason, connection_lost=exc.connection_lost)
            return
        self._delivering.discard(tid)
        self.after_run(view, outcome.status, outcome.error)

    async def _files_gone(self, item: MessageItem, reason: str) -> str:
        """The post was refused: files of it that are gone from the server (deleted since they
        were uploaded) lose their id, so a retry uploads them again from disk."""
        assert self.driver is not None
        try:
            gone = await forget_missing(self.driver.client, item.attachments)
        except Exception:
            return reason  # cannot tell: the reason stands
        if not gone:
            return reason
        self.outbox.uploaded(item)
        item.error = f"{reason} ({', '.join(gone)}: gone from the server, uploaded again on retry)"
        return item.error

    # --- after a run -----------------------------------------------------------------------------
    def after_run(self, view: ThreadView, status: str, error: str | None) -> None:
        """A run of `view` stopped: report it, answer tool calls, then send what is queued."""
        self.call_after_refresh(settle_heap)
        if self.store is None:
            return
        tid = view.thread_id
        if status in ("failed", "expired", "incomplete"):
            self._report_failure(tid, f"Run {status}: {error or 'no reason given'}")
        elif status == "requires_action":
            self.handle_requires_action(view)  # local tools, else the tool outputs dialog
        reply = view.last_reply()
        if reply:
            self.store.update_thread(tid, touch=True, preview=" ".join(reply.split())[:120])
        if tid != self.current:
            self._finished_unseen(tid, status)
        self._update_row(tid)
        if tid == self.current:
            self._update_status()
        if status != "requires_action":
            self.pump(tid)

    def _finished_unseen(self, thread_id: str, status: str) -> None:
        """A run ended on a thread that is not shown: mark its row until it is opened, name
        it in a toast (failures and tool calls say so themselves), ring the bell if wanted."""
        if status not in BACKGROUND_ENDS:
            return
        self.unread[thread_id] = status
        if status == "completed":
            title = self.thread_title(thread_id)
            self.notify(f"New reply in “{title}”.", timeout=8)
        bell = self.config.bell
        if bell == "always" or (bell == "requires_action" and status == "requires_action"):
            self.bell()

    def _report_failure(
        self, thread_id: str, message: str, *, connection_lost: bool = False
    ) -> None:
        """The thread's error (status bar while it is shown) and a toast; reconnect if needed."""
        view = self.workspace.view(thread_id)
        view.error = message
        if thread_id == self.current:
            self._set_error(view.error)
        else:
            title = self.thread_title(thread_id)
            self.notify(message, title=f"Error in “{title}”", severity="error", timeout=8)
        if connection_lost:
            self.lost_threads.add(thread_id)  # its error is stale once the server is back
            self.connection_lost(message)

    # --- retry and take back -------------------------------------------------------------------
    def retry_hint(self, view: ThreadView | None) -> str:
        """The keys that help after a failure on `view` ("" when there is nothing to retry)."""
        if view is None or view.active or not view.error:
            return ""
        unsent = any(i.status == "unsent" for i in view.local_messages())
        if not unsent and view.last_posted_user_message() is None:
            return ""
        retry, take_back = self._keys_for("spool.retry"), self._keys_for("spool.take_back")
        return f"{retry} retry · {take_back} edit"

    def action_retry(self) -> None:
        """Send the unsent messages now; else run again on the last message (no re-post):
        after a failed run, or replacing its answer (regenerate)."""
        if self.driver is None:
            self.action_reconnect()  # offline: try the server again now
            return
        if self.current is None:
            return
        view = self.workspace.view(self.current)
        if view.active:
            self.notify("A run is in progress on this thread.", severity="warning")
            return
        if any(i.status == "unsent" for i in view.local_messages()):
            self.outbox.requeue(view, refused_too=True)
            self.pump(view.thread_id)
            return
        message = view.last_posted_user_message()
        assistant_id = self._assistant_for(view.thread_id)
        if message is None and self.regenerate(view):
            return  # the last message had its answer: a new one replaces it
        if message is None or assistant_id is None:
            self.notify("Nothing to retry or regenerate yet.", timeout=3)
            return
        view.error = None
        self._set_error(None, toast=False)
        self._delivering.add(view.thread_id)
        self.run_worker(self._rerun(view, assistant_id), group="run", exit_on_error=False)

    async def _rerun(self, view: ThreadView, assistant_id: str) -> None:
        assert self.driver is not None
        tid = view.thread_id
        message = view.last_user_message()
        options = self.run_options_for(tid)
        tools: list[dict[str, Any]] | None = None
        try:
            if message is not None and message.attachments:  # the run needs their tools
                tools, options = await self.tools_for(assistant_id, options, message.attachments)
            outcome = await self.driver.start_run(view, assistant_id, options=options, tools=tools)
        except AttachmentError as exc:  # (the assistant could not be read)
            self._delivering.discard(tid)
            self._report_failure(tid, str(exc), connection_lost=exc.connection_lost)
            return
        except RunError as exc:
            self._delivering.discard(tid)
            self._report_failure(tid, str(exc), connection_lost=exc.connection_lost)
            return
        self._delivering.discard(tid)
        self.after_run(view, outcome.status, outcome.error)

    def action_take_back(self) -> None:
        """Put the last message that is not answered back in the composer to edit it.

        A queued or unsent message leaves the outbox; a posted message whose run failed is
        deleted from the thread (the API allows it while no run is active).
        """
        if self.current is None and not self.workspace.views.get(NEW_THREAD):
            return
        view = self.workspace.view(self.current or NEW_THREAD)
        local = [i for i in view.local_messages() if i.status != "sending"]
        if local:
            self.give_back_pending(local[-1].attachments)
            self.composer.put_back(self.outbox.take_back(view, local[-1]))
            self.composer.focus()
            return
        message = view.last_posted_user_message()
        if message is None or view.active or self.driver is None:
            self.notify("Nothing to take back: the last message has its answer.", timeout=3)
            return
        self.run_worker(self._take_back_posted(view, message), group="run", exit_on_error=False)

    async def _take_back_posted(self, view: ThreadView, message: MessageItem) -> None:
        assert self.driver is not None
        try:
            await self.driver.delete_message(view, message)
        except RunError as exc:
            self._set_error(f"Could not take the message back: {exc}")
            return
        view.error = None
        self._set_error(None, toast=False)
        self.give_back_pending(message.attachments)  # uploaded already: sent again by file id
        self.composer.put_back(message.text)
        self.composer.focus()
