"""The in-memory state of a run that has not ended: the message and the tool step being
streamed, its subscribers, usage and task (used by `runs.RunManager` and the routes)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from spool.server import objects
from spool.server.streams import Subscriber


@dataclass
class OpenMessage:
    """The assistant message being streamed, with its message_creation step."""

    message: dict[str, Any]
    step: dict[str, Any]
    parts: list[str] = field(default_factory=list)
    last_flush: float = 0.0
    sent: int = 0  # characters streamed so far (the rest is held back: a marker may be open)
    pending: str = ""
    emitted: bool = False
    annotations: list[dict[str, Any]] = field(default_factory=list)
    flushing: asyncio.Task[None] | None = None  # the periodic text write in flight

    def text(self) -> str:
        return "".join(self.parts)

    def content(self, extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        part = objects.text_part(self.text())
        part["text"]["annotations"] = list(self.annotations)
        return [part, *(extra or [])]


@dataclass
class OpenToolStep:
    """The tool_calls step being streamed (and then waiting for outputs)."""

    step: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)  # step_details.tool_calls entries
    arguments: dict[int, str] = field(default_factory=dict)  # server-side calls' arguments


@dataclass
class ActiveRun:
    """In-memory state of a run that has not reached a terminal status."""

    run: dict[str, Any]
    subscribers: list[Subscriber] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    expiry: asyncio.TimerHandle | None = None
    interrupt: str = "cancel"  # why the task was cancelled: "cancel" or "expire"
    message: OpenMessage | None = None
    tool_step: OpenToolStep | None = None
    turn_usage: dict[str, int] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    citations: dict[str, str] = field(default_factory=dict)  # marker → file_id (this run's)
    message_parts: list[dict[str, Any]] = field(default_factory=list)  # for the next message
    ordinals: dict[str, int] = field(default_factory=dict)  # server-side calls made, per type
    parking: asyncio.Future[None] | None = None  # replicas: set while it becomes adoptable
    new: bool = False  # created by this process and not executed yet: it has no steps
