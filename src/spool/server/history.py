"""The conversation a run hands to its engine, read and truncated off the event loop.

On SQLite the thread's messages are read through a worker thread's own read-only connection,
lazily; on PostgreSQL they are fetched on the loop, newest first, `FETCH_PAGE` at a time and
(with `max_prompt_tokens`) only until the pages fetched cost more than the budget, then handed
to the worker thread. With
`max_prompt_tokens`, messages are read newest first and only until the budget is spent, and
each message's token count is computed once and cached (keyed by engine, message id and text
length), so truncation is linear in the messages kept, not quadratic in the thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from spool.server.engines.base import ChatMessage, Engine
from spool.server.storage import Database

MAX_CACHED_COUNTS = 200_000
FETCH_PAGE = 200  # messages per query when reading a thread from PostgreSQL


def message_text(message: dict[str, Any]) -> str:
    """A stored message's content as the plain text an engine sees."""
    out = []
    for part in message["content"]:
        if part["type"] == "text":
            out.append(part["text"]["value"])
        elif part["type"] == "image_url":
            out.append(f"[image: {part['image_url']['url']}]")
        elif part["type"] == "image_file":
            out.append(f"[image file: {part['image_file']['file_id']}]")
        elif part["type"] == "refusal":
            out.append(part["refusal"])
    return "\n".join(out)


class TokenCounts:
    """Per-message prompt token counts, cached (a dict: safe to share between threads)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, int], int] = {}

    def count(self, engine: Engine, key: str | None, message: ChatMessage) -> int:
        if key is None:
            return engine.count_tokens([message])
        cache_key = (id(engine), key, len(message.content))
        value = self._counts.get(cache_key)
        if value is None:
            if len(self._counts) >= MAX_CACHED_COUNTS:
                self._counts.clear()
            value = self._counts[cache_key] = engine.count_tokens([message])
        return value


@dataclass
class Conversation:
    """What `load` found: the kept messages, and whether they fit `max_prompt_tokens`."""

    messages: list[ChatMessage]
    fits: bool = True


def _sql(thread_id: str, run_id: str, *, newest_first: bool, limit: int | None):
    sql = (
        "SELECT id, data FROM messages WHERE thread_id = ? AND (run_id IS NULL OR run_id != ?) "
        f"ORDER BY seq {'DESC' if newest_first else 'ASC'}"
    )
    params: list[Any] = [thread_id, run_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def _history(
    db: Database | list[tuple[str, str]],
    thread_id: str,
    run_id: str,
    *,
    newest_first: bool,
    limit: int | None,
) -> Iterable[tuple[str, ChatMessage]]:
    """(message id, chat message) of the thread, without the run's own messages; `db` may be
    the rows already fetched (newest first, at most `limit`)."""
    if isinstance(db, list):
        rows: Iterable[tuple[str, str]] = db if newest_first else reversed(db)
        if limit is not None:
            rows = db[:limit] if newest_first else reversed(db[:limit])
    else:
        sql, params = _sql(thread_id, run_id, newest_first=newest_first, limit=limit)
        rows = db.reader().execute(sql, params)  # type: ignore[attr-defined]
    for message_id, data in rows:
        obj = json.loads(data)
        yield message_id, ChatMessage(role=obj["role"], content=message_text(obj))


async def load_conversation(
    db: Database,
    counts: TokenCounts,
    engine: Engine,
    *,
    thread_id: str,
    run_id: str,
    last_messages: int | None,
    system: list[ChatMessage],
    so_far: list[ChatMessage],
    max_prompt_tokens: int | None,
) -> Conversation:
    """`load` in a worker thread (on PostgreSQL with the rows fetched first, on the loop)."""
    source: Database | list[tuple[str, str]] = db
    if db.dialect != "sqlite":
        budget = None
        if max_prompt_tokens is not None:
            own = await asyncio.to_thread(
                lambda: sum(counts.count(engine, None, m) for m in so_far)
            )
            budget = max_prompt_tokens - own
        source = await _fetch_newest(db, counts, engine, thread_id, run_id, last_messages, budget)
    return await asyncio.to_thread(
        load,
        source,
        counts,
        engine,
        thread_id=thread_id,
        run_id=run_id,
        last_messages=last_messages,
        system=system,
        so_far=so_far,
        max_prompt_tokens=max_prompt_tokens,
    )


async def _fetch_newest(
    db: Database,
    counts: TokenCounts,
    engine: Engine,
    thread_id: str,
    run_id: str,
    limit: int | None,
    budget: int | None,
) -> list[tuple[str, str]]:
    """(id, JSON) of the thread's messages newest first: at most `limit`, and with a token
    `budget` no more pages once the ones read cost more than it (counted off the loop)."""
    rows: list[tuple[str, str]] = []
    before: int | None = None
    spent = 0
    while limit is None or len(rows) < limit:
        size = FETCH_PAGE if limit is None else min(FETCH_PAGE, limit - len(rows))
        sql = (
            "SELECT seq, id, data FROM messages WHERE thread_id = ? "
            "AND (run_id IS NULL OR run_id != ?)"
            + (" AND seq < ?" if before is not None else "")
            + " ORDER BY seq DESC LIMIT ?"
        )
        params: list[Any] = [thread_id, run_id]
        if before is not None:
            params.append(before)
        page = await db.fetchall(sql, [*params, size])
        rows += [(message_id, data) for _seq, message_id, data in page]
        if len(page) < size:
            break
        before = page[-1][0]
        if budget is not None:
            spent += await asyncio.to_thread(_cost, counts, engine, page)
            if spent > budget:
                break
    return rows


def _cost(counts: TokenCounts, engine: Engine, page: list[tuple[Any, str, str]]) -> int:
    total = 0
    for _seq, message_id, data in page:
        obj = json.loads(data)
        message = ChatMessage(role=obj["role"], content=message_text(obj))
        total += counts.count(engine, message_id, message)
    return total


def load(
    db: Database | list[tuple[str, str]],
    counts: TokenCounts,
    engine: Engine,
    *,
    thread_id: str,
    run_id: str,
    last_messages: int | None,
    system: list[ChatMessage],
    so_far: list[ChatMessage],
    max_prompt_tokens: int | None,
) -> Conversation:
    """The thread's history (without this run's own messages, at most `last_messages` of it)
    plus `so_far`, truncated to `max_prompt_tokens`.

    Truncation keeps the longest run of newest messages that fits with `system`, at least one
    message (`fits` is False when even that one is too long). Runs in a worker thread: it only
    reads the database and counts tokens.
    """
    if max_prompt_tokens is None:
        if last_messages:
            rows = list(_history(db, thread_id, run_id, newest_first=True, limit=last_messages))
            rows.reverse()
        else:
            rows = list(_history(db, thread_id, run_id, newest_first=False, limit=None))
        return Conversation([m for _id, m in rows] + so_far)

    budget = max_prompt_tokens - (engine.count_tokens(system) if system else 0)
    newest_first = [(None, m) for m in reversed(so_far)]
    history = _history(db, thread_id, run_id, newest_first=True, limit=last_messages or None)
    kept: list[ChatMessage] = []
    used = 0
    for key, message in itertools.chain(newest_first, history):
        cost = counts.count(engine, key, message)
        if kept and used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Chat templates are not exactly additive: confirm with one exact count of the prompt.
    exact = engine.count_tokens(system + kept)
    while len(kept) > 1 and exact > max_prompt_tokens:
        kept.pop(0)
        exact = engine.count_tokens(system + kept)
    return Conversation(kept, fits=exact <= max_prompt_tokens)
