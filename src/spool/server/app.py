"""The HTTP surface: Starlette routes for the 23 Assistants v2 operations and `GET /v1/models`.

Every route checks the bearer key (constant-time), parses and validates its body, and answers
JSON or, for `"stream": true`, server-sent events. Every error is the OpenAI envelope with a 4xx
(or a 500 with `x-should-retry: false` for bugs); never a traceback. Modify endpoints follow
the spec, which marks their body required: no body is a 400, `{}` changes nothing. A 405
lists the path's methods in `Allow`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from spool.config import Config
from spool.server import connections, jsonbody, objects, sse, validation
from spool.server.db import Database
from spool.server.engines.router import ModelRouter
from spool.server.errors import ApiError, bad_request, not_found
from spool.server.private import private_data_dir
from spool.server.runs import ActiveRun, RunManager
from spool.server.streams import Subscriber

log = logging.getLogger("spool.server")

MAX_BODY_BYTES = 8 * 1024 * 1024
OFF_LOOP_BODY_BYTES = 64 * 1024
POLL_AFTER_MS = "100"
INCLUDE_VALUES = {"step_details.tool_calls[*].file_search.results[*].content"}


@dataclass
class ServerSettings:
    """What a server instance needs: where its data lives, its key, its models."""

    data_dir: Path
    api_key: str
    config: Config
    echo_delay_ms: int = 0
    run_expiry_s: int = 600


class State:
    """The live objects behind the routes (created in the lifespan)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.key = settings.api_key.encode()
        self.db: Database = None  # type: ignore[assignment]
        self.router: ModelRouter = None  # type: ignore[assignment]
        self.runs: RunManager = None  # type: ignore[assignment]


# --- plumbing ------------------------------------------------------------------------------------


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = _dumps(data).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def _error(exc: ApiError) -> Response:
    return _json(exc.body(), exc.status, exc.headers)


def _check_auth(state: State, request: Request) -> None:
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


async def _body(request: Request, schema: validation.Check, *, optional: bool = False) -> dict:
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


def _list_params(request: Request) -> dict[str, Any]:
    query = request.query_params
    raw_limit = query.get("limit", "20")
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
    if limit > 100:
        raise bad_request(
            f"Invalid 'limit': integer above maximum value. Expected a value <= 100, but got "
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
    for value in query.getlist("include[]") + query.getlist("include"):
        if value not in INCLUDE_VALUES:
            raise bad_request(
                f"Invalid value: '{value}'. Supported values are: "
                "'step_details.tool_calls[*].file_search.results[*].content'.",
                param="include",
                code="invalid_value",
            )
    return {
        "limit": limit,
        "order": order,
        "after": query.get("after") or None,
        "before": query.get("before") or None,
    }


def _page(state: State, table: Any, request: Request, where: dict[str, str]) -> Response:
    """A list response built from the stored JSON text (no decode/encode of every object)."""
    params = _list_params(request)
    page = state.db.page(table, where=where, **params)
    if page is None:
        cursor = params["after"] or params["before"]
        raise bad_request(
            f"Invalid cursor: no object found with id '{cursor}'.",
            param="after" if params["after"] else "before",
        )
    rows = page.rows
    if table == "runs":  # runs still executing: their live state, not the last saved one
        rows = [
            _dumps(state.runs.active[i].run) if i in state.runs.active else row
            for i, row in zip(page.ids, rows, strict=True)
        ]
    first = _dumps(page.ids[0]) if page.ids else "null"
    last = _dumps(page.ids[-1]) if page.ids else "null"
    body = "".join(
        (
            '{"object":"list","data":[',
            ",".join(rows),
            f'],"first_id":{first},"last_id":{last},"has_more":',
            "true" if page.has_more else "false",
            "}",
        )
    )
    return Response(body.encode(), media_type="application/json")


def _raw(text: str) -> Response:
    return Response(text.encode(), media_type="application/json")


def _live_run(state: State, run: dict[str, Any]) -> dict[str, Any]:
    active = state.runs.active.get(run["id"])
    return active.run if active else run


Handler = Callable[[State, Request], Awaitable[Any]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a handler: auth, the error envelope, JSON encoding, the common headers."""

    async def route(request: Request) -> Response:
        state: State = request.app.state.spool
        request_id = "req_" + secrets.token_hex(12)
        try:
            _check_auth(state, request)
            result = await handler(state, request)
        except ApiError as exc:
            response = _error(exc)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            response = _error(
                ApiError(
                    500,
                    "The server had an error while processing your request.",
                    type="server_error",
                    headers={"x-should-retry": "false"},
                )
            )
        else:
            response = result if isinstance(result, Response) else _json(result)
        response.headers["x-request-id"] = request_id
        response.headers["openai-version"] = "2020-10-01"
        if "/runs" in request.url.path:
            response.headers["openai-poll-after-ms"] = POLL_AFTER_MS
        return response

    return route


def _stream(state: State, active: ActiveRun, subscriber: Subscriber, first: bytes = b""):
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


def _get_raw(state: State, table: Any, kind: str, object_id: str) -> str:
    raw = state.db.get_raw(table, object_id)
    if raw is None:
        raise not_found(kind, object_id)
    return raw


def _get(state: State, table: Any, kind: str, object_id: str) -> dict[str, Any]:
    obj = state.db.get(table, object_id)
    if obj is None:
        raise not_found(kind, object_id)
    return obj


def _thread(state: State, request: Request) -> dict[str, Any]:
    return _get(state, "threads", "thread", request.path_params["thread_id"])


def _message(state: State, request: Request) -> dict[str, Any]:
    thread = _thread(state, request)
    message = _get(state, "messages", "message", request.path_params["message_id"])
    if message["thread_id"] != thread["id"]:
        raise not_found("message", message["id"])
    return message


def _active(state: State, run: dict[str, Any]) -> ActiveRun | None:
    return state.runs.active.get(run["id"])


# --- assistants ----------------------------------------------------------------------------------


async def create_assistant(state: State, request: Request) -> Any:
    body = await _body(request, validation.CREATE_ASSISTANT)
    assistant = objects.assistant(body)
    state.db.insert("assistants", assistant)
    return assistant


async def list_assistants(state: State, request: Request) -> Any:
    return _page(state, "assistants", request, {})


async def get_assistant(state: State, request: Request) -> Any:
    return _raw(_get_raw(state, "assistants", "assistant", request.path_params["assistant_id"]))


async def modify_assistant(state: State, request: Request) -> Any:
    assistant = _get(state, "assistants", "assistant", request.path_params["assistant_id"])
    body = await _body(request, validation.MODIFY_ASSISTANT)
    for key, value in body.items():
        if key == "reasoning_effort":
            continue
        if key == "tool_resources":
            value = objects.normalize_tool_resources(value)
        elif key == "metadata":
            value = value or {}
        elif key == "tools":
            value = value or []
        elif key == "response_format":
            value = value or "auto"
        assistant[key] = value
    assistant["tool_resources"] = objects.assistant_tool_resources(
        assistant["tools"], assistant["tool_resources"] or {}
    )
    state.db.update("assistants", assistant)
    return assistant


async def delete_assistant(state: State, request: Request) -> Any:
    assistant_id = request.path_params["assistant_id"]
    if not state.db.delete("assistants", assistant_id):
        raise not_found("assistant", assistant_id)
    return objects.deleted(assistant_id, "assistant")


# --- threads -------------------------------------------------------------------------------------


def _new_thread(state: State, body: dict[str, Any]) -> dict[str, Any]:
    thread = objects.thread(body)
    with state.db.conn:
        state.db.conn.execute("BEGIN")
        state.db.insert("threads", thread)
        for message_body in body.get("messages") or []:
            state.db.insert("messages", objects.user_message(thread["id"], message_body))
    return thread


async def create_thread(state: State, request: Request) -> Any:
    body = await _body(request, validation.CREATE_THREAD, optional=True)
    return _new_thread(state, body)


async def get_thread(state: State, request: Request) -> Any:
    return _thread(state, request)


async def modify_thread(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    body = await _body(request, validation.MODIFY_THREAD)
    if "metadata" in body:
        thread["metadata"] = body["metadata"] or {}
    if "tool_resources" in body:
        thread["tool_resources"] = objects.normalize_tool_resources(body["tool_resources"])
    state.db.update("threads", thread)
    return thread


async def delete_thread(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    run_id = state.runs.active_run_id(thread["id"])
    if run_id:
        active = state.runs.active[run_id]
        if active.run["status"] != "cancelling":
            state.runs.cancel(active)
        await asyncio.sleep(0)
    with state.db.conn:
        state.db.conn.execute("BEGIN")
        state.db.delete("threads", thread["id"])
        for table in ("messages", "runs", "steps"):
            state.db.delete_where(table, "thread_id", thread["id"])
    return objects.deleted(thread["id"], "thread")


# --- messages ------------------------------------------------------------------------------------


async def create_message(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    body = await _body(request, validation.CREATE_MESSAGE)
    state.runs.check_unlocked(thread["id"], for_messages=True)
    message = objects.user_message(thread["id"], body)
    state.db.insert("messages", message)
    return message


async def list_messages(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    where = {"thread_id": thread["id"]}
    if run_id := request.query_params.get("run_id"):
        where["run_id"] = run_id
    return _page(state, "messages", request, where)


async def get_message(state: State, request: Request) -> Any:
    return _message(state, request)


async def modify_message(state: State, request: Request) -> Any:
    message = _message(state, request)
    body = await _body(request, validation.MODIFY_METADATA)
    if "metadata" in body:
        message["metadata"] = body["metadata"] or {}
        state.db.update("messages", message)
    return message


async def delete_message(state: State, request: Request) -> Any:
    message = _message(state, request)
    state.db.delete("messages", message["id"])
    return objects.deleted(message["id"], "thread.message")


# --- runs ----------------------------------------------------------------------------------------


def _assistant_for_run(state: State, assistant_id: str) -> dict[str, Any]:
    assistant = state.db.get("assistants", assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    return assistant


def _start(state: State, active: ActiveRun, stream: bool, first: bytes = b"") -> Any:
    if not stream:
        snapshot = json.loads(json.dumps(active.run))
        state.runs.start(active)
        return snapshot
    subscriber = state.runs.subscribe(active)
    state.runs.start(active)
    return _stream(state, active, subscriber, first)


async def create_run(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    _list_params_include_only(request)
    body = await _body(request, validation.CREATE_RUN)
    assistant = _assistant_for_run(state, body["assistant_id"])
    state.runs.check_unlocked(thread["id"], for_messages=False)
    with state.db.conn:
        state.db.conn.execute("BEGIN")
        for message_body in body.get("additional_messages") or []:
            state.db.insert("messages", objects.user_message(thread["id"], message_body))
        active = state.runs.create_run(thread["id"], assistant, body)
    return _start(state, active, bool(body.get("stream")))


def _list_params_include_only(request: Request) -> None:
    for value in request.query_params.getlist("include[]"):
        if value not in INCLUDE_VALUES:
            raise bad_request(f"Invalid value: '{value}'.", param="include", code="invalid_value")


async def create_thread_and_run(state: State, request: Request) -> Any:
    body = await _body(request, validation.CREATE_THREAD_AND_RUN)
    assistant = _assistant_for_run(state, body["assistant_id"])
    thread_body = dict(body.get("thread") or {})
    if body.get("tool_resources") is not None:
        thread_body["tool_resources"] = body["tool_resources"]
    thread = _new_thread(state, thread_body)
    active = state.runs.create_run(thread["id"], assistant, body)
    first = sse.frame("thread.created", thread) if body.get("stream") else b""
    return _start(state, active, bool(body.get("stream")), first)


async def list_runs(state: State, request: Request) -> Any:
    thread = _thread(state, request)
    return _page(state, "runs", request, {"thread_id": thread["id"]})


def _run(state: State, request: Request) -> dict[str, Any]:
    thread = _thread(state, request)
    return state.runs.get_run(thread["id"], request.path_params["run_id"])


async def get_run(state: State, request: Request) -> Any:
    return _run(state, request)


async def modify_run(state: State, request: Request) -> Any:
    run = _run(state, request)
    body = await _body(request, validation.MODIFY_METADATA)
    if "metadata" in body:
        run["metadata"] = body["metadata"] or {}
        state.db.update("runs", run)
    return run


async def cancel_run(state: State, request: Request) -> Any:
    run = _run(state, request)
    active = _active(state, run)
    if active is None:
        raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
    if run["status"] == "cancelling":
        return json.loads(json.dumps(run))
    return state.runs.cancel(active)


async def submit_tool_outputs(state: State, request: Request) -> Any:
    run = _run(state, request)
    body = await _body(request, validation.SUBMIT_TOOL_OUTPUTS)
    active = _active(state, run)
    if active is None or run["status"] != "requires_action":
        raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
    if body.get("stream"):
        subscriber = state.runs.subscribe(active)
        try:
            state.runs.submit_tool_outputs(active, body["tool_outputs"])
        except ApiError:
            state.runs.unsubscribe(run["id"], subscriber)
            subscriber.close()
            raise
        return _stream(state, active, subscriber)
    state.runs.submit_tool_outputs(active, body["tool_outputs"])
    return json.loads(json.dumps(active.run))


# --- steps ---------------------------------------------------------------------------------------


async def list_steps(state: State, request: Request) -> Any:
    run = _run(state, request)
    return _page(state, "steps", request, {"run_id": run["id"]})


async def get_step(state: State, request: Request) -> Any:
    run = _run(state, request)
    _list_params_include_only(request)
    step = _get(state, "steps", "run step", request.path_params["step_id"])
    if step["run_id"] != run["id"]:
        raise not_found("run step", step["id"])
    return step


# --- models --------------------------------------------------------------------------------------


async def list_models(state: State, request: Request) -> Any:
    return {"object": "list", "data": state.router.models()}


async def get_model(state: State, request: Request) -> Any:
    model_id = request.path_params["model_id"]
    for model in state.router.models():
        if model["id"] == model_id:
            return model
    raise ApiError(404, f"The model '{model_id}' does not exist", code="model_not_found")


# --- the application -----------------------------------------------------------------------------


def _routes() -> list[Route]:
    def r(path: str, handler: Handler, method: str) -> Route:
        return Route("/v1" + path, endpoint(handler), methods=[method])

    return [
        r("/models", list_models, "GET"),
        r("/models/{model_id:path}", get_model, "GET"),
        r("/assistants", create_assistant, "POST"),
        r("/assistants", list_assistants, "GET"),
        r("/assistants/{assistant_id}", get_assistant, "GET"),
        r("/assistants/{assistant_id}", modify_assistant, "POST"),
        r("/assistants/{assistant_id}", delete_assistant, "DELETE"),
        r("/threads", create_thread, "POST"),
        r("/threads/runs", create_thread_and_run, "POST"),
        r("/threads/{thread_id}", get_thread, "GET"),
        r("/threads/{thread_id}", modify_thread, "POST"),
        r("/threads/{thread_id}", delete_thread, "DELETE"),
        r("/threads/{thread_id}/messages", create_message, "POST"),
        r("/threads/{thread_id}/messages", list_messages, "GET"),
        r("/threads/{thread_id}/messages/{message_id}", get_message, "GET"),
        r("/threads/{thread_id}/messages/{message_id}", modify_message, "POST"),
        r("/threads/{thread_id}/messages/{message_id}", delete_message, "DELETE"),
        r("/threads/{thread_id}/runs", create_run, "POST"),
        r("/threads/{thread_id}/runs", list_runs, "GET"),
        r("/threads/{thread_id}/runs/{run_id}", get_run, "GET"),
        r("/threads/{thread_id}/runs/{run_id}", modify_run, "POST"),
        r("/threads/{thread_id}/runs/{run_id}/cancel", cancel_run, "POST"),
        r("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", submit_tool_outputs, "POST"),
        r("/threads/{thread_id}/runs/{run_id}/steps", list_steps, "GET"),
        r("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", get_step, "GET"),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(
            404, f"Invalid URL ({request.method} {request.url.path})", code="unknown_url"
        )
    elif exc.status_code == 405:
        error = ApiError(
            405,
            f"Method {request.method} is not allowed for {request.url.path}",
            code=None,
            headers={"allow": ", ".join(_allowed_methods(request))},
        )
    else:
        error = ApiError(exc.status_code, str(exc.detail))
    return _error(error)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers for this path (routes are split by method)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return sorted(methods)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return _error(
        ApiError(
            500,
            "The server had an error while processing your request.",
            type="server_error",
            headers={"x-should-retry": "false"},
        )
    )


def warm_openai_sdk(router: ModelRouter) -> None:
    """Import the openai SDK in a background thread when an openai-engine model is configured.

    The import takes ~0.5 s of CPU; done lazily by the first run of such a model, it froze the
    event loop for every client (a thread only shares the GIL, in 5 ms slices).
    """
    if not any(spec.engine == "openai" for spec in router.specs.values()):
        return

    def load() -> None:
        start = time.perf_counter()
        try:
            import openai  # noqa: F401
        except ImportError as exc:
            log.warning("openai SDK not importable (openai-engine runs will fail): %s", exc)
            return
        log.info(
            "openai SDK ready (imported in %.2f s, in the background)", time.perf_counter() - start
        )

    threading.Thread(target=load, name="spool-warm-openai", daemon=True).start()


def create_app(
    settings: ServerSettings,
    on_ready: Callable[[State], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI application; the database and engines open and close in its lifespan."""
    state = State(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for note in private_data_dir(settings.data_dir):
            log.warning("fixed permissions: %s", note)
        state.db = Database(settings.data_dir / "spool.db")
        for note in state.db.fixed_modes:
            log.warning("fixed permissions: %s", note)
        state.router = ModelRouter(settings.config, echo_delay_ms=settings.echo_delay_ms)
        state.runs = RunManager(state.db, state.router, run_expiry_s=settings.run_expiry_s)
        warm_openai_sdk(state.router)
        recovered = state.runs.recover()
        if recovered:
            log.warning("failed %d run(s) left active by a previous server process", recovered)
        if on_ready:
            on_ready(state)
        try:
            yield
        finally:
            await state.runs.shutdown()
            await state.router.aclose()
            state.db.close()
            if on_stop:
                on_stop()

    app = Starlette(
        routes=_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.spool = state
    return app
