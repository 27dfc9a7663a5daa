"""The PostgreSQL coordinator on a real PostgreSQL: several coordinators (= replicas) in one
process share one database; locks, leases, events over LISTEN/NOTIFY, commands, adoption,
takeover of a dead replica's leases, retention. The callbacks are recorded by `Recorder`
(the RunManager's side is tested end to end in test_replicas.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pg_helpers import fresh_database
from spool.server.coordination import LeaseSettings, ThreadLocked
from spool.server.coordination.postgres import PostgresCoordinator

FAST = LeaseSettings(renew_s=0.2, expire_s=1.0, event_retention_s=60)


class Recorder:
    """A RunHandler that writes down what it was told (and unlocks runs it takes over)."""

    def __init__(self) -> None:
        self.coordinator: PostgresCoordinator | None = None
        self.commands: list[tuple[str, str]] = []
        self.taken: list[str] = []
        self.expired: list[str] = []
        self.lost: list[str] = []
        self.changed = asyncio.Event()

    def on_command(self, run_id: str, command: str) -> None:
        self.commands.append((run_id, command))
        self.changed.set()

    async def on_taken_over(self, run_id: str) -> None:
        assert self.coordinator is not None
        self.coordinator.publish(run_id, b"event: thread.run.failed\ndata: {}\n\n", last=True)
        await self.coordinator.unlock(run_id)
        self.taken.append(run_id)
        self.changed.set()

    async def on_parked_expired(self, run_id: str) -> None:
        assert self.coordinator is not None
        await self.coordinator.unlock(run_id)
        self.expired.append(run_id)
        self.changed.set()

    def on_lease_lost(self, run_id: str) -> None:
        self.lost.append(run_id)
        self.changed.set()


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from fresh_database()


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[Any]:
    started: list[PostgresCoordinator] = []

    async def start(settings: LeaseSettings = FAST) -> tuple[PostgresCoordinator, Recorder]:
        recorder = Recorder()
        coordinator = PostgresCoordinator(pg_url, settings)
        recorder.coordinator = coordinator
        await coordinator.start(recorder)
        started.append(coordinator)
        return coordinator, recorder

    yield start
    for coordinator in started:
        await coordinator.close()


def frame(n: int) -> bytes:
    return f'event: thread.message.delta\ndata: {{"n":{n}}}\n\n'.encode()


async def drain(subscriber: Any) -> list[bytes]:
    out: list[bytes] = []
    async with asyncio.timeout(10):
        while (batch := await subscriber.batch()) is not None:
            out.extend(batch)
    return out


async def test_thread_lock_spans_replicas(replicas: Any) -> None:
    (a, _), (b, _) = await replicas(), await replicas()
    await a.lock("run_a", "thread_1")
    with pytest.raises(ThreadLocked) as caught:
        await b.lock("run_b", "thread_1")
    assert caught.value.run_id == "run_a"
    assert await b.locked_by("thread_1") == "run_a"
    assert await b.owner("run_a") == a.replica
    await a.unlock("run_a")
    await b.lock("run_b", "thread_1")
    assert await a.locked_by("thread_1") == "run_b"


async def test_events_reach_a_stream_on_another_replica(replicas: Any) -> None:
    (a, _), (b, _) = await replicas(), await replicas()
    await a.lock("run_e", "thread_e")
    for n in range(1, 4):
        a.publish("run_e", frame(n))
    await a._flush_now()
    early = b.follow("run_e")  # catches up from the table, then follows live
    later = asyncio.create_task(drain(early))
    for n in range(4, 51):
        a.publish("run_e", frame(n))
        if n % 10 == 0:
            await asyncio.sleep(0.01)
    a.publish("run_e", frame(51), last=True)
    assert await later == [frame(n) for n in range(1, 52)]
    # After the end, a follower from seq 40 gets the rest at once and ends.
    assert await drain(b.follow("run_e", after=40)) == [frame(n) for n in range(41, 52)]


async def test_cancel_reaches_the_owner(replicas: Any) -> None:
    (a, seen_a), (c, _) = await replicas(), await replicas()
    await a.lock("run_c", "thread_c")
    assert await c.tell("run_c", "cancel") is True
    await wait_for(lambda: seen_a.commands == [("run_c", "cancel")], timeout=3)
    assert await c.tell("run_nobody", "cancel") is False


async def test_a_parked_run_is_adopted_once(replicas: Any) -> None:
    (a, _), (b, _), (c, _) = await replicas(), await replicas(), await replicas()
    await a.lock("run_p", "thread_p")
    a.publish("run_p", frame(1))
    a.publish("run_p", frame(2), last=True)
    await a._flush_now()
    await a.park("run_p", expires_at=None)
    assert await a.owner("run_p") == ""
    assert await c.tell("run_p", "cancel") is False  # nobody executes it
    won = await asyncio.gather(b.adopt("run_p"), c.adopt("run_p"))
    assert sorted(won) == [False, True]
    adopter = b if won[0] else c
    assert await a.owner("run_p") == adopter.replica
    assert await a.locked_by("thread_p") == "run_p"  # still locked throughout
    stream = a.follow("run_p", after=2)
    adopter.publish("run_p", frame(3), last=True)  # numbering continues at 3
    assert await drain(stream) == [frame(3)]


async def test_a_dead_replicas_runs_are_taken_over(replicas: Any) -> None:
    (a, _), (b, seen_b) = await replicas(), await replicas()
    await a.lock("run_d", "thread_d")
    stream = b.follow("run_d")
    a.publish("run_d", frame(1))
    await a._flush_now()
    # A dies: its loops stop and its connections drop, nothing is handed over.
    for task in a._tasks:
        task.cancel()
    await a._control.close()  # the pool
    await a._writer.close()
    a._closed = True
    started = asyncio.get_running_loop().time()
    await wait_for(lambda: seen_b.taken == ["run_d"], timeout=5)
    assert asyncio.get_running_loop().time() - started <= FAST.expire_s + 2 * FAST.renew_s + 0.5
    assert await drain(stream) == [frame(1), b"event: thread.run.failed\ndata: {}\n\n"]
    assert await b.locked_by("thread_d") is None


async def test_a_parked_run_past_its_expiry_is_expired_by_a_sweep(replicas: Any) -> None:
    (a, seen_a), (_b, seen_b) = await replicas(), await replicas()
    await a.lock("run_x", "thread_x")
    await a.park("run_x", expires_at=time.time() + 0.5)
    await wait_for(lambda: seen_a.expired + seen_b.expired == ["run_x"], timeout=5)
    assert await a.locked_by("thread_x") is None


async def test_a_lease_renewed_too_late_is_lost(replicas: Any) -> None:
    slow = LeaseSettings(renew_s=30, expire_s=60)  # never renews during the test
    (a, seen_a), (b, seen_b) = await replicas(slow), await replicas()
    await a.lock("run_l", "thread_l")
    await a._control_execute(
        "UPDATE run_leases SET expires_at = now() - interval '1 second' WHERE run_id = 'run_l'"
    )
    await wait_for(lambda: seen_b.taken == ["run_l"], timeout=5)
    await b._control_execute(  # b holds it again (as if still failing it) so a sees it gone
        "INSERT INTO run_leases VALUES ('run_l', 'thread_l', %s, now() + interval '1 minute')",
        (b.replica,),
    )
    await a.renew()
    assert seen_a.lost == ["run_l"]
    assert "run_l" not in a.held


async def test_old_events_are_deleted(replicas: Any) -> None:
    ((a, _),) = [await replicas()]
    for run in ("run_old", "run_new"):
        await a.lock(run, f"thread_{run}")
        a.publish(run, frame(1))
        a.publish(run, frame(2), last=True)
    await a._flush_now()
    await a._control_execute(
        "UPDATE run_events SET created_at = now() - interval '1 hour' WHERE run_id = 'run_old'"
    )
    assert await a.delete_old_events() == 2
    rows = await a._control_execute("SELECT DISTINCT run_id FROM run_events")
    assert rows == [("run_new",)]


async def test_a_lease_left_behind_is_swept_not_renewed_forever(replicas: Any) -> None:
    (a, seen_a), (_b, seen_b) = await replicas(), await replicas()
    await a.lock("run_z", "thread_z")
    a.held.discard("run_z")  # as if the run ended and its unlock failed
    await wait_for(lambda: seen_a.taken + seen_b.taken == ["run_z"], timeout=5)
    assert await a.locked_by("thread_z") is None
