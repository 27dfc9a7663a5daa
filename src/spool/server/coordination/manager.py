"""The RunManager's side of coordination (a mixin of `server/runs.RunManager`).

It implements `RunHandler` (what the coordinator calls back) and the lookups routes need when
a run may live on another replica: the thread lock, adopting a parked run, cancelling a run
wherever it executes, following a run's events, failing runs of a dead replica. With the
`LocalCoordinator` every method falls back to the RunManager's memory, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from spool.server import objects, sse
from spool.server.coordination.base import ThreadLocked
from spool.server.errors import ApiError, bad_request
from spool.server.run_state import ActiveRun
from spool.server.streams import Subscriber

if TYPE_CHECKING:
    from spool.server.runs import RunManager

log = logging.getLogger("spool.server")

CANCELLABLE = ("queued", "in_progress", "requires_action")
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
ABANDONED = "The server stopped while this run was active; the run was abandoned."
ADOPT_WAIT_S = 2.0
METADATA = "metadata:"  # a command carrying a run's new metadata (JSON) to its owner
TAKEN_OVER = "The replica executing this run stopped; another replica failed it."


class RunCoordination:
    """Mixed into RunManager: coordination-aware lookups and the coordinator's callbacks."""

    # --- locks ---------------------------------------------------------------------------------

    async def locked_by(self: RunManager, thread_id: str) -> str | None:
        """The active run of a thread, on this replica or any other."""
        run_id = self.by_thread.get(thread_id)
        if run_id is None and self.coordinator.shared:
            run_id = await self.coordinator.locked_by(thread_id)
            if run_id is not None and await self._finished(run_id):
                return None  # its owner sent the end and is deleting the lock right now
        return run_id

    async def _finished(self: RunManager, run_id: str) -> bool:
        """The run is stored in a final status (a run not stored yet is being created: its
        lock is taken before its row is committed)."""
        run = await self.db.get("runs", run_id)
        return run is not None and run["status"] in TERMINAL

    async def check_unlocked(self: RunManager, thread_id: str, *, for_messages: bool) -> None:
        run_id = await self.locked_by(thread_id)
        if run_id is None:
            return
        if for_messages:
            raise bad_request(f"Can't add messages to {thread_id} while a run {run_id} is active.")
        raise bad_request(f"Thread {thread_id} already has an active run {run_id}.")

    async def _lock_thread(self: RunManager, run: dict[str, Any]) -> None:
        """Take the thread's lock (and the run's lease) for a new run, atomically."""
        for attempt in range(3):
            try:
                await self.coordinator.lock(run["id"], run["thread_id"])
                return
            except ThreadLocked as exc:
                if attempt == 2 or not await self._finished(exc.run_id):
                    raise bad_request(
                        f"Thread {run['thread_id']} already has an active run {exc.run_id}."
                    ) from None
                # A client that saw the previous run end may ask before its owner deleted
                # the lock (it is stored finished first): that lock is stale, drop it.
                await self.coordinator.unlock(exc.run_id)

    async def forget(self: RunManager, active: ActiveRun) -> None:
        """A created run whose storage transaction failed: drop its state and its lock."""
        self._release(active)
        await self.coordinator.unlock(active.run["id"])

    # --- events ----------------------------------------------------------------------------------

    def _fan_out(self: RunManager, active: ActiveRun, frame: bytes) -> None:
        """One frame to this replica's streams and, with replicas, to the database."""
        for subscriber in active.subscribers:
            subscriber.push(frame)
        if self.coordinator.shared:
            self.coordinator.publish(active.run["id"], frame)

    def _publish_end(self: RunManager, active: ActiveRun) -> None:
        if self.coordinator.shared:
            self.coordinator.publish(active.run["id"], b"", last=True)

    async def follow(self: RunManager, run: dict[str, Any], after: int) -> Subscriber | None:
        """A subscriber to a run's events wherever it executes; None for a finished run (or,
        on one process, one that waits for tool outputs)."""
        if self.coordinator.shared:
            if run["status"] in TERMINAL:
                return None
            return self.coordinator.follow(run["id"], after)
        active = self.active.get(run["id"])
        if active is None or active.run["status"] == "requires_action":
            return None
        return self.subscribe(active)

    def unfollow(self: RunManager, run_id: str, subscriber: Subscriber) -> None:
        if self.coordinator.shared:
            self.coordinator.unfollow(run_id, subscriber)
        else:
            self.unsubscribe(run_id, subscriber)

    # --- parked runs (requires_action) -------------------------------------------------------------

    def _parking(self: RunManager, active: ActiveRun) -> None:
        """The run is about to wait for tool outputs: until it is parked, a request for it on
        this replica waits (it must not take the run while the lease is being given up)."""
        if self.coordinator.shared and active.parking is None:
            active.parking = asyncio.get_running_loop().create_future()

    async def _park(self: RunManager, active: ActiveRun) -> None:
        """With replicas, a run waiting for tool outputs belongs to no replica: any adopts it."""
        if not self.coordinator.shared:
            return
        try:
            await self.coordinator.park(active.run["id"], active.run["expires_at"])
            self._release(active)
        finally:
            if active.parking is not None and not active.parking.done():
                active.parking.set_result(None)
            active.parking = None

    async def adopt(self: RunManager, run: dict[str, Any]) -> ActiveRun | None:
        """The run's live state here: local, or a parked run this replica now takes over."""
        local = self.active.get(run["id"])
        if local is not None and local.parking is not None:
            with contextlib.suppress(TimeoutError):  # being parked here: then adopt it
                await asyncio.wait_for(asyncio.shield(local.parking), ADOPT_WAIT_S)
            local = self.active.get(run["id"])
        if local is not None or not self.coordinator.shared:
            return local
        if run["status"] != "requires_action" or not await self._take_parked(run["id"]):
            return None
        fresh = await self.db.get("runs", run["id"])
        if fresh is None or fresh["status"] != "requires_action":
            await self.coordinator.unlock(run["id"])
            return None
        active = ActiveRun(fresh)
        self.active[fresh["id"]] = active
        self.by_thread[fresh["thread_id"]] = fresh["id"]
        self._arm_expiry(active)
        return active

    async def release_adopted(self: RunManager, active: ActiveRun) -> None:
        """A run adopted for tool outputs that were refused waits again: park it again."""
        if active.run["status"] == "requires_action":
            await self._park(active)

    async def cancel_thread_run(self: RunManager, thread_id: str) -> None:
        """Cancel the thread's active run, if any, wherever it executes (deleting a thread)."""
        run_id = await self.locked_by(thread_id)
        if run_id is None:
            return
        active = self.active.get(run_id)
        run = active.run if active else await self.db.get("runs", run_id)
        if run is None or run["status"] not in CANCELLABLE:
            return
        await self.cancel_anywhere(run)

    async def _take_parked(self: RunManager, run_id: str) -> bool:
        """Adopt a parked run; a run whose owner is parking it right now (a client acting on
        the requires_action event, or a poll, before the owner gave the lease up) is waited
        for, up to ADOPT_WAIT_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ADOPT_WAIT_S
        while not await self.coordinator.adopt(run_id):
            owner = await self.coordinator.owner(run_id)
            if owner is None or loop.time() > deadline:  # finished, or held elsewhere too long
                return False
            if owner == "":  # parked between the two queries; else parked but expired
                return await self.coordinator.adopt(run_id)
            await asyncio.sleep(0.01)
        return True

    async def cancel_anywhere(self: RunManager, run: dict[str, Any]) -> dict[str, Any]:
        """Cancel a run wherever it executes; answers with the run in `cancelling`."""
        active = self.active.get(run["id"])
        waiting = active is None and run["status"] == "requires_action"
        if waiting or (active is not None and active.parking is not None):
            active = await self.adopt(run)  # parked (or being parked here): take it first
        if active is not None:
            if active.run["status"] == "cancelling":
                return json.loads(json.dumps(active.run))
            return await self.cancel(active)
        if run["status"] == "cancelling":
            return json.loads(json.dumps(run))
        if (
            self.coordinator.shared
            and run["status"] in CANCELLABLE
            and await self.coordinator.tell(run["id"], "cancel")
        ):
            snapshot = json.loads(json.dumps(run))
            snapshot["status"] = "cancelling"
            return snapshot
        raise bad_request(f"Cannot cancel run with status '{run['status']}'.")

    async def metadata_changed(self: RunManager, run: dict[str, Any]) -> None:
        """A run's metadata was modified here: the replica executing it must not overwrite it
        with its own copy at its next save, so it is told the new value."""
        if not self.coordinator.shared or run["id"] in self.active or run["status"] in TERMINAL:
            return
        await self.coordinator.tell(run["id"], METADATA + json.dumps(run["metadata"]))

    # --- the coordinator's callbacks -------------------------------------------------------------

    def on_command(self: RunManager, run_id: str, command: str) -> None:
        active = self.active.get(run_id)
        if command.startswith(METADATA):
            self._spawn(self._set_metadata(run_id, json.loads(command.removeprefix(METADATA))))
            return
        if command != "cancel" or active is None or active.run["status"] not in CANCELLABLE:
            return
        self._spawn(self._cancel_quietly(active))

    async def _set_metadata(self: RunManager, run_id: str, metadata: dict[str, Any]) -> None:
        active = self.active.get(run_id)
        if active is not None:
            active.run["metadata"] = metadata
            await self._save_run(active)
            return
        run = await self.db.get("runs", run_id)  # finished meanwhile: its last save may have
        if run is not None and run["metadata"] != metadata:  # written the old value
            run["metadata"] = metadata
            await self.db.update("runs", run)

    async def _cancel_quietly(self: RunManager, active: ActiveRun) -> None:
        if active.run["status"] in CANCELLABLE:
            with contextlib.suppress(ApiError):  # it ended meanwhile: nothing to cancel
                await self.cancel_anywhere(active.run)

    async def on_taken_over(self: RunManager, run_id: str) -> None:
        run = await self.db.get("runs", run_id)
        if run is not None and run["status"] in ACTIVE:
            await self._abandon(run, TAKEN_OVER)
            self.metrics.runs_finished.inc("failed")
            self.coordinator.publish(run_id, sse.frame("thread.run.failed", run))
            self.coordinator.publish(run_id, b"", last=True)
        await self.coordinator.unlock(run_id)

    async def on_parked_expired(self: RunManager, run_id: str) -> None:
        run = await self.db.get("runs", run_id)
        if run is None or run["status"] != "requires_action":
            await self.coordinator.unlock(run_id)
            return
        active = ActiveRun(run)
        self.active[run_id] = active
        self.by_thread[run["thread_id"]] = run_id
        active.interrupt = "expire"
        await self._pending_tool_step(active)
        await self._finish_interrupted(active)  # → expired; the terminal status unlocks it

    def on_lease_lost(self: RunManager, run_id: str) -> None:
        active = self.active.get(run_id)
        if active is None:
            return
        task, active.task = active.task, None  # its cancellation must not write anything
        self._release(active)
        for subscriber in active.subscribers:  # not _end_streams: the run's events are not ours
            subscriber.close()
        active.subscribers.clear()
        if task is not None and not task.done():
            task.cancel()

    # --- failing abandoned runs ----------------------------------------------------------------

    async def _abandon(self: RunManager, run: dict[str, Any], message: str = ABANDONED) -> None:
        """Fail a run nobody executes any more: open steps failed, open messages incomplete,
        the run failed with `server_error` (the thread is unlocked by the caller)."""
        now = objects.now()
        error = {"code": "server_error", "message": message}
        for step in await self.db.all_where("steps", "run_id", run["id"]):
            if step["status"] == "in_progress":
                step.update(status="failed", failed_at=now, last_error=error)
                await self.db.update("steps", step)
        for msg in await self.db.all_where("messages", "run_id", run["id"]):
            if msg["status"] == "in_progress":
                msg.update(
                    status="incomplete",
                    incomplete_at=now,
                    incomplete_details={"reason": "run_failed"},
                )
                await self.db.update("messages", msg)
        run.update(
            status="failed", failed_at=now, last_error=error, expires_at=None, required_action=None
        )
        await self.db.update("runs", run)

    async def _recover_shared(self: RunManager) -> int:
        """At start with replicas: fail only orphans (active runs without a lease row); give a
        waiting orphan a parked lease. Runs other replicas execute are left alone."""
        failed = 0
        now = objects.now()
        for run in await self.db.with_status(ACTIVE):
            if await self.coordinator.owner(run["id"]) is not None:
                continue
            if run["status"] == "requires_action" and (run["expires_at"] or 0) > now:
                try:
                    await self.coordinator.lock(run["id"], run["thread_id"])
                    await self.coordinator.park(run["id"], run["expires_at"])
                except ThreadLocked:
                    pass
                continue
            await self._abandon(run)
            failed += 1
        return failed
