"""Helpers for the `spool serve` conformance tests: raw HTTP, SSE framing, polling, handlers."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from openai import AssistantEventHandler, AsyncAssistantEventHandler

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
ACTIVE_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})

GET_WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

CALL_WEATHER = '/call get_weather {"city": "Paris"}'
CALL_WEATHER_ARGS = {"city": "Paris"}

# §5.4A: the canonical plain-text run (the SDK never yields the final `done` frame).
TEXT_RUN_PREFIX = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
TEXT_RUN_SUFFIX = [
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
]


def text_run_events(n_deltas: int) -> list[str]:
    """The exact §5.4A event list for a text reply streamed in `n_deltas` deltas."""
    return [*TEXT_RUN_PREFIX, *["thread.message.delta"] * n_deltas, *TEXT_RUN_SUFFIX]


def echo_words(text: str) -> list[str]:
    """The echo engine's deltas for a user text: one word each, the space leads the word."""
    words = f"You said: {text}".split(" ")
    return [words[0], *(" " + w for w in words[1:])]


def raw_http(server: Any, *, api_key: str | None = None, **kwargs: Any) -> httpx2.Client:
    """A plain httpx2 client on the server's /v1 with the bearer key and the beta header."""
    key = server.api_key if api_key is None else api_key
    headers = {"OpenAI-Beta": "assistants=v2"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    kwargs.setdefault("timeout", 30.0)
    return httpx2.Client(base_url=server.base_url + "/", headers=headers, **kwargs)


def assert_error_envelope(
    response: httpx2.Response, status: int | tuple[int, ...] | None = None
) -> dict[str, Any]:
    """The response is an OpenAI error envelope (4xx, never 5xx); returns the inner error."""
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code >= 400, (response.status_code, response.text)
    if status is not None:
        allowed = (status,) if isinstance(status, int) else status
        assert response.status_code in allowed, (response.status_code, response.text)
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error
    return error


@dataclass
class SSEFrame:
    """One `event:` + `data:` frame of an SSE body."""

    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse_strict(text: str) -> tuple[list[SSEFrame], int]:
    """Split a complete SSE body into frames, asserting the §5.2 framing.

    Every frame must be exactly `event: X\\ndata: <one line>\\n\\n`; comment lines
    (`: ping`) are allowed anywhere and counted. Returns (frames, number of comments).
    """
    assert "\r" not in text, "frames must be separated by bare LF"
    assert text.endswith("\n\n"), text[-200:]
    frames: list[SSEFrame] = []
    comments = 0
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        comments += sum(1 for line in lines if line.startswith(":"))
        lines = [line for line in lines if not line.startswith(":")]
        if not lines:
            continue
        assert len(lines) == 2, f"frame is not exactly event+data: {block!r}"
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        frames.append(SSEFrame(lines[0][len("event: ") :], lines[1][len("data: ") :]))
    return frames, comments


def validate_frames(spec: Any, frames: list[SSEFrame]) -> None:
    """Every frame validates as an AssistantStreamEvent; the last one is `done`/`[DONE]`."""
    assert frames, "empty stream"
    for frame in frames[:-1]:
        assert frame.event != "done", "done must be the last frame"
        data = frame.json()
        assert isinstance(data, dict), frame
        spec.validate_event(frame.event, data)
    last = frames[-1]
    assert (last.event, last.data) == ("done", "[DONE]"), last
    spec.validate_event("done", "[DONE]")


def stream_raw(
    http: httpx2.Client, path: str, body: dict[str, Any]
) -> tuple[httpx2.Response, list[SSEFrame]]:
    """POST a streaming request and read the whole SSE body (strictly framed)."""
    with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        text = response.read().decode("utf-8")
    frames, _ = parse_sse_strict(text)
    return response, frames


def wait_for_run(
    client: Any,
    thread_id: str,
    run_id: str,
    statuses: frozenset[str] | set[str] = TERMINAL_STATUSES,
    timeout: float = 20.0,
) -> Any:
    """Retrieve the run until its status is in `statuses` (fast polling, no SDK helper)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        assert time.monotonic() < deadline, f"run stayed {run.status!r}"
        time.sleep(0.03)


async def async_wait_for_run(
    client: Any,
    thread_id: str,
    run_id: str,
    statuses: frozenset[str] | set[str] = TERMINAL_STATUSES,
    timeout: float = 20.0,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = await client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        assert time.monotonic() < deadline, f"run stayed {run.status!r}"
        await asyncio.sleep(0.03)


def message_text(message: Any) -> str:
    """Concatenated text parts of an SDK Message."""
    return "".join(part.text.value for part in message.content if part.type == "text")


class RecordingHandler(AssistantEventHandler):
    """Records every callback (name and a short argument) and every event name."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.events: list[str] = []
        self.deltas: list[str] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_run_step_created(self, run_step: Any) -> None:
        self.calls.append(("run_step_created", run_step.type))

    def on_run_step_delta(self, delta: Any, snapshot: Any) -> None:
        self.calls.append(("run_step_delta", snapshot.id))

    def on_run_step_done(self, run_step: Any) -> None:
        self.calls.append(("run_step_done", run_step.type))

    def on_tool_call_created(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_created", tool_call.function.name))

    def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
        self.calls.append(("tool_call_delta", snapshot.function.arguments))

    def on_tool_call_done(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_done", tool_call.function.arguments))

    def on_message_created(self, message: Any) -> None:
        self.calls.append(("message_created", message.status))

    def on_message_delta(self, delta: Any, snapshot: Any) -> None:
        self.calls.append(("message_delta", None))

    def on_message_done(self, message: Any) -> None:
        self.calls.append(("message_done", message.status))

    def on_text_created(self, text: Any) -> None:
        self.calls.append(("text_created", text.value))

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value)
        self.calls.append(("text_delta", snapshot.value))

    def on_text_done(self, text: Any) -> None:
        self.calls.append(("text_done", text.value))

    def on_exception(self, exception: Exception) -> None:
        self.calls.append(("exception", repr(exception)))

    def on_end(self) -> None:
        self.calls.append(("end", None))


class AsyncRecordingHandler(AsyncAssistantEventHandler):
    """The async twin of RecordingHandler."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.events: list[str] = []
        self.deltas: list[str] = []

    async def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    async def on_run_step_created(self, run_step: Any) -> None:
        self.calls.append(("run_step_created", run_step.type))

    async def on_run_step_done(self, run_step: Any) -> None:
        self.calls.append(("run_step_done", run_step.type))

    async def on_tool_call_created(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_created", tool_call.function.name))

    async def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
        self.calls.append(("tool_call_delta", snapshot.function.arguments))

    async def on_tool_call_done(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_done", tool_call.function.arguments))

    async def on_message_created(self, message: Any) -> None:
        self.calls.append(("message_created", message.status))

    async def on_message_delta(self, delta: Any, snapshot: Any) -> None:
        self.calls.append(("message_delta", None))

    async def on_message_done(self, message: Any) -> None:
        self.calls.append(("message_done", message.status))

    async def on_text_created(self, text: Any) -> None:
        self.calls.append(("text_created", text.value))

    async def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value)
        self.calls.append(("text_delta", snapshot.value))

    async def on_text_done(self, text: Any) -> None:
        self.calls.append(("text_done", text.value))

    async def on_exception(self, exception: Exception) -> None:
        self.calls.append(("exception", repr(exception)))

    async def on_end(self) -> None:
        self.calls.append(("end", None))


def expected_text_callbacks(deltas: list[str]) -> list[Any]:
    """Callback sequence of RecordingHandler for a §5.4A text run with the given deltas."""
    calls: list[Any] = [
        ("run_step_created", "message_creation"),
        ("message_created", "in_progress"),
    ]
    snapshot = ""
    for i, delta in enumerate(deltas):
        snapshot += delta
        if i == 0:
            calls.append(("text_created", snapshot))
        calls.append(("text_delta", snapshot))
        calls.append(("message_delta", None))
    calls += [
        ("text_done", snapshot),
        ("message_done", "completed"),
        ("run_step_done", "message_creation"),
        ("end", None),
    ]
    return calls


class StallProbe:
    """A second client that times `GET /v1/models` back to back while something heavy runs.

    Use as a context manager around the heavy request; `worst_ms` is the slowest answer seen
    (a request that is still waiting when the block ends counts with its time so far).
    """

    def __init__(self, server: Any) -> None:
        import threading

        self._http = raw_http(server, timeout=60.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.samples: list[float] = []
        self._started: float | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._started = time.perf_counter()
            response = self._http.get("models")
            self.samples.append((time.perf_counter() - self._started) * 1000)
            self._started = None
            assert response.status_code == 200
            time.sleep(0.002)

    def __enter__(self) -> StallProbe:
        self._http.get("models")  # connect first
        self._thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        started = self._started
        if started is not None:
            self.samples.append((time.perf_counter() - started) * 1000)
        self._stop.set()
        self._thread.join(60)
        self._http.close()

    @property
    def worst_ms(self) -> float:
        return max(self.samples, default=0.0)
