"""Route plumbing shared by every resource module: auth, bodies, list pages, lookups, SSE.

`endpoint(handler)` wraps a handler `(state, request) -> dict | Response`: it checks the bearer
key (constant-time), turns `ApiError` into the OpenAI envelope (and anything else into a 500
with `x-should-retry: false`, never a traceback), and adds the common headers.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from spool.server import connections, jsonbody, sse, validation
from spool.server.errors import ApiError, bad_request, not_found
from spool.server.run_state import ActiveRun
from spool.server.state import State
from spool.server.streams import Subscriber

log = logging.getLogger("spool.server")

MAX_BODY_BYTES = 8 * 1024 * 1024
OFF_LOOP_BODY_BYTES = 64 * 1024
POLL_AFTER_MS = "100"
INCLUDE_VALUES = {"step_details.tool_calls[*].file_search.results[*].content"}

dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = dumps(data).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def error_response(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


def check_auth(state: State, request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    if not hmac.compare_digest(token.strip().encode(), state.key):
        shown = token[:3] + "*" * 4 + token[-4:] if len(token) > 8 else "*" * len(token)
        raise ApiError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")


async def read_body(request: Request, schema: validation.Check, *, optional: bool = False) -> dict:
    """The request's JSON body, size-capped, time-capped and validated against `schema`."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(413, f"Request body too large: the limit is {MAX_BODY_BYTES} bytes.")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(connections.BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ApiError(
                        413, f"Request body too large: the limit is {MAX_BODY_BYTES} bytes."
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            f"Request timeout: the body did not arrive within {connections.BODY_TIMEOUT_S:g} s.",
            type="invalid_request_error",
            headers={"connection": "close"},
        ) from None
    raw = b"".join(chunks)
    if not raw.strip():
        if optional:
            return {}
        raise bad_request(
            "You must provide a JSON body for this request.", code="missing_required_parameter"
        )
    if len(raw) > OFF_LOOP_BODY_BYTES:
        # Decoding and validating a large body is milliseconds per 100 KB: not on the loop.
        return await asyncio.to_thread(_decode, raw, schema)
    return _decode(raw, schema)


def _decode(raw: bytes, schema: validation.Check) -> dict:
    return validation.validate(jsonbody.parse(raw), schema)


def check_include(request: Request) -> list[str]:
    """The `include[]` query values (only the file_search results content is known)."""
    values = request.query_params.getlist("include[]") + request.query_params.getlist("include")
    for value in values:
        if value not in INCLUDE_VALUES:
            raise bad_request(
                f"Invalid value: '{value}'. Supported values are: "
                "'step_details.tool_calls[*].file_search.results[*].content'.",
                param="include",
                code="invalid_value",
            )
    return values


def list_params(
    request: Request, *, default_limit: int = 20, max_limit: int = 100
) -> dict[str, Any]:
    """`limit`, `order`, `after`, `before` of a list request, validated as OpenAI does."""
    query = request.query_params
    raw_limit = query.get("limit", str(default_limit))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise bad_request(
            f"Invalid type for 'limit': expected an integer, but got '{raw_limit}' instead.",
            param="limit",
            code="invalid_type",
        ) from None
    if limit < 1:
        raise bad_request(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got "
            f"{limit} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if limit > max_limit:
        raise bad_request(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {max_limit}, but got "
            f"{limit} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    check_include(request)
    return {
        "limit": limit,
        "order": order,
        "after": query.get("after") or None,
        "before": query.get("before") or None,
    }


def list_body(ids: list[str], rows: list[str], has_more: bool) -> Response:
    """A list response from already-encoded JSON objects."""
    first = dumps(ids[0]) if ids else "null"
    last = dumps(ids[-1]) if ids else "null"
    body = "".join(
        (
            '{"object":"list","data":[',
            ",".join(rows),
            f'],"first_id":{first},"last_id":{last},"has_more":',
            "true" if has_more else "false",
            "}",
        )
    )
    return Response(body.encode(), media_type="application/json")


async def page(
    state: State,
    table: Any,
    request: Request,
    where: dict[str, str],
    params: dict[str, Any] | None = None,
) -> Response:
    """A list response built from the stored JSON text (no decode/encode of every object)."""
    params = params or list_params(request)
    result = await state.db.page(table, where=where, **params)
    if result is None:
        cursor = params["after"] or params["before"]
        raise bad_request(
            f"Invalid cursor: no object found with id '{cursor}'.",
            param="after" if params["after"] else "before",
        )
    rows = result.rows
    if table == "runs":  # runs still executing: their live state, not the last saved one
        rows = [
            dumps(state.runs.active[i].run) if i in state.runs.active else row
            for i, row in zip(result.ids, rows, strict=True)
        ]
    return list_body(result.ids, rows, result.has_more)


def raw(text: str) -> Response:
    return Response(text.encode(), media_type="application/json")


Handler = Callable[[State, Request], Awaitable[Any]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a handler: auth, the error envelope, JSON encoding, the common headers."""

    async def route(request: Request) -> Response:
        state: State = request.app.state.spool
        request_id = "req_" + secrets.token_hex(12)
        try:
            check_auth(state, request)
            result = await handler(state, request)
        except ApiError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            response = error_response(
                ApiError(
                    500,
                    "The server had an error while processing your request.",
                    type="server_error",
                    headers={"x-should-retry": "false"},
                )
            )
        else:
            response = result if isinstance(result, Response) else json_response(result)
        response.headers["x-request-id"] = request_id
        response.headers["openai-version"] = "2020-10-01"
        if "/runs" in request.url.path or "/vector_stores" in request.url.path:
            response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
        return response

    return route


def route(path: str, handler: Handler, method: str) -> Route:
    """One `/v1` route for one method."""
    return Route("/v1" + path, endpoint(handler), methods=[method])


def stream_run(state: State, active: ActiveRun, subscriber: Subscriber, first: bytes = b""):
    """The SSE response for a run: frames as the run produces them, one write per wake-up."""
    run_id = active.run["id"]

    async def frames() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            while True:
                batch = await subscriber.batch()
                if batch is None:
                    yield sse.DONE
                    return
                yield b"".join(batch)
        finally:
            state.runs.unsubscribe(run_id, subscriber)
            subscriber.close()

    return StreamingResponse(
        frames(),
        media_type=sse.MEDIA_TYPE,
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


# --- lookups -------------------------------------------------------------------------------------


async def get_raw(state: State, table: Any, kind: str, object_id: str) -> str:
    text = await state.db.get_raw(table, object_id)
    if text is None:
        raise not_found(kind, object_id)
    return text


async def get(state: State, table: Any, kind: str, object_id: str) -> dict[str, Any]:
    obj = await state.db.get(table, object_id)
    if obj is None:
        raise not_found(kind, object_id)
    return obj


async def thread_of(state: State, request: Request) -> dict[str, Any]:
    """The thread named by the path (404 when unknown)."""
    return await get(state, "threads", "thread", request.path_params["thread_id"])
