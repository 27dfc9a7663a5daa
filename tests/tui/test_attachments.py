"""Attachments (issue 12): the attach prompt, pasted paths, uploads (failures keep the message
unsent, retry uploads only what is missing), attachments on reloaded messages, the thread's
files panel, and a `/search` run over an attached document. Pilot against the embedded server
with the echo engine."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import openai
import pytest
from textual import events

from spool.client.outbox import NEW_THREAD
from spool.client.view_model import MessageItem
from spool.store import Store
from spool.tui.screens.attach import AttachScreen
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.prompt import PromptScreen
from spool.tui.screens.thread_files import ThreadFilesScreen
from spool.tui.widgets.attachments import AttachmentsBar
from spool.tui.widgets.message import MessageView

from .helpers import make_app, ready, run_ended, type_and_send, view, wait_until

SIZE = (120, 40)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GUIDE = (
    "# Packing guide\n\nThe lighthouse keeper packs a brass telescope, three wool blankets and "
    "a tin of peppermint tea for the long winter watch on the northern cliffs.\n"
)
# a 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def files(tmp: Path) -> tuple[Path, Path]:
    docs = tmp / "docs"
    docs.mkdir(exist_ok=True)
    guide = docs / "packing-guide.md"
    guide.write_text(GUIDE)
    image = docs / "chart.png"
    image.write_bytes(PNG)
    return guide, image


async def indexed(app) -> None:
    """Wait until the thread's vector store has indexed its files."""
    client = app.connection.client
    for _ in range(500):
        thread = await client.beta.threads.retrieve(app.current)
        ids = thread.tool_resources.file_search.vector_store_ids
        store = await client.vector_stores.retrieve(ids[0])
        if store.file_counts.in_progress == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the thread's files were not indexed")


def last_user(app) -> MessageItem:
    return next(
        i for i in reversed(view(app).items) if isinstance(i, MessageItem) and i.role == "user"
    )


async def attach_via_prompt(pilot, paths: list[Path]) -> AttachScreen:
    app = pilot.app
    await pilot.press("alt+a")
    screen = await wait_until(lambda: isinstance(app.screen, AttachScreen) and app.screen)
    for path in paths:
        inp = screen.query_one("#path")
        inp.value = str(path)
        await pilot.press("enter")
        await wait_until(lambda p=path: any(a.name == p.name for a in screen.attachments))
    return screen


async def test_attach_via_prompt_then_search_the_document(isolated_dirs: Path) -> None:
    """alt+a → two files (a document for search, an image for vision + code) → chips → send
    `/search …`: both uploaded, the image as an image_file part, the run gets file_search and
    code_interpreter (the assistant has neither), echo answers from the document."""
    guide, image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        screen = await attach_via_prompt(pilot, [guide, image])
        assert [(a.name, a.tools, a.image) for a in screen.attachments] == [
            ("packing-guide.md", ("file_search",), False),
            ("chart.png", ("code_interpreter",), True),
        ]
        await pilot.press("enter")  # an empty path: attach
        await wait_until(lambda: not isinstance(app.screen, AttachScreen))
        bar = app.query_one("#attachments", AttachmentsBar)
        assert bar.has_class("-shown")
        assert [a.name for a in bar.attachments] == ["packing-guide.md", "chart.png"]

        await type_and_send(pilot, "/search what does the keeper pack")
        assert await run_ended(app) == "completed"
        reply = view(app).last_reply() or ""
        assert reply.startswith('Top result: "'), reply
        assert "brass telescope" in reply
        assert not bar.has_class("-shown")  # the chips went with the message
        sent = last_user(app)
        assert [a.name for a in sent.attachments] == ["packing-guide.md", "chart.png"]
        assert all(a.file_id for a in sent.attachments)

        client = app.connection.client
        page = await client.beta.threads.messages.list(app.current, order="asc")
        message = page.data[0]
        assert [p.type for p in message.content] == ["text", "image_file"]
        assert message.content[1].image_file.file_id == sent.attachments[1].file_id
        assert [(a.file_id, [t.type for t in a.tools]) for a in message.attachments] == [
            (sent.attachments[0].file_id, ["file_search"]),
            (sent.attachments[1].file_id, ["code_interpreter"]),
        ]
        uploaded = {f.id: f for f in (await client.files.list()).data}
        assert uploaded[sent.attachments[1].file_id].purpose == "vision"
        assert uploaded[sent.attachments[0].file_id].purpose == "assistants"
        runs = await client.beta.threads.runs.list(app.current)
        assert {t.type for t in runs.data[0].tools} >= {"file_search", "code_interpreter"}
        shown = app.query(MessageView).filter(".user").last()
        assert "▤ packing-guide.md" in str(shown._user_text())


async def test_prompt_toggles_tools_and_removes(isolated_dirs: Path) -> None:
    """s / c switch the tools of the highlighted file; a file needs one; delete removes it;
    escape leaves the pending files as they were."""
    guide, image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        screen = await attach_via_prompt(pilot, [guide])
        screen.query_one("#files").focus()
        await pilot.press("c")
        assert screen.attachments[0].tools == ("file_search", "code_interpreter")
        await pilot.press("s", "c")  # code only, then none: refused
        assert screen.attachments[0].tools == ("code_interpreter",)
        assert "needs a tool" in str(screen.query_one("#problem").render())
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, AttachScreen))
        assert [a.tools for a in app.pending()] == [("code_interpreter",)]

        screen = await attach_via_prompt(pilot, [image])
        screen.query_one("#files").focus()
        await pilot.press("delete")  # the highlighted file: the one just added
        assert [a.name for a in screen.attachments] == ["packing-guide.md"]
        await pilot.press("escape")  # cancelled: unchanged
        await wait_until(lambda: not isinstance(app.screen, AttachScreen))
        assert [a.name for a in app.pending()] == ["packing-guide.md"]

        inp_problem = await attach_via_prompt(pilot, [])
        inp_problem.query_one("#path").value = str(isolated_dirs / "nope.txt")
        await pilot.press("enter")
        assert "No such file" in str(inp_problem.query_one("#problem").render())
        inp_problem.query_one("#path").value = str(isolated_dirs / "docs")
        await pilot.press("enter")
        assert "is a folder" in str(inp_problem.query_one("#problem").render())
        await pilot.press("escape")


async def test_path_completion(isolated_dirs: Path) -> None:
    """The path input completes names (tab takes the completion)."""
    guide, _image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        screen = await attach_via_prompt(pilot, [])
        inp = screen.query_one("#path")
        inp.focus()
        inp.value = str(isolated_dirs / "docs" / "pack")
        inp.cursor_position = len(inp.value)
        await wait_until(lambda: inp._suggestion == str(guide), what="suggestion")
        await pilot.press("tab")
        assert inp.value == str(guide)
        await pilot.press("escape")


async def test_pasted_path_offers_to_attach(isolated_dirs: Path) -> None:
    """A paste of file paths (quoted, file:// URL) asks: y attaches, n pastes the text."""
    guide, image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.composer.focus()
        app.composer.set_text("see ")
        pasted = f"'{guide}' file://{str(image).replace(' ', '%20')}"
        app.post_message(events.Paste(pasted))
        confirm = await wait_until(lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "these 2 files" in confirm.question
        await pilot.press("y")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen))
        assert [a.name for a in app.pending()] == ["packing-guide.md", "chart.png"]
        assert app.composer.text == "see "  # the paths were not pasted

        app.post_message(events.Paste(str(guide)))
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # declined: pasted as text
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.composer.text == f"see {guide}"

        app.post_message(events.Paste("just some words"))  # not paths: pasted at once
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.composer.text.endswith("just some words")


async def test_upload_too_large_keeps_message_unsent(
    isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over the server's size limit: the message stays unsent and says why."""
    monkeypatch.setenv("SPOOL_SERVE_MAX_FILE_BYTES", "2000")
    big = isolated_dirs / "big.txt"
    big.write_text("x" * 5000)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([big])
        await type_and_send(pilot, "read this")
        item = await wait_until(lambda: last_user(app).status == "unsent" and last_user(app))
        assert item.error and "upload of big.txt failed" in item.error
        assert "maximum file size is 2000 bytes" in item.error
        assert item.attachments[0].file_id is None
        await app.wait_for_ui()
        shown = app.query(MessageView).filter(".user").last()
        shown_text = str(shown._user_text())
        assert "✖ not sent" in shown_text and item.error in shown_text  # the reason, in place
        # refused, not lost: it does not promise to go out when the server is back
        assert item.refused and "when the server is back" not in shown_text
        assert "f5 tries again, f6 takes it back to edit" in shown_text
        page = await app.connection.client.beta.threads.messages.list(app.current)
        assert page.data == []  # never posted
        rec = app.store.all_outbox("local")[0]
        assert rec.state == "refused" and rec.attachments[0]["name"] == "big.txt"
        # a reconnect leaves it alone (sending it again would only be refused again) ...
        app.outbox.requeue(view(app))
        assert last_user(app).status == "unsent"
        # ... F5 tries it again (and says why it is still refused)
        item.error = None
        await pilot.press("f5")
        await wait_until(lambda: last_user(app).status == "unsent" and last_user(app).error)
        assert "maximum file size is 2000 bytes" in (last_user(app).error or "")


async def test_failed_upload_retry_uploads_only_what_is_missing(isolated_dirs: Path) -> None:
    """Two files, the second gone at send time: the first is uploaded (its id kept), the message
    stays unsent; the file is back, F5 uploads only the second and posts the message."""
    guide, _image = files(isolated_dirs)
    notes = isolated_dirs / "docs" / "notes.txt"
    notes.write_text("the keeper's notes")
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([guide, notes])
        notes.unlink()
        await type_and_send(pilot, "two files")
        item = await wait_until(lambda: last_user(app).status == "unsent" and last_user(app))
        assert "upload of notes.txt failed" in (item.error or "")
        first_id = item.attachments[0].file_id
        assert first_id and item.attachments[1].file_id is None
        stored = app.store.all_outbox("local")[0].attachments
        assert stored[0]["file_id"] == first_id  # kept: the retry skips it
        client = app.connection.client
        assert len((await client.files.list()).data) == 1

        notes.write_text("the keeper's notes")
        await pilot.press("f5")
        assert await run_ended(app) == "completed"
        sent = last_user(app)
        assert sent.status == "completed" and sent.attachments[0].file_id == first_id
        assert len((await client.files.list()).data) == 2  # only the missing one uploaded
        page = await client.beta.threads.messages.list(app.current)
        assert len(page.data[-1].attachments) == 2
        assert app.store.all_outbox("local") == []


async def test_attachments_survive_restart_and_show_after_reload(isolated_dirs: Path) -> None:
    """Pending files and a queued message's files are kept in the index; a posted message shows
    its files (name, size, tools) after a reload, from the server."""
    guide, _image = files(isolated_dirs)
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([guide])
        thread_id = app.current
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        assert app.current == thread_id
        assert [a.name for a in app.pending()] == ["packing-guide.md"]  # kept
        assert app.query_one("#attachments", AttachmentsBar).has_class("-shown")
        await type_and_send(pilot, "keep this")
        assert await run_ended(app) == "completed"
    store = Store(data)
    try:
        assert store.all_outbox("local") == []
    finally:
        store.close()
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        user = last_user(app)
        assert [(a.name, a.size, a.tools) for a in user.attachments] == [
            ("packing-guide.md", len(GUIDE.encode()), ("file_search",))
        ]
        await app.wait_for_ui()  # (the loaded page is rendered after `ready`)
        await wait_until(lambda: app.query(MessageView).filter(".user"), what="rendered")
        shown = app.query(MessageView).filter(".user").last()
        text = str(shown._user_text())
        assert f"▤ packing-guide.md · {len(GUIDE.encode())} B · search" in text, text
        assert not app.query_one("#attachments", AttachmentsBar).has_class("-shown")


async def test_queued_offline_message_keeps_its_files(isolated_dirs: Path) -> None:
    """Offline, a message with files is queued with them (in the index); once connected it is
    posted with them."""
    guide, _image = files(isolated_dirs)
    data = isolated_dirs / "data"
    app = make_app(data, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.sleep(0.2)
        app.add_pending_paths([guide])
        await type_and_send(pilot, "/search telescope")
        await wait_until(lambda: view(app, NEW_THREAD).local_messages())
        assert view(app, NEW_THREAD).local_messages()[0].attachments[0].name == "packing-guide.md"
    store = Store(data)
    try:
        (rec,) = store.all_outbox("local")
        assert rec.attachments[0]["name"] == "packing-guide.md"
    finally:
        store.close()
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await wait_until(lambda: view(app).last_reply(), what="reply")
        assert await run_ended(app) == "completed"
        assert (view(app).last_reply() or "").startswith('Top result: "')


async def test_files_panel_download_detach_delete(isolated_dirs: Path) -> None:
    """alt+l lists the thread's files; s saves one into a folder; r detaches it from the
    thread's store (asks); delete deletes it from the server (asks, and says so)."""
    guide, _image = files(isolated_dirs)
    out = isolated_dirs / "out"
    out.mkdir()
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([guide])
        await type_and_send(pilot, "hello")
        assert await run_ended(app) == "completed"
        file_id = last_user(app).attachments[0].file_id
        await pilot.press("alt+l")
        panel = await wait_until(
            lambda: isinstance(app.screen, ThreadFilesScreen) and app.screen.loaded and app.screen
        )
        (f,) = panel.files
        assert (f.file_id, f.name) == (file_id, "packing-guide.md")
        assert f.uses[0] == "user message (search)"
        assert f.uses[1].startswith("the thread's vector store (") and f.detachable

        await pilot.press("s")
        prompt = await wait_until(lambda: isinstance(app.screen, PromptScreen) and app.screen)
        prompt.query_one("#answer").value = str(out)
        await pilot.press("enter")
        await wait_until(lambda: panel.last_saved is not None, what="saved")
        assert panel.last_saved == out / "packing-guide.md"
        assert panel.last_saved.read_text() == GUIDE

        await pilot.press("r")
        confirm = await wait_until(lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "Detach packing-guide.md from this thread" in confirm.question
        await pilot.press("y")
        await wait_until(lambda: app.screen is panel and not panel.files[0].store_ids)
        assert panel.files[0].uses == ["user message (search)"]

        await pilot.press("delete")
        confirm = await wait_until(lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "from the server" in confirm.question and file_id in confirm.question
        await pilot.press("y")
        await wait_until(lambda: app.screen is panel and panel.files[0].name == "(deleted file)")
        with pytest.raises(openai.NotFoundError):
            await app.connection.client.files.retrieve(file_id)
        await pilot.press("escape")


async def test_large_upload_shows_progress(isolated_dirs: Path) -> None:
    """A large file is streamed from disk in chunks; the bar above the composer follows it
    while it uploads and goes away after."""
    big = isolated_dirs / "survey.csv"
    big.write_bytes(b"a,b\n" * (3 * 1024 * 1024))  # 12 MiB
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([big])
        bar = app.query_one("#attachments", AttachmentsBar)
        await type_and_send(pilot, "the survey")
        assert await run_ended(app) == "completed"
        done = bar.last_upload
        assert done is not None and done.name == "survey.csv"
        assert done.sent == done.total == big.stat().st_size
        assert done.steps > 10  # read in chunks, reported as it went
        assert bar.progress is None and not bar.has_class("-shown")
        assert last_user(app).attachments[0].size == big.stat().st_size


async def test_server_gone_during_upload_keeps_message_then_sends_it(isolated_dirs: Path) -> None:
    """The server is gone when the files are uploaded: the message stays unsent and says why;
    once spool has a server again it uploads the files and posts the message."""
    guide, _image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.connection.server.process.kill()
        app.connection.server.process.wait()
        app.add_pending_paths([guide])
        await type_and_send(pilot, "/search telescope")
        item = await wait_until(lambda: last_user(app).status == "unsent" and last_user(app))
        assert "upload of packing-guide.md failed" in (item.error or "")
        # the app starts a new server, and the message goes out with its file
        await wait_until(lambda: last_user(app).status == "completed", timeout=60)
        assert await run_ended(app) == "completed"
        assert (view(app).last_reply() or "").startswith('Top result: "')
        page = await app.connection.client.beta.threads.messages.list(app.current)
        assert [len(m.attachments) for m in page.data if m.role == "user"] == [1]


async def test_chips_per_thread_take_back_and_remove(isolated_dirs: Path) -> None:
    """Chips belong to their thread (a new thread starts without them); a queued message taken
    back gives its files back; ✕ removes a chip."""
    guide, image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        first = app.current
        app.add_pending_paths([guide])
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != first and view(app).loaded, what="new thread")
        assert app.pending() == []
        bar = app.query_one("#attachments", AttachmentsBar)
        assert not bar.has_class("-shown")
        await pilot.press("ctrl+down")  # back to the first thread (below the new one)
        await wait_until(lambda: app.current == first)
        assert [a.name for a in app.pending()] == ["packing-guide.md"]
        assert bar.has_class("-shown")

        chosen = app.take_pending()
        await type_and_send(pilot, "/sleep 3000")  # the thread is busy: the next one queues
        await wait_until(lambda: view(app).active, what="run")
        app.set_pending(chosen)
        await type_and_send(pilot, "queued with a file")
        await wait_until(lambda: [i.status for i in view(app).local_messages()] == ["queued"])
        assert app.pending() == []
        await pilot.press("f6")  # take it back: text and file
        await wait_until(lambda: app.composer.text == "queued with a file")
        assert [a.name for a in app.pending()] == ["packing-guide.md"]

        app.add_pending_paths([image])
        await pilot.pause()
        chips = bar.query_one("#chips")
        first_line = chips.render().plain.splitlines()[0]
        await pilot.click(chips, offset=(first_line.index("✕"), 0))  # the first chip's ✕
        await wait_until(lambda: [a.name for a in app.pending()] == ["chart.png"], what="gone")


async def test_edit_and_resend_keeps_the_files(isolated_dirs: Path) -> None:
    """Editing a sent message gives its files back (by file id: nothing is uploaded again)."""
    guide, _image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([guide])
        await type_and_send(pilot, "first try")
        assert await run_ended(app) == "completed"
        file_id = last_user(app).attachments[0].file_id
        await app.wait_for_ui()
        app.query(MessageView).filter(".user").last().focus()
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(lambda: app.composer.text == "first try")
        assert [(a.name, a.file_id) for a in app.pending()] == [("packing-guide.md", file_id)]
        await pilot.press("end", *" again", "enter", "wait:60")
        assert await run_ended(app) == "completed"
        assert last_user(app).attachments[0].file_id == file_id
        client = app.connection.client
        assert len((await client.files.list()).data) == 1  # not uploaded twice
        page = await client.beta.threads.messages.list(app.current)
        assert [a.file_id for m in page.data for a in m.attachments] == [file_id]


async def test_help_lines_and_palette_entries(isolated_dirs: Path) -> None:
    """F1 lists the attach and files keys (with their ids); the palette opens both."""
    from spool.tui.screens.help import HelpScreen

    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {k.binding_id: k.keys for k in app.screen.keys}
        assert ids["spool.attach"] == "alt+a" and ids["spool.thread_files"] == "alt+l"
        assert {"attach.search", "attach.code", "attach.remove", "attach.done"} <= set(ids)
        assert {"thread_files.download", "thread_files.detach", "thread_files.delete"} <= set(ids)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Attach files")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, AttachScreen), what="palette attach")
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, AttachScreen))
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"thread's files")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ThreadFilesScreen), what="palette files")
        await wait_until(lambda: app.screen.loaded)
        assert app.screen.files == []
        assert "no files" in str(app.screen.query_one("#state").render())


async def test_code_run_over_an_attached_table(isolated_dirs: Path) -> None:
    """A csv attached for code_interpreter is in the sandbox's /mnt/data; the run gets the
    code_interpreter tool though the assistant has none (echo `/code`, the real sandbox)."""
    from sandbox_helpers import require_sandbox

    require_sandbox()
    table = isolated_dirs / "supplies.csv"
    table.write_text("item,count\nblanket,3\n")
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([table])
        assert [a.tools for a in app.pending()] == [("code_interpreter",)]
        await type_and_send(pilot, "/code print(open('/mnt/data/supplies.csv').read())")
        assert await run_ended(app, timeout=60) == "completed"
        assert view(app).last_reply() == "Code output: item,count\nblanket,3"


async def test_a_file_deleted_before_the_post_is_uploaded_again_on_retry(
    isolated_dirs: Path,
) -> None:
    """A message resent with its files by id, one of them deleted from the server meanwhile:
    the post is refused (unsent, the reason says so), F5 uploads it again from disk and posts."""
    guide, _image = files(isolated_dirs)
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        app.add_pending_paths([guide])
        await type_and_send(pilot, "first")
        assert await run_ended(app) == "completed"
        old_id = last_user(app).attachments[0].file_id
        await app.connection.client.files.delete(old_id)  # e.g. from the files panel
        app.give_back_pending(last_user(app).attachments)  # by id, as edit-and-resend does
        await type_and_send(pilot, "second")
        item = await wait_until(lambda: last_user(app).status == "unsent" and last_user(app))
        assert "no file found" in (item.error or "")
        assert "gone from the server, uploaded again on retry" in (item.error or "")
        assert item.attachments[0].file_id is None
        await pilot.press("f5")
        assert await run_ended(app) == "completed"
        new_id = last_user(app).attachments[0].file_id
        assert new_id and new_id != old_id
        first = next(i for i in view(app).items if isinstance(i, MessageItem) and i.text == "first")
        assert first.attachments[0].file_id == old_id  # the first message's record is its own
