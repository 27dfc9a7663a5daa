"""The run driver: messages and runs over the SDK, turned into `ThreadView` updates.

* `load` / `load_older`: message pages (newest first from the API, shown oldest first).
* `send`: create the user message, then `runs.stream(...)`; every event updates the view.
* `submit_tool_outputs`: `runs.submit_tool_outputs_stream(...)`, same event handling.
* `cancel`: `runs.cancel` (or remembered until the run id is known).
* `resume`: re-attach to an active run found by `runs.list(limit=1)` by polling the run and its
  messages until it ends (or needs tool outputs).

Errors are raised as `RunError` after the view shows them; the caller (the TUI) adds a toast and
puts the text back in the composer. No Textual here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from spool.client.attachments import FileNames
from spool.client.attachments import from_message as attachments_of
from spool.client.connection import describe_error, describe_problem
from spool.client.export import message_text
from spool.client.run_details import run_end
from spool.client.run_options import RunOptions
from spool.client.tool_steps import (
    StepTracker,
    add_delta_media,
    files_of,
    images_of,
    items_of_step,
    uses_server_tools,
)
from spool.client.view_model import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Item,
    MessageItem,
    RunState,
    ThreadView,
    ToolCallItem,
    new_local_id,
)

PAGE_SIZE = 20
STEP_ENDS = frozenset(
    f"thread.run.step.{how}" for how in ("completed", "failed", "cancelled", "expired")
)
POLL_INTERVAL_S = 0.25
DELTA_EMIT_S = 0.04


class DurationBook(Protocol):
    """Where run durations measured by this client are kept (`spool.store.Store` is one)."""

    def run_duration(self, run_id: str) -> float | None: ...

    def set_run_duration(self, run_id: str, seconds: float) -> None: ...


class RunError(Exception):
    """A send, stream or poll went wrong. `sent` says whether the user message reached the
    server (if not, it stays in the view as `unsent`); `connection_lost` that the server could
    not be reached or went away (the caller reconnects and re-attaches)."""

    def __init__(self, message: str, *, sent: bool, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.connection_lost = connection_lost


@dataclass
class RunOutcome:
    """How a run ended, as far as this stream or poll saw it."""

    status: str
    error: str | None = None


def _message_item(message: Any) -> MessageItem:
    item = _plain_message_item(message)
    item.citations.add_message(message)  # file_citation annotations → [n]
    return item


def _plain_message_item(message: Any) -> MessageItem:
    role = "user" if message.role == "user" else "assistant"
    images = images_of(message)
    return MessageItem(
        id=message.id,
        role=role,
        text=_shown_text(message, images),
        status=message.status or "completed",
        run_id=message.run_id,
        created_at=float(message.created_at or 0),
        images=images,
        files=files_of(message),
    )


def _shown_text(message: Any, images: list[str]) -> str:
    """The message's text without the links of the images it shows inline."""
    text = message_text(message)
    for file_id in images:
        text = text.replace(f"![image]({file_id})", "")
    return text.rstrip() if images else text


def run_error_text(run: Any) -> str | None:
    """The reason a run did not complete, as one line."""
    if run.last_error is not None:
        return f"{run.last_error.code}: {run.last_error.message}"
    if run.incomplete_details is not None:
        return f"incomplete: {run.incomplete_details.reason}"
    if run.status == "expired":
        return "the run expired"
    if run.status == "cancelled":
        return "cancelled"
    return None


class RunDriver:
    """Drives runs of one connection (an `openai.AsyncOpenAI`)."""

    def __init__(
        self,
        client: Any,
        clock: Callable[[], float] = time.time,
        durations: DurationBook | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        # where measured run durations are kept (the index), so a reload shows the same ones
        self.durations = durations
        self._step_calls: dict[tuple[str, int], str] = {}  # (step id, index) -> call id
        self._server_steps = StepTracker(clock)  # code_interpreter and file_search calls
        self._last_emit: dict[str, float] = {}  # message id -> monotonic time of last emit
        self.file_names = FileNames(client)  # attachments' names and sizes (cached)

    @property
    def threads(self) -> Any:
        return self.client.beta.threads

    # --- threads ----------------------------------------------------------------------------
    async def create_thread(self) -> str:
        """A new empty thread on the server; returns its id."""
        thread = await self.threads.create()
        return str(thread.id)

    async def delete_thread(self, thread_id: str) -> None:
        """Delete a thread on the server (already gone counts as deleted)."""
        import openai

        try:
            await self.threads.delete(thread_id)
        except openai.NotFoundError:
            return

    # --- loading ----------------------------------------------------------------------------
    async def load(self, view: ThreadView, *, limit: int = PAGE_SIZE) -> Any | None:
        """Load the newest page of messages; returns an active run to resume, if any."""
        view.loading = True
        try:
            page, runs = await asyncio.gather(
                self.threads.messages.list(view.thread_id, limit=limit, order="desc"),
                self.threads.runs.list(view.thread_id, limit=1, order="desc"),
            )
            items = await self._with_tool_calls(view.thread_id, list(reversed(page.data)))
            oldest = page.data[-1].id if page.data else None
        except Exception as exc:
            view.loading = False
            problem = describe_problem(exc)
            view.error = problem.text
            raise RunError(problem.text, sent=False, connection_lost=problem.connection) from exc
        view.loading = False
        view.error = None
        view.reset(items, has_more=bool(page.has_more), oldest_id=oldest)
        last = runs.data[0] if runs.data else None
        if last is None:
            return None
        if last.status in ACTIVE_STATUSES:
            return last
        reason = run_error_text(last)
        if last.status in ("failed", "incomplete", "expired") and reason:
            view.notice(last.status, f"Run {last.status}: {reason}")  # (reset dropped notices)
        if view.run is None or view.run.id in (None, last.id):
            # first load, or a reload after reconnecting: the server's word on the last run
            view.run = self._state_from_run(last, started=False)
            view.run_changed()
        return None

    async def _with_tool_calls(self, thread_id: str, messages: list[Any]) -> list[Item]:
        """Messages (oldest first) as items, each run's function calls before its reply.

        The messages API does not return tool calls, so the steps of the runs on this page are
        fetched (in parallel); a run's calls are placed before its first message on the page.
        """
        run_ids = list(dict.fromkeys(m.run_id for m in messages if m.run_id))
        pages = await asyncio.gather(
            *(
                self.threads.runs.steps.list(run_id, thread_id=thread_id, limit=100, order="asc")
                for run_id in run_ids
            )
        )
        calls: dict[str, list[Item]] = {}
        for run_id, steps in zip(run_ids, pages, strict=True):
            for step in steps.data:
                if step.step_details.type != "tool_calls":
                    continue
                calls.setdefault(run_id, []).extend(items_of_step(step))
                for tc in step.step_details.tool_calls:
                    if tc.type != "function":
                        continue
                    calls.setdefault(run_id, []).append(
                        ToolCallItem(
                            tc.id,
                            name=tc.function.name,
                            arguments=tc.function.arguments,
                            output=tc.function.output,
                            status="completed" if tc.function.output is not None else "pending",
                            run_id=run_id,
                        )
                    )
        items: list[Item] = []
        for message in messages:
            items.extend(calls.pop(message.run_id, []) if message.run_id else [])
            items.append(_message_item(message))
            items[-1].attachments = attachments_of(message)  # type: ignore[union-attr]
        await self.file_names.name(
            [a for i in items if isinstance(i, MessageItem) for a in i.attachments]
        )
        return items

    async def load_older(self, view: ThreadView, *, limit: int = PAGE_SIZE) -> int:
        """Load one older page (scroll-up pagination); returns how many messages came."""
        if not view.has_more_before or view.loading or not view.oldest_message_id:
            return 0
        view.loading = True
        try:
            page = await self.threads.messages.list(
                view.thread_id, limit=limit, order="desc", after=view.oldest_message_id
            )
        except Exception as exc:
            problem = describe_problem(exc)
            raise RunError(problem.text, sent=False, connection_lost=problem.connection) from exc
        finally:
            view.loading = False
        try:
            items = await self._with_tool_calls(view.thread_id, list(reversed(page.data)))
        except Exception as exc:
            problem = describe_problem(exc)
            raise RunError(problem.text, sent=False, connection_lost=problem.connection) from exc
        oldest = page.data[-1].id if page.data else None
        view.prepend(items, has_more=bool(page.has_more), oldest_id=oldest)
        return len(items)

    # --- runs -------------------------------------------------------------------------------
    def _state_from_run(self, run: Any, *, started: bool = True) -> RunState:
        state = RunState(
            id=run.id,
            status=run.status,
            model=run.model or "",
            assistant_id=run.assistant_id,
            started_at=self.clock() if started else None,
        )
        if not started:
            # a run seen after the fact (a reload): the duration this client measured while it
            # ran (the same one the run inspector shows), else the server's whole seconds
            state.ended_at, _how = run_end(run)
            measured = self.durations.run_duration(run.id) if self.durations else None
            if measured is not None and state.ended_at is not None:
                state.started_at = state.ended_at - measured
            else:
                state.started_at = float(run.started_at or run.created_at or 0) or None
        elif run.status not in ("queued",) and (run.started_at or run.created_at):
            # attaching to a run that began before: it started when the server says
            state.started_at = min(self.clock(), float(run.started_at or run.created_at))
        self._apply_run(state, run)
        return state

    def _ended(self, state: RunState) -> None:
        """The run ended now, by this client's clock: keep its measured duration."""
        state.ended_at = self.clock()
        if self.durations is not None and state.id and state.started_at is not None:
            self.durations.set_run_duration(state.id, state.ended_at - state.started_at)

    def _apply_run(self, state: RunState, run: Any) -> None:
        state.id = run.id
        state.status = run.status
        state.model = run.model or state.model
        state.assistant_id = run.assistant_id or state.assistant_id
        if run.usage is not None:
            state.prompt_tokens = run.usage.prompt_tokens or 0
            state.completion_tokens = run.usage.completion_tokens or 0
        if run.status in TERMINAL_STATUSES:
            state.error = run_error_text(run)
            if state.ended_at is None:
                self._ended(state)

    async def send(
        self,
        view: ThreadView,
        text: str,
        assistant_id: str,
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        options: RunOptions | None = None,
        item: MessageItem | None = None,
        metadata: dict[str, str] | None = None,
        on_posted: Callable[[MessageItem], None] | None = None,
        content: list[dict[str, Any]] | str | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> RunOutcome:
        """Post the user message and stream a run (with `options`); raises RunError.

        `item` is the message's place in the view when it is already shown (a queued message);
        if posting fails it stays there as `unsent` (with `error`) and RunError says `sent=False`.
        `on_posted` is called as soon as the server has the message (before the run starts).
        """
        if item is None:
            item = MessageItem(new_local_id("user"), "user", text, created_at=self.clock())
            item.status = "sending"
            view.add(item)
        else:
            item.status, item.error = "sending", None
            view.move_to_end(item)
            view.updated(item)
        try:
            create: dict[str, Any] = {
                "role": "user",
                "content": text if content is None else content,
            }
            if metadata:
                create["metadata"] = metadata
            if attachments:
                create["attachments"] = attachments  # (content: its image_file parts)
            message = await self.threads.messages.create(view.thread_id, **create)
        except Exception as exc:
            problem = describe_problem(exc)
            item.status, item.error = "unsent", problem.text
            item.refused = problem.refused  # the server said no: not resent by itself
            view.updated(item)
            raise RunError(problem.text, sent=False, connection_lost=problem.connection) from exc
        item.id, item.status, item.error = message.id, "completed", None
        item.created_at = float(message.created_at or item.created_at)
        view.updated(item)
        if on_posted is not None:
            on_posted(item)
        return await self.start_run(view, assistant_id, model=model, tools=tools, options=options)

    async def start_run(
        self,
        view: ThreadView,
        assistant_id: str,
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        options: RunOptions | None = None,
    ) -> RunOutcome:
        """Stream a new run on the thread as it is (also: retry after a failed run)."""
        view.run = RunState(status="queued", started_at=self.clock(), assistant_id=assistant_id)
        view.run_changed()
        kwargs: dict[str, Any] = {"thread_id": view.thread_id, "assistant_id": assistant_id}
        if model:
            kwargs["model"] = model
        if tools is not None:
            kwargs["tools"] = tools
        if options is not None:
            kwargs.update(options.to_kwargs())
        try:
            stream = self.threads.runs.stream(**kwargs)
        except Exception as exc:
            return self._fail(view, exc, sent=True)
        return await self._consume(view, stream)

    async def delete_message(self, view: ThreadView, item: MessageItem) -> None:
        """Delete a posted message on the server and from the view (already gone: deleted)."""
        import openai

        try:
            await self.threads.messages.delete(item.id, thread_id=view.thread_id)
        except openai.NotFoundError:
            pass
        except Exception as exc:
            problem = describe_problem(exc)
            raise RunError(problem.text, sent=True, connection_lost=problem.connection) from exc
        view.remove(item)

    async def delete_messages(
        self, view: ThreadView, items: list[MessageItem], *, leftovers: bool = True
    ) -> None:
        """Delete posted messages (newest first) and, with `leftovers`, the tool calls and
        notices the view shows after the first of them (their runs'). Stops at the first
        failure (RunError)."""
        shown = [i for i in items if i in view.items]
        if not shown:
            return
        start = min(view.items.index(i) for i in shown)
        # the tool calls and notices after the first deleted message (its runs' leftovers)
        extras = (
            [i for i in view.items[start:] if not isinstance(i, MessageItem)] if leftovers else []
        )
        for item in reversed(items):
            await self.delete_message(view, item)
        for extra in extras:
            view.remove(extra)

    async def find_posted(self, view: ThreadView, outbox_id: str) -> bool:
        """Whether the thread's recent messages include one posted for outbox record
        `outbox_id` (its `spool_outbox_id` metadata)."""
        page = await self.threads.messages.list(view.thread_id, limit=20, order="desc")
        return any((m.metadata or {}).get("spool_outbox_id") == outbox_id for m in page.data)

    async def ping(self, timeout: float = 5.0) -> None:
        """A cheap request that says whether the server answers (raises when it does not)."""
        await self.client.with_options(timeout=timeout, max_retries=0).models.list()

    async def submit_tool_outputs(self, view: ThreadView, outputs: dict[str, str]) -> RunOutcome:
        """Send the outputs of the pending calls and stream the rest of the run."""
        run = view.run
        if run is None or run.id is None:
            raise RunError("no run is waiting for tool outputs", sent=True)
        for call in view.pending_tool_calls():
            if call.id in outputs:
                call.output = outputs[call.id]
                call.status = "submitted"
                view.updated(call)
        run.status = "queued"
        view.run_changed()
        stream = self.threads.runs.submit_tool_outputs_stream(
            run_id=run.id,
            thread_id=view.thread_id,
            tool_outputs=[{"tool_call_id": k, "output": v} for k, v in outputs.items()],
        )
        return await self._consume(view, stream)

    async def cancel(self, view: ThreadView) -> None:
        """Ask the server to cancel the thread's active run."""
        run = view.run
        if run is None or not run.active:
            return
        run.cancel_requested = True
        view.run_changed()
        if run.id is None:
            return  # cancelled as soon as the stream says which run it is
        import openai

        try:
            await self.threads.runs.cancel(run.id, thread_id=view.thread_id)
        except openai.BadRequestError:
            # The run ended on its own before the cancel arrived: nothing to cancel, no error.
            run.cancel_requested = False
            view.run_changed()
        except Exception as exc:
            problem = describe_problem(exc)
            raise RunError(problem.text, sent=True, connection_lost=problem.connection) from exc

    def _fail(self, view: ThreadView, exc: BaseException, *, sent: bool) -> RunOutcome:
        problem = describe_problem(exc, streaming=True)
        if view.run is not None:
            view.run.status = "failed"
            view.run.error = problem.text
            self._ended(view.run)
            view.run_changed()
        view.notice("error", problem.text)
        raise RunError(problem.text, sent=sent, connection_lost=problem.connection) from exc

    async def _consume(self, view: ThreadView, manager: Any) -> RunOutcome:
        """Iterate a stream manager, applying every event to the view."""
        try:
            async with manager as stream:
                async for event in stream:
                    await self._apply_event(view, event)
                    # Buffered events are yielded without any I/O wait: give the UI a turn.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            for item in view.items:
                if isinstance(item, MessageItem) and item.streaming:
                    item.status = "incomplete"
                    view.updated(item)
            return self._fail(view, exc, sent=True)
        finally:
            for item in view.items[-3:]:
                if isinstance(item, MessageItem) and item.id in self._last_emit:
                    self._last_emit.pop(item.id, None)
                    view.updated(item)  # whatever arrived after the last emit
        run = view.run
        assert run is not None
        if run.active and run.status != "requires_action":
            # The stream ended while the run is still going: follow it by polling.
            return await self.poll(view)
        return RunOutcome(run.status, run.error)

    async def _apply_event(self, view: ThreadView, event: Any) -> None:
        name: str = getattr(event, "event", "") or ""
        data = getattr(event, "data", None)
        if name.startswith("thread.run.step."):
            self._apply_step_event(view, name, data)
        elif name.startswith("thread.run."):
            await self._apply_run_event(view, data)
        elif name == "thread.message.created":
            if data.role == "assistant" and view.find_message(data.id) is None:
                item = _message_item(data)
                item.status = "in_progress"
                view.add(item)
        elif name == "thread.message.delta":
            item = view.find_message(data.id)
            if item is None:
                item = view.add(MessageItem(data.id, "assistant", "", "in_progress"))  # type: ignore[assignment]
            assert isinstance(item, MessageItem)
            item.citations.add_message(data)  # (each annotation arrives once, in a delta)
            for part in data.delta.content or []:
                if part.type == "text" and part.text is not None and part.text.value:
                    item.text += part.text.value
            if add_delta_media(item, data.delta.content or []):
                self._last_emit[item.id] = 0.0  # an image or a file: show it now
            if view.run is not None and view.run.ended_at is None:
                view.run.completion_tokens += 1  # live estimate; replaced by usage at the end
            now = time.monotonic()
            if now - self._last_emit.get(item.id, 0.0) >= DELTA_EMIT_S:
                # The text is always current; listeners hear about it at most every 40 ms
                # (the completed/incomplete event always emits the final text).
                self._last_emit[item.id] = now
                view.updated(item)
        elif name in ("thread.message.completed", "thread.message.incomplete"):
            item = view.find_message(data.id)
            if item is None:
                view.add(_message_item(data))
            else:
                item.images = images_of(data) or item.images
                item.files = files_of(data) or item.files
                item.text = _shown_text(data, item.images) or item.text
                item.citations.add_message(data)
                item.status = data.status or "completed"
                self._last_emit.pop(item.id, None)
                view.updated(item)

    async def _apply_run_event(self, view: ThreadView, run: Any) -> None:
        state = view.run
        if state is None:
            state = view.run = RunState(started_at=self.clock())
        first = state.id is None
        self._apply_run(state, run)
        if run.status == "requires_action" and run.required_action is not None:
            for call in run.required_action.submit_tool_outputs.tool_calls:
                item = view.find_tool_call(call.id)
                if item is None:
                    item = ToolCallItem(call.id, run_id=run.id)
                    view.add(item)
                item.name = call.function.name
                item.arguments = call.function.arguments
                item.status = "pending"
                view.updated(item)
        if run.status in ("failed", "incomplete", "expired", "cancelled"):
            for item in view.items:
                if isinstance(item, MessageItem) and item.streaming:
                    item.status = "incomplete"
                    view.updated(item)
            if run.status == "cancelled":
                view.notice("cancelled", "Run cancelled.")
            else:
                view.notice(run.status, f"Run {run.status}: {state.error or 'no reason given'}")
        view.run_changed()
        if first and state.cancel_requested and state.active and state.status != "cancelling":
            try:
                await self.threads.runs.cancel(state.id, thread_id=view.thread_id)
            except Exception as exc:
                view.error = describe_error(exc)

    def _apply_step_event(self, view: ThreadView, name: str, step: Any) -> None:
        if name in STEP_ENDS and getattr(step.step_details, "type", None) == "tool_calls":
            self._server_steps.completed(view, step)  # code_interpreter, file_search
        if name == "thread.run.step.delta":
            details = getattr(step.delta, "step_details", None)
            if details is None or details.type != "tool_calls":
                return
            run_id = view.run.id if view.run is not None else None
            self._server_steps.delta(view, step.id, details.tool_calls or [], run_id)
            for tc in details.tool_calls or []:
                if tc.type != "function":
                    continue
                key = (step.id, tc.index)
                call_id = tc.id or self._step_calls.get(key)
                if call_id is None:
                    continue
                self._step_calls[key] = call_id
                item = view.find_tool_call(call_id)
                if item is None:
                    item = ToolCallItem(call_id)
                    view.add(item)
                if tc.function is not None:
                    if tc.function.name:
                        item.name = tc.function.name
                    if tc.function.arguments:
                        item.arguments += tc.function.arguments
                view.updated(item)
        elif name == "thread.run.step.completed":
            details = step.step_details
            if details.type != "tool_calls":
                return
            for tc in details.tool_calls:
                if tc.type != "function":
                    continue
                item = view.find_tool_call(tc.id)
                if item is None:
                    item = ToolCallItem(tc.id, name=tc.function.name, run_id=step.run_id)
                    view.add(item)
                item.arguments = tc.function.arguments or item.arguments
                item.output = tc.function.output
                item.status = "completed"
                view.updated(item)

    # --- polling (re-attach) --------------------------------------------------------------
    async def poll(self, view: ThreadView, run: Any | None = None) -> RunOutcome:
        """Follow a run by polling it (and its messages) until it ends or needs outputs."""
        if run is not None and (view.run is None or view.run.id != run.id):
            view.run = self._state_from_run(run)
            view.run_changed()
        state = view.run
        if state is None or state.id is None:
            return RunOutcome("unknown")
        try:
            while True:
                current = await self.threads.runs.retrieve(state.id, thread_id=view.thread_id)
                if uses_server_tools(current):  # code and searches, before the reply
                    steps = await self.threads.runs.steps.list(
                        state.id, thread_id=view.thread_id, order="asc", limit=100
                    )
                    self._server_steps.sync(view, steps.data)
                page = await self.threads.messages.list(
                    view.thread_id, run_id=state.id, order="asc", limit=100
                )
                for message in page.data:
                    if message.role != "assistant":
                        continue
                    item = view.find_message(message.id)
                    if item is None:
                        view.add(_message_item(message))
                    else:
                        item.citations.add_message(message)
                        fresh = _message_item(message)
                        if fresh.text != item.text or item.status != message.status:
                            item.text, item.status = fresh.text, message.status or item.status
                            item.images, item.files = fresh.images, fresh.files
                            view.updated(item)
                if (
                    current.status != state.status
                    or current.status not in ACTIVE_STATUSES
                    or (current.status == "requires_action" and not view.pending_tool_calls())
                ):
                    await self._apply_run_event(view, current)  # (also lists pending calls)
                if current.status not in ACTIVE_STATUSES or current.status == "requires_action":
                    return RunOutcome(current.status, state.error)
                await asyncio.sleep(POLL_INTERVAL_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._fail(view, exc, sent=True)
