"""The HTTP application: mounts the routes (one module per resource in `routes/`), maps
Starlette's own 404/405 to the OpenAI envelope, and opens the database, engines and run manager
in its lifespan.

Every route checks the bearer key (constant-time), parses and validates its body, and answers
JSON or, for `"stream": true`, server-sent events. Every error is the OpenAI envelope with a 4xx
(or a 500 with `x-should-retry: false` for bugs); never a traceback. Modify endpoints follow
the spec, which marks their body required: no body is a 400, `{}` changes nothing. A 405
lists the path's methods in `Allow`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spool.server.coordination import coordinator_for
from spool.server.engines.router import ModelRouter
from spool.server.errors import ApiError
from spool.server.files import FileStore
from spool.server.metrics import RequestMetrics
from spool.server.private import private_data_dir
from spool.server.retrieval.dense import model_for as embedding_model_for
from spool.server.routes import all_routes
from spool.server.routes.common import error_response as _error
from spool.server.runs import ACTIVE, RunManager
from spool.server.state import ServerSettings, State
from spool.server.storage import open_database
from spool.server.tools import ToolServices
from spool.server.vector_stores import VectorStores

__all__ = ["ServerSettings", "State", "create_app", "warm_openai_sdk"]

log = logging.getLogger("spool.server")


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


def _add_gauges(state: State) -> None:
    """The gauges of GET /metrics, read from the live objects when scraped."""
    runs, stores = state.runs, state.stores

    def active() -> dict[tuple[str, ...], float]:
        counts: dict[tuple[str, ...], float] = {(s,): 0.0 for s in ACTIVE}
        for active_run in runs.active.values():
            key = (active_run.run["status"],)
            counts[key] = counts.get(key, 0.0) + 1
        return counts

    state.metrics.gauge(
        "spool_active_runs",
        "Runs this replica holds that are not finished, by status.",
        active,
        ("status",),
    )
    state.metrics.gauge(
        "spool_stream_subscribers",
        "Open streaming responses on this replica.",
        lambda: float(runs.subscriber_count()),
    )
    coordinator = runs.coordinator
    for key, help_text in (
        ("leases_held", "Run leases this replica holds and renews (replicas on PostgreSQL)."),
        ("followers", "Streams on this replica following a run's stored events."),
        ("events_unwritten", "Run events produced here and not yet in run_events (backlog)."),
    ):
        state.metrics.gauge(
            f"spool_coordination_{key}",
            help_text,
            lambda key=key: coordinator.stats()[key],
        )
    state.metrics.gauge(
        "spool_indexing_queue_depth",
        "Files waiting for (or in) file_search indexing on this replica.",
        lambda: float(stores.waiting),
    )


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
        state.db = await open_database(settings.database_url, settings.data_dir)
        for note in state.db.fixed_modes:
            log.warning("fixed permissions: %s", note)
        state.files = FileStore(settings.data_dir, state.db, root=settings.blobs_dir)
        state.stores = VectorStores(
            state.db, state.files, embedder=embedding_model_for(settings.config)
        )
        state.on_file_deleted.append(state.stores.detach_everywhere)
        requeued = await state.stores.start()
        if requeued:
            log.warning(
                "re-indexing %d file(s) a previous server process left in progress", requeued
            )
        state.router = ModelRouter(settings.config, echo_delay_ms=settings.echo_delay_ms)
        state.runs = RunManager(
            state.db,
            state.router,
            run_expiry_s=settings.run_expiry_s,
            services=ToolServices(state.db, state.files, state.stores, settings.data_dir),
            metrics=state.metrics,
            coordinator=coordinator_for(settings.database_url, settings.lease, state.metrics),
        )
        _add_gauges(state)
        warm_openai_sdk(state.router)
        await state.runs.start_coordination()
        recovered = await state.runs.recover()
        if recovered:
            log.warning("failed %d run(s) left active by a previous server process", recovered)
        if on_ready:
            on_ready(state)
        try:
            yield
        finally:
            await state.runs.shutdown()
            await state.stores.close()
            await state.router.aclose()
            await state.db.close()
            if on_stop:
                on_stop()

    app = Starlette(
        routes=all_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        middleware=[Middleware(RequestMetrics, metrics=state.metrics)],
    )
    app.state.spool = state
    return app
