"""N replicas on one PostgreSQL: leases, run events, LISTEN/NOTIFY, commands, takeover.

Connections of its own per replica (separate from the storage pool, so a busy pool never
delays a renewal or an event): `listener` (LISTEN on both channels, fan-out in process),
`writer` (appends events: whatever piled up while the previous batch was written goes in one
COPY + a few NOTIFYs, in one transaction, `synchronous_commit = off`: a stream cache, the
run's state is in the storage tables) and a `control` pool of up to 4 (leases, commands, reads).

Every `renew_s` the replica renews all its leases in one UPDATE; twice as often it takes over
expired leases (`FOR UPDATE SKIP LOCKED`: each is taken by exactly one replica, which then owns
it until it has failed or expired the run), collects its commands (in case a NOTIFY was missed while the
listener reconnected) and, now and then, deletes old events. Times are the database's
(`now()`), so replicas' clocks need not agree; only a parked run's expiry comes from the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from spool.server.coordination.base import Coordinator, LeaseSettings, RunHandler, ThreadLocked
from spool.server.coordination.schema import (
    ADVISORY_LOCK,
    COMMANDS_CHANNEL,
    DDL,
    EVENTS_CHANNEL,
)
from spool.server.metrics import ServerMetrics
from spool.server.streams import Subscriber

log = logging.getLogger("spool.server")

FAR_FUTURE = 253402300799.0  # 9999-12-31: a parked run without an expiry
RECONNECT_S = 1.0
NOTIFY_BYTES = 7000  # a NOTIFY payload holds < 8000 bytes: "run:seq run:seq …" chunks of this
CONTROL_CONNECTIONS = 4  # leases, locks, commands, reads for followers (many runs start at once)
WRITE_PAUSE_S = 0.005
CLOSE_TIMEOUT_S = 2.0  # each step of a clean stop (flush, hand-over, close) waits at most this  # between two event batches: fewer, larger transactions under load


@dataclass
class _Follower:
    subscriber: Subscriber
    last: int  # the seq of the last event pushed


@dataclass
class _Pending:
    rows: list[tuple[str, int, bytes, bool]] = field(default_factory=list)
    newest: dict[str, int] = field(default_factory=dict)


def _payloads(newest: dict[str, int]) -> list[str]:
    """NOTIFY payloads for a batch: "run_id:seq" items, space-separated, few per batch (one
    notification per run would cost every listener a Python object per run per batch)."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for run_id, seq in newest.items():
        item = f"{run_id}:{seq}"
        if current and size + len(item) + 1 > NOTIFY_BYTES:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        out.append(" ".join(current))
    return out


def new_replica_id() -> str:
    """Host, pid and a random tail: unique even when a pid is reused after a restart."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class PostgresCoordinator(Coordinator):
    """The coordinator of one replica among N sharing a PostgreSQL database (module doc)."""

    shared = True

    def __init__(
        self,
        url: str,
        settings: LeaseSettings | None = None,
        *,
        metrics: ServerMetrics | None = None,
        replica: str | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or LeaseSettings()
        self.metrics = metrics or ServerMetrics()
        self.replica = replica or new_replica_id()
        self.handler: RunHandler | None = None
        self.held: set[str] = set()  # runs this replica executes (leases it renews)
        self.seqs: dict[str, int] = {}  # last event seq per run this replica writes
        self.followers: dict[str, list[_Follower]] = {}
        self._pending = _Pending()
        self._wake_writer = asyncio.Event()
        self._writer_idle = asyncio.Event()
        self._writer_idle.set()
        self._dirty: set[str] = set()
        self._catching_up: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._control: Any = None
        self._writer: Any = None
        self._listening = asyncio.Event()
        self._closed = False
        self._last_retention = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(self.url, autocommit=True)

    async def start(self, handler: RunHandler) -> None:
        problem = self.settings.problem()
        if problem:
            raise ValueError(problem)
        self.handler = handler
        from psycopg_pool import AsyncConnectionPool

        setup = await self._connect()
        try:
            async with setup.transaction():
                await setup.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK,))
                for statement in DDL:
                    await setup.execute(statement)
        finally:
            await setup.close()
        self._control = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=CONTROL_CONNECTIONS,
            kwargs={"autocommit": True},
            open=False,
            name="spool-coordination",
        )
        await self._control.open(wait=True, timeout=30)
        self._writer = await self._connect()
        await self._writer.execute("SET synchronous_commit = off")
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="spool-coord-listen"),
            loop.create_task(self._write_events(), name="spool-coord-write"),
            loop.create_task(self._lease_loop(), name="spool-coord-leases"),
        ]
        async with asyncio.timeout(10):
            await self._listening.wait()

    async def close(self) -> None:
        """Flush events, hand this replica's leases over at once (others take over at their
        next sweep instead of waiting for expiry), close the connections."""
        if self._closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._flush_now()
        self._closed = True
        for task in self._tasks + list(self._side_tasks) + list(self._catching_up.values()):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for followers in self.followers.values():
            for follower in followers:
                follower.subscriber.close()
        self.followers.clear()
        if self._control is not None:  # bounded: a database that is gone must not hold us
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await self._control_execute(
                        "UPDATE run_leases SET expires_at = now() WHERE replica = %s",
                        (self.replica,),
                    )
        for closable in (self._control, self._writer):
            if closable is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await closable.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_done)

    def _side_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("coordination task failed", exc_info=task.exception())

    # --- locks and leases --------------------------------------------------------------------

    async def _control_execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """One statement on the control pool (a broken connection is retried once: the pool
        replaces it)."""
        import psycopg

        for attempt in range(2):
            try:
                async with self._control.connection() as conn:
                    cursor = await conn.execute(sql, params)
                    return await cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                if attempt or self._closed:
                    raise
                log.warning("coordination: a control connection was lost; retrying")
        raise AssertionError("unreachable")

    def stats(self) -> dict[str, float]:
        return {
            "leases_held": float(len(self.held)),
            "followers": float(sum(len(f) for f in self.followers.values())),
            "events_unwritten": float(len(self._pending.rows)),
        }

    async def lock(self, run_id: str, thread_id: str) -> None:
        for _ in range(3):
            rows = await self._control_execute(
                "INSERT INTO run_leases (run_id, thread_id, replica, expires_at) "
                "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (thread_id) DO NOTHING RETURNING run_id",
                (run_id, thread_id, self.replica, self.settings.expire_s),
            )
            if rows:
                self.held.add(run_id)
                self.seqs[run_id] = 0
                return
            holder = await self.locked_by(thread_id)
            if holder is not None:
                raise ThreadLocked(holder)
        raise ThreadLocked("(unknown)")

    async def locked_by(self, thread_id: str) -> str | None:
        rows = await self._control_execute(
            "SELECT run_id FROM run_leases WHERE thread_id = %s", (thread_id,)
        )
        return rows[0][0] if rows else None

    async def owner(self, run_id: str) -> str | None:
        rows = await self._control_execute(
            "SELECT replica FROM run_leases WHERE run_id = %s", (run_id,)
        )
        return rows[0][0] if rows else None

    async def park(self, run_id: str, expires_at: float | None) -> None:
        await self._flush_now()  # an adopter continues the numbering from what is stored
        self.held.discard(run_id)
        self.seqs.pop(run_id, None)
        await self._control_execute(
            "UPDATE run_leases SET replica = '', expires_at = to_timestamp(%s) "
            "WHERE run_id = %s AND replica = %s",
            (expires_at if expires_at is not None else FAR_FUTURE, run_id, self.replica),
        )

    async def adopt(self, run_id: str) -> bool:
        rows = await self._control_execute(
            "UPDATE run_leases SET replica = %s, expires_at = now() + make_interval(secs => %s) "
            "WHERE run_id = %s AND replica = '' AND expires_at > now() RETURNING run_id",
            (self.replica, self.settings.expire_s, run_id),
        )
        if not rows:
            return False
        await self._own(run_id)
        return True

    async def _own(self, run_id: str) -> None:
        """This replica writes the run's events from now on: continue its numbering."""
        self.held.add(run_id)
        rows = await self._control_execute(
            "SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = %s", (run_id,)
        )
        self.seqs[run_id] = max(rows[0][0], self.seqs.get(run_id, 0))

    async def unlock(self, run_id: str) -> None:
        self.held.discard(run_id)
        self.seqs.pop(run_id, None)
        await self._control_execute("DELETE FROM run_leases WHERE run_id = %s", (run_id,))

    async def _lease_loop(self) -> None:
        """Renew every `renew_s`; sweep twice as often, so a dead replica's run is failed
        within `expire_s + renew_s / 2` (plus the time to fail it) of its last renewal."""
        last_renewal = time.monotonic()
        while not self._closed:
            await asyncio.sleep(self.settings.renew_s / 2)
            try:
                if time.monotonic() - last_renewal >= self.settings.renew_s * 0.99:
                    last_renewal = time.monotonic()
                    await self.renew()
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("coordination: lease renewal failed (retrying)")

    async def _tick(self) -> None:
        await self.sweep()
        await self._take_commands()
        now = time.monotonic()
        if now - self._last_retention >= min(60.0, self.settings.event_retention_s / 2):
            self._last_retention = now
            await self.delete_old_events()

    async def renew(self) -> None:
        """Extend every lease this replica holds; a lease found gone was taken over."""
        before = set(self.held)
        if not before:
            return
        # Only the leases it knows it holds: a row left behind by a failed unlock expires and
        # is swept (the run is finished: the sweeper just deletes it), never kept forever.
        rows = await self._control_execute(
            "UPDATE run_leases SET expires_at = now() + make_interval(secs => %s) "
            "WHERE replica = %s AND run_id = ANY(%s) RETURNING run_id",
            (self.settings.expire_s, self.replica, list(before)),
        )
        renewed = {r[0] for r in rows}
        for run_id in before - renewed:
            if run_id in self.held:  # not released meanwhile
                log.error("coordination: lease on %s lost (taken over by another replica)", run_id)
                self.held.discard(run_id)
                self.seqs.pop(run_id, None)
                if self.handler:
                    self.handler.on_lease_lost(run_id)

    async def sweep(self) -> list[str]:
        """Take over expired leases: runs of dead replicas (failed) and parked runs past their
        expiry (expired). Returns the runs taken."""
        rows = await self._control_execute(
            "UPDATE run_leases AS l SET replica = %s, "
            "expires_at = now() + make_interval(secs => %s) "
            "FROM (SELECT run_id, replica FROM run_leases WHERE expires_at < now() "
            "FOR UPDATE SKIP LOCKED) AS old "
            "WHERE l.run_id = old.run_id RETURNING l.run_id, old.replica",
            (self.replica, self.settings.expire_s),
        )
        for run_id, was in rows:
            await self._own(run_id)
            if self.handler is None:
                continue
            if was == "":
                self._spawn(self.handler.on_parked_expired(run_id))
            else:
                log.warning(
                    "coordination: replica %s stopped renewing %s; taking it over", was, run_id
                )
                self.metrics.runs_taken_over.inc()
                self._spawn(self.handler.on_taken_over(run_id))
        return [r[0] for r in rows]

    async def delete_old_events(self) -> int:
        rows = await self._control_execute(
            "DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM run_events "
            "GROUP BY run_id HAVING max(created_at) < now() - make_interval(secs => %s)) "
            "RETURNING 1",
            (self.settings.event_retention_s,),
        )
        return len(rows)

    # --- commands -------------------------------------------------------------------------------

    async def tell(self, run_id: str, command: str) -> bool:
        rows = await self._control_execute(
            "WITH c AS (INSERT INTO run_commands (run_id, replica, command) "
            "SELECT run_id, replica, %s FROM run_leases WHERE run_id = %s AND replica <> '' "
            "RETURNING replica) SELECT replica, pg_notify(%s, replica) FROM c",
            (command, run_id, COMMANDS_CHANNEL),
        )
        return bool(rows)

    async def _take_commands(self) -> None:
        rows = await self._control_execute(
            "DELETE FROM run_commands WHERE replica = %s RETURNING run_id, command, id",
            (self.replica,),
        )
        for run_id, command, _ in sorted(rows, key=lambda r: r[2]):
            if self.handler:
                self.handler.on_command(run_id, command)

    # --- events ---------------------------------------------------------------------------------

    def publish(self, run_id: str, frame: bytes, *, last: bool = False) -> None:
        seq = self.seqs.get(run_id, 0) + 1
        self.seqs[run_id] = seq
        self._pending.rows.append((run_id, seq, frame, last))
        self._pending.newest[run_id] = seq
        self._writer_idle.clear()
        self._wake_writer.set()

    async def _flush_now(self) -> None:
        """Wait until every published event is written (and notified)."""
        while self._pending.rows or not self._writer_idle.is_set():
            self._wake_writer.set()
            await self._writer_idle.wait()

    async def _write_events(self) -> None:
        import psycopg

        while not self._closed:
            if not self._pending.rows:
                self._writer_idle.set()
                self._wake_writer.clear()
                await self._wake_writer.wait()
                continue
            batch, self._pending = self._pending, _Pending()
            while True:
                try:
                    await self._write(batch)
                    await asyncio.sleep(WRITE_PAUSE_S)
                    break
                except psycopg.OperationalError:
                    log.warning("coordination: event writer connection lost; reconnecting")
                    with contextlib.suppress(Exception):
                        await self._writer.close()
                    await asyncio.sleep(RECONNECT_S)
                    with contextlib.suppress(Exception):
                        self._writer = await self._connect()
                        await self._writer.execute("SET synchronous_commit = off")
                except psycopg.errors.UniqueViolation:
                    log.error("coordination: events already written (a lease was lost); dropped")
                    break

    async def _write(self, batch: _Pending) -> None:
        conn = self._writer
        async with conn.transaction(), conn.cursor() as cursor:
            async with cursor.copy("COPY run_events (run_id, seq, frame, last) FROM STDIN") as copy:
                for row in batch.rows:
                    await copy.write_row(row)
            await cursor.execute(
                "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                (EVENTS_CHANNEL, _payloads(batch.newest)),
            )

    def follow(self, run_id: str, after: int = 0) -> Subscriber:
        subscriber = Subscriber()
        self.followers.setdefault(run_id, []).append(_Follower(subscriber, after))
        self._wake(run_id)
        return subscriber

    def unfollow(self, run_id: str, subscriber: Subscriber) -> None:
        followers = self.followers.get(run_id, [])
        self.followers[run_id] = [f for f in followers if f.subscriber is not subscriber]
        if not self.followers[run_id]:
            del self.followers[run_id]

    def _wake(self, run_id: str, seq: int | None = None) -> None:
        followers = self.followers.get(run_id)
        if not followers:
            return
        if seq is not None and all(f.last >= seq for f in followers):
            return
        self._dirty.add(run_id)
        if run_id not in self._catching_up:
            task = asyncio.get_running_loop().create_task(self._catch_up(run_id))
            self._catching_up[run_id] = task

    async def _catch_up(self, run_id: str) -> None:
        try:
            while run_id in self._dirty:
                self._dirty.discard(run_id)
                followers = self.followers.get(run_id)
                if not followers:
                    return
                after = min(f.last for f in followers)
                rows = await self._control_execute(
                    "SELECT seq, frame, last FROM run_events WHERE run_id = %s AND seq > %s "
                    "ORDER BY seq",
                    (run_id, after),
                )
                for follower in list(self.followers.get(run_id, [])):
                    for seq, frame, last in rows:
                        if seq <= follower.last:
                            continue
                        follower.last = seq
                        follower.subscriber.push(bytes(frame))
                        if last:
                            follower.subscriber.close()
                            self.unfollow(run_id, follower.subscriber)
                            break
        except Exception:
            log.exception("coordination: reading events of %s failed", run_id)
            for follower in self.followers.pop(run_id, []):
                follower.subscriber.close()
        finally:
            self._catching_up.pop(run_id, None)

    async def _listen(self) -> None:
        while not self._closed:
            conn = None
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                await conn.execute(f"LISTEN {COMMANDS_CHANNEL}")
                self._listening.set()
                for run_id in list(self.followers):  # anything missed while reconnecting
                    self._wake(run_id)
                self._spawn(self._take_commands())
                async for notify in conn.notifies():
                    if notify.channel == EVENTS_CHANNEL:
                        if not self.followers:
                            continue
                        for item in notify.payload.split():
                            run_id, _, seq = item.rpartition(":")
                            if run_id in self.followers:
                                self._wake(run_id, int(seq))
                    elif notify.payload == self.replica:
                        self._spawn(self._take_commands())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed:
                    return
                log.warning("coordination: listener connection lost (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_S)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
