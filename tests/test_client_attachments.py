"""client/attachments.py without a server: pasted paths, default tools, the message's parts and
the run's tools, and the outbox record of a message with files."""

from __future__ import annotations

from pathlib import Path

import pytest

from spool.client import attachments as att
from spool.client.outbox import Outbox
from spool.client.view_model import Attachment, Workspace
from spool.store import Store


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "my docs"
    d.mkdir()
    for name in ("a.md", "b c.pdf", "data.csv", "pic.PNG", "notes"):
        (d / name).write_text("x")
    return d


def test_pasted_paths_forms(docs: Path) -> None:
    a, bc, csv = docs / "a.md", docs / "b c.pdf", docs / "data.csv"
    assert att.pasted_paths(str(a)) == [a]
    assert att.pasted_paths(f"  {a}\n") == [a]  # a terminal's trailing newline
    assert att.pasted_paths(str(bc)) == [bc]  # spaces, pasted as they are
    assert att.pasted_paths(f"'{bc}'") == [bc]  # quoted (GNOME Terminal, iTerm)

    def escaped(p: Path) -> str:
        return str(p).replace(" ", "\\ ")

    assert att.pasted_paths(f"{escaped(bc)} {escaped(a)}") == [bc, a]  # escaped, several
    assert att.pasted_paths(f"'{bc}' '{a}'") == [bc, a]
    url = "file://" + str(bc).replace(" ", "%20")
    assert att.pasted_paths(url) == [bc]  # a file:// URL (percent-encoded)
    assert att.pasted_paths(f"{a}\n{csv}\n{a}") == [a, csv]  # one per line, each once


def test_pasted_text_that_is_not_only_files(docs: Path) -> None:
    a = docs / "a.md"
    assert att.pasted_paths("hello world") == []
    assert att.pasted_paths("notes") == []  # a bare word is text, even if a file has its name
    assert att.pasted_paths(f"look at {a}") == []
    assert att.pasted_paths(str(docs)) == []  # a folder
    assert att.pasted_paths(str(docs / "missing.txt")) == []
    assert att.pasted_paths("file://otherhost/etc/passwd") == []
    assert att.pasted_paths(f"'{a}") == []  # unbalanced quote
    assert att.pasted_paths("") == []


def test_default_tools_by_type(docs: Path) -> None:
    kinds = {
        name: (a.tools, a.image)
        for name in ("a.md", "b c.pdf", "data.csv", "pic.PNG", "notes")
        for a in [att.for_path(docs / name)]
    }
    assert kinds == {
        "a.md": (("file_search",), False),
        "b c.pdf": (("file_search",), False),
        "data.csv": (("code_interpreter",), False),
        "pic.PNG": (("code_interpreter",), True),
        "notes": (("code_interpreter",), False),
    }
    with pytest.raises(OSError):
        att.for_path(docs)
    with pytest.raises(OSError):
        att.for_path(docs / "missing")


def test_toggle_needs_a_tool_except_for_images() -> None:
    doc = Attachment("a.md", tools=("file_search",))
    assert att.toggle_tool(doc, "code_interpreter") is None
    assert doc.tools == ("file_search", "code_interpreter")
    assert att.toggle_tool(doc, "file_search") is None
    assert "needs a tool" in (att.toggle_tool(doc, "code_interpreter") or "")
    assert doc.tools == ("code_interpreter",)
    image = Attachment("p.png", tools=("code_interpreter",), image=True)
    assert att.toggle_tool(image, "code_interpreter") is None
    assert image.tools == () and att.tools_label(image) == "image"


def test_message_parts_and_run_tools() -> None:
    doc = Attachment("a.md", tools=("file_search",), file_id="file-a")
    pic = Attachment("p.png", tools=(), image=True, file_id="file-p")
    content, listed = att.message_parts("hi", [doc, pic])
    assert content == [
        {"type": "text", "text": "hi"},
        {"type": "image_file", "image_file": {"file_id": "file-p"}},
    ]
    assert listed == [{"file_id": "file-a", "tools": [{"type": "file_search"}]}]
    assert att.message_parts("hi", [doc]) == ("hi", listed)
    function = {"type": "function", "function": {"name": "f"}}
    assert att.run_tools([function], {"file_search"}) == [function, {"type": "file_search"}]
    assert att.run_tools([{"type": "file_search"}], {"file_search"}) is None
    assert att.run_tools([], {"code_interpreter", "file_search"}) == [
        {"type": "file_search"},
        {"type": "code_interpreter"},
    ]


def test_human_size() -> None:
    from spool.client.sizes import human_size

    assert [human_size(n) for n in (0, 999, 1000, 12_345, 4_100_000, 250_000_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "12.3 kB",
        "4.1 MB",
        "250 MB",
    ]
    assert human_size(None) == "?"


def test_outbox_keeps_attachments_and_uploaded_ids(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    try:
        outbox = Outbox(store, "local", Workspace())
        view = outbox.workspace.view("thread_1")
        files = [Attachment("a.md", 3, ("file_search",), path="/x/a.md")]
        item = outbox.add(view, "hello", files)
        files[0].file_id = "file-1"
        outbox.uploaded(item)
        (rec,) = store.all_outbox("local")
        assert rec.attachments == [files[0].to_doc()]
        restored = Outbox(store, "local", Workspace())
        restored.restore()
        (again,) = restored.workspace.view("thread_1").local_messages()
        assert [(a.name, a.file_id, a.tools) for a in again.attachments] == [
            ("a.md", "file-1", ("file_search",))
        ]
        with pytest.raises(ValueError):
            store.update_outbox(rec.id, attachments="nope")
    finally:
        store.close()


def test_from_message_keeps_the_attached_order() -> None:
    from openai.types.beta.threads import Message

    message = Message.model_validate(
        {
            "id": "msg_1",
            "object": "thread.message",
            "created_at": 1,
            "thread_id": "thread_1",
            "role": "user",
            "status": "completed",
            "content": [
                {"type": "text", "text": {"value": "hi", "annotations": []}},
                {"type": "image_file", "image_file": {"file_id": "file-img"}},
                {"type": "image_file", "image_file": {"file_id": "file-only-part"}},
            ],
            "attachments": [
                {"file_id": "file-doc", "tools": [{"type": "file_search"}]},
                {"file_id": "file-img", "tools": [{"type": "code_interpreter"}]},
            ],
            "metadata": {},
        }
    )
    got = [(a.file_id, a.tools, a.image) for a in att.from_message(message)]
    assert got == [
        ("file-doc", ("file_search",), False),
        ("file-img", ("code_interpreter",), True),
        ("file-only-part", (), True),
    ]


async def test_tools_for_run_adds_to_the_offered_tools() -> None:
    """With the run's own tools (MCP functions in the run options), the attachments' tools are
    added to those; nothing needed: None (the assistant's own stay)."""
    mcp = {"type": "function", "function": {"name": "search_notes"}}
    got = await att.tools_for_run(None, "asst_1", {"code_interpreter"}, [mcp])
    assert got == [mcp, {"type": "code_interpreter"}]
    assert await att.tools_for_run(None, "asst_1", set(), [mcp]) is None
