"""Pilot tests of code_interpreter and file_search steps in the transcript, images inline (view
full size, save), files a reply produced (save), reloads, and the run inspector's code and
file_search steps: the embedded `spool serve` with the echo engine (`/code`, `/search`) and the
real sandbox."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.color import Color
from textual.widgets import Input, SelectionList, Static

from sandbox_helpers import require_sandbox
from spool.client.view_model import CodeStepItem, FileSearchItem, MessageItem
from spool.tui.screens.image_viewer import ImageViewerScreen
from spool.tui.screens.run_inspector import RunInspectorScreen
from spool.tui.screens.save_files import SaveFilesScreen
from spool.tui.widgets.code_step import CodeStepView, FileSearchView, error_start
from spool.tui.widgets.image_view import InlineImage, MessageMedia
from spool.tui.widgets.message import MessageView

from .helpers import make_app, ready, run_ended, type_and_send, view, wait_until

SIZE = (120, 50)
CI = {"type": "code_interpreter"}
FS = {"type": "file_search"}

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PLOT = "/code import matplotlib.pyplot as plt\nprint('plotting')\nplt.plot([0, 1, 2], [0, 1, 4])\nplt.show()"
FILE = (
    "/code open('/mnt/data/out.csv', 'w').write('a,b\\n1,2\\n')\n"
    "print('wrote sandbox:/mnt/data/out.csv')"
)
FAIL = "/code print('before')\nundefined_name + 1"


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    require_sandbox()


async def with_tools(app: Any, *tools: dict[str, Any], **update: Any) -> None:
    await app.connection.client.beta.assistants.update(
        app.assistant_id, tools=list(tools), **update
    )


def static_text(widget: Static) -> str:
    """What a Static shows, as plain text (trailing spaces stripped)."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


async def save_dialog(app: Any) -> SaveFilesScreen:
    await wait_until(
        lambda: isinstance(app.screen, SaveFilesScreen) and app.screen.query("#folder"),
        what="save dialog",
    )
    return app.screen


def kinds(app: Any) -> list[str]:
    out = []
    for item in view(app).items:
        if isinstance(item, MessageItem):
            out.append(item.role)
        else:
            out.append(type(item).__name__)
    return out


async def test_a_code_step_streams_in_place_with_logs_and_an_error(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, FAIL)
        assert await run_ended(app) == "completed"
        assert kinds(app) == ["user", "CodeStepItem", "assistant"]
        step = next(i for i in view(app).items if isinstance(i, CodeStepItem))
        assert step.code == "print('before')\nundefined_name + 1"
        assert "NameError" in step.logs and step.logs.startswith("before")
        assert step.status == "completed" and step.duration_s is not None
        widget = app.transcript.widget_for(step)
        assert isinstance(widget, CodeStepView)
        # in place: between the question and the answer
        children = [c for c in app.transcript.children if c.display]
        assert (
            children.index(widget)
            == children.index(app.transcript.widget_for(view(app).items[0])) + 1
        )
        await pilot.pause()
        title = str(widget.query_one("Collapsible").title)
        assert title.startswith("✔ code_interpreter · done") and "2 lines of Python" in title
        (chunk,) = widget.query(".code .chunk").results(Static)  # one block, highlighted whole
        assert chunk.content.plain == step.code.rstrip("\n")
        assert len({str(sp.style) for sp in chunk.content.spans}) > 1  # highlighted
        logs = widget.query_one(".logs", Static).content
        assert "before" in str(logs) and "NameError" in str(logs)
        cut = error_start(step.logs)
        assert cut is not None and step.logs[cut:].startswith(("Traceback", "NameError"))
        # the error part has the theme's error colour, the rest does not
        error_colour = Color.parse(app.get_css_variables()["error"]).hex.lower()  # $error
        styled = [span for span in logs.spans if span.start >= cut]
        assert styled and all(span.style.color.triplet.hex == error_colour for span in styled)
        assert all(
            span.style.color.triplet.hex != error_colour for span in logs.spans if span.end <= cut
        )
        # collapse with c (focus inside the block), expand by clicking the title
        widget.query_one("CollapsibleTitle").focus()
        await pilot.press("c")
        assert widget.collapsed
        await pilot.click(widget.query_one("CollapsibleTitle"))
        assert not widget.collapsed


async def test_code_streams_before_it_runs(isolated_dirs: Path) -> None:
    """The code is shown while the run is still going (the step is live, not only at the end)."""
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        seen: list[tuple[str, str]] = []
        original = app.transcript.apply

        async def spy(change: Any) -> None:
            await original(change)
            item = change.item
            if isinstance(item, CodeStepItem):
                seen.append((item.status, item.code))

        app.transcript.apply = spy  # type: ignore[method-assign]
        await type_and_send(pilot, "/code import time\ntime.sleep(0.5)\nprint('slept')")
        assert await run_ended(app) == "completed"
        running = [code for status, code in seen if status == "in_progress"]
        assert any("time.sleep" in code for code in running)  # shown before the step ended
        step = next(i for i in view(app).items if isinstance(i, CodeStepItem))
        assert step.duration_s is not None and step.duration_s >= 0.4


async def test_a_plot_shows_inline_opens_full_size_and_saves(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    app.image_mode = "halfcell"
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, PLOT)
        assert await run_ended(app) == "completed"
        step = next(i for i in view(app).items if isinstance(i, CodeStepItem))
        reply = view(app).items[-1]
        assert (
            isinstance(reply, MessageItem) and reply.images == step.images and len(step.images) == 1
        )
        assert "![image]" not in reply.text  # shown inline, not as a link
        images = list(app.screen.query(InlineImage))
        assert len(images) == 2  # in the code step and in the reply
        await wait_until(lambda: all(i.loaded for i in images), what="images loaded")
        assert app.file_cache().downloads == 1  # one download for both
        await pilot.pause()
        reply_widget = app.transcript.widget_for(reply)
        kids = [type(c).__name__ for c in reply_widget.children]
        assert kids.index("MessageMedia") > kids.index("MarkdownChunk")  # under the text
        pictures = [p for i in images for p in i.query(".picture")]
        assert len(pictures) == 2
        await wait_until(lambda: all(p.size.height > 5 for p in pictures), what="drawn", timeout=5)
        await pilot.pause()
        # the message grew around its picture (it arrived after the message was laid out)
        media = reply_widget.query_one(MessageMedia)
        assert media.size.height > pictures[1].size.height
        assert reply_widget.size.height > media.size.height
        image = app.transcript.widget_for(step).query_one(InlineImage)
        assert image.fetched is not None and image.fetched.data.startswith(b"\x89PNG")
        assert image.query(".picture")  # drawn (half blocks)
        caption = static_text(image.query_one(".caption", Static))
        assert image.fetched.name in caption and "kB" in caption
        image.focus()
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ImageViewerScreen), what="viewer")
        await pilot.press("s")
        await save_dialog(app)
        folder = isolated_dirs / "saved"
        app.screen.query_one("#folder", Input).value = str(folder)
        await pilot.press("enter")
        await wait_until(lambda: app.last_saved, what="saved")
        (saved,) = app.last_saved
        assert saved.parent == folder and saved.read_bytes() == image.fetched.data
        assert isinstance(app.screen, ImageViewerScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, ImageViewerScreen)
        # s on the focused image saves again, next to the first copy
        image.focus()
        await pilot.press("s")
        await save_dialog(app)
        assert app.screen.query_one("#folder", Input).value == str(folder)  # remembered
        app.last_saved = None
        await pilot.press("enter")
        await wait_until(lambda: app.last_saved, what="saved again")
        assert app.last_saved[0].name.endswith(" (1).png")


async def test_produced_files_are_saved_from_the_message(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, FILE)
        assert await run_ended(app) == "completed"
        reply = view(app).items[-1]
        assert isinstance(reply, MessageItem)
        assert [(f.name, f.link) for f in reply.files] == [("out.csv", "sandbox:/mnt/data/out.csv")]
        widget = app.transcript.widget_for(reply)
        assert isinstance(widget, MessageView)
        await pilot.pause()
        line = static_text(widget.query_one(MessageMedia).query_one(".files", Static))
        assert "out.csv" in line and "w saves it" in line
        widget.focus()
        await pilot.press("w")
        await save_dialog(app)
        listed = app.screen.query_one("#files", SelectionList)
        assert listed.option_count == 1 and list(listed.selected) == [reply.files[0].file_id]
        app.screen.query_one("#folder", Input).value = str(isolated_dirs / "out")
        await pilot.press("enter")
        await wait_until(lambda: app.last_saved, what="saved")
        assert app.last_saved[0].read_text() == "a,b\n1,2\n"


async def test_save_from_the_palette_without_focus_and_bad_folder(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, FILE)
        assert await run_ended(app) == "completed"
        await app.run_action("save_files")  # the palette's command: the last reply with files
        await save_dialog(app)
        a_file = isolated_dirs / "not-a-folder"
        a_file.write_text("x")
        app.screen.query_one("#folder", Input).value = str(a_file)
        await pilot.press("enter")
        problem = app.screen.query_one("#problem", Static)
        assert problem.display and "is a file" in static_text(problem)
        await pilot.press("escape")
        assert not isinstance(app.screen, SaveFilesScreen) and app.last_saved is None


async def test_reloaded_thread_shows_past_code_steps(isolated_dirs: Path) -> None:
    data = isolated_dirs / "data"
    app = make_app(data)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, PLOT)
        assert await run_ended(app) == "completed"
        thread_id = app.current
    app = make_app(data)
    app.image_mode = "placeholder"
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        assert app.current == thread_id
        assert kinds(app) == ["user", "CodeStepItem", "assistant"]
        step = next(i for i in view(app).items if isinstance(i, CodeStepItem))
        assert "plt.plot" in step.code and step.logs.strip() == "plotting" and len(step.images) == 1
        widget = await wait_until(lambda: app.transcript.widget_for(step), what="shown")
        assert isinstance(widget, CodeStepView)
        (image,) = await wait_until(lambda: list(widget.query(InlineImage)), what="mounted")
        await wait_until(lambda: image.loaded, what="image")
        assert not image.query(".picture")  # placeholder: the name and the size only
        caption = static_text(image.query_one(".caption", Static))
        assert image.fetched is not None and image.fetched.name in caption
        # the palette's commands: every code step collapses / expands, the last image opens
        await app.run_action("toggle_code_steps")
        assert widget.collapsed
        await app.run_action("toggle_code_steps")
        assert not widget.collapsed
        await app.run_action("open_last_image")
        await wait_until(lambda: isinstance(app.screen, ImageViewerScreen), what="viewer")
        assert app.screen.fetched.file_id == step.images[0]
        await pilot.press("escape")
        await app.run_action("save_last_image")
        await save_dialog(app)
        await pilot.press("escape")


async def _store_with(client: Any, name: str, text: bytes) -> str:
    upload = await client.files.create(file=(name, text), purpose="assistants")
    store = await client.vector_stores.create(name="docs", file_ids=[upload.id])
    for _ in range(200):
        store = await client.vector_stores.retrieve(store.id)
        if store.file_counts.in_progress == 0:
            break
        await asyncio.sleep(0.05)
    return store.id


async def test_file_search_line_and_the_inspector(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        client = app.connection.client
        store_id = await _store_with(
            client, "otters.md", b"# Otters\n\nSea otters hold hands while they sleep.\n"
        )
        await with_tools(
            app, CI, FS, tool_resources={"file_search": {"vector_store_ids": [store_id]}}
        )
        await type_and_send(pilot, "/code print(6 * 7)")
        assert await run_ended(app) == "completed"
        await type_and_send(pilot, "/search otters sleep")
        assert await run_ended(app) == "completed"
        search = next(i for i in view(app).items if isinstance(i, FileSearchItem))
        assert search.status == "completed" and search.results == 1
        assert search.query == "otters sleep"  # (spool's server says it)
        line = app.transcript.widget_for(search)
        assert isinstance(line, FileSearchView)
        assert static_text(line) == '⚙ file_search "otters sleep" → 1 result'
        # the inspector of the code run
        code_reply = next(
            w for w in app.transcript.query(MessageView) if w.item.text == "Code output: 42"
        )
        code_reply.focus()
        await pilot.press("f3")
        await wait_until(lambda: isinstance(app.screen, RunInspectorScreen), what="inspector")
        screen = app.screen
        await wait_until(lambda: screen.details is not None, what="details")
        (call,) = screen.details.steps[0].tool_calls
        assert call.type == "code_interpreter" and call.arguments == "print(6 * 7)"
        assert call.logs == "42\n" and call.images == []
        shown = static_text(screen.query_one("#content", Static))
        for expected in ("code_interpreter", "print(6 * 7)", "logs", "42"):
            assert expected in shown, expected
        await pilot.press("escape")
        # the inspector of the search run: results with file name, score and the chunk
        app.transcript.widget_for(view(app).items[-1]).focus()
        await pilot.press("f3")
        await wait_until(lambda: isinstance(app.screen, RunInspectorScreen), what="inspector")
        screen = app.screen
        await wait_until(lambda: screen.details is not None, what="details")
        (call,) = screen.details.steps[0].tool_calls
        assert call.type == "file_search" and call.query == "otters sleep"
        (result,) = call.results
        assert result.file_name == "otters.md" and 0 < result.score <= 1
        assert "hold hands" in result.content
        shown = static_text(screen.query_one("#content", Static))
        for expected in ("file_search", "query: otters sleep", "otters.md", "hold hands", "score"):
            assert expected in shown, expected


async def test_a_run_followed_by_polling_shows_its_code_step(isolated_dirs: Path) -> None:
    """A code run started elsewhere (another client, or before a restart) is re-attached by
    polling: its code step shows as soon as the server's steps have it (spool's server stores a
    call's input and outputs when the call ends), before the reply."""
    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        client = app.connection.client
        tid = app.current
        code = "/code import time\ntime.sleep(0.5)\nprint('slept')"
        await client.beta.threads.messages.create(tid, role="user", content=code)
        await client.beta.threads.runs.create(tid, assistant_id=app.assistant_id)
        await pilot.press("ctrl+n")
        await wait_until(lambda: app.current != tid)
        app.workspace.drop(tid)
        await pilot.press("ctrl+down")
        assert app.current == tid
        await wait_until(lambda: view(app, tid).active, what="attached")
        step = await wait_until(
            lambda: next((i for i in view(app, tid).items if isinstance(i, CodeStepItem)), None),
            what="the code step",
        )
        assert "time.sleep(0.5)" in step.code
        await wait_until(lambda: app.transcript.widget_for(step), what="shown")
        assert await run_ended(app, tid) == "completed"
        assert step.status == "completed" and step.logs == "slept\n"
        assert kinds(app) == ["user", "CodeStepItem", "assistant"]


async def test_help_and_palette_name_the_new_keys(isolated_dirs: Path) -> None:
    from textual.binding import Binding

    from spool.tui.commands import SpoolCommands
    from spool.tui.screens.help import HelpScreen
    from spool.tui.screens.image_viewer import ImageViewerScreen as Viewer
    from spool.tui.screens.save_files import SaveFilesScreen as Save

    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {k.binding_id for k in app.screen.keys}
        assert {
            "message.save_files",
            "code_step.toggle",
            "image.open",
            "image.save",
            "image_viewer.close",
            "image_viewer.save",
            "save_files.cancel",
        } <= ids
        await pilot.press("escape")
        commands = SpoolCommands(app.screen)._commands()
        assert "save_files" in [action for _name, action, _help in commands]
        assert app._keys_for("message.save_files") == "w"
    # every binding of the new widgets and screens has an id
    for cls in (CodeStepView, InlineImage, Viewer, Save):
        assert all(isinstance(b, Binding) and b.id for b in cls.BINDINGS), cls


async def test_an_image_that_is_no_image_or_is_gone_says_so(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    app.image_mode = "halfcell"
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        client = app.connection.client
        garbage = await client.files.create(file=("plot.png", b"not a png"), purpose="assistants")
        view(app).add(
            CodeStepItem(
                "call_x",
                code="print(1)",
                logs="1\n",
                images=[garbage.id, "file-gone"],
                status="completed",
                started_at=1.0,
                ended_at=2.0,
            )
        )
        await app.wait_for_ui()
        widget = await wait_until(lambda: app.transcript.widget_for(view(app).items[-1]))
        bad, gone = await wait_until(lambda: list(widget.query(InlineImage)), what="images")
        await wait_until(lambda: bad.loaded and gone.loaded, what="settled")
        assert not bad.query(".picture") and "cannot be shown" in static_text(
            bad.query_one(".caption", Static)
        )
        assert "plot.png" in static_text(bad.query_one(".caption", Static))
        assert gone.error and "could not be loaded" in static_text(
            gone.query_one(".caption", Static)
        )
        gone.focus()
        await pilot.press("enter")  # opening a missing image: a toast, no screen, no crash
        await pilot.pause()
        assert not isinstance(app.screen, ImageViewerScreen)


async def test_markdown_export_shows_the_code_its_output_and_images(isolated_dirs: Path) -> None:
    from spool.client.export import export_thread

    app = make_app(isolated_dirs / "data")
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        await with_tools(app, CI)
        await type_and_send(pilot, PLOT)
        assert await run_ended(app) == "completed"
        md = await export_thread(app.connection.client, app.current, "md")
        step = next(i for i in view(app).items if isinstance(i, CodeStepItem))
        code_at = md.index("**Code** (code_interpreter)")
        assert md.index("/code import") < code_at < md.index("Code output:")  # in the turn
        assert "```python\nimport matplotlib.pyplot as plt\n" in md
        assert "Output:\n\n```\nplotting\n```" in md
        assert f"Images: `{step.images[0]}`" in md
