"""The outbox: messages the user sent that the server does not have yet.

Enter always succeeds: the text leaves the composer and becomes a *queued* message, shown at
the bottom of its thread and kept in the local index (`Store.add_outbox`), so a quit or a closed
terminal loses nothing. It is posted as soon as it can be: when the connection is up and the
thread has no active run (the API locks a thread while a run is active). A message whose post
fails stays as *unsent* (with the reason) and is posted again when the server is back; one that
was posted is removed from the outbox at once, so it is never posted twice.

A message may carry attachments (`view_model.Attachment`): they are stored with it, uploaded
before the post, and each upload's file id is stored at once (`uploaded`), so a retry uploads
only what is missing.

`Outbox` keeps the view items and the stored records in step; deciding *when* to post is the
caller's (the TUI's send loop). No Textual here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spool.client.view_model import Attachment, MessageItem, ThreadView, Workspace, new_local_id

if TYPE_CHECKING:
    from spool.store import Store

NEW_THREAD = "new-thread"  # the thread key of messages sent before the first thread exists


@dataclass
class Outbox:
    """Queued and unsent user messages of one profile, per thread, persisted in the store."""

    store: Store | None
    profile: str
    workspace: Workspace
    _records: dict[int, str] = field(default_factory=dict)  # id(view item) -> outbox record id
    _restored: set[str] = field(default_factory=set)  # records from a previous process

    def restore(self) -> list[str]:
        """Put the stored messages back into their views; returns the threads that have some."""
        if self.store is None:
            return []
        threads: list[str] = []
        for rec in self.store.all_outbox(self.profile):
            view = self.workspace.view(rec.thread_id)
            item = MessageItem(rec.id, "user", rec.text, created_at=rec.created_at)
            item.status = "unsent" if rec.state in ("failed", "refused") else "queued"
            item.refused = rec.state == "refused"
            item.error = rec.error
            item.attachments = [Attachment.from_doc(a) for a in rec.attachments]
            view.add(item)
            self._records[id(item)] = rec.id
            self._restored.add(rec.id)
            if rec.thread_id not in threads:
                threads.append(rec.thread_id)
        return threads

    def add(
        self, view: ThreadView, text: str, attachments: list[Attachment] | None = None
    ) -> MessageItem:
        """Queue `text` (and its attachments) for the thread of `view` (shown, stored at once)."""
        item = MessageItem(new_local_id("queued"), "user", text)
        item.status = "queued"
        item.attachments = list(attachments or [])
        if self.store is not None:
            rec = self.store.add_outbox(
                view.thread_id, text, profile=self.profile, attachments=self._docs(item)
            )
            item.id, item.created_at = rec.id, rec.created_at
            self._records[id(item)] = rec.id
        view.add(item)
        return item

    @staticmethod
    def _docs(item: MessageItem) -> list[dict[str, object]]:
        return [a.to_doc() for a in item.attachments]

    def uploaded(self, item: MessageItem) -> None:
        """An attachment of `item` was uploaded: store its file id (a retry skips it)."""
        rec_id = self._records.get(id(item))
        if rec_id is not None and self.store is not None:
            self.store.update_outbox(rec_id, attachments=self._docs(item))

    def record_id(self, item: MessageItem) -> str | None:
        """The stored record of a queued item (its `spool_outbox_id` when posted)."""
        return self._records.get(id(item))

    def maybe_posted(self, item: MessageItem) -> bool:
        """Whether a previous process may have posted it already (it stopped between the post
        and forgetting it): check the thread for its `spool_outbox_id` before posting."""
        return self._records.get(id(item)) in self._restored

    def next(self, view: ThreadView) -> MessageItem | None:
        """The oldest message of the thread still to post (queued first, then unsent)."""
        local = view.local_messages()
        return next((i for i in local if i.status == "queued"), None) or next(
            (i for i in local if i.status == "unsent"), None
        )

    def posted(self, item: MessageItem) -> None:
        """The server has the message: forget it here."""
        rec_id = self._records.pop(id(item), None)
        self._restored.discard(rec_id or "")
        if rec_id is not None and self.store is not None:
            self.store.remove_outbox(rec_id)

    def failed(self, item: MessageItem, error: str, *, refused: bool = False) -> None:
        """Posting failed (`item` is shown as unsent); remember why. `refused`: the server
        (or the file on disk) said no, so the server being back changes nothing."""
        item.refused = refused
        rec_id = self._records.get(id(item))
        if rec_id is not None and self.store is not None:
            state = "refused" if refused else "failed"
            self.store.update_outbox(rec_id, state=state, error=error)

    def requeue(self, view: ThreadView, *, refused_too: bool = False) -> None:
        """Unsent messages of the thread are queued again: the server is back (messages it
        refused stay unsent), or the user retries (`refused_too`)."""
        for item in view.local_messages():
            if item.status == "unsent" and (refused_too or not item.refused):
                item.status, item.refused = "queued", False
                view.updated(item)
                rec_id = self._records.get(id(item))
                if rec_id is not None and self.store is not None:
                    self.store.update_outbox(rec_id, state="pending", error=item.error)

    def take_back(self, view: ThreadView, item: MessageItem) -> str:
        """Remove a message that is not posted yet; returns its text (for the composer; the
        caller takes `item.attachments` back too)."""
        view.remove(item)
        self.posted(item)
        return item.text

    def move(self, old: ThreadView, new: ThreadView) -> None:
        """Messages queued before their thread existed go to the thread created for them."""
        for item in old.local_messages():
            old.remove(item)
            rec_id = self._records.pop(id(item), None)
            if rec_id is not None and self.store is not None:
                self.store.remove_outbox(rec_id)
                rec = self.store.add_outbox(
                    new.thread_id, item.text, profile=self.profile, attachments=self._docs(item)
                )
                item.id = rec.id
                self._records[id(item)] = rec.id
            new.add(item)
