"""Searching messages: on spool's server through its search extension, elsewhere in the index.

`MessageSearch(client)` asks the server once whether it has the extension (`GET /v1/spool`,
see `spool.server.routes.spool_info`); if so, `search()` calls `GET /v1/spool/search` through
the SDK client (`client.get`), so requests carry the profile's key, timeouts and base URL.
Against any other server (404 there) or with no connection, it searches the thread index's
titles and previews instead, and the answer says so (`source == "index"`).

No Textual here; `client` is an `openai.AsyncOpenAI` (or None when offline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from spool.client.connection import describe_error
from spool.store import ThreadRecord

DEFAULT_LIMIT = 20
Source = Literal["server", "index"]


class SearchFailed(Exception):
    """The server could not answer a search (the message says why)."""


@dataclass(slots=True)
class SearchResult:
    """One result: a message (server search) or a thread's title or preview (index search)."""

    thread_id: str
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    message_id: str | None = None
    role: str = ""
    created_at: float = 0.0
    found_in: Literal["message", "title", "preview"] = "message"


@dataclass(slots=True)
class SearchAnswer:
    """The results of one query and where they come from."""

    query: str
    results: list[SearchResult]
    source: Source
    has_more: bool = False
    offline: bool = False  # an index search because there is no connection (not the server)

    @property
    def cursor(self) -> str | None:
        """What asks for the next page (`search(..., after=cursor)`): the last result."""
        if not self.results:
            return None
        last = self.results[-1]
        return last.message_id if self.source == "server" else last.thread_id


def _spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where each word occurs in `text` (case-insensitive), merged and in order."""
    lower = text.lower()
    spans = []
    for word in words:
        start = lower.find(word)
        while start >= 0 and word:
            spans.append((start, start + len(word)))
            start = lower.find(word, start + len(word))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def search_index(
    query: str,
    threads: Iterable[ThreadRecord],
    limit: int = DEFAULT_LIMIT,
    after: str | None = None,
) -> SearchAnswer:
    """The threads whose title or preview contains every word of `query` (index order), after
    the thread `after` (the last result of the previous page) when given."""
    words = query.lower().split()
    results: list[SearchResult] = []
    has_more = False
    records = list(threads) if words else []
    if after is not None:
        ids = [rec.id for rec in records]
        records = records[ids.index(after) + 1 :] if after in ids else []
    for rec in records:
        title, preview = rec.title or "New thread", rec.preview or ""
        haystack = f"{title}\n{preview}".lower()
        if not all(w in haystack for w in words):
            continue
        if len(results) == limit:
            has_more = True
            break
        in_preview = bool(preview) and any(w in preview.lower() for w in words)
        text = preview if in_preview else title
        results.append(
            SearchResult(
                rec.id,
                text,
                _spans(text, words),
                created_at=rec.updated_at,
                found_in="preview" if in_preview else "title",
            )
        )
    return SearchAnswer(query, results, "index", has_more)


class MessageSearch:
    """Message search for one connection (the server's capability is asked once)."""

    def __init__(self, client: Any | None) -> None:
        self.client = client
        self._server: bool | None = None if client is not None else False

    async def server_has_search(self) -> bool:
        """Whether the server offers `/v1/spool/search` (asked once, then remembered)."""
        if self._server is None:
            import openai

            try:
                info = await self.client.get("/spool", cast_to=object)
            except (openai.NotFoundError, openai.UnprocessableEntityError):
                self._server = False
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 405):
                    self._server = False
                else:
                    raise SearchFailed(describe_error(exc)) from exc
            except Exception as exc:
                raise SearchFailed(describe_error(exc)) from exc
            else:
                extensions = info.get("extensions") if isinstance(info, dict) else None
                self._server = isinstance(extensions, dict) and "search" in extensions
        return bool(self._server)

    async def search(
        self,
        query: str,
        threads: Iterable[ThreadRecord],
        *,
        limit: int = DEFAULT_LIMIT,
        after: str | None = None,
    ) -> SearchAnswer:
        """Search `query` on the server when it can, else in `threads` (the index); `after`
        (a previous answer's `cursor`) asks for the next page."""
        if not query.strip():
            return SearchAnswer(query, [], "server" if self._server else "index")
        if not await self.server_has_search():
            answer = search_index(query, threads, limit, after)
            answer.offline = self.client is None
            return answer
        params: dict[str, Any] = {"q": query, "limit": limit}
        if after:
            params["after"] = after
        try:
            body = await self.client.get(
                "/spool/search", cast_to=object, options={"params": params}
            )
        except Exception as exc:
            raise SearchFailed(describe_error(exc)) from exc
        results = [
            SearchResult(
                str(hit["thread_id"]),
                str(hit.get("snippet") or ""),
                [(int(a), int(b)) for a, b in hit.get("highlights") or []],
                message_id=str(hit["message_id"]),
                role=str(hit.get("role") or ""),
                created_at=float(hit.get("created_at") or 0),
            )
            for hit in (body.get("data") or [])
        ]
        return SearchAnswer(query, results, "server", bool(body.get("has_more")))
