"""The transcript: one thread's messages, tool calls and notices, rendered from its `ThreadView`.

Follows the stream only while the view is at the bottom (Textual's scroll anchor). Only the last
`WINDOW` items are mounted at first; scrolling to the top mounts older items already in the view
model, then asks for older pages from the API (`Transcript.NeedOlder`).
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from spool.client.view_model import (
    Change,
    CodeStepItem,
    FileSearchItem,
    Item,
    MessageItem,
    NoticeItem,
    ThreadView,
    ToolCallItem,
)
from spool.tui.widgets.code_step import CodeStepView, FileSearchView
from spool.tui.widgets.message import _QUIET_VIRTUAL_SIZE, MessageView, NoticeView
from spool.tui.widgets.tool_call import ToolCallView

WINDOW = 14  # items mounted when a thread opens (a screenful; older ones on scroll-up)
STEP = 20


class Transcript(VerticalScroll):
    """The centre pane."""

    # `_size_updated` already updates the scrollbars when the content grows; the default
    # layout-refreshing reactive would reflow the whole screen a second time per change.
    virtual_size = _QUIET_VIRTUAL_SIZE

    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 1 1 0 1; }
    Transcript > #older { color: $text-muted; text-align: center; width: 100%; margin: 0 0 1 0; }
    Transcript > #empty { color: $text-muted; margin: 1 2; }
    """

    class NeedOlder(Message):
        """The user scrolled to the top and the view model has no more items above."""

        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: ThreadView | None = None
        self.assistant_name = "Assistant"
        self._widgets: dict[int, Widget] = {}
        self._first_shown = 0  # index in view.items of the first mounted item
        self._asked_older = False
        self.empty_note = ""  # a line under "No messages yet" (e.g. about the demo model)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        # names are Rich text in the role colours: re-render them once the new CSS applies
        def restyle() -> None:
            for widget in self.query(MessageView):
                widget.restyle()
            for step in self.query(CodeStepView):
                step.restyle()

        self.call_after_refresh(restyle)

    # --- building ------------------------------------------------------------------------------
    def _make(self, item: Item) -> Widget:
        if isinstance(item, MessageItem):
            widget: Widget = MessageView(item, assistant_name=self.assistant_name)
        elif isinstance(item, ToolCallItem):
            widget = ToolCallView(item)
        elif isinstance(item, CodeStepItem):
            widget = CodeStepView(item)
        elif isinstance(item, FileSearchItem):
            widget = FileSearchView(item)
        else:
            assert isinstance(item, NoticeItem)
            widget = NoticeView(item.kind, item.text)
        self._widgets[id(item)] = widget
        return widget

    def _older_label(self) -> Static | None:
        view = self.view
        if view is None:
            return None
        if self._first_shown > 0 or view.has_more_before:
            return Static("↑ older messages (scroll up)", id="older")
        if not view.items and view.loaded:
            text = "No messages yet: type below and press Enter."
            if self.empty_note:
                text += "\n\n" + self.empty_note
            return Static(text, id="empty", markup=False)
        return None

    async def show(self, view: ThreadView | None, *, assistant_name: str = "Assistant") -> None:
        """Render `view` from scratch (switching threads)."""
        self.view = view
        self.assistant_name = assistant_name
        self._widgets.clear()
        self._asked_older = False
        with self.app.batch_update():
            await self.remove_children()
            if view is None:
                return
            self._first_shown = max(0, len(view.items) - WINDOW)
            widgets: list[Widget] = []
            label = self._older_label()
            if label is not None:
                widgets.append(label)
            widgets.extend(self._make(i) for i in view.items[self._first_shown :])
            if widgets:
                await self.mount_all(widgets)
        self.anchor()

    async def _refresh_label(self) -> None:
        for old in self.query("#older, #empty"):
            await old.remove()
        label = self._older_label()
        if label is not None:
            children = list(self.children)
            if children:
                await self.mount(label, before=children[0])
            else:
                await self.mount(label)

    # --- changes from the view model --------------------------------------------------------
    async def apply(self, change: Change) -> None:
        """Render one change of the shown view."""
        view = self.view
        if view is None:
            return
        if change.kind == "reset":
            await self.show(view, assistant_name=self.assistant_name)
        elif change.kind == "add" and change.item is not None:
            if id(change.item) in self._widgets:
                return  # already shown by a later `show`
            for empty in self.query("#empty"):
                await empty.remove()
            await self.mount(self._make(change.item))
        elif change.kind == "update" and change.item is not None:
            widget = self._widgets.get(id(change.item))
            if isinstance(widget, MessageView | ToolCallView | CodeStepView | FileSearchView):
                widget.refresh_item()
        elif change.kind == "remove" and change.item is not None:
            widget = self._widgets.pop(id(change.item), None)
            if widget is not None:
                await widget.remove()
        elif change.kind == "prepend":
            self._first_shown += len(change.items)
            self._asked_older = False
            await self.reveal_older()

    async def reveal_older(self) -> None:
        """Mount up to STEP older items from the view model, keeping the visible position."""
        view = self.view
        if view is None or self._first_shown == 0:
            await self._refresh_label()
            return
        start = max(0, self._first_shown - STEP)
        items = view.items[start : self._first_shown]
        self._first_shown = start
        distance_from_bottom = self.max_scroll_y - self.scroll_y
        first = next((c for c in self.children if c.id not in ("older", "empty")), None)
        widgets = [self._make(i) for i in items]
        with self.app.batch_update():
            if first is not None:
                await self.mount_all(widgets, before=first)
            else:
                await self.mount_all(widgets)
            await self._refresh_label()

        def restore() -> None:
            self.scroll_to(
                y=self.max_scroll_y - distance_from_bottom, animate=False, immediate=True
            )

        self.call_after_refresh(restore)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value <= 0 and old_value > 0 and self.view is not None:
            self.load_older_now()

    def load_older_now(self) -> None:
        """Show older items (from the view model, else ask the app for an older page)."""
        view = self.view
        if view is None:
            return
        if self._first_shown > 0:
            self.run_worker(self.reveal_older, group="reveal", exclusive=True)
        elif view.has_more_before and not self._asked_older:
            self._asked_older = True
            self.post_message(self.NeedOlder(view.thread_id))

    async def reveal(self, item: Item) -> Widget | None:
        """Mount the items down to `item` (an item of the shown view) and scroll it to the top;
        returns its widget (None when the view does not hold it)."""
        view = self.view
        index = next((i for i, it in enumerate(view.items) if it is item), None) if view else None
        if index is None:
            return None
        while self._first_shown > index:
            await self.reveal_older()
        widget = self._widgets.get(id(item))
        if widget is not None:

            def scroll() -> None:  # after reveal_older's own position restore
                self.release_anchor()
                self.scroll_to_widget(widget, animate=False, top=True, immediate=True)

            self.call_after_refresh(scroll)
        return widget

    # --- helpers ---------------------------------------------------------------------------------
    def widget_for(self, item: Item) -> Widget | None:
        return self._widgets.get(id(item))
