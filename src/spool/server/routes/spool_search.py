"""`GET /v1/spool/search`: spool's own extension (not part of the Assistants API) that finds
messages by their text across every thread of the server.

Query: `q` (required; its words must all occur, the last one as a prefix), `limit` (1–50,
default 20) and `after` (the `message_id` of the previous page's last result: the next page). Answer: `{"object": "list", "data": [spool.search_result…], "has_more": bool}`,
newest message first; each result has `thread_id`, `message_id`, `role`, `created_at`, a
one-line `snippet` and `highlights`, the `[start, end)` character offsets of the matches in
the snippet. Clients learn that a server has it from `GET /v1/spool` (`spool_info.py`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server import message_search
from spool.server.errors import bad_request
from spool.server.routes.common import route
from spool.server.state import State

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw)
    except ValueError:
        raise bad_request(
            f"Invalid type for 'limit': expected an integer, but got '{raw[:40]}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(
            f"Invalid 'limit': expected a value from 1 to {MAX_LIMIT}, but got {limit} instead.",
            param="limit",
            code="invalid_value",
        )
    return limit


def _words(request: Request) -> list[str]:
    query = request.query_params.get("q")
    if query is None or not query.strip():
        raise bad_request(
            "Missing required parameter: 'q'.", param="q", code="missing_required_parameter"
        )
    if len(query) > message_search.MAX_QUERY_CHARS:
        raise bad_request(
            f"Invalid 'q': string too long. Expected at most {message_search.MAX_QUERY_CHARS} "
            f"characters, but got {len(query)}.",
            param="q",
            code="string_above_max_length",
        )
    found = message_search.words(query)
    if not found:
        raise bad_request(
            "Invalid 'q': it has no words to search for (letters or digits).",
            param="q",
            code="invalid_value",
        )
    return found


async def search_messages(state: State, request: Request) -> Any:
    query_words = _words(request)
    limit = _limit(request)
    after = request.query_params.get("after") or None
    try:
        # a query is milliseconds: still off the loop on SQLite
        hits, has_more = await message_search.search_database(state.db, query_words, limit, after)
    except message_search.UnknownCursor:
        raise bad_request(
            f"Invalid 'after': no message found with id '{(after or '')[:64]}'.",
            param="after",
            code="invalid_value",
        ) from None
    return {"object": "list", "data": [h.to_json() for h in hits], "has_more": has_more}


ROUTES = [route("/spool/search", search_messages, "GET")]
