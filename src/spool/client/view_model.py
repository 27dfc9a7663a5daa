"""Plain data the UI renders: per-thread transcript, run state, status, usage and elapsed time.

No Textual here. The run driver (`client/runs.py`) mutates a `ThreadView` and calls
`ThreadView.emit(change)`; whoever listens (the TUI) re-renders what changed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from spool.client.citations import Footnotes

ACTIVE_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
TERMINAL_STATUSES = frozenset({"completed", "cancelled", "failed", "incomplete", "expired"})
# A user message the server has not got yet: waiting in the outbox, being posted, or refused.
LOCAL_STATUSES = frozenset({"queued", "sending", "unsent"})

_ids = itertools.count(1)


def _local_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


@dataclass(eq=False)
class Attachment:
    """A file on a user message: pending (a local `path`, no `file_id` until uploaded) or posted.

    `tools` are the server-side tools it is for (file_search, code_interpreter); `image` means an
    `image_file` content part (uploaded with purpose vision). See `spool.client.attachments`.
    """

    name: str
    size: int | None = None
    tools: tuple[str, ...] = ()
    image: bool = False
    path: str | None = None
    file_id: str | None = None

    def to_doc(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "tools": list(self.tools),
            "image": self.image,
            "path": self.path,
            "file_id": self.file_id,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> Attachment:
        size = doc.get("size")
        tools = doc.get("tools")
        return cls(
            name=str(doc.get("name") or "file"),
            size=size if isinstance(size, int) else None,
            tools=tuple(str(t) for t in tools) if isinstance(tools, list) else (),
            image=bool(doc.get("image")),
            path=str(doc["path"]) if doc.get("path") else None,
            file_id=str(doc["file_id"]) if doc.get("file_id") else None,
        )


@dataclass(frozen=True, slots=True)
class ProducedFile:
    """A file a tool produced, linked from a reply (a `file_path` annotation): the link text
    (`sandbox:/mnt/data/out.csv`) and the server's file id."""

    file_id: str
    link: str

    @property
    def name(self) -> str:
        """The file name the link ends with (`out.csv`)."""
        return self.link.rstrip("/").rsplit("/", 1)[-1] or self.file_id


@dataclass(eq=False)
class MessageItem:
    """A user or assistant message. `text` grows while the message streams.

    A user message the server does not have yet (see `spool.client.outbox`) has a local status:
    `queued` (waits for the connection or for the thread's run to end), `sending`, or `unsent`
    (the server refused or could not be reached; `error` says why, it is sent again later).
    """

    id: str
    role: Literal["user", "assistant"]
    text: str = ""
    status: str = "completed"  # in_progress | completed | incomplete | queued | sending | unsent
    run_id: str | None = None
    created_at: float = 0.0
    citations: Footnotes = field(default_factory=Footnotes)  # file_citation annotations
    error: str | None = None  # why a local message is unsent
    refused: bool = False  # unsent because the server refused it (not resent on reconnect)
    images: list[str] = field(default_factory=list)  # file ids of its image_file parts
    files: list[ProducedFile] = field(default_factory=list)  # its file_path annotations
    attachments: list[Attachment] = field(default_factory=list)  # files on a user message

    @property
    def streaming(self) -> bool:
        return self.status == "in_progress"

    @property
    def local(self) -> bool:
        """Not on the server yet (queued, sending or unsent)."""
        return self.status in LOCAL_STATUSES


@dataclass(eq=False)
class ToolCallItem:
    """One function tool call of a run (arguments stream in; output comes from the user)."""

    id: str
    name: str = ""
    arguments: str = ""
    output: str | None = None
    status: str = "in_progress"  # in_progress | pending (needs output) | submitted | completed
    run_id: str | None = None
    answered_by: str | None = None  # "local tool" when the tool registry gave the output

    @property
    def pretty_arguments(self) -> str:
        """Arguments as indented JSON when they parse, else as they are."""
        try:
            return json.dumps(json.loads(self.arguments), indent=2, ensure_ascii=False)
        except ValueError:
            return self.arguments


@dataclass(eq=False)
class CodeStepItem:
    """A code_interpreter call of a run: its code streams in, then its logs and images.

    `started_at` / `ended_at` are this client's clock (live) or the step's times (reloaded).
    """

    id: str
    code: str = ""
    logs: str = ""
    images: list[str] = field(default_factory=list)  # file ids of its image outputs
    status: str = "in_progress"  # in_progress | completed | failed | cancelled | expired
    run_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def running(self) -> bool:
        return self.status == "in_progress"

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first delta to the end (None while it runs)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)


@dataclass(eq=False)
class FileSearchItem:
    """A file_search call of a run: its query (when the server says it) and how many results."""

    id: str
    query: str = ""
    results: int | None = None  # None while it runs
    status: str = "in_progress"
    run_id: str | None = None


@dataclass(eq=False)
class NoticeItem:
    """A visible line in the transcript: failed / cancelled / incomplete / expired runs, errors."""

    id: str
    kind: str  # failed | cancelled | incomplete | expired | error | info
    text: str


Item = MessageItem | ToolCallItem | CodeStepItem | FileSearchItem | NoticeItem


@dataclass
class RunState:
    """The latest run of a thread, as far as the client knows."""

    id: str | None = None
    status: str = "queued"
    model: str = ""
    assistant_id: str | None = None
    started_at: float | None = None  # clock() when the client started or attached
    ended_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None  # last_error / incomplete reason / client-side error
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def elapsed(self, now: float) -> float:
        """Seconds since start (frozen once the run has ended)."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else now
        return max(0.0, end - self.started_at)


ChangeKind = Literal[
    "reset",  # items replaced (first load)
    "prepend",  # older items added at the top (pagination)
    "add",  # a new item at the bottom
    "update",  # an item changed (text delta, status, output)
    "remove",  # an item was removed
    "run",  # run state changed
    "status",  # loading / error status text changed
]


@dataclass(slots=True)
class Change:
    """What changed in a `ThreadView`."""

    kind: ChangeKind
    item: Item | None = None
    items: list[Item] = field(default_factory=list)


Listener = Callable[["ThreadView", Change], None]


@dataclass(eq=False)
class ThreadView:
    """Everything the UI shows for one thread."""

    thread_id: str
    items: list[Item] = field(default_factory=list)
    run: RunState | None = None
    loaded: bool = False
    loading: bool = False
    has_more_before: bool = False
    oldest_message_id: str | None = None
    error: str | None = None
    listeners: list[Listener] = field(default_factory=list)

    # --- notifications ----------------------------------------------------------------------
    def emit(self, change: Change) -> None:
        """Tell every listener about `change` (listeners must be quick and must not raise)."""
        for listener in list(self.listeners):
            listener(self, change)

    # --- queries -----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether a run is in progress on this thread."""
        return self.run is not None and self.run.active

    def find_message(self, message_id: str) -> MessageItem | None:
        for item in reversed(self.items):
            if isinstance(item, MessageItem) and item.id == message_id:
                return item
        return None

    def find_tool_call(self, call_id: str) -> ToolCallItem | None:
        for item in reversed(self.items):
            if isinstance(item, ToolCallItem) and item.id == call_id:
                return item
        return None

    def find_step_item(self, call_id: str) -> CodeStepItem | FileSearchItem | None:
        """The code_interpreter or file_search call `call_id` of the view."""
        for item in reversed(self.items):
            if isinstance(item, CodeStepItem | FileSearchItem) and item.id == call_id:
                return item
        return None

    def pending_tool_calls(self) -> list[ToolCallItem]:
        """Calls waiting for an output from the user (requires_action)."""
        return [i for i in self.items if isinstance(i, ToolCallItem) and i.status == "pending"]

    def local_messages(self) -> list[MessageItem]:
        """User messages not on the server yet, in the order they were sent."""
        return [i for i in self.items if isinstance(i, MessageItem) and i.local]

    def last_posted_user_message(self) -> MessageItem | None:
        """The thread's last user message on the server, if no complete answer came after it
        (the message a failed run was answering; partial answers are `incomplete`)."""
        for item in reversed(self.items):
            if isinstance(item, MessageItem):
                if item.local or (item.role == "assistant" and item.status == "incomplete"):
                    continue
                return item if item.role == "user" else None
        return None

    def last_user_message(self) -> MessageItem | None:
        """The last user message on the server (answered or not)."""
        for item in reversed(self.items):
            if isinstance(item, MessageItem) and item.role == "user" and not item.local:
                return item
        return None

    def posted_from(self, item: Item) -> list[MessageItem]:
        """`item` (if a message) and every posted message after it, oldest first."""
        if item not in self.items:
            return []
        start = self.items.index(item)
        return [i for i in self.items[start:] if isinstance(i, MessageItem) and not i.local]

    def replies_after(self, item: MessageItem) -> list[MessageItem]:
        """The assistant messages after the user message `item` (its answer)."""
        return [i for i in self.posted_from(item) if i.role == "assistant"]

    def last_reply(self) -> str | None:
        """The text of the last assistant message."""
        for item in reversed(self.items):
            if isinstance(item, MessageItem) and item.role == "assistant" and item.text:
                return item.text
        return None

    # --- mutations (each emits) -------------------------------------------------------------
    def reset(self, items: list[Item], *, has_more: bool, oldest_id: str | None) -> None:
        """Replace the items (first page loaded); messages not posted yet stay at the end."""
        self.items = items + self.local_messages()
        self.has_more_before = has_more
        self.oldest_message_id = oldest_id
        self.loaded = True
        self.emit(Change("reset"))

    def prepend(self, items: list[Item], *, has_more: bool, oldest_id: str | None) -> None:
        """Add an older page at the top."""
        known = {i.id for i in self.items}
        items = [i for i in items if i.id not in known]
        self.items[:0] = items
        self.has_more_before = has_more
        self.oldest_message_id = oldest_id or self.oldest_message_id
        self.emit(Change("prepend", items=items))

    def add(self, item: Item) -> Item:
        """Append an item at the bottom."""
        self.items.append(item)
        self.emit(Change("add", item=item))
        return item

    def move_to_end(self, item: Item) -> None:
        """Put `item` at the bottom (a queued message whose turn has come)."""
        if self.items and self.items[-1] is item:
            return
        self.remove(item)
        self.add(item)

    def remove(self, item: Item) -> None:
        """Remove an item (e.g. a user message the server refused)."""
        if item in self.items:
            self.items.remove(item)
            self.emit(Change("remove", item=item))

    def updated(self, item: Item) -> None:
        """Say that `item` changed in place."""
        self.emit(Change("update", item=item))

    def run_changed(self) -> None:
        """Say that `run` changed."""
        self.emit(Change("run"))

    def notice(self, kind: str, text: str) -> NoticeItem:
        """Add a notice line."""
        item = NoticeItem(_local_id("notice"), kind, text)
        self.add(item)
        return item


def new_local_id(prefix: str) -> str:
    """An id for an item the server has not named yet."""
    return _local_id(prefix)


@dataclass
class Workspace:
    """All thread views of a session, with one listener attached to every view."""

    listener: Listener | None = None
    views: dict[str, ThreadView] = field(default_factory=dict)

    def view(self, thread_id: str) -> ThreadView:
        """The view of a thread (created empty on first use)."""
        view = self.views.get(thread_id)
        if view is None:
            view = ThreadView(thread_id)
            if self.listener is not None:
                view.listeners.append(self.listener)
            self.views[thread_id] = view
        return view

    def drop(self, thread_id: str) -> None:
        """Forget a thread's view."""
        self.views.pop(thread_id, None)

    def active_threads(self) -> list[str]:
        """Threads with a run in progress."""
        return [tid for tid, v in self.views.items() if v.active]
