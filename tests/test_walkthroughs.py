"""The four original OpenAI Assistants walkthroughs run unchanged against `spool serve`.

The examples are extracted from the walkthroughs' Markdown at collection time and run as they
are written, with only placeholders filled in. Where `shared/reference/` is beside the clone
(CI), the originals there are extracted and run; otherwise the verbatim copies in
`tests/walkthroughs/` are (a fresh clone needs nothing beside it), and with the originals at
hand `test_copies_carry_the_examples_of_the_originals` checks that the copies still carry every
example as written. The same goes for the official schemas (`openapi/…normalized.yaml`,
which `conftest.NORMALIZED_SPEC` falls back to).

* Extraction. Fenced blocks (```python, ```bash/```sh or unlabelled ones) are taken from the
  Markdown; a block whose first line starts with `curl` is a curl example, a ```python block a
  Python example, any other ```bash/```sh block a shell prerequisite. The API reference has
  no fences: there every line starting with `curl ` begins an example that ends where the shell
  command ends (no trailing backslash, every quote closed). The first JSON document after a
  non-streaming curl example (a fenced block, or bare text in the reference) is its documented
  response. Each example is its own test, id'd by file, kind + number and its heading.
* Placeholders. `https://api.openai.com/v1` becomes the server's base URL; `YOUR_API_KEY` and
  `<your-api-key>` the server's key (`$OPENAI_API_KEY` is set in the environment of both curl
  and Python); ids written in the examples (`thread_abc123`, `asst_yIoF…`, `{THREAD_ID}`,
  `YOUR_ASSISTANT_ID` …) become real ids. Nothing else in an example is changed, and no
  `api.openai.com` may remain in what runs.
* Where real ids come from. The two numbered walkthroughs (`SEQUENTIAL_DOCS`) are run step by
  step in order, as a reader would: an id placeholder takes the id of the newest object of its
  kind that an earlier step created (the assistant of step 1 for `asst_…` in step 4). Placeholders
  that no earlier step produced, and every placeholder of the API reference (whose examples are
  independent), take the id of a "world" made through the SDK first: an echo assistant and a
  thread holding a user message, the completed run that answered it and a newer user message
  (like the reference's `thread_abc123`, whose newest message is the user's). When an example
  creates a run with a function tool on such a thread, that newer message is the echo engine's
  `/call NAME {json}` for the function, so the run really asks for it (`requires_action`); the
  test then submits an output and checks the `NAME returned: …` reply.
* curl examples run through the real `curl` binary under bash (a shell function adds
  `--silent --show-error --dump-header` and `--noproxy`, the command itself is untouched). Every
  response must be HTTP 200 with the right `object`, valid against the official schema, carry
  the keys and stable values of the documented response, and streams must be well-framed SSE
  whose deltas spell the echo reply. After a non-streaming run is created the test waits for it
  (as the walkthroughs do before they list messages) and checks the echo reply.
* Python examples run as notebook cells: the blocks of one file run in order in one namespace in
  one subprocess (a block that constructs `OpenAI(` starts a new session), with
  `OPENAI_BASE_URL`/`OPENAI_API_KEY` pointing at the server, strict response validation and no
  retries in the SDK, and `socket` refusing every address but loopback. Afterwards every
  thread the session created must hold only completed runs and echo replies. The sessions run
  in background subprocesses while the curl examples run.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import NORMALIZED_SPEC, REFERENCE_DIR, ServerProcess, SpecValidator, launch_server

WALKTHROUGHS = (
    "curl-walkthrough.md",
    "getting-started-guide.md",
    "quickstart-thread-run.md",
    "threads-messages-runs-reference.md",
)
COPIES_DIR = Path(__file__).parent / "walkthroughs"  # verbatim copies (tests/walkthroughs/)
HAVE_ORIGINALS = all((REFERENCE_DIR / doc).is_file() for doc in WALKTHROUGHS)
SOURCE_DIR = REFERENCE_DIR if HAVE_ORIGINALS else COPIES_DIR
# Numbered walkthroughs: a later step uses the ids that earlier steps returned.
SEQUENTIAL_DOCS = frozenset({"curl-walkthrough.md", "quickstart-thread-run.md"})

OPENAI_V1 = "https://api.openai.com/v1"
KEY_PLACEHOLDERS = ("YOUR_API_KEY", "<your-api-key>")
# Literal ids in the examples: a known prefix and at least one digit (`thread_id` is no id).
ID_LITERAL = re.compile(r"\b(asst|thread|msg|run|call|step)_(?=[A-Za-z0-9]*\d)[A-Za-z0-9]+\b")
# `{THREAD_ID}`, `YOUR_ASSISTANT_ID` and the like.
NAMED_ID = re.compile(r"\{([A-Z]+)_ID\}|\bYOUR_([A-Z]+)_ID\b")
NAMED_KINDS = {"THREAD": "thread", "RUN": "run", "ASSISTANT": "asst", "MESSAGE": "msg"}
OBJECT_KINDS = {
    "assistant": "asst",
    "thread": "thread",
    "thread.message": "msg",
    "thread.run": "run",
}
OBJECT_SCHEMAS = {
    "assistant": "AssistantObject",
    "thread": "ThreadObject",
    "thread.message": "MessageObject",
    "thread.run": "RunObject",
    "thread.run.step": "RunStepObject",
    "assistant.deleted": "DeleteAssistantResponse",
    "thread.deleted": "DeleteThreadResponse",
    "thread.message.deleted": "DeleteMessageResponse",
}
LIST_SCHEMAS = {
    "assistants": "ListAssistantsResponse",
    "messages": "ListMessagesResponse",
    "runs": "ListRunsResponse",
    "steps": "ListRunStepsResponse",
}
# Keys of a documented response compared by value (ids, timestamps and generated text differ).
STABLE_KEYS = ("object", "metadata", "role", "name", "instructions", "tools", "model", "deleted")
WORLD_USER_TEXT = "Hello from the walkthrough tests."
WORLD_FOLLOW_UP = "How does the echo engine work?"
WORLD_TOOL_OUTPUT = "22 degrees celsius and sunny"
ACTIVE_STATUSES = frozenset({"queued", "in_progress", "cancelling"})
ECHO_DELAY_MS = 10
SESSION_TIMEOUT_S = 120.0
BLOCK_TIMEOUT_S = 30.0
VENV_BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True, eq=False)
class Example:
    """One runnable example of a walkthrough, as written there."""

    doc: str
    kind: str  # "curl" | "python" | "shell"
    number: int  # 1-based, per doc and kind
    title: str
    code: str
    line: int  # 1-based line of the first code line in the doc
    documented: Any = None  # the documented JSON response (curl only), if any
    documented_stream: tuple[str, ...] | None = None  # event names of a recorded stream
    session: int = 0  # python: which interpreter session (1-based) it runs in

    @property
    def test_id(self) -> str:
        prefix = {"curl": "curl", "python": "py", "shell": "sh"}[self.kind]
        return f"{self.doc}::{prefix}{self.number:02d}-{slugify(self.title)}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "example"


def _shell_complete(text: str) -> bool:
    """True when `text` is a complete shell command (no continuation, every quote closed)."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


def _heading(lines: list[str], index: int, fenced: set[int]) -> tuple[str, str]:
    """(heading, variant label) of an example at `lines[index]`.

    Markdown headings (`## Step 1: …`) title fenced walkthroughs. The API reference marks
    operations with `###Name` or a bare line followed by `Beta`, and variants with
    `#request_streaming`-style lines.
    """
    variant = ""
    for i in range(index - 1, -1, -1):
        if i in fenced:  # a comment in a code block is no heading
            continue
        line = lines[i].strip()
        if re.match(r"#{1,3} \S", line):
            return line.lstrip("#").strip(), ""
        if _is_operation_title(lines, i):
            return line.lstrip("#").strip(), variant
        if not variant and re.match(r"#{1,2}[A-Za-z]", line):
            variant = line.lstrip("#").strip()
    return variant or "example", ""


def _is_operation_title(lines: list[str], i: int) -> bool:
    """`###Create thread`, or a bare `Create message` line followed by `Beta` (the reference)."""
    line = lines[i].strip()
    following = next((s.strip() for s in lines[i + 1 : i + 4] if s.strip()), "")
    return bool(re.match(r"###[^#\s]", line)) or (bool(line) and following == "Beta")


def _documented_stream(lines: list[str], end: int, variant: str) -> tuple[str, ...] | None:
    """Event names of the recorded stream labelled like the request (`#request_streaming` ->
    `#response_streaming`) in the same operation section, or None."""
    if not variant.startswith("request"):
        return None
    label = "response" + variant.removeprefix("request")
    for i in range(end + 1, len(lines)):
        if _is_operation_title(lines, i):
            return None
        if lines[i].strip().lstrip("#") == label and lines[i].startswith("#"):
            names = []
            for j in range(i + 1, len(lines)):
                line = lines[j]
                if line.startswith("#") or _is_operation_title(lines, j):
                    break
                if line.startswith("event: "):
                    names.append(line.removeprefix("event: ").strip())
            return tuple(names)
    return None


def _first_json(text: str) -> Any:
    """The first JSON object in `text` (the documented response), or None."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        try:
            return decoder.raw_decode(text, match.start())[0]
        except json.JSONDecodeError:
            continue
    return None


def curl_request(code: str) -> tuple[str, str, Any]:
    """(method, url, parsed JSON body or None) of a curl command."""
    args = shlex.split(code)
    method, url, body = None, "", None
    for i, arg in enumerate(args):
        if arg in ("-X", "--request"):
            method = args[i + 1]
        elif arg in ("-d", "--data", "--data-raw"):
            body = json.loads(args[i + 1]) if args[i + 1].strip() else {}
        elif arg.startswith("http"):
            url = arg
    return method or ("POST" if body is not None else "GET"), url, body


def _is_streaming(code: str) -> bool:
    return bool((curl_request(code)[2] or {}).get("stream"))


def extract_examples(doc: str, directory: Path = SOURCE_DIR) -> list[Example]:
    """Every example of one walkthrough (read from `directory`), in document order."""
    text = (directory / doc).read_text(encoding="utf-8")
    lines = text.splitlines()
    found: list[tuple[str, str, int, int, int]] = []  # kind, code, first line, start idx, end idx
    fences: list[tuple[str, str, int, int]] = []  # info, code, start idx, end idx (non-examples)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info = line[3:].strip().lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            code = "\n".join(lines[i + 1 : j]).strip("\n") + "\n"
            first = code.lstrip()
            if first.startswith("curl ") and info in ("", "bash", "sh", "shell", "console"):
                found.append(("curl", code, i + 2, i, j))
            elif info in ("python", "py"):
                found.append(("python", code, i + 2, i, j))
            elif info in ("bash", "sh", "shell", "console"):
                found.append(("shell", code, i + 2, i, j))
            else:
                fences.append((info, code, i, j))
            i = j + 1
            continue
        if line.startswith("curl "):
            j = i
            while j + 1 < len(lines) and not _shell_complete("\n".join(lines[i : j + 1])):
                j += 1
            found.append(("curl", "\n".join(lines[i : j + 1]) + "\n", i + 1, i, j))
            i = j + 1
            continue
        i += 1

    fenced = {n for _, _, _, start, end in found for n in range(start, end + 1)}
    fenced |= {n for _, _, start, end in fences for n in range(start, end + 1)}
    examples: list[Example] = []
    counters = {"curl": 0, "python": 0, "shell": 0}
    session = 0
    for n, (kind, code, first_line, start, end) in enumerate(found):
        counters[kind] += 1
        documented = None
        next_start = found[n + 1][3] if n + 1 < len(found) else len(lines)
        if kind == "curl" and not _is_streaming(code):
            responses = [c for _, c, s, _ in fences if end < s < next_start]
            if responses:
                documented = _first_json(responses[0])
            elif not any(end < s < next_start for _, _, s, _ in fences):
                documented = _first_json("\n".join(lines[end + 1 : next_start]))
        heading, variant = _heading(lines, start, fenced)
        stream = _documented_stream(lines, end, variant) if kind == "curl" else None
        if kind == "python" and ("OpenAI(" in code or session == 0):
            session += 1
        examples.append(
            Example(
                doc=doc,
                kind=kind,
                number=counters[kind],
                title=f"{heading} {variant}".strip(),
                code=code,
                line=first_line,
                documented=documented,
                documented_stream=stream,
                session=session if kind == "python" else 0,
            )
        )
    return examples


ALL_EXAMPLES = [example for doc in WALKTHROUGHS for example in extract_examples(doc)]
CURL_EXAMPLES = [e for e in ALL_EXAMPLES if e.kind == "curl"]
PYTHON_EXAMPLES = [e for e in ALL_EXAMPLES if e.kind == "python"]
SHELL_EXAMPLES = [e for e in ALL_EXAMPLES if e.kind == "shell"]
SESSIONS = sorted({(e.doc, e.session) for e in PYTHON_EXAMPLES})


def _params(examples: list[Example]) -> list[Any]:
    params = []
    for example in examples:
        marks: list[pytest.MarkDecorator] = []
        if example.kind == "shell" and "pip install" in example.code:
            marks.append(
                pytest.mark.skip(
                    reason="installs the SDK from PyPI: a prerequisite, not an API call, and "
                    "tests never leave 127.0.0.1 nor modify the venv"
                )
            )
        params.append(pytest.param(example, id=example.test_id, marks=marks))
    return params


# --------------------------------------------------------------------------- placeholders


@dataclass
class IdBinder:
    """Maps the ids written in the examples to real ones."""

    base_url: str
    api_key: str
    world: dict[str, str] = field(default_factory=dict)  # kind -> id
    produced: dict[str, str] = field(default_factory=dict)  # kind -> newest id from a step
    bound: dict[str, str] = field(default_factory=dict)  # literal -> id
    make_world: Callable[[], dict[str, str]] | None = None  # called when first needed

    def _real(self, literal: str, kind: str) -> str:
        if literal not in self.bound:
            if kind in self.produced:
                self.bound[literal] = self.produced[kind]
            else:
                if not self.world:
                    assert self.make_world is not None, f"no object for {literal!r}"
                    self.world = self.make_world()
                assert kind in self.world, f"no real object of kind {kind!r} for {literal!r}"
                self.bound[literal] = self.world[kind]
        return self.bound[literal]

    def fill(self, code: str) -> str:
        code = code.replace(OPENAI_V1, self.base_url)
        for placeholder in KEY_PLACEHOLDERS:
            code = code.replace(placeholder, self.api_key)
        code = ID_LITERAL.sub(lambda m: self._real(m.group(0), m.group(1)), code)
        code = NAMED_ID.sub(
            lambda m: self._real(m.group(0), NAMED_KINDS[m.group(1) or m.group(2)]), code
        )
        assert "api.openai.com" not in code, code
        assert not re.search(r"\bYOUR_[A-Z_]+\b|<your-[a-z-]+>", code), code
        real = set(self.bound.values())
        for match in ID_LITERAL.finditer(code):
            assert match.group(0) in real, f"unfilled id {match.group(0)!r}"
        for url in re.findall(r"https?://[^\s\"']+", code):
            assert url.startswith(self.base_url), f"{url} is not the test server"
        return code


def make_world(server: ServerProcess, *, last_user_text: str | None = None) -> dict[str, str]:
    """Objects for the ids an example needs, made through the SDK.

    An echo assistant and a thread like the reference's `thread_abc123`: a user message, the
    completed run that answered it, and a newer user message (`last_user_text`) waiting for
    the example's run.
    """
    with server.client() as client:
        assistant = client.beta.assistants.create(
            model="gpt-4o", name="Walkthrough fixture", instructions="Answer briefly."
        )
        thread = client.beta.threads.create(messages=[{"role": "user", "content": WORLD_USER_TEXT}])
        message = client.beta.threads.messages.list(thread_id=thread.id).data[-1]
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        run = wait_for_run(client, thread.id, run.id)
        assert run.status == "completed", run
        client.beta.threads.messages.create(
            thread_id=thread.id, role="user", content=last_user_text or WORLD_FOLLOW_UP
        )
    return {"asst": assistant.id, "thread": thread.id, "msg": message.id, "run": run.id}


def wait_for_run(client: Any, thread_id: str, run_id: str, timeout: float = 20.0) -> Any:
    """Poll a run until it is no longer queued/in progress/cancelling."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run_id=run_id, thread_id=thread_id)
        if run.status not in ACTIVE_STATUSES:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status} after {timeout} s"
        time.sleep(0.05)


def function_call_text(body: Any) -> str | None:
    """The echo engine's `/call NAME {json}` for the first function tool of a request body."""
    for tool in (body or {}).get("tools") or []:
        if tool.get("type") == "function":
            function = tool["function"]
            required = function.get("parameters", {}).get("required", [])
            args = {name: "San Francisco, CA" for name in required}
            return f"/call {function['name']} {json.dumps(args)}"
    return None


# --------------------------------------------------------------------------- echo checks


def message_text(message: dict[str, Any]) -> str:
    return "".join(p["text"]["value"] for p in message["content"] if p["type"] == "text")


def check_echo_transcript(messages: list[dict[str, Any]]) -> int:
    """Every run-made assistant message is the echo of the user message before it.

    `messages` in chronological order; returns the number of replies checked.
    """
    last_user: str | None = None
    replies = 0
    for message in messages:
        text = message_text(message)
        if message["role"] == "user":
            last_user = text
        elif message.get("run_id"):
            assert last_user is not None, f"reply {text!r} without a user message"
            if last_user.startswith("/call ") and " returned: " in text:
                assert text.startswith(last_user.split()[1] + " returned: "), text
            else:
                assert text == f"You said: {last_user}", (text, last_user)
            replies += 1
    return replies


def thread_transcript(client: Any, thread_id: str) -> list[dict[str, Any]]:
    page = client.beta.threads.messages.list(thread_id=thread_id, order="asc", limit=100)
    return [m.model_dump(mode="json") for m in page]


# --------------------------------------------------------------------------- curl


@dataclass
class CurlResult:
    status: int
    headers: dict[str, str]
    body: str


def run_curl(command: str, api_key: str, workdir: Path) -> CurlResult:
    """Run a curl command with bash and the real curl binary; only output options are added."""
    header_file = workdir / "headers.txt"
    header_file.unlink(missing_ok=True)
    wrapper = (
        "curl() { command curl -q --silent --show-error --noproxy '*' --max-time 30 "
        f'--dump-header {shlex.quote(str(header_file))} "$@"; }}\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OPENAI_API_KEY": api_key,
        "LC_ALL": "C.UTF-8",
        "HOME": str(workdir),
    }
    proc = subprocess.run(
        ["bash", "-c", wrapper + command],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"curl exited {proc.returncode}: {proc.stderr}"
    raw_headers = header_file.read_text(encoding="latin-1").replace("\r\n", "\n")
    block = [b for b in raw_headers.split("\n\n") if b.strip()][-1].splitlines()
    status = int(block[0].split()[1])
    headers = {}
    for line in block[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return CurlResult(status, headers, proc.stdout)


def parse_sse(body: str) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE body."""
    events: list[tuple[str | None, str]] = []
    event: str | None = None
    data: list[str] = []
    for line in [*body.splitlines(), ""]:
        if not line:
            if event is not None or data:
                events.append((event, "\n".join(data)))
            event, data = None, []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    return events


def expected_object(method: str, path: str) -> tuple[str, str]:
    """(`object` value, schema name) of a 200 response to `method path` (path after /v1)."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[-1] in ("cancel", "submit_tool_outputs") or parts == ["threads", "runs"]:
        return "thread.run", "RunObject"
    is_collection = len(parts) % 2 == 1
    collection = parts[-1] if is_collection else parts[-2]
    if is_collection and method == "GET":
        return "list", LIST_SCHEMAS[collection]
    singular = {
        "assistants": "assistant",
        "threads": "thread",
        "messages": "thread.message",
        "runs": "thread.run",
        "steps": "thread.run.step",
    }[collection]
    if method == "DELETE":
        singular += ".deleted"
    return singular, OBJECT_SCHEMAS[singular]


@functools.cache
def _schemas() -> dict[str, Any]:
    with NORMALIZED_SPEC.open(encoding="utf-8") as f:
        return yaml.safe_load(f)["components"]["schemas"]


def schema_properties(schema: str) -> frozenset[str]:
    """The properties the official schema defines for an object."""
    return frozenset(_schemas()[schema].get("properties", {}))


def compare_documented(documented: Any, actual: dict[str, Any], body: Any, schema: str) -> None:
    """The response has the documented keys and the documented stable values.

    Documented keys that the official schema does not define are not required: a v1 `file_ids`
    on a message, a `tool_resources` on a run (protocol notes §4.4).
    """
    assert actual.get("object") == documented.get("object"), (actual, documented)
    missing = (set(documented) - set(actual)) & schema_properties(schema)
    assert not missing, f"keys of the documented response missing: {sorted(missing)}"
    keys = [*STABLE_KEYS, *(["content"] if isinstance(body, dict) and "content" in body else [])]
    if documented.get("object") == "list":
        item_schema = {"ListMessagesResponse": "MessageObject", "ListRunsResponse": "RunObject"}
        for doc_item, item in zip(documented["data"], actual["data"], strict=False):
            assert item["object"] == doc_item["object"]
            missing = (set(doc_item) - set(item)) & schema_properties(item_schema[schema])
            assert not missing, f"keys of the documented list items missing: {sorted(missing)}"
        return
    for key in keys:
        if key in documented:
            assert actual[key] == documented[key], f"{key}: {actual[key]!r} != {documented[key]!r}"


@dataclass
class CurlContext:
    """What a curl step needs: the server, ids, a strict SDK client, the schema validator."""

    server: ServerProcess
    client: Any
    spec: SpecValidator
    binder: IdBinder
    workdir: Path
    sequential: bool
    run_threads: set[str] = field(default_factory=set)  # threads a step ran on


def run_curl_example(example: Example, ctx: CurlContext) -> None:
    """Fill in, run and check one curl example."""
    method, url, body = curl_request(example.code)
    if not ctx.sequential and not ctx.binder.world:
        calls_function = "/threads/runs" not in url and "/runs" in url and method == "POST"
        call = function_call_text(body) if calls_function else None
        ctx.binder.make_world = lambda: make_world(ctx.server, last_user_text=call)
    command = ctx.binder.fill(example.code)
    method, url, body = curl_request(command)
    path = url.removeprefix(ctx.server.base_url)
    result = run_curl(command, ctx.server.api_key, ctx.workdir)
    assert result.status == 200, f"{method} {path} -> HTTP {result.status}: {result.body}"
    if isinstance(body, dict) and body.get("stream"):
        check_stream(example, ctx, path, body, result)
        return
    assert result.headers.get("content-type", "").startswith("application/json"), result.headers
    data = json.loads(result.body)
    obj, schema = expected_object(method, path)
    assert data.get("object") == obj, data
    ctx.spec.validate(data, schema)
    if example.documented is not None:
        compare_documented(example.documented, data, body, schema)
    if obj in OBJECT_KINDS:
        ctx.binder.produced[OBJECT_KINDS[obj]] = data["id"]
    if obj == "thread.run":
        ctx.binder.produced["thread"] = data["thread_id"]
        run = wait_for_run(ctx.client, data["thread_id"], data["id"])
        ctx.run_threads.add(data["thread_id"])
        if run.status == "requires_action":
            finish_function_call(ctx, run)
        else:
            assert run.status == "completed", run
        assert check_echo_transcript(thread_transcript(ctx.client, data["thread_id"])) >= 1
    parts = path.split("?")[0].strip("/").split("/")
    if obj == "list" and parts[-1] == "messages":
        messages = data["data"] if "order=asc" in path else data["data"][::-1]
        replies = check_echo_transcript(messages)
        thread_id = parts[1]
        if thread_id in ctx.run_threads or not ctx.sequential:
            assert replies >= 1, f"no assistant reply listed after a run: {data}"


def finish_function_call(ctx: CurlContext, run: Any) -> None:
    """Answer the function the echo engine called and check its `NAME returned: …` reply."""
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert calls, run
    submitted = ctx.client.beta.threads.runs.submit_tool_outputs(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": c.id, "output": WORLD_TOOL_OUTPUT} for c in calls],
    )
    done = wait_for_run(ctx.client, run.thread_id, submitted.id)
    assert done.status == "completed", done
    last = thread_transcript(ctx.client, run.thread_id)[-1]
    assert message_text(last) == f"{calls[0].function.name} returned: {WORLD_TOOL_OUTPUT}"


def check_stream(
    example: Example, ctx: CurlContext, path: str, body: dict[str, Any], result: CurlResult
) -> None:
    """A streamed run: SSE framing, event order, schema, and the echo reply in the deltas."""
    assert result.headers.get("content-type", "").startswith("text/event-stream"), result.headers
    events = parse_sse(result.body)
    assert events, result.body
    names = [name for name, _ in events]
    assert None not in names, f"an SSE event without an `event:` line: {events}"
    assert events[-1] == ("done", "[DONE]"), events[-1]
    payloads: list[tuple[str, Any]] = []
    for name, data in events[:-1]:
        parsed = json.loads(data)
        ctx.spec.validate_event(name or "", parsed)
        payloads.append((name or "", parsed))
    if example.documented_stream:
        check_documented_stream(example.documented_stream, names)
    creates_thread = path.strip("/") == "threads/runs"
    first = ["thread.created", "thread.run.created"] if creates_thread else ["thread.run.created"]
    assert names[: len(first)] == first, names
    run_events = [(n, d) for n, d in payloads if n.startswith("thread.run.") and ".step." not in n]
    final_name, final_run = run_events[-1]
    thread_id = final_run["thread_id"]
    ctx.binder.produced.update(thread=thread_id, run=final_run["id"])
    ctx.run_threads.add(thread_id)
    deltas: dict[str, str] = {}
    for name, data in payloads:
        if name == "thread.message.delta":
            for part in data["delta"].get("content", []):
                deltas[data["id"]] = deltas.get(data["id"], "") + part.get("text", {}).get(
                    "value", ""
                )
    completed = {d["id"]: message_text(d) for n, d in payloads if n == "thread.message.completed"}
    if final_name == "thread.run.requires_action":
        call = function_call_text(body)
        assert call is not None, "requires_action without a function tool"
        calls = final_run["required_action"]["submit_tool_outputs"]["tool_calls"]
        _, name, args = call.split(" ", 2)
        assert [c["function"]["name"] for c in calls] == [name], calls
        assert json.loads(calls[0]["function"]["arguments"]) == json.loads(args), calls
        streamed = "".join(
            tc.get("function", {}).get("arguments", "")
            for n, d in payloads
            if n == "thread.run.step.delta"
            for tc in d["delta"]["step_details"].get("tool_calls", [])
        )
        assert streamed == calls[0]["function"]["arguments"], (streamed, calls)
        finish_function_call(ctx, wait_for_run(ctx.client, thread_id, final_run["id"]))
        return
    assert final_name == "thread.run.completed", names
    assert deltas, f"no message deltas streamed: {names}"
    assert deltas == completed, (deltas, completed)
    transcript = thread_transcript(ctx.client, thread_id)
    check_echo_transcript(transcript)
    replies = {m["id"]: message_text(m) for m in transcript if m.get("run_id") == final_run["id"]}
    assert replies == deltas, (replies, deltas)
    assert all(text.startswith("You said: ") for text in deltas.values()), deltas


def collapse_deltas(names: Any) -> list[str]:
    """Event names with each run of consecutive delta events folded into one."""
    folded: list[str] = []
    for name in names:
        if not (name.endswith(".delta") and folded and folded[-1] == name):
            folded.append(name)
    return folded


def check_documented_stream(documented: tuple[str, ...], names: list[str | None]) -> None:
    """The stream has the documented event order (any number of deltas in a row).

    When the run ends differently from the recording (the echo engine called the function
    where the recorded model answered in text) only the run and step lifecycle before the
    first output event is compared.
    """
    expected, actual = collapse_deltas(documented), collapse_deltas(names)
    last_run_event = [n for n in expected if n.startswith("thread.run.") and ".step." not in n][-1]
    if last_run_event in actual:
        assert actual == expected, f"event order {actual} != documented {expected}"
    else:
        n = expected.index("thread.run.step.in_progress") + 1
        assert actual[:n] == expected[:n], f"event order {actual} != documented {expected}"


@pytest.fixture(scope="module")
def walkthrough_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """An echo server whose replies take a moment (`ECHO_DELAY_MS` per word), so the
    walkthroughs' polling loops really see queued/in-progress runs and streams really stream."""
    proc = launch_server(tmp_path_factory.mktemp("walkthrough-server"), echo_delay_ms=ECHO_DELAY_MS)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def curl_sequences(
    walkthrough_server: ServerProcess, spec: SpecValidator, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, BaseException | None]:
    """Runs each numbered walkthrough's curl steps once, in order; test id -> its failure."""
    outcomes: dict[str, BaseException | None] = {}
    with walkthrough_server.client() as client:
        for doc in sorted(SEQUENTIAL_DOCS):
            binder = IdBinder(walkthrough_server.base_url, walkthrough_server.api_key)
            binder.make_world = lambda: make_world(walkthrough_server)
            ctx = CurlContext(
                walkthrough_server,
                client,
                spec,
                binder,
                tmp_path_factory.mktemp("curl"),
                sequential=True,
            )
            for example in (e for e in CURL_EXAMPLES if e.doc == doc):
                try:
                    run_curl_example(example, ctx)
                except Exception as exc:  # reported by the step's own test
                    outcomes[example.test_id] = exc
                else:
                    outcomes[example.test_id] = None
    return outcomes


# --------------------------------------------------------------------------- python sessions

DRIVER = r'''
"""Runs the Python blocks of one walkthrough session like notebook cells, in one namespace."""
import contextlib, io, json, linecache, os, signal, socket, sys, time, traceback, warnings

warnings.simplefilter("ignore", DeprecationWarning)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _host(host):
    return host.decode() if isinstance(host, bytes) else host


def guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and _host(host) not in LOOPBACK:
        raise OSError(f"walkthrough tests: refusing to resolve {host!r} (loopback only)")
    return _getaddrinfo(host, *args, **kwargs)


def guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address[0]) not in LOOPBACK:
        raise OSError(f"walkthrough tests: refusing to connect to {address!r} (loopback only)")
    return _connect(self, address)


socket.getaddrinfo = guarded_getaddrinfo
socket.socket.connect = guarded_connect

import openai  # noqa: E402

_init = openai.OpenAI.__init__


def strict_init(self, *args, **kwargs):
    kwargs.setdefault("_strict_response_validation", True)
    kwargs.setdefault("max_retries", 0)
    _init(self, *args, **kwargs)


openai.OpenAI.__init__ = strict_init
KINDS = {"assistant", "thread", "thread.message", "thread.run"}


def collect(value, found, depth=0):
    obj = getattr(value, "object", None)
    if isinstance(obj, str) and obj in KINDS and isinstance(getattr(value, "id", None), str):
        found.setdefault(value.id, {"object": obj, "thread_id": getattr(value, "thread_id", None)})
    elif isinstance(value, (list, tuple)) and depth < 3:
        for item in value:
            collect(item, found, depth + 1)


class BlockTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise BlockTimeout(f"block still running after {spec['block_timeout']} s")


with open(sys.argv[1], encoding="utf-8") as f:
    spec = json.load(f)
namespace = {"__name__": "__main__"}
results, objects = [], {}
signal.signal(signal.SIGALRM, on_alarm)
for block in spec["blocks"]:
    linecache.cache[block["filename"]] = (
        len(block["code"]), None, block["code"].splitlines(True), block["filename"]
    )
    out, error, started = io.StringIO(), None, time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, spec["block_timeout"])
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block["code"], block["filename"], "exec"), namespace)
    except BaseException:
        error = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    for value in list(namespace.values()):
        collect(value, objects)
    results.append({"test_id": block["test_id"], "stdout": out.getvalue(), "error": error,
                    "seconds": round(time.monotonic() - started, 3)})
    with open(sys.argv[2] + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"results": results, "objects": objects}, f)
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    if error:
        break
'''


@dataclass
class Session:
    """One Python session subprocess and the files it reports through."""

    doc: str
    number: int
    blocks: list[Example]
    process: subprocess.Popen[str]
    result_path: Path
    log_path: Path
    started: float
    report: dict[str, Any] | None = None
    fill_error: str | None = None  # a block whose placeholders could not be filled

    def wait(self) -> dict[str, Any]:
        if self.report is None:
            try:
                self.process.wait(max(1.0, SESSION_TIMEOUT_S - (time.monotonic() - self.started)))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            report = {"results": [], "objects": {}}
            if self.result_path.exists():
                report = json.loads(self.result_path.read_text(encoding="utf-8"))
            report["returncode"] = self.process.returncode
            report["log"] = self.log_path.read_text(encoding="utf-8", errors="replace")
            self.report = report
        return self.report


@pytest.fixture(scope="module")
def python_sessions(
    walkthrough_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, int], Session]]:
    """Starts every Python session at once (they mostly sleep while polling runs)."""
    workdir = tmp_path_factory.mktemp("python-sessions")
    driver = workdir / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(
        OPENAI_BASE_URL=walkthrough_server.base_url,
        OPENAI_API_KEY=walkthrough_server.api_key,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    spec_paths: dict[tuple[str, int], Path] = {}
    fill_errors: dict[tuple[str, int], str] = {}
    for doc, number in SESSIONS:  # fill every session first: worlds are made before any starts
        blocks = [e for e in PYTHON_EXAMPLES if (e.doc, e.session) == (doc, number)]
        binder = IdBinder(walkthrough_server.base_url, walkthrough_server.api_key)
        binder.make_world = lambda: make_world(walkthrough_server)
        filled = []
        for b in blocks:
            try:
                code = binder.fill(b.code)
            except AssertionError as exc:  # reported by the block's test
                fill_errors[(doc, number)] = f"{b.test_id}: placeholders not filled: {exc}"
                break
            filled.append(
                {"test_id": b.test_id, "filename": f"<{b.doc} line {b.line}>", "code": code}
            )
        spec_path = workdir / f"{slugify(doc)}-{number}.json"
        spec_path.write_text(
            json.dumps({"block_timeout": BLOCK_TIMEOUT_S, "blocks": filled}), encoding="utf-8"
        )
        spec_paths[(doc, number)] = spec_path
    sessions: dict[tuple[str, int], Session] = {}
    for (doc, number), spec_path in spec_paths.items():
        blocks = [e for e in PYTHON_EXAMPLES if (e.doc, e.session) == (doc, number)]
        result_path = spec_path.with_suffix(".result.json")
        log_path = spec_path.with_suffix(".log")
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [sys.executable, str(driver), str(spec_path), str(result_path)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        sessions[(doc, number)] = Session(
            doc, number, blocks, process, result_path, log_path, time.monotonic()
        )
        sessions[(doc, number)].fill_error = fill_errors.get((doc, number))
    yield sessions
    for session in sessions.values():
        if session.process.poll() is None:
            session.process.kill()
            session.process.wait(10)


# --------------------------------------------------------------------------- tests: extraction


def test_extraction_finds_every_example() -> None:
    """Every curl command line and every ```python fence of the walkthroughs is an example."""
    for doc in WALKTHROUGHS:
        text = (SOURCE_DIR / doc).read_text(encoding="utf-8")
        examples = [e for e in ALL_EXAMPLES if e.doc == doc]
        curl_lines = re.findall(r"^curl ", text, re.MULTILINE)
        assert len([e for e in examples if e.kind == "curl"]) == len(curl_lines), doc
        python_fences = re.findall(r"^```python", text, re.MULTILINE)
        assert len([e for e in examples if e.kind == "python"]) == len(python_fences), doc
        for example in examples:
            if example.kind == "curl":
                assert _shell_complete(example.code), example.code
                method, url, _ = curl_request(example.code)
                assert url.startswith("https://api.openai.com/v1/"), example.code
                assert method in ("GET", "POST", "DELETE"), example.code
            if example.kind == "python":
                compile(example.code, example.test_id, "exec")
    assert len({e.test_id for e in ALL_EXAMPLES}) == len(ALL_EXAMPLES), "test ids must be unique"
    assert CURL_EXAMPLES and PYTHON_EXAMPLES


def _as_written(example: Example) -> tuple[Any, ...]:
    """What a copy must keep of an example: kind, order, heading, code, documented response."""
    return (
        example.kind,
        example.number,
        example.title,
        example.code,
        example.documented,
        example.documented_stream,
        example.session,
    )


def test_copies_carry_the_examples_of_the_originals() -> None:
    """tests/walkthroughs/ holds every example of every walkthrough as written (the API calls
    in order, with their placeholders), so a fresh clone runs them; with the originals at hand
    (CI) the copies must not differ from them in any example."""
    for doc in WALKTHROUGHS:
        copied = [_as_written(e) for e in extract_examples(doc, COPIES_DIR)]
        assert copied, doc
        if HAVE_ORIGINALS:
            originals = [_as_written(e) for e in extract_examples(doc, REFERENCE_DIR)]
            assert copied == originals, f"{COPIES_DIR / doc} differs from {REFERENCE_DIR / doc}"
    original_spec = REFERENCE_DIR / "openapi" / NORMALIZED_SPEC.name
    if original_spec.is_file():
        spec_copy = COPIES_DIR / "openapi" / NORMALIZED_SPEC.name
        assert spec_copy.read_bytes() == original_spec.read_bytes(), spec_copy


def test_extraction_pairs_documented_responses() -> None:
    """Non-streaming curl examples followed by a response carry it; streaming ones never do."""
    for example in CURL_EXAMPLES:
        if _is_streaming(example.code):
            assert example.documented is None, example.test_id
        elif example.documented is not None:
            method, url, _ = curl_request(example.code)
            obj, _ = expected_object(method, url.removeprefix(OPENAI_V1))
            assert example.documented["object"] == obj, example.test_id


def test_placeholders_are_filled() -> None:
    binder = IdBinder("http://127.0.0.1:1/v1", "sk-x", world={"thread": "thread_W1", "asst": "a"})
    binder.produced["asst"] = "asst_P1"
    code = binder.fill(
        'curl https://api.openai.com/v1/threads/thread_abc123/runs -H "Bearer YOUR_API_KEY" '
        '-d \'{"assistant_id": "asst_abc123", "metadata": {"user": "abc123"}}\''
    )
    assert code == (
        'curl http://127.0.0.1:1/v1/threads/thread_W1/runs -H "Bearer sk-x" '
        '-d \'{"assistant_id": "asst_P1", "metadata": {"user": "abc123"}}\''
    )
    assert binder.fill("run = f(thread_id=thread_id)\n") == "run = f(thread_id=thread_id)\n"
    assert binder.fill("x('{THREAD_ID}', 'YOUR_ASSISTANT_ID')") == "x('thread_W1', 'asst_P1')"
    with pytest.raises(AssertionError):
        binder.fill("curl https://example.com/v1/threads")


def test_extraction_labels_and_recorded_streams() -> None:
    """Reference examples are named by operation and variant; recorded streams are paired."""
    by_id = {e.test_id.split("::")[1]: e for e in ALL_EXAMPLES if e.doc == WALKTHROUGHS[3]}
    assert "curl10-create-run-request-streaming" in by_id
    streaming = by_id["curl10-create-run-request-streaming"].documented_stream
    assert streaming is not None
    assert streaming[0] == "thread.run.created" and streaming[-1] == "done"
    assert by_id["curl09-create-run-request"].documented is None  # next comes another request
    assert by_id["curl07-modify-message"].documented["metadata"] == {
        "modified": "true",
        "user": "abc123",
    }
    check_documented_stream(streaming, [*streaming[:7], "thread.message.delta", *streaming[10:]])
    with pytest.raises(AssertionError):
        check_documented_stream(streaming, [n for n in streaming if n != "thread.run.queued"])
    with pytest.raises(AssertionError):  # a different ending still needs the same lifecycle
        check_documented_stream(streaming, ["thread.run.created", "thread.run.requires_action"])


def test_sse_parser_and_echo_check() -> None:
    events = parse_sse('event: a\ndata: {"x":1}\n\n: ping\n\nevent: done\ndata: [DONE]\n\n')
    assert events == [("a", '{"x":1}'), ("done", "[DONE]")]

    def msg(role: str, text: str, run_id: str | None = None) -> dict[str, Any]:
        content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        return {"role": role, "run_id": run_id, "content": content}

    assert check_echo_transcript([msg("user", "hi"), msg("assistant", "You said: hi", "r")]) == 1
    with pytest.raises(AssertionError):
        check_echo_transcript([msg("user", "hi"), msg("assistant", "You said: ho", "r")])


# --------------------------------------------------------------------------- tests: examples


@pytest.mark.parametrize("example", _params(CURL_EXAMPLES))
def test_curl_example(
    example: Example,
    walkthrough_server: ServerProcess,
    spec: SpecValidator,
    tmp_path: Path,
    python_sessions: dict[tuple[str, int], Session],  # first: starts them, they run meanwhile
    curl_sequences: dict[str, BaseException | None],
) -> None:
    assert shutil.which("curl"), "the curl binary is needed (nothing is installed by the tests)"
    if example.doc in SEQUENTIAL_DOCS:
        failure = curl_sequences[example.test_id]
        if failure is not None:
            raise failure
        return
    with walkthrough_server.client() as client:
        binder = IdBinder(walkthrough_server.base_url, walkthrough_server.api_key)
        ctx = CurlContext(walkthrough_server, client, spec, binder, tmp_path, sequential=False)
        run_curl_example(example, ctx)


@pytest.mark.parametrize("example", _params(PYTHON_EXAMPLES))
def test_python_example(example: Example, python_sessions: dict[tuple[str, int], Session]) -> None:
    session = python_sessions[(example.doc, example.session)]
    report = session.wait()
    results = {r["test_id"]: r for r in report["results"]}
    if example.test_id not in results:
        earlier = [r for r in report["results"] if r["error"]]
        if earlier:
            reason = f"an earlier block failed: {earlier[0]['test_id']}"
        elif session.fill_error:
            reason = session.fill_error
        else:
            reason = f"session ended (exit {report['returncode']}) before it:\n{report['log']}"
        pytest.fail(f"not run; {reason}", pytrace=False)
    result = results[example.test_id]
    if result["error"]:
        pytest.fail(
            f"{example.test_id} raised:\n{result['error']}\nstdout:\n{result['stdout']}",
            pytrace=False,
        )
    stdout = result["stdout"]
    if ("messages.list(" in example.code and stdout.strip()) or '"role": "assistant"' in stdout:
        assert "You said: " in stdout, f"the echo reply is not shown:\n{stdout}"


@pytest.mark.parametrize(
    ("doc", "number"), [pytest.param(d, n, id=f"{d}::session{n}") for d, n in SESSIONS]
)
def test_python_session_server_state(
    doc: str,
    number: int,
    walkthrough_server: ServerProcess,
    python_sessions: dict[tuple[str, int], Session],
) -> None:
    """Every thread a Python session made holds only completed runs and echo replies."""
    report = python_sessions[(doc, number)].wait()
    assert report["returncode"] == 0, report["log"]
    objects = report["objects"]
    threads = {i for i, o in objects.items() if o["object"] == "thread"}
    threads |= {o["thread_id"] for o in objects.values() if o.get("thread_id")}
    assert threads, f"the session created no thread: {objects}"
    with walkthrough_server.client() as client:
        for thread_id in sorted(threads):
            runs = list(client.beta.threads.runs.list(thread_id=thread_id))
            assert runs, thread_id
            assert {r.status for r in runs} == {"completed"}, runs
            assert check_echo_transcript(thread_transcript(client, thread_id)) == len(runs)


@pytest.mark.parametrize("example", _params(SHELL_EXAMPLES))
def test_shell_example(example: Example, tmp_path: Path) -> None:
    """Shell prerequisites that stay local (e.g. `pip show openai`) run with the venv first."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "LC_ALL": "C.UTF-8",
    }
    proc = subprocess.run(
        ["bash", "-c", example.code], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), proc.stderr
