"""Operator metrics in the Prometheus text format (version 0.0.4), with no dependency.

`ServerMetrics` holds this process's counters and histograms; gauges are read when scraped
(callbacks), so nothing is kept in step by hand. `RequestMetrics` is the ASGI middleware that
counts requests by route template (never the raw path: ids would explode the label set),
method and status, and times each one to its response start. `GET /metrics` (routes/metrics.py)
renders everything.

Each replica exposes its own numbers; Prometheus scrapes every replica and sums them.
The registry is per application (not global as in `prometheus_client`), so several servers in
one process (tests, benchmarks) never mix their numbers; and the text format is a few lines.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[str, ...]
GaugeValue = float | dict[Labels, float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Labels, values: Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, labels: Labels = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self.values: dict[Labels, float] = {}

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Histogram:
    """Observations counted into cumulative buckets (seconds), per label set."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Labels = (),
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self.buckets = buckets
        self.series: dict[Labels, list[float]] = {}  # per-bucket counts, then sum, then count

    def observe(self, value: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):  # beyond the last bound: only in +Inf (the count)
            series[index] += 1
        series[-2] += value
        series[-1] += 1

    def count(self, *labels: str) -> int:
        series = self.series.get(labels)
        return int(series[-1]) if series else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, series in sorted(self.series.items()):
            running = 0.0
            for bound, hits in zip(self.buckets, series, strict=False):
                running += hits
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, labels, le)} {_number(running)}"
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, labels, inf)} {_number(series[-1])}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {_number(series[-2])}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {_number(series[-1])}"


class Gauge:
    """A value read when scraped: a number, or {label values: number}."""

    def __init__(
        self, name: str, help_text: str, read: Callable[[], GaugeValue], labels: Labels = ()
    ) -> None:
        self.name, self.help, self.label_names, self.read = name, help_text, labels, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        value = self.read()
        if isinstance(value, dict):
            for labels, number in sorted(value.items()):
                yield f"{self.name}{_labels(self.label_names, labels)} {_number(number)}"
        else:
            yield f"{self.name} {_number(value)}"


class ServerMetrics:
    """Every metric of one server process; gauges are added by whoever owns the value."""

    def __init__(self) -> None:
        self.requests = Counter(
            "spool_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
        )
        self.request_seconds = Histogram(
            "spool_http_request_duration_seconds",
            "Time from a request's arrival to its response start (headers), by route template.",
            ("route",),
        )
        self.first_token_seconds = Histogram(
            "spool_engine_first_token_seconds",
            "Time from asking the engine to its first text or tool-call delta, by engine.",
            ("engine",),
        )
        self.runs_finished = Counter(
            "spool_runs_finished_total",
            "Runs that reached a final status on this replica, by status.",
            ("status",),
        )
        self.run_events = Counter(
            "spool_run_events_total", "Stream events produced by runs executed on this replica."
        )
        self.runs_taken_over = Counter(
            "spool_runs_taken_over_total",
            "Runs of a dead replica (expired lease) that this replica failed with server_error.",
        )
        self.gauges: list[Gauge] = []

    def gauge(
        self, name: str, help_text: str, read: Callable[[], GaugeValue], labels: Labels = ()
    ) -> None:
        self.gauges.append(Gauge(name, help_text, read, labels))

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.requests,
            self.request_seconds,
            self.first_token_seconds,
            self.runs_finished,
            self.run_events,
            self.runs_taken_over,
            *self.gauges,
        ):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]  # what an exception before the response start becomes

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                self.metrics.request_seconds.observe(time.perf_counter() - start, _route(scope))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.requests.inc(_route(scope), scope.get("method", ""), str(status[0]))


def _route(scope: Scope) -> str:
    """The matched route's template (`/v1/threads/{thread_id}`), or `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
