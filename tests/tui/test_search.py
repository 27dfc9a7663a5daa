"""Message search (the search screen over the server's search extension, the index fallback)
and the thread filter, driven with Pilot against the embedded echo server."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from spool.client.search import MessageSearch
from spool.store import ThreadRecord
from spool.tui.screens.help import HelpScreen
from spool.tui.screens.search import OFFLINE_NOTE, SERVER_NOTE, SearchScreen
from spool.tui.widgets.message import MessageView
from spool.tui.widgets.sidebar import NO_MATCH, NO_MATCH_ID

from .helpers import make_app, ready, wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SIZE = (120, 40)


async def seed_thread(app: Any, title: str, texts: list[str]) -> tuple[str, list[str]]:
    """A thread with user messages (oldest first) on the server, listed in the index."""
    client = app.connection.client
    thread = await client.beta.threads.create()
    ids = []
    for text in texts:
        msg = await client.beta.threads.messages.create(thread.id, role="user", content=text)
        ids.append(msg.id)
    app.store.add_thread(ThreadRecord(thread.id, "local", title=title, updated_at=app.clock()))
    app._refresh_sidebar()
    return thread.id, ids


def seed_index(app: Any) -> None:
    """Index-only threads (never on a server): titles, previews, assistants."""
    app.store.add_threads(
        [
            ThreadRecord("thread_a", "local", title="Garden plans", preview="Plant tulips in May"),
            ThreadRecord("thread_b", "local", title="Taxes 2026", preview="Deadline is April"),
            ThreadRecord(
                "thread_c", "local", title="Trip", preview="Lisbon trams", assistant_id="asst_g"
            ),
        ]
    )
    app.assistant_names["asst_g"] = "Guide"
    app._refresh_sidebar()


async def test_search_opens_an_old_message_scrolled_and_focused(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    needle = "zebra" + uuid.uuid4().hex[:6]
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        texts = [f"filler message {i}" for i in range(45)]
        texts[1] = f"the {needle} crossing"
        thread_id, ids = await seed_thread(app, "Long thread", texts)
        await pilot.press("f12")
        screen = await wait_until(lambda: isinstance(app.screen, SearchScreen) and app.screen)
        await pilot.press(*needle)
        await wait_until(  # the answer to the whole query (typing may show a prefix's first)
            lambda: screen.answer is not None and screen.answer.query == needle, what="hits"
        )
        assert screen.answer.results
        assert screen.answer.source == "server"
        assert str(screen.query_one("#note").render()).startswith(SERVER_NOTE)
        [hit] = screen.answer.results
        assert (hit.thread_id, hit.message_id) == (thread_id, ids[1])
        assert hit.snippet[slice(*hit.highlights[0])] == needle
        assert "Long thread" in str(screen.results.get_option_at_index(0).prompt)
        await pilot.press("enter")
        focused = await wait_until(
            lambda: isinstance(app.focused, MessageView) and app.focused, what="message focus"
        )
        assert app.current == thread_id
        assert focused.item.id == ids[1]  # two older pages were loaded to reach it
        await pilot.pause()
        await wait_until(
            lambda: app.transcript.region.contains_region(focused.region), what="on screen"
        )


async def test_more_results_load_below_when_moving_past_the_last(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    needle = "heron" + uuid.uuid4().hex[:6]
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        _thread_id, ids = await seed_thread(
            app, "Birds", [f"{needle} sighting {i}" for i in range(27)]
        )
        await pilot.press("f12", *needle)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        await wait_until(lambda: screen.answer is not None and screen.answer.query == needle)
        assert len(screen.answer.results) == 20 and screen.answer.has_more
        assert screen.results.option_count == 21  # the "more" row
        assert "More results" in str(screen.results.get_option_at_index(20).prompt)
        for _ in range(20):  # down to the "more" row: the next page loads below
            await pilot.press("down")
        await wait_until(lambda: len(screen.answer.results) == 27, what="the second page")
        assert not screen.answer.has_more and screen.results.option_count == 27
        assert [r.message_id for r in screen.answer.results] == ids[::-1]
        assert screen.results.highlighted == 20  # where the "more" row was: the 21st result
        await pilot.press("enter")
        focused = await wait_until(
            lambda: isinstance(app.focused, MessageView) and app.focused, what="message focus"
        )
        assert focused.item.id == ids[6]


async def test_search_result_of_a_thread_not_in_the_list_imports_it(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data")
    needle = "okapi" + uuid.uuid4().hex[:6]
    async with app.run_test(size=SIZE) as pilot:
        await ready(app)
        client = app.connection.client
        thread = await client.beta.threads.create()
        await client.beta.threads.messages.create(thread.id, role="user", content=needle)
        await pilot.press("f12", *needle)
        screen = app.screen
        await wait_until(lambda: screen.answer is not None and screen.answer.query == needle)
        assert screen.answer.results
        assert "not in your thread list" in str(screen.results.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.focused, MessageView), what="message focus")
        assert app.current == thread.id and app.store.get_thread(thread.id) is not None


async def test_offline_search_falls_back_to_titles_and_previews(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        seed_index(app)
        app.sidebar.filter_input.value = "taxes"  # hides thread_a
        app.sidebar.set_filter("taxes")
        await pilot.press("f12", *"tulip")
        screen = app.screen
        await wait_until(lambda: screen.answer is not None and screen.answer.query == "tulip")
        assert screen.answer.results
        assert screen.answer.source == "index"
        assert str(screen.query_one("#note").render()).startswith(OFFLINE_NOTE)
        [hit] = screen.answer.results
        assert (hit.thread_id, hit.found_in, hit.snippet) == (
            "thread_a",
            "preview",
            "Plant tulips in May",
        )
        assert hit.snippet[slice(*hit.highlights[0])] == "tulip"
        await pilot.press("enter")
        await wait_until(
            lambda: app.current == "thread_a" and not isinstance(app.screen, SearchScreen)
        )
        assert app.focused is app.composer
        assert "thread_a" in app.sidebar.shown_ids  # the filter that hid it is cleared
        assert app.sidebar.filter_input.value == ""


async def test_escape_closes_and_palette_and_help_list_the_search(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        await wait_until(lambda: isinstance(app.screen, SearchScreen))
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, SearchScreen))
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"search messages")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, SearchScreen), what="from the palette")
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, SearchScreen))
        app.action_help()
        help_screen = await wait_until(lambda: isinstance(app.screen, HelpScreen) and app.screen)
        ids = [k.binding_id for k in help_screen.keys]
        assert "spool.search" in ids and "search.open" in ids


class _OtherServer(http.server.BaseHTTPRequestHandler):
    """An Assistants-compatible server without spool's extension: 404 on /v1/spool."""

    def do_GET(self) -> None:
        body = (
            b'{"error": {"message": "Not found", "type": "invalid_request_error",'
            b' "param": null, "code": null}}'
        )
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


async def test_client_falls_back_to_the_index_on_other_servers(other_server: str) -> None:
    async with openai.AsyncOpenAI(base_url=other_server, api_key="k", max_retries=0) as client:
        searcher = MessageSearch(client)
        rec = ThreadRecord("thread_x", "local", title="Budget", preview="rent and food")
        answer = await searcher.search("food", [rec])
        assert answer.source == "index" and [r.thread_id for r in answer.results] == ["thread_x"]
        assert not answer.offline  # the screen says: this server cannot search message text
        assert await searcher.server_has_search() is False


# --- the thread filter ------------------------------------------------------------------------


async def test_filter_matches_title_preview_and_assistant(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE):
        seed_index(app)
        sidebar = app.sidebar
        for query, expected in [
            ("garden", ["thread_a"]),  # title
            ("april", ["thread_b"]),  # preview
            ("guide", ["thread_c"]),  # assistant name
            ("lisbon guide", ["thread_c"]),  # every word, any field
        ]:
            sidebar.set_filter(query)
            assert sidebar.shown_ids == expected, query


async def test_filter_enter_opens_the_first_match_and_focuses_the_composer(
    isolated_dirs: Path,
) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        seed_index(app)
        await pilot.press("ctrl+f", *"a")
        await pilot.press("enter")
        first = app.sidebar.shown_ids[0]
        await wait_until(lambda: app.current == first, what="first match opened")
        assert app.focused is app.composer


async def test_filter_says_no_threads_match(isolated_dirs: Path) -> None:
    app = make_app(isolated_dirs / "data", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        seed_index(app)
        before = app.current
        await pilot.press("ctrl+f", *"qqqq")
        await wait_until(lambda: app.sidebar.shown_ids == [])
        ol = app.sidebar.option_list
        assert ol.option_count == 1 and ol.get_option_at_index(0).id == NO_MATCH_ID
        assert NO_MATCH in str(ol.get_option_at_index(0).prompt)
        await pilot.press("enter")  # nothing to open
        await pilot.pause()
        assert app.current == before and app.focused is app.sidebar.filter_input
        await pilot.press("escape")
        await wait_until(lambda: len(app.sidebar.shown_ids) == 3)
