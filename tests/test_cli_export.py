"""`spool export` and `spool threads add|list` against the shared echo server, plus
`export_thread` in-process (auto-paging, Markdown layout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from spool.client import export as export_module
from spool.client.export import export_thread, fenced, to_markdown
from spool.store import Store, ThreadRecord

KEY_ENV = "SPOOL_TEST_REMOTE_KEY"
ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        },
    },
}


def spool(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `python -m spool ARGS` with the test's environment (isolated dirs)."""
    return subprocess.run(
        [sys.executable, "-m", "spool", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


@pytest.fixture
def remote(server: Any, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared server as profile `test`; returns the data dir."""
    (isolated_dirs / "config" / "config.toml").write_text(
        f'[profiles.test]\nbase_url = "{server.base_url}"\napi_key_env = "{KEY_ENV}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(KEY_ENV, server.api_key)
    return isolated_dirs / "data"


@pytest.fixture(scope="module")
def conversation(server: Any) -> dict[str, Any]:
    """A thread with a plain exchange, a function call answered with 5, and a failed run."""
    with server.client() as client:
        assistant = client.beta.assistants.create(name="Exporter", model="echo", tools=[ADD_TOOL])
        thread = client.beta.threads.create()
        tid = thread.id
        client.beta.threads.messages.create(tid, role="user", content="hello export\nmore")
        run1 = client.beta.threads.runs.create_and_poll(thread_id=tid, assistant_id=assistant.id)
        assert run1.status == "completed"
        client.beta.threads.messages.create(tid, role="user", content='/call add {"a": 2, "b": 3}')
        run2 = client.beta.threads.runs.create_and_poll(thread_id=tid, assistant_id=assistant.id)
        assert run2.status == "requires_action"
        call = run2.required_action.submit_tool_outputs.tool_calls[0]
        run2 = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run2.id, thread_id=tid, tool_outputs=[{"tool_call_id": call.id, "output": "5"}]
        )
        assert run2.status == "completed"
        client.beta.threads.messages.create(tid, role="user", content="/fail")
        run3 = client.beta.threads.runs.create_and_poll(thread_id=tid, assistant_id=assistant.id)
        assert run3.status == "failed"
        message_ids = [m.id for m in client.beta.threads.messages.list(tid, order="asc")]
    return {
        "thread_id": tid,
        "assistant_id": assistant.id,
        "message_ids": message_ids,
        "runs": [run1.id, run2.id, run3.id],
    }


def test_export_markdown(remote: Path, conversation: dict[str, Any]) -> None:
    result = spool("export", conversation["thread_id"], "--format", "md", "--profile", "test")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert md.startswith("# hello export\n")
    assert f"`{conversation['thread_id']}`" in md
    # turns carry the assistant's real name; the tool call is inside its turn
    assert md.count("## User · ") == 3 and md.count("## Exporter · ") == 2
    call_at = md.index("**Tool call** `add`")
    assert md.rindex("## ", 0, call_at) == md.rindex("## Exporter · ", 0, call_at)
    # order: question, reply, call (arguments, output), its reply, the failure
    positions = [
        md.index("hello export\nmore"),
        md.index("You said: hello export"),
        md.index("**Tool call** `add`"),
        md.index('  "a": 2,'),
        md.index("Output:"),
        md.index("add returned: 5"),
        md.index("/fail"),
        md.index(f"> Run `{conversation['runs'][2]}` failed: server_error"),
    ]
    assert positions == sorted(positions)
    assert '```json\n{\n  "a": 2,\n  "b": 3\n}\n```' in md


def test_export_markdown_uses_the_index_title(remote: Path, conversation: dict[str, Any]) -> None:
    store = Store(remote)
    store.add_thread(ThreadRecord(conversation["thread_id"], "test", "My saved title"))
    store.close()
    result = spool("export", conversation["thread_id"], "--profile", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# My saved title\n")


def test_export_json_to_a_file(remote: Path, conversation: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "thread.json"
    result = spool(
        "export", conversation["thread_id"], "--format", "json", "-o", str(out), "--profile", "test"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert set(doc) == {"thread", "messages", "runs", "footnotes"}
    assert doc["footnotes"] == []  # no citations in this thread
    assert doc["thread"]["id"] == conversation["thread_id"]
    assert [m["id"] for m in doc["messages"]] == conversation["message_ids"]
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"] * 2 + ["user"]
    assert [r["id"] for r in doc["runs"]] == conversation["runs"]
    assert [r["status"] for r in doc["runs"]] == ["completed", "completed", "failed"]
    calls = [
        call
        for step in doc["runs"][1]["steps"]
        if step["step_details"]["type"] == "tool_calls"
        for call in step["step_details"]["tool_calls"]
    ]
    assert calls[0]["function"]["name"] == "add"
    assert json.loads(calls[0]["function"]["arguments"]) == {"a": 2, "b": 3}
    assert calls[0]["function"]["output"] == "5"


def test_export_unknown_thread(remote: Path) -> None:
    result = spool("export", "thread_nope", "--profile", "test")
    assert result.returncode == 1
    assert "no thread thread_nope" in result.stderr


async def test_export_thread_pages_through_everything(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "PAGE_LIMIT", 2)
    async with server.async_client() as client:
        thread = await client.beta.threads.create()
        ids = []
        for i in range(7):
            m = await client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}")
            ids.append(m.id)
        doc = json.loads(await export_thread(client, thread.id, "json"))
        assert [m["id"] for m in doc["messages"]] == ids
        assert doc["runs"] == []
        md = await export_thread(client, thread.id, "md")
        assert md.startswith("# m0\n")
        assert [line for line in md.splitlines() if line.startswith("m")] == [
            f"m{i}" for i in range(7)
        ]
        with pytest.raises(ValueError):
            await export_thread(client, thread.id, "html")


def test_fenced_outgrows_backticks() -> None:
    assert fenced("a ``` b", "json") == "````json\na ``` b\n````"


def test_markdown_of_an_empty_thread() -> None:
    from types import SimpleNamespace

    dump = export_module.ThreadDump(thread=SimpleNamespace(id="thread_e", created_at=0))
    assert to_markdown(dump).startswith("# Thread thread_e\n")


# --- spool threads ----------------------------------------------------------------------------
def test_threads_add_and_list(remote: Path, conversation: dict[str, Any]) -> None:
    result = spool("threads", "add", conversation["thread_id"], "--profile", "test")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"added {conversation['thread_id']}: hello export\n"
    store = Store(remote, read_only=True)
    try:
        rec = store.get_thread(conversation["thread_id"])
    finally:
        store.close()
    assert rec is not None
    assert rec.profile == "test"
    assert rec.title == "hello export"
    assert rec.assistant_id == conversation["assistant_id"]
    assert rec.preview == "add returned: 5"
    assert abs(rec.updated_at - time.time()) < 120

    listed = spool("threads", "list", "--profile", "test")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    tid, title, updated = line.split("\t")
    assert (tid, title) == (conversation["thread_id"], "hello export")
    assert time.strptime(updated, "%Y-%m-%d %H:%M")
    assert spool("threads", "list").stdout == ""  # the local profile has none
    everything = spool("threads", "list", "--all").stdout
    assert everything.rstrip("\n").endswith("\t[test]")
    again = spool("threads", "add", conversation["thread_id"], "--profile", "test")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"already there: {conversation['thread_id']}: hello export\n"


def test_threads_add_unknown_thread(remote: Path) -> None:
    result = spool("threads", "add", "thread_doesnotexist", "--profile", "test")
    assert result.returncode == 1
    assert "no thread thread_doesnotexist" in result.stderr
    assert spool("threads", "list", "--profile", "test").stdout == ""


def test_threads_add_while_the_index_is_held(remote: Path, conversation: dict[str, Any]) -> None:
    holder = Store(remote)
    try:
        result = spool("threads", "add", conversation["thread_id"], "--profile", "test")
    finally:
        holder.close()
    assert result.returncode == 1
    assert "read-only" in result.stderr


def test_unknown_profile(remote: Path) -> None:
    result = spool("threads", "add", "thread_x", "--profile", "nope")
    assert result.returncode == 2
    assert "unknown profile 'nope'" in result.stderr


def test_headings_inside_messages_cannot_pass_for_turns() -> None:
    from spool.client.export import demote_headings

    text = "## Plan\n\n# Big\n```md\n## kept in code\n```\n###### deepest"
    assert demote_headings(text) == (
        "#### Plan\n\n### Big\n```md\n## kept in code\n```\n###### deepest"
    )
