"""Conversation control, for `SpoolApp`: regenerate the last reply, edit a sent message and
resend it, delete a message.

* Regenerate (the retry key, when the last message has its answer): the reply is deleted from
  the thread and a new run answers the same user message. The replaced reply is not kept (the
  Assistants API has no branches; alternatives would live only in this client).
* Edit (`e` on a focused user message): the message and every message after it are deleted
  from the thread, after a confirmation that says how many; its text comes back into the
  composer, to be edited and sent again.
* Delete (`delete` on a focused message): that one message, after a confirmation.

All three need the thread to be free (the API refuses changes while a run is active).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spool.client.runs import RunError
from spool.client.view_model import MessageItem, ThreadView
from spool.tui.host import AppHost

if TYPE_CHECKING:
    from textual.widget import Widget

    from spool.tui.widgets.composer import Composer

# (binding id, action, description): the keys live on MessageView (they act on the focused
# message); listed in help and the palette.
CONVERSATION_ACTIONS: list[tuple[str, str, str]] = [
    ("message.edit", "edit_message", "Edit the focused message and resend (deletes what follows)"),
    ("message.delete", "delete_message", "Delete the focused message"),
]


class ConversationMixin(AppHost):
    """Regenerate, edit and delete for `SpoolApp`."""

    if TYPE_CHECKING:  # provided by SpoolApp
        focused: Widget | None

        @property
        def composer(self) -> Composer: ...
        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def _set_error(self, message: str | None, *, toast: bool = True) -> None: ...
        def _assistant_for(self, thread_id: str | None) -> str | None: ...
        def _rerun(self, view: ThreadView, assistant_id: str) -> Any: ...
        def give_back_pending(self, attachments: list[Any]) -> None: ...

        _delivering: set[str]

    # --- which message -------------------------------------------------------------------------
    def _focused_item(self) -> tuple[ThreadView, MessageItem] | None:
        from spool.tui.widgets.message import MessageView

        widget = self.focused
        if not isinstance(widget, MessageView) or self.current is None:
            self.notify("Focus a message first (shift+tab from the composer).", timeout=3)
            return None
        return self.workspace.view(self.current), widget.item

    def _thread_free(self, view: ThreadView) -> bool:
        if self.driver is None:
            self.notify("Not connected.", severity="warning")
            return False
        if view.active or view.thread_id in self._delivering:
            self.notify("A run is in progress on this thread.", severity="warning")
            return False
        return True

    # --- regenerate ----------------------------------------------------------------------------
    def regenerate(self, view: ThreadView) -> bool:
        """Delete the last reply and answer its user message again (False: nothing to do)."""
        user = view.last_user_message()
        assistant_id = self._assistant_for(view.thread_id)
        if user is None or assistant_id is None:
            return False
        replies = view.replies_after(user)
        if not replies:
            return False
        self._delivering.add(view.thread_id)
        self.run_worker(
            self._regenerate(view, replies, assistant_id), group="run", exit_on_error=False
        )
        return True

    async def _regenerate(
        self, view: ThreadView, replies: list[MessageItem], assistant_id: str
    ) -> None:
        assert self.driver is not None
        try:
            await self.driver.delete_messages(view, replies)
        except RunError as exc:
            self._delivering.discard(view.thread_id)
            self._set_error(f"Could not delete the reply: {exc}")
            return
        await self._rerun(view, assistant_id)

    # --- edit and delete -------------------------------------------------------------------------
    def action_edit_message(self) -> None:
        """Edit the focused user message: it and what follows leave the thread, the text
        comes back into the composer."""
        found = self._focused_item()
        if found is None:
            return
        view, item = found
        if item.role != "user" or item.local or not self._thread_free(view):
            if item.role != "user":
                self.notify("Only your own messages can be edited.", timeout=3)
            return
        doomed = view.posted_from(item)
        later = len(doomed) - 1
        if later == 0:
            self.run_worker(self._edit(view, doomed), group="run", exit_on_error=False)
            return
        from spool.tui.screens.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._edit(view, doomed), group="run", exit_on_error=False)

        self.push_screen(
            ConfirmScreen(
                f"Edit this message and send it again?\n\nIt and the {later} "
                f"message{'s' if later != 1 else ''} after it are deleted from the thread.",
                yes="Edit",
            ),
            done,
        )

    async def _edit(self, view: ThreadView, doomed: list[MessageItem]) -> None:
        assert self.driver is not None
        text = doomed[0].text
        try:
            await self.driver.delete_messages(view, doomed)
        except RunError as exc:
            self._set_error(f"Could not delete: {exc}")
            return
        self.give_back_pending(doomed[0].attachments)  # its files: attached again (by id)
        self.composer.put_back(text)
        self.composer.focus()

    def action_delete_message(self) -> None:
        """Delete the focused message from the thread (after asking)."""
        found = self._focused_item()
        if found is None:
            return
        view, item = found
        if item.local or not self._thread_free(view):
            return
        from spool.tui.screens.confirm import ConfirmScreen

        who = "your message" if item.role == "user" else "this reply"
        preview = " ".join(item.text.split())[:60]

        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._delete(view, item), group="run", exit_on_error=False)

        self.push_screen(ConfirmScreen(f"Delete {who} from the thread?\n\n“{preview}”"), done)

    async def _delete(self, view: ThreadView, item: MessageItem) -> None:
        assert self.driver is not None
        try:
            await self.driver.delete_messages(view, [item], leftovers=False)
        except RunError as exc:
            self._set_error(f"Could not delete: {exc}")
            return
        self.notify("Message deleted.", timeout=3)
