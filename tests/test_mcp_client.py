"""The MCP client side (`spool.client.mcp`), the `[mcp]` config and the approval bookkeeping,
against a real MCP server subprocess (tests/mcp_server.py, written with the same SDK, stdio)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopback import free_port
from spool.client import mcp as mcp_module
from spool.client.approvals import Approvals
from spool.client.mcp import McpHub, McpTool, cap_output, expand_env, function_name_for
from spool.client.run_options import MAX_RUN_TOOLS, RunOptions
from spool.config import McpServerSpec, load_config

SERVER = str(Path(__file__).parent / "mcp_server.py")


def spec(name: str = "t", **kwargs: object) -> McpServerSpec:
    kwargs.setdefault("command", sys.executable)
    kwargs.setdefault("args", [SERVER])
    return McpServerSpec(name, **kwargs)  # type: ignore[arg-type]


def logged(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# --- the config file ------------------------------------------------------------------------
def test_config_mcp_entries(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[tools]
ask = true

[mcp.notes]
command = "python"
args = ["-m", "notes_mcp"]
env = { NOTES_DIR = "${HOME}/notes" }
timeout = 5

[mcp.search]
url = "http://127.0.0.1:9000/mcp"
headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
ask = false
tools = ["search"]
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.problems == []
    assert config.mcp["search"].tools == ["search"] and config.mcp["notes"].tools is None
    assert config.tools_ask is True
    notes, search = config.mcp["notes"], config.mcp["search"]
    assert (notes.command, notes.args, notes.env) == (
        "python",
        ["-m", "notes_mcp"],
        {"NOTES_DIR": "${HOME}/notes"},
    )
    assert notes.ask is True and notes.timeout == 5.0 and notes.where == "python -m notes_mcp"
    assert search.url == "http://127.0.0.1:9000/mcp" and search.ask is False
    assert search.headers == {"Authorization": "Bearer ${SEARCH_TOKEN}"}


def test_config_broken_mcp_entries_are_problems_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
default_model = "echo"

[mcp.neither]
ask = true

[mcp.both]
command = "x"
url = "http://h/mcp"

[mcp.badargs]
command = "x"
args = "not a list"

[mcp.badenv]
command = "x"
env = { N = 1 }

[mcp.ws]
url = "ws://h/mcp"

[mcp.badtools]
command = "x"
tools = "add"

[mcp.odd]
command = "x"
timeout = -1
ask = "sometimes"
colour = "blue"

[tools]
ask = "maybe"
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.default_model == "echo"  # the rest of the file is used
    assert list(config.mcp) == ["odd"]  # usable, with defaults for its broken values
    assert config.mcp["odd"].ask is True and config.mcp["odd"].timeout == 30.0
    text = "\n".join(config.problems)
    for expected in (
        "[mcp.neither] needs either command",
        "[mcp.both] needs either command",
        "[mcp.badargs] args must be a list of strings",
        "[mcp.badenv] env must be a table of strings",
        "[mcp.ws] url must start with http:// or https://",
        "[mcp.badtools] tools must be a list of tool names",
        "[mcp.odd] unknown keys: colour",
        "[mcp.odd] ask must be true or false",
        "[mcp.odd] timeout must be a positive number",
        "[tools] ask must be true or false",
    ):
        assert expected in text, expected
    assert load_config(tmp_path / "missing.toml").mcp == {}
    path.write_text("mcp = 3\n", encoding="utf-8")
    assert load_config(path).problems == ["[mcp] must be a table of server names"]


# --- small pieces ----------------------------------------------------------------------------
def test_names_env_and_approvals() -> None:
    assert function_name_for("files.read/v2") == "files_read_v2"
    assert len(function_name_for("x" * 100)) == 64
    assert expand_env("a ${X} b ${NOPE}", {"X": "1"}) == "a 1 b "
    approvals = Approvals()
    assert approvals.needs_asking("mcp:t", "add", ask=True)
    assert not approvals.needs_asking("local", "add", ask=False)
    assert approvals.record("mcp:t", "add", "once") and approvals.needs_asking(
        "mcp:t", "add", ask=True
    )
    assert not approvals.record("mcp:t", "add", "deny")
    assert approvals.record("mcp:t", "add", "always")
    assert not approvals.needs_asking("mcp:t", "add", ask=True)
    assert approvals.needs_asking("mcp:other", "add", ask=True)  # per source
    assert approvals.forget() == 1 and approvals.needs_asking("mcp:t", "add", ask=True)


def test_run_options_offer_mcp_tools() -> None:
    options = RunOptions(mcp_servers=("t",))
    assert not options.empty
    assert "tools" not in options.to_kwargs()  # not listed yet: the assistant's own tools
    mine = {"type": "function", "function": {"name": "add", "parameters": {}}}
    other = {"type": "function", "function": {"name": "weather", "parameters": {}}}
    tool = McpTool("t", "add", "add", "Add.", {"type": "object", "properties": {}})
    options.offer_mcp_tools([mine, other, {"type": "file_search"}], [tool.function_tool()])
    assert options.to_kwargs()["tools"] == [other, {"type": "file_search"}, tool.function_tool()]
    assert options.summary() == "opts: mcp t (1 tools)"


def test_run_options_keep_to_the_api_limit_of_tools() -> None:
    options = RunOptions(mcp_servers=("t",))
    own = [{"type": "function", "function": {"name": f"own{i}"}} for i in range(3)]
    mcp = [McpTool("t", f"m{i}", f"m{i}", "", {}).function_tool() for i in range(25)]
    left_out = options.offer_mcp_tools(own, mcp)
    assert options.tools is not None and len(options.tools) == MAX_RUN_TOOLS == 20
    assert options.tools[:3] == own  # the assistant's own tools come first
    assert left_out == [f"m{i}" for i in range(17, 25)]
    assert len(options.mcp_tool_names) == 17


def test_cap_output() -> None:
    assert cap_output("short", 10) == "short"
    assert (
        cap_output("x" * 25, 10) == "x" * 10 + "\n… (output cut: 25 characters, the first 10 kept)"
    )


# --- a real server ---------------------------------------------------------------------------
async def test_hub_lists_and_calls_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SPOOL_TEST_CALL_LOG", str(log))  # ${VAR} in env is expanded
    hub = McpHub({"t": spec(args=[SERVER, ">"], env={"MCP_CALL_LOG": "${SPOOL_TEST_CALL_LOG}"})})
    assert hub.state("t") == "not started"  # nothing starts before its tools are wanted
    try:
        tools, problems = await hub.tools_for(["t"])
        assert problems == [] and hub.state("t") == "running"
        names = [t.function_name for t in tools]
        assert names == ["add", "shout", "slow", "crash", "fail", "picture"]
        add = hub.find("add", ["t"])
        assert add is not None and hub.find("add", ["other"]) is None
        fn = add.function_tool()["function"]
        assert fn["description"] == "Add two integers."
        assert fn["parameters"]["required"] == ["a", "b"]
        assert await hub.call(add, '{"a": 2, "b": 3}') == "5"
        shout = hub.find("shout")
        assert shout is not None and await hub.call(shout, '{"text": "hi"}') == ">HI"
        fail, picture = hub.find("fail"), hub.find("picture")
        assert fail is not None and picture is not None
        assert (await hub.call(fail, "{}")).startswith("error: ")
        assert await hub.call(picture, "{}") == "[image image/png, 24 bytes]"
        assert (await hub.call(add, "[1]")).startswith("error: the arguments must be a JSON object")
        assert (await hub.call(add, "{nope")).startswith("error: the arguments are not JSON")
        assert "add 2 3" in logged(log)
    finally:
        await hub.close()
    pid = int(next(line for line in logged(log) if line.startswith("pid")).split()[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the MCP server process is still running after close()")


async def test_slow_server_times_out_and_the_server_stays_usable() -> None:
    hub = McpHub({"t": spec(timeout=1.0)})
    try:
        await hub.tools_for(["t"])
        slow, add = hub.find("slow"), hub.find("add")
        assert slow is not None and add is not None
        started = time.monotonic()
        output = await hub.call(slow, '{"seconds": 30}')
        assert time.monotonic() - started < 5
        assert output == (
            "error: MCP server 't' did not answer slow within 1 s "
            "(timed out; the run goes on without it)"
        )
        assert await hub.call(add, '{"a": 1, "b": 1}') == "2"
    finally:
        await hub.close()


async def test_server_that_exits_during_a_call_is_restarted_on_the_next(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    hub = McpHub({"t": spec(env={"MCP_CALL_LOG": str(log)}, timeout=20.0)})
    try:
        await hub.tools_for(["t"])
        crash, add = hub.find("crash"), hub.find("add")
        assert crash is not None and add is not None
        started = time.monotonic()
        output = await hub.call(crash, "{}")
        assert time.monotonic() - started < 10  # noticed at once, not after the timeout
        assert output.startswith("error: MCP server 't' exited during the call of crash")
        assert "about to crash" in output  # its stderr is quoted
        assert await hub.call(add, '{"a": 4, "b": 4}') == "8"  # started again
        assert len([line for line in logged(log) if line.startswith("pid")]) == 2
    finally:
        await hub.close()


async def test_servers_that_cannot_start_are_problems() -> None:
    hub = McpHub(
        {
            "exits": spec(
                "exits", args=["-c", "import sys; print('no such thing', file=sys.stderr); exit(2)"]
            ),
            "missing": spec("missing", command="/nonexistent/mcp-server", args=[]),
            "ok": spec("ok"),
        }
    )
    try:
        tools, problems = await hub.tools_for(["exits", "missing", "ok", "unknown"])
        assert {t.server for t in tools} == {"ok"}
        text = "\n".join(problems)
        assert "no MCP server 'unknown' in the config file" in text
        assert "MCP server 'exits' could not be started" in text and "no such thing" in text
        assert "MCP server 'missing' could not be started" in text
        assert hub.state("exits").startswith("failed: ")
        tool = McpTool("exits", "add", "add", "", {})
        assert (await hub.call(tool, "{}")).startswith("error: MCP server 'exits' could not be")
    finally:
        await hub.close()


async def test_tools_allowlist() -> None:
    hub = McpHub({"t": spec(tools=["add", "shout", "nope"])})
    try:
        tools, _ = await hub.tools_for(["t"])
        assert [t.function_name for t in tools] == ["add", "shout"]
        assert hub.find("slow") is None
    finally:
        await hub.close()


async def test_server_that_never_answers_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcp_module, "START_TIMEOUT_S", 1.0)
    hub = McpHub({"mute": spec("mute", args=["-c", "import time; time.sleep(60)"])})
    try:
        started = time.monotonic()
        tools, problems = await hub.tools_for(["mute"])
        assert time.monotonic() - started < 10
        assert tools == []
        assert problems == ["MCP server 'mute' did not answer within 1 s of starting"]
    finally:
        await hub.close()


async def test_same_tool_names_on_two_servers_get_distinct_functions() -> None:
    hub = McpHub({"a": spec("a"), "b": spec("b", args=[SERVER, "b:"])})
    try:
        tools, problems = await hub.tools_for(["a", "b"])
        assert problems == []
        names = {(t.server, t.name): t.function_name for t in tools}
        assert names[("a", "shout")] == "shout" and names[("b", "shout")] == "b_shout"
        b_shout = hub.find("b_shout")
        assert b_shout is not None and await hub.call(b_shout, '{"text": "x"}') == "b:X"
    finally:
        await hub.close()


async def test_streamable_http_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `url` server: the same test server over streamable HTTP on loopback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/mcp"
        headers = {"Authorization": "Bearer ${SPOOL_TEST_TOKEN}"}
        hub = McpHub({"web": McpServerSpec("web", url=url, headers=headers)})
        try:  # an unset ${VAR} is said as such
            _, problems = await hub.tools_for(["web"])
            assert problems == [
                "MCP server 'web' could not be started: ${SPOOL_TEST_TOKEN} (in headers) is not "
                "set in spool's environment"
            ]
        finally:
            await hub.close()
        monkeypatch.setenv("SPOOL_TEST_TOKEN", "t0ken")
        for headers in ({}, {"Authorization": "Bearer ${SPOOL_TEST_TOKEN}"}):
            hub = McpHub({"web": McpServerSpec("web", url=url, headers=headers, timeout=1.0)})
            try:
                tools, problems = await hub.tools_for(["web"])
                assert problems == [] and "add" in [t.function_name for t in tools]
                add, slow = hub.find("add"), hub.find("slow")
                assert add is not None and slow is not None
                assert await hub.call(add, '{"a": 40, "b": 2}') == "42"
                assert "did not answer slow within 1 s" in await hub.call(slow, '{"seconds": 5}')
            finally:
                await hub.close()
        proc.terminate()
        proc.wait(10)
        hub = McpHub({"web": McpServerSpec("web", url=url)})
        try:  # nothing listens any more: a problem, not a hang
            tools, problems = await hub.tools_for(["web"])
            assert tools == [] and "MCP server 'web' could not be started" in problems[0]
        finally:
            await hub.close()
    finally:
        proc.kill()
        proc.wait(10)
