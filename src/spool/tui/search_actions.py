"""The app's message search (a mixin of `SpoolApp`): the search screen and opening a result.

Against spool's own server the search runs there (`spool.client.search`, the server's search
extension); against any other server, or offline, it searches the thread index's titles and
previews, and the screen says so. Opening a result opens its thread (added to the thread list
first when it is not there yet: the server knows threads the index does not), loads older pages
until the message is there, scrolls it to the top and focuses it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from spool.client.search import MessageSearch, SearchAnswer
from spool.client.view_model import MessageItem, ThreadView
from spool.tui.host import AppHost
from spool.tui.screens.help import KeyHelp
from spool.tui.screens.search import KEYS as SEARCH_KEYS
from spool.tui.screens.search import SearchChoice, SearchScreen

# (binding id, action, description): appended to the app's ACTIONS (help screen and palette)
SEARCH_ACTIONS: list[tuple[str, str, str]] = [
    ("spool.search", "search_messages", "Search messages in every thread"),
]
SEARCH_BINDING = Binding(
    "ctrl+shift+f,f12", "search_messages", "Search", id="spool.search", priority=True
)
MAX_OLDER_PAGES = 50  # pages loaded to reach an old message (20 messages each)
LOAD_TIMEOUT_S = 15.0


class SearchMixin(AppHost):
    """`action_search_messages` and what opening a result needs."""

    if TYPE_CHECKING:  # provided by SpoolApp
        from spool.tui.widgets.composer import Composer
        from spool.tui.widgets.sidebar import Sidebar
        from spool.tui.widgets.transcript import Transcript

        clock: Any
        cursor_blink: bool
        transcript: Transcript
        composer: Composer
        sidebar: Sidebar

        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def _select_thread(self, thread_id: str, *, load: bool = True) -> None: ...
        async def wait_for_ui(self) -> None: ...
        async def import_thread(self, thread_id: str) -> bool: ...

    _searcher: MessageSearch | None = None

    def message_search(self) -> MessageSearch:
        """The search of the current connection (a new client asks the server anew)."""
        client = self.connection.client if self.driver is not None else None
        if self._searcher is None or self._searcher.client is not client:
            self._searcher = MessageSearch(client)
        return self._searcher

    async def search_messages(self, query: str, after: str | None = None) -> SearchAnswer:
        """One page of a search: on the server when it can, else in this profile's thread
        index; `after` (the previous page's `cursor`) asks for the next one."""
        threads = self.store.threads(self.profile) if self.store is not None else []
        return await self.message_search().search(query, threads, after=after)

    def search_title(self, thread_id: str) -> str:
        """The title a result shows for its thread."""
        rec = self.store.get_thread(thread_id) if self.store is not None else None
        if rec is None:
            return f"{thread_id} (not in your thread list)"
        return rec.title or "New thread"

    def action_search_messages(self) -> None:
        """Search the text of every thread's messages."""
        screen = SearchScreen(
            self.search_messages,
            self.search_title,
            clock=self.clock,
            cursor_blink=self.cursor_blink,
        )
        self.push_screen(screen, self._search_chosen)

    def _search_chosen(self, choice: SearchChoice | None) -> None:
        if choice is not None:
            self.run_worker(self.open_search_result(choice), group="search", exit_on_error=False)

    async def open_search_result(self, choice: SearchChoice) -> None:
        """Open the result's thread and show its message."""
        known = self.store is not None and self.store.get_thread(choice.thread_id) is not None
        if known:
            self._select_thread(choice.thread_id)
        elif self.driver is None or not await self.import_thread(choice.thread_id):
            return
        self.sidebar.reveal(choice.thread_id)
        if choice.message_id is None:
            self.composer.focus()
            return
        view = self.workspace.view(choice.thread_id)
        item = await self._find_message(view, choice.message_id)
        if self.current != choice.thread_id:
            return  # the user moved on meanwhile
        await self.wait_for_ui()
        widget = await self.transcript.reveal(item) if item is not None else None
        if widget is None:
            self.notify("That message is no longer in the thread.", severity="warning")
            self.composer.focus()
            return
        widget.focus(scroll_visible=False)

    async def _find_message(self, view: ThreadView, message_id: str) -> MessageItem | None:
        """The view's item for a message, loading the thread and older pages as needed."""
        deadline = asyncio.get_running_loop().time() + LOAD_TIMEOUT_S
        while not view.loaded or view.loading:
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.02)
        for _ in range(MAX_OLDER_PAGES + 1):
            for it in view.items:
                if isinstance(it, MessageItem) and it.id == message_id:
                    return it
            if self.driver is None or not view.has_more_before:
                return None
            try:
                if not await self.driver.load_older(view):
                    return None
            except Exception as exc:  # RunError: said in a toast, the thread stays open
                self.notify(f"Could not load older messages: {exc}", severity="error")
                return None
        return None


def search_key_help() -> list[KeyHelp]:
    """Help lines for the search screen's keys."""
    return list(SEARCH_KEYS)
