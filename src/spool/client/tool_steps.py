"""Server-side tool calls (code_interpreter, file_search) as transcript items, and the media of
messages (image_file parts, file_path annotations).

* `StepTracker.delta` / `StepTracker.completed`: a `thread.run.step.delta` / `.completed` event's
  code_interpreter and file_search calls applied to a `ThreadView` (the code grows as the model
  writes it, logs and images arrive, the call ends with the step);
* `items_of_step`: the same items from a stored run step (a reloaded thread);
* `images_of` / `files_of`: the image file ids and produced files of an SDK message.

No Textual here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from spool.client.view_model import (
    CodeStepItem,
    FileSearchItem,
    Item,
    ProducedFile,
    ThreadView,
)

SERVER_TOOLS = frozenset({"code_interpreter", "file_search"})
EMIT_S = 0.04  # code deltas reach the listeners at most this often (as message deltas do)


def _float(value: Any) -> float | None:
    return float(value) if value else None


def _results_count(file_search: Any) -> int | None:
    results = _field(file_search, "results")
    return None if results is None else len(results)


def _field(obj: Any, name: str) -> Any:
    """`obj.name` for SDK models, `obj[name]` for the plain dicts some deltas carry."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def query_of(file_search: Any) -> str:
    """The query of a file_search call, when the server says it (the API has no field for it)."""
    query = _field(file_search, "query")
    return query if isinstance(query, str) else ""


def _apply_outputs(item: CodeStepItem, outputs: list[Any], *, replace: bool) -> None:
    """Logs and images of a code call (`replace`: the full list, else deltas to add)."""
    if replace:
        item.logs, item.images = "", []
    for output in outputs or []:
        kind = _field(output, "type")
        if kind == "logs":
            item.logs += _field(output, "logs") or ""
        elif kind == "image":
            file_id = _field(_field(output, "image"), "file_id")
            if file_id and file_id not in item.images:
                item.images.append(file_id)


class StepTracker:
    """Applies the server-side tool calls of step events to views (one per run driver)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._calls: dict[tuple[str, int], str] = {}  # (step id, index) -> call id
        self._last_emit: dict[str, float] = {}  # call id -> monotonic time of its last emit
        self._pending: dict[str, asyncio.TimerHandle] = {}  # call id -> its trailing emit

    def _emit_code(self, view: ThreadView, item: CodeStepItem, *, now: bool) -> None:
        """Listeners hear about code growing at most every EMIT_S (a model writing its code
        token by token would re-render it per token); the last fragment is always shown,
        EMIT_S later at most. `now`: outputs or the end, shown at once."""
        pending = self._pending.pop(item.id, None)
        if pending is not None:
            pending.cancel()
        clock = time.monotonic()
        wait = EMIT_S - (clock - self._last_emit.get(item.id, 0.0))
        if now or wait <= 0:
            self._last_emit[item.id] = clock
            view.updated(item)
            return

        def later() -> None:
            self._pending.pop(item.id, None)
            self._last_emit[item.id] = time.monotonic()
            view.updated(item)

        self._pending[item.id] = asyncio.get_running_loop().call_later(wait, later)

    def delta(
        self, view: ThreadView, step_id: str, tool_calls: list[Any], run_id: str | None
    ) -> None:
        """A step delta: new calls appear, code grows, outputs arrive."""
        for tc in tool_calls:
            kind = _field(tc, "type")
            if kind not in SERVER_TOOLS:
                continue
            key = (step_id, _field(tc, "index") or 0)
            call_id = _field(tc, "id") or self._calls.get(key)
            if call_id is None:
                continue
            self._calls[key] = call_id
            item = view.find_step_item(call_id)
            if item is None:
                item = self._new(call_id, kind, run_id)
                view.add(item)
            if isinstance(item, CodeStepItem):
                ci = _field(tc, "code_interpreter")
                item.code += _field(ci, "input") or ""
                outputs = _field(ci, "outputs") or []
                _apply_outputs(item, outputs, replace=False)
                self._emit_code(view, item, now=bool(outputs))
                continue
            fs = _field(tc, "file_search")
            item.query = query_of(fs) or item.query
            count = _results_count(fs)
            if count is not None:
                item.results = count
            view.updated(item)

    def completed(self, view: ThreadView, step: Any) -> None:
        """A finished (or failed, cancelled, expired) tool_calls step: final inputs, outputs and
        status of its server-side calls."""
        for fresh in items_of_step(step):
            item = view.find_step_item(fresh.id)
            if item is None:
                if isinstance(fresh, CodeStepItem):
                    fresh.started_at = fresh.ended_at = self.clock()
                view.add(fresh)
                continue
            item.status = fresh.status
            pending = self._pending.pop(item.id, None)
            if pending is not None:
                pending.cancel()  # (this emit shows everything)
            self._last_emit.pop(item.id, None)
            if isinstance(item, CodeStepItem) and isinstance(fresh, CodeStepItem):
                item.code = fresh.code or item.code
                item.logs, item.images = fresh.logs, fresh.images
                item.ended_at = self.clock()
            elif isinstance(item, FileSearchItem) and isinstance(fresh, FileSearchItem):
                item.query = fresh.query or item.query
                item.results = fresh.results
            view.updated(item)
        for key in [k for k in self._calls if k[0] == step.id]:
            del self._calls[key]

    def sync(self, view: ThreadView, steps: list[Any]) -> None:
        """Stored steps of a run being followed by polling (re-attached after a restart): new
        calls appear, known ones take the steps' code, outputs and status."""
        for step in steps:
            for fresh in items_of_step(step):
                item = view.find_step_item(fresh.id)
                if item is None:
                    view.add(fresh)
                elif isinstance(item, CodeStepItem) and isinstance(fresh, CodeStepItem):
                    now = (fresh.code, fresh.logs, fresh.images, fresh.status)
                    if (item.code, item.logs, item.images, item.status) != now:
                        item.code, item.logs, item.images, item.status = now
                        if not item.running and item.ended_at is None:
                            item.ended_at = fresh.ended_at or self.clock()
                        view.updated(item)
                elif (
                    isinstance(item, FileSearchItem)
                    and isinstance(fresh, FileSearchItem)
                    and (item.status, item.results) != (fresh.status, fresh.results)
                ):
                    item.status, item.results = fresh.status, fresh.results
                    item.query = fresh.query or item.query
                    view.updated(item)

    def _new(self, call_id: str, kind: str, run_id: str | None) -> Item:
        if kind == "code_interpreter":
            return CodeStepItem(call_id, run_id=run_id, started_at=self.clock())
        return FileSearchItem(call_id, run_id=run_id)


def uses_server_tools(run: Any) -> bool:
    """Whether a run may have code_interpreter or file_search steps."""
    return any(getattr(t, "type", None) in SERVER_TOOLS for t in getattr(run, "tools", None) or [])


def items_of_step(step: Any) -> list[Item]:
    """The code_interpreter and file_search calls of an SDK run step, as items."""
    details = getattr(step, "step_details", None)
    if getattr(details, "type", None) != "tool_calls":
        return []
    status = "completed" if step.status == "completed" else step.status
    items: list[Item] = []
    for tc in details.tool_calls or []:
        if tc.type == "code_interpreter":
            ci = tc.code_interpreter
            item = CodeStepItem(
                tc.id,
                code=ci.input or "",
                status=status,
                run_id=step.run_id,
                started_at=_float(step.created_at),
                ended_at=_float(
                    step.completed_at or step.failed_at or step.cancelled_at or step.expired_at
                ),
            )
            _apply_outputs(item, ci.outputs or [], replace=True)
            items.append(item)
        elif tc.type == "file_search":
            fs = tc.file_search
            items.append(
                FileSearchItem(
                    tc.id,
                    query=query_of(fs),
                    results=_results_count(fs) if status == "completed" else None,
                    status=status,
                    run_id=step.run_id,
                )
            )
    return items


def images_of(message: Any) -> list[str]:
    """The file ids of a message's `image_file` parts, in order."""
    ids = []
    for part in getattr(message, "content", None) or []:
        file_id = _field(_field(part, "image_file"), "file_id")
        if getattr(part, "type", None) == "image_file" and file_id:
            ids.append(file_id)
    return ids


def files_of(message: Any) -> list[ProducedFile]:
    """The files a message links to with `file_path` annotations (each file once)."""
    found: dict[str, ProducedFile] = {}
    for part in getattr(message, "content", None) or []:
        if getattr(part, "type", None) != "text":
            continue
        for note in _field(_field(part, "text"), "annotations") or []:
            if getattr(note, "type", None) == "file_path" and note.file_path is not None:
                file_id = note.file_path.file_id
                found.setdefault(file_id, ProducedFile(file_id, note.text or file_id))
    return list(found.values())


def add_delta_media(item: Any, content: list[Any]) -> bool:
    """Image parts and file_path annotations of a message delta added to a `MessageItem`;
    returns whether anything was added."""
    added = False
    for part in content or []:
        kind = getattr(part, "type", None)
        if kind == "image_file":
            file_id = _field(_field(part, "image_file"), "file_id")
            if file_id and file_id not in item.images:
                item.images.append(file_id)
                added = True
        elif kind == "text":
            for note in _field(_field(part, "text"), "annotations") or []:
                if getattr(note, "type", None) != "file_path" or note.file_path is None:
                    continue
                file_id = note.file_path.file_id
                if file_id and all(f.file_id != file_id for f in item.files):
                    item.files.append(ProducedFile(file_id, note.text or file_id))
                    added = True
    return added
