"""`GET /v1/threads/{thread_id}/runs/{run_id}/events` on one process (SQLite): a run's stream
from the moment of the request; a finished run answers its final state; bad input is a 400.
(With replicas on PostgreSQL, the stored events come first: tests/test_replicas.py.)"""

from __future__ import annotations

import threading
from typing import Any

import httpx2


def events(server: Any, thread_id: str, run_id: str, **params: Any) -> tuple[int, list[str]]:
    url = f"{server.base_url}/threads/{thread_id}/runs/{run_id}/events"
    headers = {"Authorization": f"Bearer {server.api_key}", "OpenAI-Beta": "assistants=v2"}
    names: list[str] = []
    with httpx2.stream("GET", url, params=params, headers=headers, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
        return response.status_code, names


def test_follow_a_running_run_then_a_finished_one(start_server: Any) -> None:
    server = start_server(echo_delay_ms=20)
    client = server.client()
    assistant = client.beta.assistants.create(model="echo", name="e")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "/long 60"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    status, names = events(server, thread.id, run.id)
    assert status == 200
    assert names[-2:] == ["thread.run.completed", "done"]
    assert "thread.message.delta" in names
    status, names = events(server, thread.id, run.id)
    assert (status, names) == (200, ["thread.run.completed", "done"])
    client.close()


def test_two_followers_see_the_same_events(start_server: Any) -> None:
    server = start_server(echo_delay_ms=20)
    client = server.client()
    assistant = client.beta.assistants.create(model="echo", name="e")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "/sleep 500"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    seen: list[list[str]] = []
    workers = [
        threading.Thread(target=lambda: seen.append(events(server, thread.id, run.id)[1]))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0][-2:] == ["thread.run.completed", "done"]
    client.close()


def test_bad_requests(start_server: Any) -> None:
    server = start_server()
    client = server.client()
    thread = client.beta.threads.create()
    assert events(server, thread.id, "run_nope")[0] == 404
    assert events(server, "thread_nope", "run_nope")[0] == 404
    assistant = client.beta.assistants.create(model="echo", name="e")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert events(server, thread.id, run.id, after="-1")[0] == 400
    assert events(server, thread.id, run.id, after="x")[0] == 400
    client.close()
