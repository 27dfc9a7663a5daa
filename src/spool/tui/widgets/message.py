"""One message of the transcript, and the streaming Markdown renderer of assistant replies.

`StreamingMarkdown` renders a growing Markdown text without re-rendering it all per token:

* deltas are batched: a flush runs at most every `FLUSH_S` (80 ms), whatever the token rate;
* finished top-level blocks are *frozen*: every block before the last one (as markdown-it sees
  the not-yet-frozen text) moves into its own leaf widget that is never touched again;
* only the growing tail (normally the last block) is re-rendered.

Blocks are rendered with Rich's Markdown into leaf widgets (`MarkdownChunk`), not with
`textual.widgets.Markdown` (a container with one widget per block): Textual re-arranges every
widget on each reflow, so a leaf per chunk keeps each flush's cost bounded by the size of the last
block, not by the size of the reply.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Static

from spool.client.view_model import MessageItem
from spool.markdown_blocks import finished_prefix_length
from spool.tui.widgets.attachments import attachment_lines
from spool.tui.widgets.image_view import MessageMedia
from spool.tui.widgets.sources import SourcesList

# A non-scrolling widget's virtual size changes with its size, right after a reflow; Textual's
# default `virtual_size` reactive then asks for a second, useless reflow. The widgets below never
# scroll, so theirs does not (this halves the layout work per streaming flush).
_QUIET_VIRTUAL_SIZE: Reactive[Size] = Reactive(Size(0, 0), layout=False)

FLUSH_S = 0.1
CODE_THEME = "monokai"
MERGE_CHARS = 2000


if TYPE_CHECKING:
    from spool.tui.code_blocks import CodeBlock


def warm_up() -> None:
    """Import and exercise the Markdown and syntax-highlighting code once (call it in a thread
    after the first frame), so the first streamed reply does not stall on imports."""
    from rich.console import Console

    finished_prefix_length("# warm\n\nup\n")
    console = Console(width=80, file=open(os.devnull, "w"), color_system="truecolor")  # noqa: SIM115
    from rich.markdown import Markdown as RichMarkdown

    sample = "# T\n\n*a* **b** `c`\n\n- x\n1. y\n\n> q\n\n```python\nprint('x')\n```\n\n| a |\n|---|\n| 1 |\n"
    console.print(RichMarkdown(sample, code_theme=CODE_THEME))
    console.file.close()


class MarkdownChunk(Static):
    """A leaf widget showing a piece of Markdown (rendered once with Rich, height cached).

    Leaves keep Textual's layout cheap: a reflow costs one cached height per chunk, where a
    `textual.widgets.Markdown` is a container with a widget per block (and per list item).
    """

    virtual_size = _QUIET_VIRTUAL_SIZE

    DEFAULT_CSS = """
    MarkdownChunk { height: auto; padding: 0 1; margin: 0 0 1 0; }
    MarkdownChunk.tail { margin: 0; }
    """

    def __init__(
        self, source: str = "", *, header: Text | None = None, classes: str | None = None
    ) -> None:
        super().__init__(classes=classes)
        self.source = source
        self.header = header
        self._set(source)

    def _set(self, source: str) -> None:
        from spool.tui.chat_markdown import ChatMarkdown as RichMarkdown

        self.source = source
        body: RenderableType = (
            RichMarkdown(source, code_theme=self._code_theme(), hyperlinks=False)
            if source.strip()
            else ""
        )
        self.update(Group(self.header, body) if self.header is not None else body)

    def _code_theme(self) -> str:
        """Syntax colours for the app's theme (light, dark or high contrast)."""
        from spool.tui.chat_markdown import code_theme_for

        try:
            theme = self.app.current_theme
        except Exception:  # not attached yet
            return CODE_THEME
        return code_theme_for(theme.name, theme.dark)

    def set_source(self, source: str) -> None:
        """Show new Markdown."""
        if source != self.source:
            self._set(source)


class StreamingMarkdown(Vertical):
    """Markdown that can grow cheaply: frozen finished blocks plus one live tail."""

    virtual_size = _QUIET_VIRTUAL_SIZE

    DEFAULT_CSS = """
    StreamingMarkdown { height: auto; }
    """

    def __init__(self, text: str = "", *, streaming: bool = False) -> None:
        super().__init__()
        self._target = text
        self._streaming = streaming
        self._frozen_len = 0  # chars of _target already in frozen widgets
        self._frozen_src = ""  # that prefix itself
        self._tail_text = ""  # what the tail widget currently shows
        self._flush_pending = False
        self._flushing = False
        self._tail: MarkdownChunk | None = None
        self._last_frozen: MarkdownChunk | None = None
        self.flushes = 0  # for benchmarks

    @property
    def text(self) -> str:
        return self._target

    @property
    def settled(self) -> bool:
        """Whether everything set so far is rendered."""
        return (
            self._frozen_len + len(self._tail_text) == len(self._target)
            and not self._flushing
            and not self._flush_pending
        )

    def compose(self) -> ComposeResult:
        if self._streaming:
            self._frozen_len = finished_prefix_length(self._target)
            self._frozen_src = self._target[: self._frozen_len]
            if self._frozen_len:
                self._last_frozen = MarkdownChunk(self._frozen_src.rstrip("\n"), classes="frozen")
                yield self._last_frozen
        self._tail_text = self._target[self._frozen_len :]
        self._tail = MarkdownChunk(self._tail_text, classes="tail")
        yield self._tail

    def set_text(self, text: str, *, streaming: bool) -> None:
        """New full text (usually the old text plus a delta); renders within FLUSH_S."""
        self._target = text
        was_streaming = self._streaming
        self._streaming = streaming
        if not streaming and was_streaming:
            self._flush_pending = False  # do not wait for the batching timer: finish now
            self._schedule(0)
        else:
            self._schedule(FLUSH_S)

    def _schedule(self, delay: float) -> None:
        if self._flush_pending:
            return
        self._flush_pending = True
        if delay <= 0:
            self.call_later(self._flush)
        else:
            self.set_timer(delay, self._flush)

    async def _flush(self) -> None:
        self._flush_pending = False
        if self._flushing or self._tail is None or not self.is_attached:
            self._schedule(FLUSH_S)
            return
        self._flushing = True
        try:
            await self._render_target()
        finally:
            self._flushing = False
        if self._frozen_len + len(self._tail_text) != len(self._target):
            self._schedule(FLUSH_S)

    async def _render_target(self) -> None:
        target = self._target
        tail = self._tail
        assert tail is not None
        if not target.startswith(self._frozen_src):
            # Text was replaced (not appended): start over.
            await self.remove_children(".frozen")
            self._last_frozen = None
            self._frozen_len = 0
            self._frozen_src = ""
        live = target[self._frozen_len :]
        cut = finished_prefix_length(live) if self._streaming else 0
        self.flushes += 1
        if cut:
            # Finished blocks join the last frozen leaf (up to MERGE_CHARS) or start a new one;
            # few leaves keep every reflow cheap, a size cap keeps each re-render cheap.
            finished = live[:cut].rstrip("\n")
            last = self._last_frozen
            if last is not None and len(last.source) + len(finished) < MERGE_CHARS:
                last.set_source(f"{last.source}\n\n{finished}")
            else:
                self._last_frozen = MarkdownChunk(finished, classes="frozen")
                await self.mount(self._last_frozen, before=tail)
            self._frozen_len += cut
            self._frozen_src = target[: self._frozen_len]
            live = live[cut:]
        self._tail_text = live
        tail.set_source(live)


# The line under a user message the server does not have yet (see spool.client.outbox).
LOCAL_NOTES = {
    "queued": "○ queued: sent when the thread is free (f6 takes it back)",
    "sending": "… sending",
    "unsent": "✖ not sent, sent again when the server is back (f5 now, f6 takes it back)",
}
REFUSED_HINT = "(f5 tries again, f6 takes it back to edit)"  # refused: not resent by itself


class MessageView(Vertical):
    """A user message (plain text) or an assistant message (Markdown).

    A finished message is a single leaf widget (cheap to lay out in long transcripts); a streaming
    assistant message is a name line plus a `StreamingMarkdown`.

    Messages can be focused (click, or shift+tab from the composer; up/down move between them):
    copy (ctrl+y) and the run inspector act on the focused message. `highlight_code` shows one
    code block framed (the one just copied) until `clear_highlight`.
    """

    virtual_size = _QUIET_VIRTUAL_SIZE

    COMPONENT_CLASSES = {"message-view--user", "message-view--assistant"}

    can_focus = True

    BINDINGS = [
        Binding("up", "step(-1)", "Previous message", id="message.prev", show=False),
        Binding("down", "step(1)", "Next message", id="message.next", show=False),
        Binding("e", "app.edit_message", "Edit and resend", id="message.edit", show=False),
        Binding("delete", "app.delete_message", "Delete", id="message.delete", show=False),
        Binding("w", "app.save_files", "Save its files", id="message.save_files", show=False),
        Binding("s", "sources", "Sources", id="message.sources", show=False),
    ]

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 0 0 1; }
    MessageView .who { text-style: bold; height: 1; padding: 0 1; }
    MessageView.user { border-left: outer $role-user; }
    MessageView.user .who { color: $role-user; }
    MessageView .body { padding: 0 1; }
    MessageView.assistant { border-left: outer $role-assistant; }
    MessageView.assistant .who { color: $role-assistant; }
    MessageView.-incomplete { border-left: outer $status-incomplete; }
    MessageView.-local { border-left: dashed $role-user; }
    MessageView.-local .body { color: $text-muted; }
    MessageView > .message-view--user { color: $role-user; text-style: bold; }
    MessageView > .message-view--assistant { color: $role-assistant; text-style: bold; }
    MessageView:focus { background: $boost; }
    MessageView .code-highlight { padding: 0 1; }
    """

    def __init__(self, item: MessageItem, *, assistant_name: str = "Assistant") -> None:
        super().__init__(classes=item.role)
        self.item = item
        self.assistant_name = assistant_name
        self._shown_text = item.text
        self._shown_status = item.status
        self._body: Static | StreamingMarkdown | MarkdownChunk | None = None
        self._highlight: Static | None = None
        self._media: MessageMedia | None = None  # images and produced files of a reply
        self._sources: SourcesList | None = None  # under a reply with citations

    def _who(self) -> Text:
        user = self.item.role == "user"
        component = "message-view--user" if user else "message-view--assistant"
        try:
            style = self.get_component_rich_style(component, partial=True)
        except Exception:  # no CSS yet
            style = Style(bold=True)
        return Text("You" if user else self.assistant_name, style=style)

    def restyle(self) -> None:
        """Re-render the name line in the current theme's role colour (after a theme switch)."""
        body = self._body
        if isinstance(body, MarkdownChunk) and body.header is not None:
            body.header = self._who()
            body._set(body.source)
        elif isinstance(body, Static) and self.item.role == "user":
            body.update(self._user_text())
        for chunk in self.query(MarkdownChunk):  # code colours follow the theme
            if chunk is not body:
                chunk._set(chunk.source)
        for who in self.query(".who"):
            if isinstance(who, Static):
                who.update(self._who())

    def _user_text(self) -> Text:
        text = Text.assemble(self._who(), "\n", self.item.text)
        if self.item.attachments:  # name · size · tools of each file
            text.append_text(attachment_lines(self.item.attachments))
        note = LOCAL_NOTES.get(self.item.status)
        if note is not None:
            if self.item.status == "unsent" and self.item.refused:
                note = f"✖ not sent: {self.item.error or 'refused'} {REFUSED_HINT}"
            elif self.item.status == "unsent" and self.item.error:
                note = f"{note}: {self.item.error}"
            text.append("\n")
            text.append(note, style="italic")
        return text

    def compose(self) -> ComposeResult:
        if self.item.role == "user":
            self._body = Static(self._user_text(), classes="body")
        elif self.item.streaming:
            yield Static(self._who(), classes="who")
            self._body = StreamingMarkdown(self.shown_reply, streaming=True)
        else:
            self._body = MarkdownChunk(self.shown_reply, header=self._who(), classes="body")
        yield self._body
        if self.item.role == "assistant" and len(self.item.citations):
            self._sources = SourcesList(self.item)
            yield self._sources
        if self.item.images or self.item.files:
            self._media = MessageMedia(self.item)
            yield self._media
        self.set_class(self.item.status == "incomplete", "-incomplete")
        self.set_class(self.item.local, "-local")

    def _refresh_media(self) -> None:
        if self._media is not None:
            self._media.refresh_item()
        elif self.item.images or self.item.files:
            self._media = MessageMedia(self.item)
            self.mount(self._media)

    def refresh_item(self) -> None:
        """Re-render after the item changed (text delta, status)."""
        self.clear_highlight()
        self._refresh_media()
        self._refresh_sources()
        self.set_class(self.item.status == "incomplete", "-incomplete")
        self.set_class(self.item.local, "-local")
        body = self._body
        if body is None:
            return
        if (
            isinstance(body, StreamingMarkdown)
            and not self.item.streaming
            and len(self.item.text) <= MERGE_CHARS
        ):
            self.call_later(self._finish)
        elif isinstance(body, StreamingMarkdown):
            body.set_text(self.shown_reply, streaming=True)
        elif isinstance(body, MarkdownChunk):
            body.set_source(self.shown_reply)
        elif self.item.text != self._shown_text or self.item.status != self._shown_status:
            self._shown_text, self._shown_status = self.item.text, self.item.status
            body.update(self._user_text())

    async def _finish(self) -> None:
        """A short message is complete: one leaf widget for all of it, like a message that was
        complete when shown (the streamed container could keep a stale height after its last
        flush). Long ones keep their frozen chunks: rendering them again whole would stall."""
        body = self._body
        if not isinstance(body, StreamingMarkdown) or self.item.streaming:
            return
        final = MarkdownChunk(self.shown_reply, header=self._who(), classes="body")
        self._body = final
        with self.app.batch_update():
            await self.query(".who").remove()
            await body.remove()
            await self.mount(final, before=self._sources or self._media)

    @property
    def shown_reply(self) -> str:
        """The item's text as shown: citation markers as `[n]` (spool.client.citations)."""
        return self.item.citations.show(self.item.text)

    def _refresh_sources(self) -> None:
        if self.item.role != "assistant" or not len(self.item.citations):
            return
        if self._sources is None:
            self._sources = SourcesList(self.item)
            self.mount(self._sources, before=self._media)  # (as composed: sources, media)
        else:
            self._sources.refresh_sources()

    def action_sources(self) -> None:
        """Focus the first source of the reply (its citations)."""
        rows = self._sources.rows if self._sources is not None else []
        if rows:
            rows[0].focus()
        else:
            self.app.notify("This message cites no sources.")

    def action_step(self, step: int) -> None:
        """Focus the previous (-1) or next (1) message of the transcript."""
        parent = self.parent
        siblings = [w for w in parent.children if isinstance(w, MessageView)] if parent else []
        if self not in siblings:
            return
        index = siblings.index(self) + step
        if 0 <= index < len(siblings):
            siblings[index].focus()

    def highlight_code(self, block: CodeBlock, label: str) -> None:
        """Show the message with `block` framed and titled `label` (the copied block)."""
        from rich.panel import Panel
        from rich.syntax import Syntax

        from spool.tui.chat_markdown import ChatMarkdown
        from spool.tui.code_blocks import split_around

        before, after = split_around(self.shown_text, block)
        parts: list[RenderableType] = []
        if isinstance(self._body, MarkdownChunk) and self._body.header is not None:
            parts.append(self._body.header)
        if before.strip():
            parts.append(ChatMarkdown(before, code_theme=CODE_THEME, hyperlinks=False))
        accent = self.app.current_theme.accent or "yellow"
        parts.append(
            Panel(
                Syntax(block.code, block.lang or "text", theme=CODE_THEME, word_wrap=True),
                title=label,
                title_align="left",
                border_style=f"bold {accent}",
            )
        )
        if after.strip():
            parts.append(ChatMarkdown(after, code_theme=CODE_THEME, hyperlinks=False))
        if self._highlight is None:
            self._highlight = Static(classes="code-highlight")
            self.mount(self._highlight)
        self._highlight.update(Group(*parts))
        if self._body is not None:
            self._body.display = False

    def clear_highlight(self) -> None:
        """Back to the normal rendering."""
        if self._highlight is None:
            return
        self._highlight.remove()
        self._highlight = None
        if self._body is not None:
            self._body.display = True

    @property
    def highlighted(self) -> bool:
        """Whether a code block is shown framed."""
        return self._highlight is not None

    @property
    def markdown(self) -> StreamingMarkdown | None:
        """The streaming renderer (None for messages that were complete when shown)."""
        return self._body if isinstance(self._body, StreamingMarkdown) else None

    @property
    def shown_text(self) -> str:
        """The text this widget renders."""
        body = self._body
        if isinstance(body, StreamingMarkdown):
            return body.text
        if isinstance(body, MarkdownChunk):
            return body.source
        return self._shown_text


class NoticeView(Static):
    """A one-line notice (failed/cancelled/incomplete/expired run, error)."""

    DEFAULT_CSS = """
    NoticeView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    NoticeView.failed, NoticeView.error { color: $status-failed; text-style: bold; }
    NoticeView.expired { color: $status-expired; text-style: bold; }
    NoticeView.cancelled { color: $status-cancelled; text-style: bold; }
    NoticeView.incomplete { color: $status-incomplete; text-style: bold; }
    """

    def __init__(self, kind: str, text: str) -> None:
        mark = {"cancelled": "⊘", "incomplete": "◐", "info": "ℹ"}.get(kind, "✖")
        super().__init__(Text(f"{mark} {text}"), classes=kind)
