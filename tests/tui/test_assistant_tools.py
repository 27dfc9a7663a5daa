"""The assistant editor's server-side tools against the embedded echo server: code_interpreter
with files (picked from the uploaded ones, or a path uploaded from the editor) and file_search
with one vector store (picked, or created from the editor), saved as `tools` and
`tool_resources` and read back; validation errors at their fields; then `/search` answers with
a citation through the store chosen in the editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Checkbox, Input, Select, SelectionList

from spool.client.assistants import FormError, build_spec
from spool.tui.screens.assistant_editor import AssistantEditor

from .helpers import make_app, ready, run_ended, type_and_send, wait_until

DATA = "x,y\n1,2\n3,4\n"
GUIDE = "The keeper trims the wick every four hours during the night watch.\n"


async def open_editor(app: Any, pilot: Any) -> AssistantEditor:
    await pilot.press("f8")
    editor = await wait_until(
        lambda: isinstance(app.screen, AssistantEditor) and app.screen, what="editor"
    )
    await wait_until(lambda: editor.known_stores is not None, what="files and stores loaded")
    return editor


async def test_tools_and_resources_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text(DATA)
    guide = tmp_path / "keeper.md"
    guide.write_text(GUIDE)
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(app)
        client = app.connection.client
        before = await client.files.create(file=guide, purpose="assistants")
        editor = await open_editor(app, pilot)
        assert not editor.query_one("#code_interpreter", Checkbox).value
        files = editor.query_one("#code_files", SelectionList)
        assert before.id in [files.get_option_at_index(i).value for i in range(files.option_count)]

        # upload a path from the editor: chosen, code_interpreter turned on
        upload = editor.query_one("#code_upload", Input)
        upload.value = str(tmp_path / "missing.csv")
        upload.focus()
        await pilot.press("enter")
        await wait_until(lambda: "no such file" in editor.error_text("code_files"))
        upload.value = str(data)
        await pilot.press("enter")
        await wait_until(lambda: len(files.selected) == 1, what="uploaded")
        (data_id,) = files.selected
        assert editor.query_one("#code_interpreter", Checkbox).value
        assert editor.error_text("code_files") == ""

        # create a store from the editor: chosen, file_search turned on
        new_store = editor.query_one("#new_store", Input)
        new_store.focus()
        await pilot.press("enter")
        await wait_until(lambda: "name first" in editor.error_text("vector_store"))
        new_store.value = "Keeper docs"
        await pilot.press("enter")
        select = editor.query_one("#vector_store", Select)
        await wait_until(lambda: select.value not in ("", Select.BLANK), what="store created")
        store_id = select.value
        assert editor.query_one("#file_search", Checkbox).value

        # validation at the fields: resources of a tool that is off
        editor.query_one("#code_interpreter", Checkbox).value = False
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "turn code_interpreter on" in editor.error_text("code_files")
        assert isinstance(app.screen, AssistantEditor)
        editor.query_one("#code_interpreter", Checkbox).value = True
        editor.query_one("#file_search", Checkbox).value = False
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "turn file_search on" in editor.error_text("vector_store")
        assert editor.error_text("code_files") == ""
        editor.query_one("#file_search", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, AssistantEditor), what="saved")

        a = await client.beta.assistants.retrieve(app.assistant_id)
        assert sorted(t.type for t in a.tools) == ["code_interpreter", "file_search"]
        assert a.tool_resources.code_interpreter.file_ids == [data_id]
        assert a.tool_resources.file_search.vector_store_ids == [store_id]

        # read back: the form shows what the server has, with names
        editor = await open_editor(app, pilot)
        files = editor.query_one("#code_files", SelectionList)
        assert files.selected == [data_id]
        options = [files.get_option_at_index(i) for i in range(files.option_count)]
        assert "data.csv" in next(str(o.prompt) for o in options if o.value == data_id)
        assert editor.query_one("#vector_store", Select).value == store_id
        assert editor.query_one("#file_search", Checkbox).value
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, AssistantEditor), what="closed")

        # the store chosen in the editor is the one /search searches
        await client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store_id, file_ids=[before.id], poll_interval_ms=50
        )
        await type_and_send(pilot, "/search wick")
        assert await run_ended(app) == "completed"
        reply = app.workspace.view(app.current).items[-1]
        assert reply.text.startswith('Top result: "The keeper trims the wick')
        assert [s.name for s in reply.citations.sources()] == ["keeper.md"]

        # turning both off clears the resources
        editor = await open_editor(app, pilot)
        editor.query_one("#code_files", SelectionList).deselect_all()
        editor.query_one("#code_interpreter", Checkbox).value = False
        editor.query_one("#vector_store", Select).value = ""
        editor.query_one("#file_search", Checkbox).value = False
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, AssistantEditor), what="saved")
        a = await client.beta.assistants.retrieve(app.assistant_id)
        assert a.tools == []
        assert not (
            a.tool_resources.code_interpreter and a.tool_resources.code_interpreter.file_ids
        )
        assert not (a.tool_resources.file_search and a.tool_resources.file_search.vector_store_ids)


def test_build_spec_checks_resources() -> None:
    base = dict(
        name="A",
        model="echo",
        description="",
        instructions="",
        tools="[]",
        temperature="",
        top_p="",
        response_format="auto",
    )
    spec = build_spec(**base, code_interpreter=True, code_files=["f1", "f1"], file_search=True)
    params = spec.to_params()
    assert params["tools"] == [{"type": "code_interpreter"}, {"type": "file_search"}]
    assert params["tool_resources"] == {
        "code_interpreter": {"file_ids": ["f1"]},
        "file_search": {"vector_store_ids": []},
    }
    keep = {"type": "file_search", "file_search": {"max_num_results": 3}}
    spec = build_spec(**base, file_search=True, vector_store="vs_1", file_search_tool=keep)
    assert spec.to_params()["tools"] == [keep]
    cases = [
        (dict(code_files=["f1"]), "code_files", "turn code_interpreter on"),
        (dict(code_interpreter=True, code_files=[f"f{i}" for i in range(21)]), "code_files", "20"),
        (dict(code_interpreter=True, code_files=["f9"], known_files={"f1"}), "code_files", "f9"),
        (dict(vector_store="vs_1"), "vector_store", "turn file_search on"),
        (dict(file_search=True, vector_store="vs_9", known_stores=set()), "vector_store", "vs_9"),
    ]
    for extra, field_name, message in cases:
        try:
            build_spec(**base, **extra)
        except FormError as exc:
            assert exc.field == field_name and message in exc.message, (extra, exc.message)
        else:
            raise AssertionError(f"no error for {extra}")


async def test_the_form_is_walked_with_tab_down_to_the_tool_toggles(tmp_path: Path) -> None:
    """Tab leaves the instructions and function tools fields (it used to indent in the latter,
    so the toggles below could only be reached with the mouse or shift+tab)."""
    app = make_app(tmp_path / "data")
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(app)
        editor = await open_editor(app, pilot)
        editor.query_one("#name", Input).focus()
        seen = []
        for _ in range(12):
            await pilot.press("tab")
            seen.append(app.focused.id if app.focused is not None else None)
            if app.focused is editor.query_one("#code_interpreter", Checkbox):
                break
        assert "tools" in seen and seen[-1] == "code_interpreter", seen
        assert editor.query_one("#tools").text == "[]"  # no tab character typed into it
        await pilot.press("space")
        assert editor.query_one("#code_interpreter", Checkbox).value
