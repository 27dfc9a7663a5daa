"""One heavy request must not freeze everyone: while it runs, a second client's `GET /v1/models`
keeps answering quickly (the probe measures the worst latency seen).

The bound used here (150 ms) is loose on purpose: the machine is shared and noisy, and what is
caught is a stall of the event loop (seconds before the fixes), not a few milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

from server_helpers import StallProbe, assert_error_envelope, raw_http, wait_for_run

STALL_MS = 150


def test_create_thread_with_many_messages_does_not_stall(server: Any) -> None:
    """100k messages (the issue's 8.5 s stall) are refused quickly; the largest accepted
    batch is created without freezing other clients."""
    many = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(100_000)]}
    with raw_http(server, timeout=60.0) as http, StallProbe(server) as probe:
        r = http.post("threads", content=json.dumps(many).encode())
        assert_error_envelope(r, 400)
        ok = {"messages": [{"role": "user", "content": f"m{i} " * 50} for i in range(1000)]}
        r = http.post("threads", content=json.dumps(ok).encode())
        assert r.status_code == 200, r.text
    print(f"worst GET /v1/models: {probe.worst_ms:.1f} ms")
    assert probe.worst_ms < STALL_MS, probe.samples


def _thread_with_messages(server: Any, n: int) -> str:
    with raw_http(server, timeout=60.0) as http:
        thread = http.post("threads", json={}).json()["id"]
        for start in range(0, n, 1000):
            batch = [
                {"role": "user", "content": f"message {i} with a few words in it"}
                for i in range(start, min(n, start + 1000))
            ]
            for body in batch:
                assert http.post(f"threads/{thread}/messages", json=body).status_code == 200
    return thread


def test_truncated_run_on_a_long_thread_does_not_stall(server: Any, client: Any) -> None:
    thread_id = _thread_with_messages(server, 4000)
    assistant = client.beta.assistants.create(model="echo")
    with StallProbe(server) as probe:
        run = client.beta.threads.runs.create(
            thread_id=thread_id, assistant_id=assistant.id, max_prompt_tokens=256
        )
        run = wait_for_run(client, thread_id, run.id, timeout=60)
    assert run.status == "completed", run.last_error
    assert run.usage.prompt_tokens <= 256
    print(f"worst GET /v1/models: {probe.worst_ms:.1f} ms")
    assert probe.worst_ms < STALL_MS, probe.samples


def test_listing_huge_messages_is_bounded(server: Any, client: Any) -> None:
    """Twenty messages of ~7 MB each: a page is cut by size (has_more), memory stays bounded,
    and the SDK's auto-pagination still sees every message."""
    thread = client.beta.threads.create()
    big = "https://example.com/" + "x" * (7 * 1024 * 1024)
    with raw_http(server, timeout=60.0) as http:
        for _ in range(20):
            body = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": big}}]}
            r = http.post(f"threads/{thread.id}/messages", content=json.dumps(body).encode())
            assert r.status_code == 200, r.text[:200]
        with StallProbe(server) as probe:
            r = http.get(f"threads/{thread.id}/messages", params={"limit": 20})
        assert r.status_code == 200
        assert len(r.content) < 24 * 1024 * 1024, len(r.content)
        page = r.json()
        assert page["has_more"] is True and 1 <= len(page["data"]) < 20
    print(f"worst GET /v1/models: {probe.worst_ms:.1f} ms")
    assert probe.worst_ms < STALL_MS, probe.samples
    ids = [m.id for m in client.beta.threads.messages.list(thread.id, limit=20)]
    assert len(ids) == 20 and len(set(ids)) == 20
