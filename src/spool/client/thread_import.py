"""Importing an existing thread by id: what the thread index needs to list it.

`fetch_thread_summary(client, thread_id)` retrieves the thread, its first user message (for the
title), its newest assistant message (for the preview) and its newest run (for the assistant).
The caller adds it to the index and opens it (loading the messages like any other thread).

No Textual here; `client` is an `openai.AsyncOpenAI` (or anything with the same `beta.threads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spool.client.connection import describe_error
from spool.client.export import message_text, title_from

PREVIEW_MAX = 120


class ImportFailed(Exception):
    """The thread could not be read (unknown id, server error); the message says why."""


@dataclass(slots=True)
class ThreadSummary:
    """What the index keeps about an imported thread."""

    id: str
    title: str = ""
    assistant_id: str | None = None
    created_at: float = 0.0
    preview: str = ""
    messages: int = 0  # how many messages were seen (up to one page)


async def fetch_thread_summary(client: Any, thread_id: str) -> ThreadSummary:
    """Read the thread and enough of its messages and runs to list it; raises `ImportFailed`."""
    import openai

    thread_id = thread_id.strip()
    if not thread_id:
        raise ImportFailed("no thread id given")
    threads = client.beta.threads
    try:
        thread = await threads.retrieve(thread_id)
        first = await threads.messages.list(thread_id, order="asc", limit=20)
        latest = await threads.messages.list(thread_id, order="desc", limit=20)
        runs = await threads.runs.list(thread_id, order="desc", limit=1)
    except openai.NotFoundError:
        raise ImportFailed(f"no thread {thread_id} on this server") from None
    except Exception as exc:
        raise ImportFailed(describe_error(exc)) from exc
    user = next((m for m in first.data if m.role == "user"), None)
    reply = next((m for m in latest.data if m.role == "assistant"), None)
    metadata = getattr(thread, "metadata", None) or {}
    title = metadata.get("title") if isinstance(metadata, dict) else None
    if not title and user is not None:
        title = title_from(message_text(user))
    preview = " ".join(message_text(reply).split())[:PREVIEW_MAX] if reply else ""
    return ThreadSummary(
        id=thread.id,
        title=title or "",
        assistant_id=runs.data[0].assistant_id if runs.data else None,
        created_at=float(thread.created_at or 0),
        preview=preview,
        messages=len({m.id for m in first.data} | {m.id for m in latest.data}),
    )
