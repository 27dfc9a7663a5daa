"""Coordination of runs between replicas: `base.Coordinator` and its two implementations
(`LocalCoordinator` for one process; `postgres.PostgresCoordinator` for N replicas sharing a
PostgreSQL database). See docs/scale-out.md."""

from __future__ import annotations

from spool.server.coordination.base import (
    Coordinator,
    LeaseSettings,
    LocalCoordinator,
    RunHandler,
    ThreadLocked,
)
from spool.server.metrics import ServerMetrics

__all__ = [
    "Coordinator",
    "LeaseSettings",
    "LocalCoordinator",
    "RunHandler",
    "ThreadLocked",
    "coordinator_for",
]


def coordinator_for(
    database_url: str | None, settings: LeaseSettings, metrics: ServerMetrics
) -> Coordinator:
    """PostgreSQL URL → replicas coordinate through it; anything else → one process."""
    if database_url and database_url.split(":", 1)[0] in ("postgresql", "postgres"):
        from spool.server.coordination.postgres import PostgresCoordinator

        return PostgresCoordinator(database_url, settings, metrics=metrics)
    return LocalCoordinator()
