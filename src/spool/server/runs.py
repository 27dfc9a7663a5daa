"""The run state machine: executes runs inside the server and emits their stream events.

A run is executed by an asyncio task that is independent of any HTTP request: streaming requests
only *subscribe* to the run's events (ready-made SSE frames, `streams.Subscriber`), so a client that
disconnects can poll the run to its end. Messages and steps are written to SQLite as they are
produced (text at most every `FLUSH_INTERVAL_S` while streaming, and at every state change).

States: queued → in_progress → completed | requires_action | failed | incomplete | expired, and
{queued, in_progress, requires_action} → cancelling → cancelled. While a run is active its thread
is locked (no new messages, no new runs).

Server-side tools (file_search, code_interpreter; `server/tools/`) are executed here, inside
the run: the engine calls them like functions, `_run_server_calls` runs them, streams their step
deltas, completes the step and calls the engine again (see `server/tools/__init__.py` for how a
tool plugs in). Citation markers a tool offered become `file_citation` annotations on the text
as it streams (`_emit_cited`): each annotation is sent once, with exact indexes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any

from spool.server import history, objects, sse
from spool.server.coordination import Coordinator, LocalCoordinator
from spool.server.coordination.manager import RunCoordination
from spool.server.engines.base import (
    ChatMessage,
    EngineError,
    EngineRequest,
    Finish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from spool.server.engines.router import ModelRouter
from spool.server.errors import bad_request, not_found
from spool.server.metrics import ServerMetrics
from spool.server.run_state import ActiveRun, OpenMessage, OpenToolStep
from spool.server.storage import Database
from spool.server.streams import Subscriber
from spool.server.tools import ToolContext, ToolError, ToolServices, public_step
from spool.server.tools import get as tools_get
from spool.server.tools import types as tools_types

log = logging.getLogger("spool.server")

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
FLUSH_INTERVAL_S = 0.25
MARKER = re.compile(r"【[^【】]{1,200}】")
MAX_MARKER_CHARS = 202
FILE_LINK = re.compile(r"sandbox:/mnt/data/[^\s)\]\"'<>]+")  # code_interpreter's file links


def _truncation(value: dict[str, Any] | None) -> dict[str, Any]:
    if not value:
        return {"type": "auto", "last_messages": None}
    return {"type": value["type"], "last_messages": value.get("last_messages")}


class RunManager(RunCoordination):
    """Creates, executes, streams, cancels and expires runs; owns the thread locks (across
    replicas through its coordinator: `coordination/manager.py`)."""

    def __init__(
        self,
        db: Database,
        router: ModelRouter,
        *,
        run_expiry_s: int = 600,
        services: ToolServices | None = None,
        metrics: ServerMetrics | None = None,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics or ServerMetrics()
        self.coordinator = coordinator or LocalCoordinator()
        self.router = router
        self.services = services or ToolServices(db)
        self.run_expiry_s = run_expiry_s
        self.active: dict[str, ActiveRun] = {}
        self.by_thread: dict[str, str] = {}
        self.token_counts = history.TokenCounts()
        self._background: set[asyncio.Task[None]] = set()

    # --- start-up and shutdown ---------------------------------------------------------------

    async def start_coordination(self) -> None:
        """Connect to the other replicas (a no-op on one process); before `recover`."""
        await self.coordinator.start(self)

    async def recover(self) -> int:
        """Fail the runs a previous process left active; re-arm runs waiting for tool outputs.
        With replicas, only orphans: runs no replica holds a lease on."""
        if self.coordinator.shared:
            return await self._recover_shared()
        failed = 0
        now = objects.now()
        for run in await self.db.with_status(ACTIVE):
            if run["status"] == "requires_action" and (run["expires_at"] or 0) > now:
                active = ActiveRun(run)
                self.active[run["id"]] = active
                self.by_thread[run["thread_id"]] = run["id"]
                self._arm_expiry(active)
                continue
            await self._abandon(run)
            failed += 1
        return failed

    async def shutdown(self) -> None:
        """Stop executing tasks (their runs are failed by `recover` on the next start)."""
        tasks = [a.task for a in self.active.values() if a.task and not a.task.done()]
        for active in self.active.values():
            if active.expiry:
                active.expiry.cancel()
            active.task = None  # so the done-callbacks do not finalize them as cancelled
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.coordinator.close()  # hands this replica's leases over at once

    # --- queries -------------------------------------------------------------------------------

    def subscriber_count(self) -> int:
        """Open streaming responses on this replica."""
        return sum(len(a.subscribers) for a in self.active.values())

    def active_run_id(self, thread_id: str) -> str | None:
        return self.by_thread.get(thread_id)

    async def get_run(self, thread_id: str, run_id: str) -> dict[str, Any]:
        active = self.active.get(run_id)
        run = active.run if active else await self.db.get("runs", run_id)
        if run is None or run["thread_id"] != thread_id:
            raise not_found("run", run_id)
        return run

    # --- creation -----------------------------------------------------------------------------

    async def create_run(
        self, thread_id: str, assistant: dict[str, Any], body: dict[str, Any]
    ) -> ActiveRun:
        """Insert a queued run (the caller has checked the lock); does not start it."""
        instructions = body.get("instructions")
        if instructions is None:
            instructions = assistant.get("instructions") or ""
        if body.get("additional_instructions"):
            extra = body["additional_instructions"]
            instructions = f"{instructions}\n\n{extra}" if instructions else extra
        tools = body.get("tools")
        if tools is None:
            tools = assistant.get("tools") or []
        created = objects.now()

        def pick(key: str, default: Any) -> Any:
            value = body.get(key)
            if value is None:
                value = assistant.get(key)
            return default if value is None else value

        run = {
            "id": objects.new_id("run_"),
            "object": "thread.run",
            "created_at": created,
            "thread_id": thread_id,
            "assistant_id": assistant["id"],
            "status": "queued",
            "required_action": None,
            "last_error": None,
            "expires_at": created + self.run_expiry_s,
            "started_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "incomplete_details": None,
            "model": body.get("model") or assistant["model"],
            "instructions": instructions,
            "tools": tools,
            "metadata": body.get("metadata") or {},
            "usage": None,
            "temperature": pick("temperature", 1.0),
            "top_p": pick("top_p", 1.0),
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": _truncation(body.get("truncation_strategy")),
            "tool_choice": body.get("tool_choice") or "auto",
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "response_format": pick("response_format", "auto"),
        }
        ignored = sorted({t["type"] for t in tools} - {"function"} - tools_types())
        if ignored:
            log.info(
                "run %s: tools %s are stored but not executed by this server yet; ignoring them",
                run["id"],
                ", ".join(ignored),
            )
        await self._lock_thread(run)
        try:
            await self.db.insert("runs", run)
        except BaseException:
            await self.coordinator.unlock(run["id"])
            raise
        active = ActiveRun(run, new=True)
        self.active[run["id"]] = active
        self.by_thread[thread_id] = run["id"]
        self._arm_expiry(active)
        return active

    def subscribe(self, active: ActiveRun) -> Subscriber:
        subscriber = Subscriber()
        active.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, run_id: str, subscriber: Subscriber) -> None:
        active = self.active.get(run_id)
        if active and subscriber in active.subscribers:
            active.subscribers.remove(subscriber)

    def start(self, active: ActiveRun, *, announce: bool = True) -> None:
        """Emit `created`/`queued` (for a new run) and start executing it."""
        if announce:
            self._emit(active, "thread.run.created", active.run)
            self._emit(active, "thread.run.queued", active.run)
        task = asyncio.get_running_loop().create_task(self._execute(active))
        active.task = task
        task.add_done_callback(lambda _t: self._after_task(active, _t))

    # --- events ---------------------------------------------------------------------------------

    def _emit(self, active: ActiveRun, event: str, data: dict[str, Any]) -> None:
        self.metrics.run_events.inc()
        if not active.subscribers and not self.coordinator.shared:
            return
        self._fan_out(active, sse.frame(event, data))  # built once, shared by every subscriber

    def _end_streams(self, active: ActiveRun) -> None:
        self._publish_end(active)
        for subscriber in active.subscribers:
            subscriber.close()
        active.subscribers.clear()

    async def _save_run(self, active: ActiveRun) -> None:
        await self.db.update("runs", active.run)

    async def _set_status(self, active: ActiveRun, status: str, **fields: Any) -> None:
        if status == "requires_action":
            self._parking(active)  # lookups wait until it is adoptable (coordination/manager)
        run = active.run
        run["status"] = status
        run.update(fields)
        if status in TERMINAL:
            run["expires_at"] = None
            run["required_action"] = None
        await self._save_run(active)
        self._emit(active, f"thread.run.{status}", run)
        if status in TERMINAL:
            self.metrics.runs_finished.inc(status)
            self._release(active)
            self._end_streams(active)
            await self.coordinator.unlock(run["id"])
        elif status == "requires_action":
            self._end_streams(active)
            await self._park(active)

    def _release(self, active: ActiveRun) -> None:
        run = active.run
        self.active.pop(run["id"], None)
        if self.by_thread.get(run["thread_id"]) == run["id"]:
            del self.by_thread[run["thread_id"]]
        if active.expiry:
            active.expiry.cancel()
            active.expiry = None

    def _run_usage(self, active: ActiveRun) -> dict[str, int]:
        return objects.usage(active.prompt_tokens, active.completion_tokens)

    # --- execution ------------------------------------------------------------------------------

    async def _execute(self, active: ActiveRun) -> None:
        run = active.run
        fields: dict[str, Any] = {}
        if run["started_at"] is None:
            fields["started_at"] = objects.now()
        await self._set_status(active, "in_progress", **fields)
        await self._load_tool_state(active)
        try:
            while True:
                request = await self._build_request(active)
                if request is None:
                    return  # already finished as incomplete (prompt too long)
                engine, spec = self.router.engine_for(run["model"])
                finish = await self._turn(active, engine, request, spec.engine)
                if finish is None:
                    raise EngineError("The model's stream ended without finishing its reply.")
                if active.tool_step and active.tool_step.calls:
                    await self._run_server_calls(active)
                    if any(c["type"] == "function" for c in active.tool_step.calls):
                        await self._require_action(active)
                        return
                    await self._complete_tool_step(active)
                    continue  # the engine goes on with the tools' outputs
                if finish.reason == "length":
                    await self._finish_message(active, incomplete_reason="max_tokens")
                    await self._set_status(
                        active,
                        "incomplete",
                        incomplete_details={"reason": "max_completion_tokens"},
                        usage=self._run_usage(active),
                    )
                    return
                await self._finish_message(active)
                await self._set_status(
                    active, "completed", completed_at=objects.now(), usage=self._run_usage(active)
                )
                return
        except asyncio.CancelledError:
            if active.task is not None:  # not a server shutdown
                await self._finish_interrupted(active)
        except EngineError as exc:
            await self._fail(active, exc.code, exc.message)
        except ToolError as exc:
            await self._fail(active, "server_error", exc.message)
        except Exception as exc:
            log.exception("run %s crashed", run["id"])
            await self._fail(active, "server_error", f"The server failed while running: {exc!r}")

    def _after_task(self, active: ActiveRun, task: asyncio.Task[None]) -> None:
        """A task cancelled before it ever ran still has to finish its run."""
        if active.task is task and active.run["status"] in ("queued", "in_progress", "cancelling"):
            self._spawn(self._finish_interrupted(active))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine from a callback (a timer, a done task), keeping a reference to it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _build_request(self, active: ActiveRun) -> EngineRequest | None:
        run = active.run
        strategy = run["truncation_strategy"]
        last_messages = None
        if strategy["type"] == "last_messages" and strategy.get("last_messages"):
            last_messages = strategy["last_messages"]
        # A new run's first turn has no steps of its own: two queries fewer at the start of every
        # run (on PostgreSQL each is a round-trip; 200 runs starting at once queue on them).
        so_far = [] if active.new else await self._run_so_far(active)
        active.new = False
        system = [ChatMessage("system", run["instructions"])] if run["instructions"] else []
        engine, spec = self.router.engine_for(run["model"])
        limit = run["max_prompt_tokens"]
        found = await history.load_conversation(
            self.db,
            self.token_counts,
            engine,
            thread_id=run["thread_id"],
            run_id=run["id"],
            last_messages=last_messages,
            system=system,
            so_far=so_far,
            max_prompt_tokens=limit,
        )
        conversation = found.messages
        if not found.fits:
            await self._finish_message(active)
            await self._set_status(
                active,
                "incomplete",
                incomplete_details={"reason": "max_prompt_tokens"},
                usage=self._run_usage(active),
            )
            return None
        max_tokens = None
        if run["max_completion_tokens"] is not None:
            max_tokens = run["max_completion_tokens"] - active.completion_tokens
            if max_tokens <= 0:
                await self._set_status(
                    active,
                    "incomplete",
                    incomplete_details={"reason": "max_completion_tokens"},
                    usage=self._run_usage(active),
                )
                return None
        tool_choice = run["tool_choice"]
        if tool_choice not in ("none", "auto") and any(m.role == "tool" for m in so_far):
            # "required" / a named function mean: call before answering; once this run has
            # tool outputs the model may answer (forcing again would loop forever).
            tool_choice = "auto"
        tools = [t["function"] for t in run["tools"] if t["type"] == "function"]
        names = {t["name"] for t in tools}
        for config in run["tools"]:
            server_tool = tools_get(config["type"])
            if server_tool is not None and config["type"] not in names:
                tools.append(server_tool.function(config))
                names.add(config["type"])
        if isinstance(tool_choice, dict):
            if tool_choice["type"] == "function":
                tool_choice = {"name": tool_choice["function"]["name"]}
            elif tool_choice["type"] in names:
                tool_choice = {"name": tool_choice["type"]}  # a server-side tool
            else:
                tool_choice = "auto"
        return EngineRequest(
            model=spec.upstream_model or spec.name,
            messages=system + conversation,
            tools=tools if tool_choice != "none" else [],
            tool_choice=tool_choice,
            parallel_tool_calls=run["parallel_tool_calls"],
            temperature=run["temperature"],
            top_p=run["top_p"],
            max_tokens=max_tokens,
            response_format=run["response_format"],
        )

    async def _run_so_far(self, active: ActiveRun) -> list[ChatMessage]:
        """This run's own steps as chat messages: its replies, tool calls and tool outputs."""
        out: list[ChatMessage] = []
        for step in await self.db.all_where("steps", "run_id", active.run["id"]):
            details = step["step_details"]
            if details["type"] == "message_creation":
                message = await self.db.get("messages", details["message_creation"]["message_id"])
                if message:
                    out.append(ChatMessage("assistant", history.message_text(message)))
                continue
            server = await self._tool_outputs(active.run["id"])
            calls: list[ToolCall] = []
            answers: list[ChatMessage] = []
            for c in details["tool_calls"]:
                if c["type"] == "function":
                    name, arguments = c["function"]["name"], c["function"]["arguments"]
                    output = c["function"]["output"] or ""
                elif c["id"] in server:
                    name = c["type"]
                    arguments, output = server[c["id"]]
                else:
                    continue
                calls.append(ToolCall(c["id"], name, arguments))
                answers.append(ChatMessage("tool", output, tool_call_id=c["id"], name=name))
            if calls:
                out.append(ChatMessage("assistant", "", tool_calls=calls))
                out.extend(answers)
        return out

    async def _tool_outputs(self, run_id: str) -> dict[str, tuple[str, str]]:
        """call id → (arguments, output) of this run's server-side calls."""
        rows = await self.db.fetchall(
            "SELECT call_id, arguments, output FROM tool_outputs WHERE run_id = ?", (run_id,)
        )
        return {call_id: (arguments, output) for call_id, arguments, output in rows}

    async def _load_tool_state(self, active: ActiveRun) -> None:
        """Citation markers and call counts of the run's earlier server-side calls."""
        if active.new:
            return  # none yet
        rows = await self.db.fetchall(
            "SELECT type, citations FROM tool_outputs WHERE run_id = ?", (active.run["id"],)
        )
        active.ordinals = {}
        for kind, citations in rows:
            active.ordinals[kind] = active.ordinals.get(kind, 0) + 1
            active.citations.update(json.loads(citations))

    async def _turn(
        self, active: ActiveRun, engine: Any, request: EngineRequest, engine_name: str
    ) -> Finish | None:
        finish: Finish | None = None
        active.turn_usage = None
        asked = time.perf_counter()
        first = True
        stream = engine.stream(request)
        try:
            async for event in stream:
                if first and isinstance(event, (TextDelta, ToolCallDelta)):
                    first = False
                    self.metrics.first_token_seconds.observe(
                        time.perf_counter() - asked, engine_name
                    )
                if isinstance(event, TextDelta):
                    if event.text:
                        await self._text(active, event.text)
                elif isinstance(event, ToolCallDelta):
                    await self._tool_delta(active, event)
                elif isinstance(event, Finish):
                    finish = event
                    break
        finally:
            await stream.aclose()
        if finish is not None:
            if finish.usage:
                active.prompt_tokens += finish.usage.prompt_tokens
                active.completion_tokens += finish.usage.completion_tokens
                active.turn_usage = objects.usage(
                    finish.usage.prompt_tokens, finish.usage.completion_tokens
                )
            else:
                active.turn_usage = objects.usage(0, 0)
        return finish

    async def _text(self, active: ActiveRun, text: str) -> None:
        open_message = active.message
        if open_message is None:
            run = active.run
            message = objects.run_message(run)
            step = objects.step(
                run,
                {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
            )
            await self.db.insert("steps", step)
            await self.db.insert("messages", message)
            self._emit(active, "thread.run.step.created", step)
            self._emit(active, "thread.run.step.in_progress", step)
            self._emit(active, "thread.message.created", message)
            self._emit(active, "thread.message.in_progress", message)
            open_message = active.message = OpenMessage(message, step, last_flush=time.monotonic())
        open_message.parts.append(text)
        if active.citations:
            self._emit_cited(active, open_message, text)
        else:
            self._emit_text(active, open_message, text, [])
        now = time.monotonic()
        if now - open_message.last_flush >= FLUSH_INTERVAL_S:
            open_message.last_flush = now
            if open_message.flushing is None or open_message.flushing.done():
                # In a task: the stream never waits for the database (a PostgreSQL round-trip
                # per flush held every delta of the run behind it); one write in flight at most.
                open_message.flushing = asyncio.get_running_loop().create_task(
                    self._flush_text(open_message)
                )

    async def _flush_text(self, open_message: OpenMessage) -> None:
        """Store the text streamed so far (so a poll, or a crash, sees it)."""
        message = {**open_message.message, "content": open_message.content()}
        try:
            await self.db.update("messages", message)
        except Exception:
            log.exception("storing the text of %s failed (the final write follows)", message["id"])

    def _emit_text(
        self,
        active: ActiveRun,
        open_message: OpenMessage,
        text: str,
        annotations: list[dict[str, Any]],
    ) -> None:
        """Stream a text fragment (with the annotations that start in it)."""
        first = not open_message.emitted
        open_message.emitted = True
        open_message.sent += len(text)
        self.metrics.run_events.inc()
        if not active.subscribers and not self.coordinator.shared:
            return
        if annotations:
            delta_text: dict[str, Any] = {"value": text, "annotations": annotations}
            frame = sse.frame(
                "thread.message.delta",
                {
                    "id": open_message.message["id"],
                    "object": "thread.message.delta",
                    "delta": {"content": [{"index": 0, "type": "text", "text": delta_text}]},
                },
            )
        else:
            frame = sse.text_delta(open_message.message["id"], text, first=first)
        self._fan_out(active, frame)

    def _emit_cited(
        self, active: ActiveRun, open_message: OpenMessage, text: str, *, final: bool = False
    ) -> None:
        """Stream text whose citation markers become annotations.

        Text from an unclosed `【` on is held back until its `】` arrives (or it grows too long
        to be a marker), so each marker is annotated once, in the delta that completes it.
        """
        pending = open_message.pending + text
        cut = len(pending)
        if not final:
            start = pending.rfind("【")
            if start >= 0 and "】" not in pending[start:] and cut - start <= MAX_MARKER_CHARS:
                cut = start
        segment, open_message.pending = pending[:cut], pending[cut:]
        if not segment:
            return
        new = []
        for match in MARKER.finditer(segment):
            file_id = active.citations.get(match.group(0))
            if file_id is None:
                continue
            annotation = {
                "type": "file_citation",
                "text": match.group(0),
                "start_index": open_message.sent + match.start(),
                "end_index": open_message.sent + match.end(),
                "file_citation": {"file_id": file_id},
            }
            open_message.annotations.append(annotation)
            new.append({"index": len(open_message.annotations) - 1, **annotation})
        self._emit_text(active, open_message, segment, new)

    async def _finish_message(
        self,
        active: ActiveRun,
        *,
        incomplete_reason: str | None = None,
        step_status: str = "completed",
        error: dict[str, Any] | None = None,
    ) -> None:
        """Close the open message and its step (completed, or incomplete for a reason)."""
        open_message = active.message
        if open_message is None:
            return
        if open_message.pending:
            self._emit_cited(active, open_message, "", final=True)
        if active.citations:
            self._annotate_file_paths(active, open_message)
        active.message = None
        if open_message.flushing is not None:  # its older text must not land after ours
            await asyncio.shield(open_message.flushing)
        now = objects.now()
        message = open_message.message
        extra, active.message_parts = active.message_parts, []
        for i, part in enumerate(extra, start=1):
            self._emit(
                active,
                "thread.message.delta",
                {
                    "id": message["id"],
                    "object": "thread.message.delta",
                    "delta": {"content": [{"index": i, **part}]},
                },
            )
        message["content"] = open_message.content(extra)
        if incomplete_reason:
            message.update(
                status="incomplete",
                incomplete_at=now,
                incomplete_details={"reason": incomplete_reason},
            )
        else:
            message.update(status="completed", completed_at=now)
        await self.db.update("messages", message)
        self._emit(active, f"thread.message.{message['status']}", message)
        await self._close_step(active, open_message.step, step_status, error, active.turn_usage)

    def _annotate_file_paths(self, active: ActiveRun, open_message: OpenMessage) -> None:
        """Links `sandbox:/mnt/data/NAME` to files code_interpreter produced in this run become
        `file_path` annotations, sent in one last delta of the message."""
        text = open_message.text()
        new = []
        for match in FILE_LINK.finditer(text):
            link = match.group(0).rstrip(".,;:!?")
            file_id = active.citations.get(link)
            if file_id is None:
                continue
            annotation = {
                "type": "file_path",
                "text": link,
                "start_index": match.start(),
                "end_index": match.start() + len(link),
                "file_path": {"file_id": file_id},
            }
            open_message.annotations.append(annotation)
            new.append({"index": len(open_message.annotations) - 1, **annotation})
        if new:
            self._emit(
                active,
                "thread.message.delta",
                {
                    "id": open_message.message["id"],
                    "object": "thread.message.delta",
                    "delta": {
                        "content": [
                            {"index": 0, "type": "text", "text": {"value": "", "annotations": new}}
                        ]
                    },
                },
            )

    async def _close_step(
        self,
        active: ActiveRun,
        step: dict[str, Any],
        status: str,
        error: dict[str, Any] | None = None,
        usage: dict[str, int] | None = None,
    ) -> None:
        now = objects.now()
        step["status"] = status
        timestamp = {
            "completed": "completed_at",
            "failed": "failed_at",
            "cancelled": "cancelled_at",
            "expired": "expired_at",
        }[status]
        step[timestamp] = now
        if error:
            step["last_error"] = error
        step["usage"] = usage or objects.usage(0, 0)
        await self.db.update("steps", step)
        self._emit(active, f"thread.run.step.{status}", public_step(step))

    async def _tool_delta(self, active: ActiveRun, delta: ToolCallDelta) -> None:
        if active.message is not None:
            await self._finish_message(active)  # text before tool calls: close that message first
        tool_step = active.tool_step
        if tool_step is None:
            step = objects.step(active.run, {"type": "tool_calls", "tool_calls": []})
            await self.db.insert("steps", step)
            self._emit(active, "thread.run.step.created", step)
            self._emit(active, "thread.run.step.in_progress", step)
            tool_step = active.tool_step = OpenToolStep(step)
        calls = tool_step.calls
        if delta.index >= len(calls):
            config = self._server_tool_config(active, delta.name or "")
            if config is not None:
                server_tool = tools_get(config["type"])
                assert server_tool is not None
                kind = config["type"]
                call = {
                    "id": delta.id or objects.new_id("call_"),
                    "type": kind,
                    kind: server_tool.initial(config),
                }
                calls.append(call)
                tool_step.arguments[len(calls) - 1] = ""
                intro = {"index": len(calls) - 1, **json.loads(json.dumps(call))}
            else:
                call = {
                    "id": delta.id or objects.new_id("call_"),
                    "type": "function",
                    "function": {"name": delta.name or "", "arguments": "", "output": None},
                }
                calls.append(call)
                intro = {
                    "index": len(calls) - 1,
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": "",
                        "output": None,
                    },
                }
            self._emit_step_delta(active, tool_step.step, intro)
        index = min(delta.index, len(calls) - 1)
        if index in tool_step.arguments:  # a server-side call: its tool decides what streams
            so_far = tool_step.arguments[index] + delta.arguments
            tool_step.arguments[index] = so_far
            kind = calls[index]["type"]
            server_tool = tools_get(kind)
            shown = (
                server_tool.arguments_delta(delta.arguments, so_far)
                if server_tool and delta.arguments
                else None
            )
            if shown is not None:
                self._emit_step_delta(
                    active, tool_step.step, {"index": index, "type": kind, kind: shown}
                )
            return
        if delta.arguments:
            calls[index]["function"]["arguments"] += delta.arguments
            self._emit_step_delta(
                active,
                tool_step.step,
                {"index": index, "type": "function", "function": {"arguments": delta.arguments}},
            )

    def _emit_step_delta(
        self, active: ActiveRun, step: dict[str, Any], tool_call: dict[str, Any]
    ) -> None:
        self._emit(
            active,
            "thread.run.step.delta",
            {
                "id": step["id"],
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [tool_call]}},
            },
        )

    async def _require_action(self, active: ActiveRun) -> None:
        assert active.tool_step is not None
        step = active.tool_step.step
        step["step_details"]["tool_calls"] = active.tool_step.calls
        step["usage"] = active.turn_usage  # kept for completion; status stays in_progress
        await self.db.update("steps", step)
        tool_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {
                    "name": c["function"]["name"],
                    "arguments": c["function"]["arguments"],
                },
            }
            for c in active.tool_step.calls
            if c["type"] == "function"
        ]
        active.task = None
        await self._set_status(
            active,
            "requires_action",
            required_action={
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": tool_calls},
            },
        )

    async def _pending_tool_step(self, active: ActiveRun) -> OpenToolStep:
        """The tool step awaiting outputs (rebuilt from the database after a restart)."""
        if active.tool_step is None:
            steps = await self.db.all_where("steps", "run_id", active.run["id"])
            step = next(s for s in reversed(steps) if s["type"] == "tool_calls")
            active.tool_step = OpenToolStep(step, step["step_details"]["tool_calls"])
            usage = active.run.get("usage")
            if usage:
                active.prompt_tokens = usage["prompt_tokens"]
                active.completion_tokens = usage["completion_tokens"]
        return active.tool_step

    async def submit_tool_outputs(self, active: ActiveRun, outputs: list[dict[str, Any]]) -> None:
        """Fill the pending calls' outputs, complete the step and queue the run again."""
        run = active.run
        if run["status"] != "requires_action":
            raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
        tool_step = await self._pending_tool_step(active)
        by_id = {c["id"]: c for c in tool_step.calls if c["type"] == "function"}
        given: dict[str, str] = {}
        for i, item in enumerate(outputs):
            call_id = item.get("tool_call_id")
            if call_id is None:
                raise bad_request(
                    f"Missing required parameter: 'tool_outputs[{i}].tool_call_id'.",
                    param=f"tool_outputs[{i}].tool_call_id",
                    code="missing_required_parameter",
                )
            if call_id not in by_id:
                raise bad_request(
                    f"Invalid 'tool_outputs[{i}].tool_call_id': no pending tool call with id "
                    f"'{call_id}'. Expected one of: {', '.join(by_id)}.",
                    param=f"tool_outputs[{i}].tool_call_id",
                )
            if call_id in given:
                raise bad_request(
                    f"Duplicate tool output for tool call '{call_id}'.",
                    param=f"tool_outputs[{i}].tool_call_id",
                )
            given[call_id] = item.get("output") or ""
        missing = [call_id for call_id in by_id if call_id not in given]
        if missing:
            raise bad_request(
                f"Expected tool outputs for call_ids {list(by_id)}, got values for "
                f"{list(given)}. Missing: {', '.join(missing)}.",
                param="tool_outputs",
            )
        for call_id, output in given.items():
            by_id[call_id]["function"]["output"] = output
        step = tool_step.step
        step["step_details"]["tool_calls"] = tool_step.calls
        active.tool_step = None
        await self._close_step(active, step, "completed", usage=step.get("usage"))
        run["required_action"] = None
        await self._set_status(active, "queued")
        self.start(active, announce=False)

    # --- server-side tools ------------------------------------------------------------------------

    def _server_tool_config(self, active: ActiveRun, name: str) -> dict[str, Any] | None:
        """The run's tool entry when `name` is a server-side tool it has (not a function)."""
        if tools_get(name) is None:
            return None
        entries = active.run["tools"]
        if any(t["type"] == "function" and t["function"]["name"] == name for t in entries):
            return None
        return next((t for t in entries if t["type"] == name), None)

    async def _run_server_calls(self, active: ActiveRun) -> None:
        """Execute the step's server-side calls (in order), store and stream their results."""
        tool_step = active.tool_step
        assert tool_step is not None
        run = active.run
        step = tool_step.step
        for index, call in enumerate(tool_step.calls):
            kind = call["type"]
            server_tool = tools_get(kind) if index in tool_step.arguments else None
            if server_tool is None:
                continue
            config = next(t for t in run["tools"] if t["type"] == kind)

            def emit(delta: dict[str, Any], index: int = index, kind: str = kind) -> None:
                self._emit_step_delta(active, step, {"index": index, "type": kind, kind: delta})

            ordinal = active.ordinals.get(kind, 0)
            active.ordinals[kind] = ordinal + 1
            context = ToolContext(run, call["id"], config, self.services, emit, ordinal)
            arguments = tool_step.arguments[index]
            result = await server_tool.run(context, arguments)
            call[kind] = result.body
            await self.db.put_tool_output(
                (
                    call["id"],
                    run["id"],
                    kind,
                    arguments,
                    result.output,
                    json.dumps(result.citations, ensure_ascii=False),
                ),
            )
            active.citations.update(result.citations)
            active.message_parts.extend(result.message_parts)
            step["step_details"]["tool_calls"] = tool_step.calls
            await self.db.update("steps", step)

    async def _complete_tool_step(self, active: ActiveRun) -> None:
        tool_step = active.tool_step
        assert tool_step is not None
        step = tool_step.step
        step["step_details"]["tool_calls"] = tool_step.calls
        active.tool_step = None
        await self._close_step(active, step, "completed", usage=active.turn_usage)

    # --- endings --------------------------------------------------------------------------------

    async def _fail(self, active: ActiveRun, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        await self._finish_message(
            active, incomplete_reason="run_failed", step_status="failed", error=error
        )
        if active.tool_step:
            await self._close_step(active, active.tool_step.step, "failed", error)
            active.tool_step = None
        await self._set_status(
            active,
            "failed",
            failed_at=objects.now(),
            last_error=error,
            usage=self._run_usage(active),
        )

    async def _finish_interrupted(self, active: ActiveRun) -> None:
        """Cancelled by the user (→ cancelled) or by the expiry timer (→ expired)."""
        if active.run["status"] in TERMINAL:
            return
        if active.interrupt == "expire":
            await self._finish_message(
                active, incomplete_reason="run_expired", step_status="expired"
            )
            if active.tool_step:
                await self._close_step(active, active.tool_step.step, "expired")
                active.tool_step = None
            await self._set_status(active, "expired", usage=self._run_usage(active))
            return
        if active.run["status"] != "cancelling":
            await self._set_status(active, "cancelling")
        await self._finish_message(
            active, incomplete_reason="run_cancelled", step_status="cancelled"
        )
        if active.tool_step:
            await self._close_step(active, active.tool_step.step, "cancelled")
            active.tool_step = None
        await self._set_status(
            active, "cancelled", cancelled_at=objects.now(), usage=self._run_usage(active)
        )

    async def cancel(self, active: ActiveRun) -> dict[str, Any]:
        """Request cancellation; answers with the run in `cancelling` (it ends `cancelled`)."""
        run = active.run
        if run["status"] not in ("queued", "in_progress", "requires_action"):
            raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
        active.interrupt = "cancel"
        await self._set_status(active, "cancelling")
        snapshot = json.loads(json.dumps(run))
        if active.task is not None and not active.task.done():
            active.task.cancel()
        else:
            if await self._has_tool_step(active):
                await self._pending_tool_step(active)
            self._spawn(self._finish_interrupted(active))
        return snapshot

    async def _has_tool_step(self, active: ActiveRun) -> bool:
        if active.tool_step is not None:
            return True
        return any(
            s["type"] == "tool_calls" and s["status"] == "in_progress"
            for s in await self.db.all_where("steps", "run_id", active.run["id"])
        )

    def _arm_expiry(self, active: ActiveRun) -> None:
        expires_at = active.run["expires_at"]
        if expires_at is None:
            return
        delay = max(expires_at - time.time(), 0)
        loop = asyncio.get_running_loop()
        active.expiry = loop.call_later(delay, self._expire, active)

    def _expire(self, active: ActiveRun) -> None:
        self._spawn(self._expire_now(active))

    async def _expire_now(self, active: ActiveRun) -> None:
        active.expiry = None
        if active.run["status"] in TERMINAL:
            return
        active.interrupt = "expire"
        if active.task is not None and not active.task.done():
            active.task.cancel()
        else:
            if await self._has_tool_step(active):
                await self._pending_tool_step(active)
            await self._finish_interrupted(active)
