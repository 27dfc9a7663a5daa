"""The server's routes, one module per resource; `all_routes()` is the table app.py mounts.

Each module exposes `ROUTES` (a list of Starlette `Route`s built with `common.route`, one per
method) and its handlers `(state, request) -> dict | Response`; shared plumbing (auth, bodies,
pages, lookups, SSE) lives in `common.py`. To add a resource, write a module and add its
`ROUTES` below (order matters only where a literal path segment shadows a parameter).
"""

from __future__ import annotations

from starlette.routing import Route

from spool.server.routes import (
    assistants,
    files,
    messages,
    metrics,
    models,
    runs,
    spool_events,
    spool_info,
    spool_search,
    steps,
    threads,
    vector_stores,
)


def all_routes() -> list[Route]:
    """Every `/v1` route (and `/metrics`), in matching order."""
    return [
        *models.ROUTES,
        *assistants.ROUTES,
        *runs.THREAD_AND_RUN_ROUTES,
        *threads.ROUTES,
        *messages.ROUTES,
        *runs.ROUTES,
        *steps.ROUTES,
        *files.ROUTES,
        *vector_stores.ROUTES,
        *spool_info.ROUTES,  # spool's extensions (not in the Assistants API)
        *spool_search.ROUTES,
        *spool_events.ROUTES,
        *metrics.ROUTES,  # GET /metrics (Prometheus), outside /v1
    ]
