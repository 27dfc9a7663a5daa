"""What the run inspector shows: one run and its steps, read from the runs and steps APIs.

`fetch_run_details(client, thread_id, run_id)` retrieves the run, lists its steps (oldest first)
and the messages it created, and returns plain dataclasses: timings (created, started, ended and
the durations between them), usage, errors, and for each step either the message it created or
its tool calls with arguments and outputs. `latest_run_id` finds a thread's newest run.

No Textual here; `client` is an `openai.AsyncOpenAI` (or anything with the same `beta.threads`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from spool.client.connection import describe_error
from spool.client.export import message_text

PAGE_LIMIT = 100
INCLUDE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


class RunDetailsError(Exception):
    """The run or its steps could not be read (the message says why)."""


@dataclass(slots=True)
class Usage:
    """Token counts of a run or a step."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, usage: Any) -> Usage | None:
        """From an SDK usage object (None stays None)."""
        if usage is None:
            return None
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        total = int(getattr(usage, "total_tokens", 0) or prompt + completion)
        return cls(prompt, completion, total)


@dataclass(slots=True)
class SearchResult:
    """One result of a file_search call: the file, its score and the chunk's text."""

    file_id: str
    file_name: str
    score: float
    content: str = ""  # empty when the server did not include it


@dataclass(slots=True)
class ToolCallDetail:
    """One tool call of a `tool_calls` step.

    code_interpreter: `arguments` is the code, `logs` its logs (`output` too), `images` its
    image outputs as (file id, file name). file_search: `query` (when the server says it) and
    `results`.
    """

    id: str
    type: str  # function | code_interpreter | file_search
    name: str = ""
    arguments: str = ""
    output: str | None = None
    logs: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)
    query: str = ""
    results: list[SearchResult] = field(default_factory=list)

    @property
    def pretty_arguments(self) -> str:
        """The arguments as indented JSON when they parse, else as they are."""
        return pretty_json(self.arguments)

    @property
    def pretty_output(self) -> str | None:
        """The output as indented JSON when it parses, else as it is."""
        return None if self.output is None else pretty_json(self.output)


@dataclass(slots=True)
class StepDetail:
    """One run step: a message creation or a batch of tool calls."""

    id: str
    type: str  # message_creation | tool_calls
    status: str
    created_at: float | None = None
    completed_at: float | None = None
    ended_at: float | None = None  # completed, failed, cancelled or expired
    usage: Usage | None = None
    message_id: str | None = None
    message_text: str | None = None
    tool_calls: list[ToolCallDetail] = field(default_factory=list)
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from creation to the end (None while it runs)."""
        return _span(self.created_at, self.ended_at)


@dataclass(slots=True)
class RunDetails:
    """A run, its timings, usage, errors and steps."""

    id: str
    thread_id: str
    status: str
    model: str = ""
    assistant_id: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None  # completed, failed, cancelled or expired
    ended_how: str = ""  # which of those
    usage: Usage | None = None
    error: str | None = None
    required_calls: list[ToolCallDetail] = field(default_factory=list)  # requires_action
    steps: list[StepDetail] = field(default_factory=list)

    @property
    def queued_s(self) -> float | None:
        """Seconds from creation until the run started."""
        return _span(self.created_at, self.started_at)

    measured_s: float | None = None  # the duration this client measured (see `duration_s`)

    @property
    def duration_s(self) -> float | None:
        """Seconds from the start (or creation) to the end.

        The API's timestamps are whole seconds; when this client watched the run end it
        measured the duration itself (`measured_s`, kept in the index), and that one is used,
        so the run inspector and the status bar say the same.
        """
        if self.measured_s is not None and self.ended_at is not None:
            return self.measured_s
        return _span(self.started_at or self.created_at, self.ended_at)


def pretty_json(raw: str) -> str:
    """`raw` as indented JSON when it parses, else unchanged."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return raw


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, float(end) - float(start))


def _time(value: Any) -> float | None:
    return float(value) if value else None


def run_end(obj: Any) -> tuple[float | None, str]:
    """When a run or step ended and how (`completed_at`, `failed_at`, …); (None, "") while on."""
    for how in ("completed", "failed", "cancelled", "expired"):
        value = getattr(obj, f"{how}_at", None)
        if value:
            return float(value), how
    return None, ""


def _error(obj: Any) -> str | None:
    err = getattr(obj, "last_error", None)
    if err is not None:
        return f"{err.code}: {err.message}"
    incomplete = getattr(obj, "incomplete_details", None)
    if incomplete is not None:
        return f"incomplete: {incomplete.reason}"
    return None


def _tool_call(call: Any) -> ToolCallDetail:
    kind = getattr(call, "type", "") or ""
    if kind == "function":
        fn = call.function
        return ToolCallDetail(
            call.id, kind, fn.name or "", fn.arguments or "", getattr(fn, "output", None)
        )
    if kind == "code_interpreter":
        ci = call.code_interpreter
        outputs = getattr(ci, "outputs", None) or []
        logs = "".join(getattr(o, "logs", "") or "" for o in outputs if o.type == "logs")
        images = [(o.image.file_id, o.image.file_id) for o in outputs if o.type == "image"]
        detail = ToolCallDetail(call.id, kind, "code_interpreter", ci.input or "", logs)
        detail.logs, detail.images = logs, images
        return detail
    if kind == "file_search":
        fs = call.file_search
        detail = ToolCallDetail(call.id, kind, "file_search")
        query = getattr(fs, "query", None)
        detail.query = query if isinstance(query, str) else ""
        for result in getattr(fs, "results", None) or []:
            chunks = getattr(result, "content", None) or []
            detail.results.append(
                SearchResult(
                    result.file_id,
                    result.file_name or result.file_id,
                    float(result.score or 0.0),
                    "\n".join(getattr(c, "text", "") or "" for c in chunks),
                )
            )
        return detail
    return ToolCallDetail(call.id, kind, kind)


def step_detail(step: Any, texts: dict[str, str]) -> StepDetail:
    """A `StepDetail` from an SDK RunStep (`texts`: message id -> text)."""
    ended, _how = run_end(step)
    detail = StepDetail(
        id=step.id,
        type=step.type,
        status=step.status,
        created_at=_time(step.created_at),
        completed_at=_time(getattr(step, "completed_at", None)),
        ended_at=ended,
        usage=Usage.of(getattr(step, "usage", None)),
        error=_error(step),
    )
    details = step.step_details
    if getattr(details, "type", None) == "message_creation":
        detail.message_id = details.message_creation.message_id
        detail.message_text = texts.get(detail.message_id or "")
    elif getattr(details, "type", None) == "tool_calls":
        detail.tool_calls = [_tool_call(c) for c in details.tool_calls or []]
    return detail


def run_details_from(run: Any, steps: list[Any], messages: list[Any]) -> RunDetails:
    """Assemble `RunDetails` from SDK objects (run, its steps oldest first, its messages)."""
    texts = {m.id: message_text(m) for m in messages}
    ended, how = run_end(run)
    details = RunDetails(
        id=run.id,
        thread_id=run.thread_id,
        status=run.status,
        model=run.model or "",
        assistant_id=run.assistant_id,
        created_at=_time(run.created_at),
        started_at=_time(getattr(run, "started_at", None)),
        ended_at=ended,
        ended_how=how,
        usage=Usage.of(run.usage),
        error=_error(run),
        steps=[step_detail(s, texts) for s in steps],
    )
    action = getattr(run, "required_action", None)
    if action is not None and getattr(action, "submit_tool_outputs", None) is not None:
        details.required_calls = [_tool_call(c) for c in action.submit_tool_outputs.tool_calls]
    return details


async def fetch_run_details(client: Any, thread_id: str, run_id: str) -> RunDetails:
    """Read a run, its steps (file_search results with their chunks) and its messages, and the
    names of the images its code produced; raises `RunDetailsError`."""
    threads = client.beta.threads
    try:
        run = await threads.runs.retrieve(run_id, thread_id=thread_id)
        steps = [
            s
            async for s in threads.runs.steps.list(
                run_id,
                thread_id=thread_id,
                order="asc",
                limit=PAGE_LIMIT,
                include=[INCLUDE_SEARCH_CONTENT],
            )
        ]
        page = await threads.messages.list(thread_id, run_id=run_id, order="asc", limit=PAGE_LIMIT)
    except Exception as exc:
        raise RunDetailsError(describe_error(exc)) from exc
    details = run_details_from(run, steps, list(page.data))
    await _name_images(client, details)
    return details


async def _name_images(client: Any, details: RunDetails) -> None:
    """Image outputs named by their files' names (an unreadable file keeps its id)."""
    calls = [c for s in details.steps for c in s.tool_calls if c.images]
    ids = list(dict.fromkeys(file_id for c in calls for file_id, _ in c.images))
    if not ids:
        return

    async def name(file_id: str) -> str:
        try:
            return (await client.files.retrieve(file_id)).filename or file_id
        except Exception:
            return file_id

    names = dict(zip(ids, await asyncio.gather(*(name(i) for i in ids)), strict=True))
    for call in calls:
        call.images = [(file_id, names.get(file_id, file_id)) for file_id, _ in call.images]


async def latest_run_id(client: Any, thread_id: str) -> str | None:
    """The id of the thread's newest run (None when it has none); raises `RunDetailsError`."""
    try:
        page = await client.beta.threads.runs.list(thread_id, limit=1, order="desc")
    except Exception as exc:
        raise RunDetailsError(describe_error(exc)) from exc
    return page.data[0].id if page.data else None
