"""The sessions of all threads: started on a thread's first call, kept warm between calls,
ended after `idle_timeout_s` unused, when too many are alive (the least recently used idle one),
and at shutdown. A thread whose earlier session ended gets a clean one that says so in the logs
of its first call.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spool.server.sandbox.outputs import CallEvent, CallResult, LogText
from spool.server.sandbox.probe import SandboxUnavailable, probe
from spool.server.sandbox.session import SandboxError, Session, sweep_stale_runtimes
from spool.server.sandbox.settings import SandboxSettings

log = logging.getLogger("spool.server")

NEW_SESSION_NOTE = (
    "[spool] This is a new Python session: the earlier one of this thread ended (idle timeout, "
    "restart or limit), so its variables and files are gone.\n"
)


@dataclass(slots=True)
class InputFile:
    """A file to have in /mnt/data: `key` (the file id) says whether it is there already."""

    key: str
    name: str
    read: Callable[[], bytes]  # blocking; called off the loop


class SandboxManager:
    """Runs code for threads (`run`); owns every session and the idle reaper."""

    def __init__(self, settings: SandboxSettings, *, hidden: list[Path] | None = None) -> None:
        self.settings = settings
        self.hidden = list(hidden or [])
        self.sessions: dict[str, Session] = {}
        self.ended: set[str] = set()  # keys whose session ended (the next one says so)
        self._starting: dict[str, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._problem: str | None = None
        self._probed = False
        self._closed = False
        self._swept = False
        atexit.register(self.kill_all_now)

    # --- availability --------------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why no session can start (with the fix), or None; probed once (blocking, ~10 ms)."""
        if not self._probed:
            self._problem = probe(self.settings)
            self._probed = True
        return self._problem

    # --- calls ---------------------------------------------------------------------------------

    async def run(
        self,
        key: str,
        code: str,
        on_event: Callable[[CallEvent], None] | None = None,
        *,
        files: list[InputFile] | None = None,
        new_session_note: bool | None = None,
    ) -> CallResult:
        """Run `code` in the session of `key` (a thread id), starting it if needed.

        Raises SandboxUnavailable when no sandbox can start here, SandboxError when this
        session could not start. `new_session_note` forces (True) or suppresses (False) the
        note of a fresh session; by default it is shown when this key had a session before.
        """
        if self._closed:
            raise SandboxError("the server is shutting down")
        problem = await asyncio.to_thread(self.problem) if not self._probed else self._problem
        if problem:
            raise SandboxUnavailable(problem)
        session, fresh = await self._session(key)
        async with session.lock:
            if not session.alive:  # ended while we waited for the lock
                self.sessions.pop(key, None)
                session, fresh = await self._session(key)
            note = None
            if fresh:
                had = key in self.ended if new_session_note is None else new_session_note
                note = NEW_SESSION_NOTE if had else None
            if files:
                todo = [f for f in files if f.key not in session.placed]
                if todo:

                    def place(todo: list[InputFile] = todo) -> None:
                        ready = []
                        for f in todo:
                            try:
                                ready.append((f.key, f.name, f.read()))
                            except OSError as exc:  # a blob deleted meanwhile
                                log.warning("code_interpreter: file %s skipped: %s", f.key, exc)
                        session.put_files(ready)

                    await asyncio.to_thread(place)
            before = await asyncio.to_thread(session.snapshot)
            result = await session.execute(code, on_event, preface=note)
            result.new_session = fresh
            if session.alive:
                result.files = await asyncio.to_thread(session.changed_files, before)
                count = await asyncio.to_thread(session.process_count)
                if count is not None and count >= self.settings.max_processes * 0.9:
                    note = (
                        f"\n[spool] The session reached its process limit ({count} of "
                        f"{self.settings.max_processes}); it was ended. A new session starts "
                        "with the next call.\n"
                    )
                    result.logs += note
                    if on_event:
                        on_event(LogText(note))
                    self._forget(key, session)
            else:
                self._forget(key, session)
            return result

    async def _session(self, key: str) -> tuple[Session, bool]:
        lock = self._starting.setdefault(key, asyncio.Lock())
        async with lock:
            session = self.sessions.get(key)
            if session is not None and session.alive:
                return session, False
            if session is not None:
                self._forget(key, session)
            await self._make_room()
            if not self._swept:
                self._swept = True
                await asyncio.to_thread(sweep_stale_runtimes)
            session = Session(self.settings, hidden=self.hidden)
            await session.start()
            self.sessions[key] = session
            self._ensure_reaper()
            return session, True

    def _forget(self, key: str, session: Session) -> None:
        if self.sessions.get(key) is session:
            del self.sessions[key]
        self.ended.add(key)
        task = asyncio.get_running_loop().create_task(session.stop())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    async def _make_room(self) -> None:
        if len(self.sessions) < self.settings.max_sessions:
            return
        idle = [(s.last_used, k) for k, s in self.sessions.items() if not s.lock.locked()]
        if not idle:
            raise SandboxError(
                f"all {self.settings.max_sessions} Python sessions are busy "
                "([code_interpreter] max_sessions); try again when one finishes"
            )
        _, key = min(idle)
        await self.end(key)

    async def end(self, key: str) -> None:
        """End the session of `key` (if any); its next call starts a clean one."""
        session = self.sessions.pop(key, None)
        if session is not None:
            self.ended.add(key)
            await session.stop()

    # --- idle reaper and shutdown --------------------------------------------------------------

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        interval = max(min(self.settings.idle_timeout_s / 4, 60.0), 0.05)
        while self.sessions:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key, session in list(self.sessions.items()):
                idle_for = now - session.last_used
                if not session.lock.locked() and idle_for >= self.settings.idle_timeout_s:
                    log.info(
                        "code_interpreter: session of %s ended after %.0f s idle", key, idle_for
                    )
                    await self.end(key)
                elif not session.alive and not session.lock.locked():
                    self.sessions.pop(key, None)
                    self.ended.add(key)
                    await session.stop()

    async def shutdown(self) -> None:
        """End every session (the server is stopping)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reaper
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)

    def kill_all_now(self) -> None:
        """Synchronous end of every session (server exit; no event loop needed)."""
        self._closed = True
        for session in list(self.sessions.values()):
            session.kill_now()
            if session.runtime is not None:
                shutil.rmtree(session.runtime, ignore_errors=True)
        self.sessions.clear()


_pending: set[asyncio.Task[None]] = set()
