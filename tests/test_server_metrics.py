"""`GET /metrics`: a real Prometheus-format scrape of a real `spool serve` over loopback.

The numbers must follow what the SDK did: requests by route template and status, runs by
outcome, engine first-token latency, open streams while one streams, and the bearer key is
required (the same one as the API's).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx2

SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|\+Inf|NaN)$'
)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(server: Any, key: str | None = None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    return httpx2.get(server.root_url + "/metrics", headers=headers, timeout=10)


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by metric name; every sample line is well-formed, every family has HELP+TYPE."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: dict[str, str] = {}
    helped: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "histogram"), line
            typed[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed and family in helped, f"{name} has no TYPE/HELP"
        samples.setdefault(name, []).append((dict(LABEL.findall(labels or "")), float(value)))
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return sum(
        v for ls, v in samples.get(name, []) if all(ls.get(k) == x for k, x in labels.items())
    )


def test_metrics_follow_what_clients_did(start_server: Any) -> None:
    server = start_server(echo_delay_ms=30)
    client = server.client()
    assistant = client.beta.assistants.create(model="echo", name="m")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="one two three")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    client.beta.threads.messages.create(thread.id, role="user", content="/fail")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed"
    missing = httpx2.get(
        server.base_url + "/threads/thread_nope",
        headers={"Authorization": f"Bearer {server.api_key}", "OpenAI-Beta": "assistants=v2"},
    )
    assert missing.status_code == 404

    # While a slow run streams, the scrape sees one open stream and one in_progress run.
    client.beta.threads.messages.create(thread.id, role="user", content="/long 60")
    seen: dict[str, Any] = {}
    started = threading.Event()

    def stream() -> None:
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id
        ) as events:
            for event in events:
                if event.event == "thread.message.delta" and not started.is_set():
                    started.set()
        seen["done"] = True

    worker = threading.Thread(target=stream)
    worker.start()
    assert started.wait(20)
    during = parse(scrape(server).text)
    worker.join(30)
    assert seen.get("done")
    assert value(during, "spool_stream_subscribers") == 1
    assert value(during, "spool_active_runs", status="in_progress") == 1

    response = scrape(server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.text)
    runs_route = "/v1/threads/{thread_id}/runs"
    assert (
        value(samples, "spool_http_requests_total", route=runs_route, method="POST", status="200")
        == 3
    )
    assert (
        value(samples, "spool_http_requests_total", route="/v1/threads/{thread_id}", status="404")
        == 1
    )
    assert value(samples, "spool_runs_finished_total", status="completed") == 2
    assert value(samples, "spool_runs_finished_total", status="failed") == 1
    assert value(samples, "spool_engine_first_token_seconds_count", engine="echo") == 2
    buckets = [v for ls, v in samples["spool_engine_first_token_seconds_bucket"]]
    assert buckets == sorted(buckets)  # cumulative
    assert value(samples, "spool_engine_first_token_seconds_bucket", le="+Inf") == 2
    assert value(samples, "spool_stream_subscribers") == 0
    assert value(samples, "spool_active_runs") == 0
    assert value(samples, "spool_indexing_queue_depth") == 0
    assert value(samples, "spool_coordination_leases_held") == 0  # one process: no leases
    assert value(samples, "spool_run_events_total") > 60
    client.close()


def test_metrics_need_the_key(start_server: Any) -> None:
    server = start_server()
    assert scrape(server, key="sk-wrong").status_code == 401
    bare = httpx2.get(server.root_url + "/metrics", timeout=10)
    assert bare.status_code == 401
    assert bare.json()["error"]["code"] == "invalid_api_key"
    assert scrape(server).status_code == 200
