"""The coordinator: what RunManager asks of the world outside its process.

One interface, two implementations:

* `LocalCoordinator` (SQLite, one process: today's behaviour). The thread locks, the event
  fan-out and cancel/submit all live in the RunManager's memory; every call here is a no-op.
* `postgres.PostgresCoordinator` (N replicas on one PostgreSQL). A run is executed by the
  replica that accepted it, under a lease it renews; its events are appended to `run_events`
  and other replicas' streams wake on LISTEN/NOTIFY; cancel reaches the owner through
  `run_commands`; a `requires_action` run is *parked* (lease row kept as the thread lock, no
  owner) and adopted by whichever replica receives its outputs; a dead replica's expired
  leases are taken over and its runs failed with `server_error` (docs/scale-out.md).

The RunManager implements `RunHandler`: the coordinator calls it back for commands, takeovers,
expiries of parked runs and leases it lost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

from spool.server.streams import Subscriber


@dataclass(frozen=True)
class LeaseSettings:
    """How often a replica renews its leases, and when an unrenewed lease expires."""

    renew_s: float = 2.0
    expire_s: float = 10.0
    event_retention_s: float = 600.0  # a run's events are deleted this long after its last one

    def problem(self) -> str | None:
        if self.renew_s <= 0:
            return "the lease renewal interval must be positive"
        if self.expire_s < 2 * self.renew_s:
            return "a lease must last at least two renewal intervals"
        if self.event_retention_s < 1:
            return "the event retention must be at least 1 s"
        return None


class RunHandler(Protocol):
    """What the coordinator calls back (the RunManager)."""

    def on_command(self, run_id: str, command: str) -> None:
        """Another replica asked for `command` ("cancel") on a run this replica executes."""

    async def on_taken_over(self, run_id: str) -> None:
        """The run's owner died (its lease expired): fail the run; this replica now owns it."""

    async def on_parked_expired(self, run_id: str) -> None:
        """A run waiting for tool outputs passed its `expires_at`: expire it (owned here now)."""

    def on_lease_lost(self, run_id: str) -> None:
        """This replica's lease on a run it executes was taken over: stop it without writing."""


class ThreadLocked(Exception):
    """The thread already has an active run (its id is `run_id`)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


class Coordinator(ABC):
    """Thread locks, run leases, cross-replica streams and commands (module docstring)."""

    replica: str
    shared: bool  # other replicas may exist: run state must be looked up outside this process

    @abstractmethod
    async def start(self, handler: RunHandler) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def lock(self, run_id: str, thread_id: str) -> None:
        """Take the thread's lock and the new run's lease; `ThreadLocked` if the thread is."""

    @abstractmethod
    async def locked_by(self, thread_id: str) -> str | None:
        """The run holding the thread's lock, wherever it executes (None: unlocked)."""

    @abstractmethod
    async def park(self, run_id: str, expires_at: float | None) -> None:
        """The run waits for tool outputs: drop the lease, keep the thread locked until then."""

    @abstractmethod
    async def adopt(self, run_id: str) -> bool:
        """Take a parked run's lease (this replica executes it from now on); False if it is
        not parked (another replica adopted it first, or it is running or finished)."""

    @abstractmethod
    async def unlock(self, run_id: str) -> None:
        """The run finished: release its lease and the thread's lock."""

    @abstractmethod
    def publish(self, run_id: str, frame: bytes, *, last: bool = False) -> None:
        """Append a run event (a ready SSE frame) for streams on other replicas; `last` marks
        the end of a stream (the run finished or waits for tool outputs)."""

    @abstractmethod
    def follow(self, run_id: str, after: int = 0) -> Subscriber:
        """A subscriber fed the run's stored events with seq > `after`, then the new ones."""

    @abstractmethod
    def unfollow(self, run_id: str, subscriber: Subscriber) -> None:
        """The stream of a `follow` subscriber ended (the client went away)."""

    @abstractmethod
    async def tell(self, run_id: str, command: str) -> bool:
        """Send a command to the replica executing the run; False when no replica does."""

    @abstractmethod
    async def owner(self, run_id: str) -> str | None:
        """The replica executing the run ('' when parked, None when it holds no lease)."""

    def stats(self) -> dict[str, float]:
        """Numbers for /metrics: leases held, streams following runs, events not yet stored."""
        return {"leases_held": 0.0, "followers": 0.0, "events_unwritten": 0.0}


class LocalCoordinator(Coordinator):
    """One process (SQLite): the RunManager's memory is the whole truth; nothing to do here."""

    shared = False

    def __init__(self) -> None:
        self.replica = "local"

    async def start(self, handler: RunHandler) -> None:
        return None

    async def close(self) -> None:
        return None

    async def lock(self, run_id: str, thread_id: str) -> None:
        return None

    async def locked_by(self, thread_id: str) -> str | None:
        return None

    async def park(self, run_id: str, expires_at: float | None) -> None:
        return None

    async def adopt(self, run_id: str) -> bool:
        return False

    async def unlock(self, run_id: str) -> None:
        return None

    def publish(self, run_id: str, frame: bytes, *, last: bool = False) -> None:
        return None

    def follow(self, run_id: str, after: int = 0) -> Subscriber:
        raise NotImplementedError("one process: streams subscribe to the run directly")

    def unfollow(self, run_id: str, subscriber: Subscriber) -> None:
        return None

    async def tell(self, run_id: str, command: str) -> bool:
        return False

    async def owner(self, run_id: str) -> str | None:
        return None
