"""Three `spool serve --database postgresql://…` replicas on loopback sharing one real
PostgreSQL database, driven by the real openai SDK.

One SDK client spreads its calls round-robin over the replicas (`RoundRobin`, an httpx2
transport: every request goes to the next replica), and three pinned clients say exactly where
a call goes: create on A and stream from B, cancel on C a run streaming from A, submit tool
outputs on B for a run started on A, one thread lock for all, and `kill -9` of the replica that
owns a streaming run: the others show it failed (`server_error`) within the lease time and
the thread is usable. Skipped with a message when SPOOL_TEST_DATABASE_URL is unset.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from pg_helpers import fresh_database
from server_helpers import CALL_WEATHER, GET_WEATHER_TOOL, text_run_events

LEASE_ARGS = ["--lease-renew-s", "0.5", "--lease-expire-s", "2.5"]


class RoundRobin(httpx2.BaseTransport):
    """Sends each request to the next of several servers (a load balancer in miniature)."""

    def __init__(self, roots: list[str]) -> None:
        self.targets = itertools.cycle([httpx2.URL(r) for r in roots])
        self.inner = httpx2.HTTPTransport()
        self.seen: list[int] = []
        self.ports = [httpx2.URL(r).port for r in roots]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        target = next(self.targets)
        request.url = request.url.copy_with(host=target.host, port=target.port)
        request.headers["host"] = f"{target.host}:{target.port}"
        self.seen.append(self.ports.index(target.port))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from fresh_database()


@pytest.fixture
def trio(pg_url: str, start_server: Any) -> list[Any]:
    return [
        start_server(echo_delay_ms=20, extra_args=["--database", pg_url, *LEASE_ARGS])
        for _ in range(3)
    ]


def spread_client(servers: list[Any]) -> tuple[openai.OpenAI, RoundRobin]:
    transport = RoundRobin([s.root_url for s in servers])
    client = openai.OpenAI(
        base_url=servers[0].base_url,
        api_key=servers[0].api_key,
        max_retries=0,
        _strict_response_validation=True,
        http_client=httpx2.Client(transport=transport, timeout=30),
    )
    return client, transport


def follow_events(server: Any, thread_id: str, run_id: str, after: int = 0) -> list[str]:
    """The event names of spool's events endpoint (a stream served by this replica)."""
    names: list[str] = []
    url = f"{server.base_url}/threads/{thread_id}/runs/{run_id}/events"
    headers = {"Authorization": f"Bearer {server.api_key}", "OpenAI-Beta": "assistants=v2"}
    with httpx2.stream("GET", url, params={"after": after}, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
    return names


def scrape_metrics(server: Any) -> str:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx2.get(server.root_url + "/metrics", headers=headers, timeout=10).text


def wait_status(
    client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str], timeout: float
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_round_robin_conversation(trio: list[Any]) -> None:
    client, transport = spread_client(trio)
    assistant = client.beta.assistants.create(model="echo", name="rr")
    thread = client.beta.threads.create()
    for text in ("one", "two", "three"):
        client.beta.threads.messages.create(thread.id, role="user", content=text)
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
        )
        assert run.status == "completed"
    texts = [
        m.content[0].text.value
        for m in client.beta.threads.messages.list(thread.id, order="asc").data
    ]
    assert texts == ["one", "You said: one", "two", "You said: two", "three", "You said: three"]
    assert set(transport.seen) == {0, 1, 2}
    client.close()


def test_create_on_a_stream_from_b(trio: list[Any]) -> None:
    a, b, _ = (s.client() for s in trio)
    assistant = a.beta.assistants.create(model="echo", name="x")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "alpha beta gamma delta"}])
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    names = follow_events(trio[1], thread.id, run.id)  # from the start, on B
    assert names == [*text_run_events(6), "done"]
    done = b.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert done.status == "completed"
    # A follower that comes after the end gets the rest and the end (here: nothing but it).
    assert follow_events(trio[2], thread.id, run.id, after=len(names) - 1)[-1] == "done"


def test_cancel_on_c_of_a_run_streaming_from_a(trio: list[Any]) -> None:
    a, b, c = (s.client() for s in trio)
    assistant = a.beta.assistants.create(model="echo", name="x")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "/long 400"}])
    events: list[str] = []
    started = threading.Event()

    def stream() -> None:
        with a.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as s:
            for event in s:
                events.append(event.event)
                if event.event == "thread.message.delta":
                    started.set()

    worker = threading.Thread(target=stream)
    worker.start()
    assert started.wait(20)
    run_id = b.beta.threads.runs.list(thread.id, limit=1).data[0].id
    cancelled = c.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert cancelled.status == "cancelling"
    worker.join(20)
    assert not worker.is_alive()
    assert events[-1] == "thread.run.cancelled"
    assert "thread.run.cancelling" in events
    assert len([e for e in events if e == "thread.message.delta"]) < 400
    run = b.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert run.status == "cancelled"
    # The thread is unlocked everywhere.
    c.beta.threads.messages.create(thread.id, role="user", content="after")


def test_tool_outputs_on_b_for_a_run_started_on_a(trio: list[Any]) -> None:
    a, b, c = (s.client() for s in trio)
    assistant = a.beta.assistants.create(model="echo", name="x", tools=[GET_WEATHER_TOOL])
    thread = a.beta.threads.create(messages=[{"role": "user", "content": CALL_WEATHER}])
    run = a.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # The thread stays locked on the other replicas while the run waits.
    with pytest.raises(openai.BadRequestError):
        c.beta.threads.messages.create(thread.id, role="user", content="too early")
    events: list[str] = []
    with b.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
    ) as stream:
        for event in stream:
            events.append(event.event)
    assert events[0] == "thread.run.step.completed"
    assert events[-1] == "thread.run.completed"
    # A second submission (on C) is refused: the run no longer waits.
    with pytest.raises(openai.BadRequestError):
        c.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "x"}],
        )
    reply = c.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert reply.content[0].text.value == "get_weather returned: sunny"


def test_cancel_on_c_of_a_parked_run(trio: list[Any]) -> None:
    a, b, c = (s.client() for s in trio)
    assistant = a.beta.assistants.create(model="echo", name="x", tools=[GET_WEATHER_TOOL])
    thread = a.beta.threads.create(messages=[{"role": "user", "content": CALL_WEATHER}])
    run = a.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "requires_action"
    assert c.beta.threads.runs.cancel(run.id, thread_id=thread.id).status == "cancelling"
    assert wait_status(b, thread.id, run.id, {"cancelled"}, 10).status == "cancelled"


def test_one_thread_lock_for_all_replicas(trio: list[Any]) -> None:
    a, b, c = (s.client() for s in trio)
    assistant = a.beta.assistants.create(model="echo", name="x")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "/sleep 3000"}])
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError, match="already has an active run"):
        b.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError, match="while a run"):
        c.beta.threads.messages.create(thread.id, role="user", content="no")
    held = [
        "spool_coordination_leases_held 1" in scrape_metrics(s) for s in trio
    ]  # A holds the lease, the others none
    assert held == [True, False, False]
    # Metadata changed on B while A executes the run survives A's saves.
    b.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"set_on": "B"})
    done = wait_status(c, thread.id, run.id, {"completed"}, 10)
    assert done.status == "completed"
    assert done.metadata == {"set_on": "B"}
    c.beta.threads.messages.create(thread.id, role="user", content="now")


def test_kill_9_of_the_owner_of_a_streaming_run(pg_url: str, start_server: Any) -> None:
    """Default lease (2 s renewal, 10 s expiry): the run is shown failed within 12 s."""
    servers = [start_server(echo_delay_ms=20, extra_args=["--database", pg_url]) for _ in range(3)]
    a, b, c = (s.client() for s in servers)
    assistant = a.beta.assistants.create(model="echo", name="x")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "/long 5000"}])
    deltas = threading.Event()
    errors: list[BaseException] = []

    def stream() -> None:
        try:
            with a.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as s:
                for event in s:
                    if event.event == "thread.message.delta":
                        deltas.set()
        except Exception as exc:  # the connection dies with the replica
            errors.append(exc)

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    assert deltas.wait(20)
    run_id = b.beta.threads.runs.list(thread.id, limit=1).data[0].id
    time.sleep(1.0)  # the open message's text is committed every 0.25 s while it streams
    committed = b.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text.value
    servers[0].kill()
    killed = time.monotonic()
    run = wait_status(b, thread.id, run_id, {"failed"}, 15)
    took = time.monotonic() - killed
    assert run.status == "failed", run.status
    assert run.last_error is not None and run.last_error.code == "server_error"
    assert took <= 12.5, f"failed {took:.1f} s after kill -9 (goal: within the 10 s lease + 2 s)"
    worker.join(10)
    steps = c.beta.threads.runs.steps.list(run_id, thread_id=thread.id).data
    assert all(s.status != "in_progress" for s in steps)
    message = c.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert message.status == "incomplete"
    assert message.content[0].text.value.startswith(committed)  # nothing committed is lost
    taken = [
        httpx2.get(
            s.root_url + "/metrics", headers={"Authorization": f"Bearer {s.api_key}"}, timeout=10
        ).text
        for s in servers[1:]
    ]
    assert sum("spool_runs_taken_over_total 1" in t for t in taken) == 1
    # The thread is usable on the others.
    c.beta.threads.messages.create(thread.id, role="user", content="again")
    again = c.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert again.status == "completed"


def test_a_parked_run_expires_on_any_replica(pg_url: str, start_server: Any) -> None:
    servers = [
        start_server(extra_args=["--database", pg_url, *LEASE_ARGS], run_expiry_s=2)
        for _ in range(2)
    ]
    a, b = (s.client() for s in servers)
    assistant = a.beta.assistants.create(model="echo", name="x", tools=[GET_WEATHER_TOOL])
    thread = a.beta.threads.create(messages=[{"role": "user", "content": CALL_WEATHER}])
    run = a.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "requires_action"
    assert wait_status(b, thread.id, run.id, {"expired"}, 10).status == "expired"
    b.beta.threads.messages.create(thread.id, role="user", content="unlocked")


def test_a_clean_stop_hands_its_runs_over_at_once(pg_url: str, start_server: Any) -> None:
    """Default lease (10 s expiry): a stopped replica's run fails at the next sweep (≤ 2 s)."""
    servers = [start_server(echo_delay_ms=20, extra_args=["--database", pg_url]) for _ in range(2)]
    a, b = (s.client() for s in servers)
    assistant = a.beta.assistants.create(model="echo", name="x")
    thread = a.beta.threads.create(messages=[{"role": "user", "content": "/long 5000"}])
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert wait_status(b, thread.id, run.id, {"in_progress"}, 10).status == "in_progress"
    servers[0].stop()  # SIGTERM
    stopped = time.monotonic()
    failed = wait_status(b, thread.id, run.id, {"failed"}, 15)
    assert failed.status == "failed" and failed.last_error.code == "server_error"
    assert time.monotonic() - stopped <= 5.0
    metrics = httpx2.get(
        servers[1].root_url + "/metrics",
        headers={"Authorization": f"Bearer {servers[1].api_key}"},
        timeout=10,
    ).text
    assert "spool_runs_taken_over_total 1" in metrics
