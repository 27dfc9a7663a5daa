"""`spool ask` as a subprocess against real servers (the echo engine).

Most tests use a remote profile pointing at the shared `server` fixture (fast: no server start
per call); the embedded-server tests check that `spool ask` starts and stops its own server, or
reuses a running one, without leaving processes behind.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spool.store import Store

KEY_ENV = "SPOOL_TEST_REMOTE_KEY"
ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}
MUL_TOOL = {
    "type": "function",
    "function": {"name": "mul", "parameters": {"type": "object", "properties": {}}},
}


def spool(
    *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m spool ARGS` with the test's environment (isolated dirs)."""
    return subprocess.run(
        [sys.executable, "-m", "spool", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@dataclass
class Remote:
    """The shared server as the `test` profile of this test's config dir."""

    server: Any
    data_dir: Path
    config_dir: Path

    def ask(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return spool("ask", "--profile", "test", "--model", "echo", *args, input=input)

    def index(self) -> Store:
        return Store(self.data_dir, read_only=True)


@pytest.fixture
def remote(server: Any, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Remote:
    config_dir = isolated_dirs / "config"
    (config_dir / "config.toml").write_text(
        f'[profiles.test]\nbase_url = "{server.base_url}"\napi_key_env = "{KEY_ENV}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(KEY_ENV, server.api_key)
    return Remote(server, isolated_dirs / "data", config_dir)


def _thread_ids(store: Store) -> list[str]:
    try:
        return [t.id for t in store.threads("test")]
    finally:
        store.close()


def test_pipe_mode_prints_the_reply_and_saves_the_thread(remote: Remote) -> None:
    result = remote.ask("hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hello\n"
    store = remote.index()
    try:
        [rec] = store.threads("test")
        assert rec.title == "hello"
        assert rec.preview == "You said: hello"
        assert rec.assistant_id and rec.assistant_id.startswith("asst_")
        assert store.get_setting("last_thread.test") == rec.id
    finally:
        store.close()


def test_question_from_stdin(remote: Remote) -> None:
    result = remote.ask("-", input="from stdin\nsecond line\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: from stdin\nsecond line\n"
    store = remote.index()
    try:
        assert store.threads("test")[0].title == "from stdin"
    finally:
        store.close()


def test_continues_the_last_thread_unless_new(remote: Remote) -> None:
    assert remote.ask("one").returncode == 0
    assert remote.ask("two").returncode == 0
    [first] = _thread_ids(remote.index())
    assert remote.ask("--new", "three").stdout == "You said: three\n"
    ids = _thread_ids(remote.index())
    assert len(ids) == 2 and ids[1] == first
    second = ids[0]
    assert remote.ask("four").returncode == 0  # the last one is the new thread
    assert remote.ask("--thread", first, "five").stdout == "You said: five\n"
    with remote.server.client() as client:
        texts = {
            tid: [
                m.content[0].text.value
                for m in client.beta.threads.messages.list(tid, order="asc")
                if m.role == "user"
            ]
            for tid in (first, second)
        }
    assert texts[first] == ["one", "two", "five"]
    assert texts[second] == ["three", "four"]
    store = remote.index()
    try:
        assert store.get_setting("last_thread.test") == first
        assert store.get_thread(first).title == "one"
        assert store.get_thread(first).preview == "You said: five"
    finally:
        store.close()


def test_thread_and_new_exclude_each_other(remote: Remote) -> None:
    result = remote.ask("--new", "--thread", "thread_x", "hi")
    assert result.returncode == 2
    assert "exclude" in result.stderr


def test_unknown_thread_is_an_error(remote: Remote) -> None:
    result = remote.ask("--thread", "thread_doesnotexist", "hi")
    assert result.returncode == 1
    assert "no thread thread_doesnotexist" in result.stderr


def test_failed_run_exits_1_with_the_reason(remote: Remote) -> None:
    result = remote.ask("/fail")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "spool ask: run failed: The echo engine failed this run on request" in result.stderr
    # the thread is saved anyway, and the next question works
    assert remote.ask("after").stdout == "You said: after\n"
    assert len(_thread_ids(remote.index())) == 1


def test_tool_registry_answers_the_call(remote: Remote) -> None:
    (remote.config_dir / "tools.py").write_text(
        "def add(a, b):\n    return a + b\n", encoding="utf-8"
    )
    with remote.server.client() as client:
        assistant = client.beta.assistants.create(name="Calc", model="echo", tools=[ADD_TOOL])
    result = remote.ask("--assistant", assistant.id, '/call add {"a": 2, "b": 3}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "add returned: 5\n"
    assert '[tool] add({"a": 2, "b": 3}) -> 5' in result.stderr
    store = remote.index()
    try:
        assert store.threads("test")[0].assistant_id == assistant.id
    finally:
        store.close()


def test_assistant_by_name(remote: Remote) -> None:
    with remote.server.client() as client:
        named = client.beta.assistants.create(name="Ask By Name 7f3", model="echo")
    assert remote.ask("--assistant", "ask by name 7f3", "hi").returncode == 0
    store = remote.index()
    try:
        assert store.threads("test")[0].assistant_id == named.id
    finally:
        store.close()
    result = remote.ask("--assistant", "No Such Assistant 91x", "hi")
    assert result.returncode == 1
    assert "no assistant named 'No Such Assistant 91x'" in result.stderr


def test_unknown_tool_fails_and_cancels_the_run(remote: Remote) -> None:
    with remote.server.client() as client:
        assistant = client.beta.assistants.create(name="Mul", model="echo", tools=[MUL_TOOL])
        result = remote.ask("--assistant", assistant.id, '/call mul {"a": 2}')
        assert result.returncode == 1
        assert "mul" in result.stderr and "no local tool" in result.stderr
        [thread_id] = _thread_ids(remote.index())
        [run] = client.beta.threads.runs.list(thread_id, limit=1).data
        assert run.status in ("cancelled", "cancelling")
        for _ in range(50):  # cancelling settles quickly
            if client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "cancelled":
                break
            time.sleep(0.1)
    # the thread is not locked: the next question on it works
    again = remote.ask("--assistant", assistant.id, "still there?")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "You said: still there?\n"


def test_works_while_another_spool_holds_the_index(remote: Remote) -> None:
    holder = Store(remote.data_dir)  # like a running TUI
    try:
        assert not holder.read_only
        result = remote.ask("locked out")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "You said: locked out\n"
        assert "another spool" in result.stderr and "threads add" in result.stderr
        assert holder.threads("test") == []
    finally:
        holder.close()


def test_read_only_index_warning_names_the_thread(remote: Remote) -> None:
    import re

    holder = Store(remote.data_dir)  # like a running TUI
    try:
        result = remote.ask("remember me")  # piped: no header line with the id on stdout
        assert result.returncode == 0, result.stderr
        assert result.stdout == "You said: remember me\n"
        match = re.search(r"spool threads add (thread_\w+) --profile test", result.stderr)
        assert match, result.stderr
    finally:
        holder.close()
    added = spool("threads", "add", match.group(1), "--profile", "test")
    assert added.returncode == 0, added.stderr
    assert f"added {match.group(1)}: remember me" in added.stdout


def test_interrupt_cancels_the_run(remote: Remote) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "ask", "--profile", "test", "/sleep 30000"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with remote.server.client() as client:
            run = None
            deadline = time.monotonic() + 30
            while run is None and time.monotonic() < deadline:
                time.sleep(0.1)
                try:
                    data = json.loads((remote.data_dir / "index.json").read_text())
                    thread_id = data["settings"]["1"]["last_thread.test"]
                except (OSError, ValueError, KeyError):
                    continue
                runs = client.beta.threads.runs.list(thread_id, limit=1).data
                if runs and runs[0].status == "in_progress":
                    run = runs[0]
            assert run is not None, "the run never started"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 130, err
            assert "interrupted" in err
            status = client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status
            assert status in ("cancelling", "cancelled"), (status, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _read_pty(master: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(10)
    return out


def _ask_on_a_tty(question: str) -> tuple[int, str]:
    """`spool ask` with a terminal as stdout and stderr: (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "ask", "--profile", "test", "--model", "echo", question],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
    )
    os.close(slave)
    try:
        out = _read_pty(master, proc).decode()
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, out


def test_tty_mode(remote: Remote) -> None:
    code, out = _ask_on_a_tty("on a tty")
    assert code == 0, out
    assert "You said: on a tty" in out
    assert "\x1b[2m" in out  # the dim header line (assistant · model · thread)
    [thread_id] = _thread_ids(remote.index())
    assert thread_id in out


# --- the embedded local server ----------------------------------------------------------------
def _processes_using(data_dir: Path) -> list[int]:
    """Pids whose command line names `data_dir` (our own test's servers only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(data_dir).encode() in cmdline and b"serve" in cmdline:
            pids.append(int(entry.name))
    return pids


def _gone(data_dir: Path, timeout: float = 10.0) -> list[int]:
    """Wait for the embedded server of `data_dir` to exit by itself (it does so ~1 s after its
    last client said goodbye); returns the pids still there."""
    deadline = time.monotonic() + timeout
    while (left := _processes_using(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def no_leaks(isolated_dirs: Path):
    """Fail (and clean up) when a server of this test's data dir is left running."""
    data_dir = isolated_dirs / "data"
    yield data_dir
    left = _gone(data_dir)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"spool serve processes left behind: {left}"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_embedded_server_is_started_and_stopped(no_leaks: Path) -> None:
    result = spool("ask", "--model", "echo", "embedded hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: embedded hello\n"
    # no client left and no run executing: the server exits by itself, at once
    assert _gone(no_leaks) == []
    assert not (no_leaks / "server.json").exists()  # removed by the clean stop
    store = Store(no_leaks, read_only=True)
    try:
        [rec] = store.threads("local")
        assert rec.title == "embedded hello"
    finally:
        store.close()
    # --data-dir wins over SPOOL_DATA_DIR
    other = no_leaks.parent / "other-data"
    result = spool("ask", "--data-dir", str(other), "--model", "echo", "elsewhere")
    assert result.returncode == 0, result.stderr
    assert (other / "index.json").exists()
    assert _gone(other) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_running_embedded_server_is_reused(no_leaks: Path) -> None:
    from spool.client.connection import EmbeddedServer

    embedded = EmbeddedServer(no_leaks)
    embedded.start()
    try:
        assert embedded.process is not None
        pid = embedded.process.pid
        assert spool("ask", "--model", "echo", "reuse me").stdout == "You said: reuse me\n"
        assert embedded.process.poll() is None  # still running: not ours to stop
        info = json.loads((no_leaks / "server.json").read_text())
        assert info["pid"] == pid
        assert _processes_using(no_leaks) == [pid]
    finally:
        embedded.stop()


def test_tty_renders_markdown_and_pipes_stay_plain(remote: Remote) -> None:
    question = "**bold** and `code`"
    piped = remote.ask(question)
    assert piped.stdout == f"You said: {question}\n"  # plain text when piped
    code, out = _ask_on_a_tty(question)
    assert code == 0, out
    assert "**bold**" not in out and "`code`" not in out  # rendered, not raw
    assert "bold" in out and "code" in out and "\x1b[1m" in out


def test_the_demo_model_is_named_once(start_server: Any, isolated_dirs: Path, monkeypatch) -> None:
    server = start_server(config_toml='[models.smollm2]\nalias = "echo"\n')
    config_dir = isolated_dirs / "config"
    (config_dir / "config.toml").write_text(
        f'[profiles.test]\nbase_url = "{server.base_url}"\napi_key_env = "{KEY_ENV}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(KEY_ENV, server.api_key)
    first = spool("ask", "--profile", "test", "--model", "smollm2", "hi")
    assert first.returncode == 0, first.stderr
    assert "SmolLM2-135M, is a tiny offline demo" in first.stderr
    again = spool("ask", "--profile", "test", "--model", "smollm2", "hi again")
    assert again.returncode == 0 and "tiny offline demo" not in again.stderr


# --- MCP tools (--mcp NAME) -------------------------------------------------------------------
MCP_SERVER = Path(__file__).resolve().parent / "mcp_server.py"
ASK = [sys.executable, "-m", "spool", "ask", "--profile", "test", "--model", "echo"]


def _with_mcp_server(remote: Remote, *, ask: bool = True) -> Path:
    """Add `[mcp.tools]` (the test MCP server) to the test's config; returns its call log."""
    log = remote.config_dir / "calls.log"
    with (remote.config_dir / "config.toml").open("a", encoding="utf-8") as f:
        f.write(
            f"\n[mcp.tools]\ncommand = {json.dumps(sys.executable)}\n"
            f"args = [{json.dumps(str(MCP_SERVER))}]\nask = {'true' if ask else 'false'}\n"
            f"env = {{ MCP_CALL_LOG = {json.dumps(str(log))} }}\n"
        )
    return log


def test_mcp_tools_answer_the_call_with_yes(remote: Remote) -> None:
    log = _with_mcp_server(remote)
    result = remote.ask("--mcp", "tools", "--yes", '/call add {"a": 2, "b": 3}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "add returned: 5\n"
    assert '[tool] add({"a": 2, "b": 3}) -> 5' in result.stderr
    assert log.read_text().splitlines()[-1] == "add 2 3"


def test_mcp_call_without_a_terminal_is_denied_and_says_how_to_allow_it(remote: Remote) -> None:
    log = _with_mcp_server(remote)
    result = remote.ask("--mcp", "tools", '/call add {"a": 2, "b": 3}')
    assert result.returncode == 0, result.stderr  # the run completes: the model is told
    assert result.stdout == "add returned: error: the user did not allow this tool call\n"
    assert "no terminal to ask on; pass --yes" in result.stderr
    assert not log.exists() or "add" not in log.read_text()  # never reached the server


def test_mcp_server_that_does_not_ask_needs_no_yes(remote: Remote) -> None:
    _with_mcp_server(remote, ask=False)
    result = remote.ask("--mcp", "tools", '/call shout {"text": "hey"}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "shout returned: HEY\n"


def test_unknown_mcp_server_fails_before_posting(remote: Remote) -> None:
    result = remote.ask("--mcp", "nosuch", "hello")
    assert result.returncode == 1
    assert "no MCP server 'nosuch' in the config file" in result.stderr
    store = remote.index()
    try:
        assert store.threads("test") == []  # nothing was created
    finally:
        store.close()


def test_mcp_call_is_approved_on_the_terminal(remote: Remote) -> None:
    """stdin, stdout and stderr on a terminal: the question is asked there; `y` allows it."""
    log = _with_mcp_server(remote)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*ASK, "--mcp", "tools", '/call add {"a": 20, "b": 22}'],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 60
        while b"[N]o:" not in out and time.monotonic() < deadline:
            out += os.read(master, 4096)
        assert b"Allow add(" in out and b"MCP server tools" in out
        os.write(master, b"y\n")
        out += _read_pty(master, proc)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out.decode()
    assert "add returned: 42" in out.decode()
    assert log.read_text().splitlines()[-1] == "add 20 22"
