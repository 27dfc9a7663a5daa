"""One-shot commands without the TUI: `spool ask` (stream one reply) and `spool threads add`.

Both connect like the TUI (`Connection`: the embedded local server, reused when one runs for the
data dir and stopped afterwards when we started it; remote profiles from the config file) and
keep the thread index (`Store`) up to date. The index is opened only for short moments, so a TUI
started meanwhile still gets it; when another spool holds it (`Store.read_only`) they warn on
stderr and go on without saving. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from spool.client.commands import CommandError, connection_for
from spool.client.connection import Connection, ConnectionFailed, describe_error
from spool.client.export import message_text, title_from
from spool.client.view_model import ACTIVE_STATUSES
from spool.markdown_blocks import finished_prefix_length

DEFAULT_ASSISTANT_NAME = "Assistant"
DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
PREVIEW_MAX = 120
POLL_INTERVAL_S = 0.25
LOCK_WAIT_S = 0.5


# --- index ---------------------------------------------------------------------------------------
@dataclass
class Index:
    """Short-lived access to the thread index of a data dir, with warnings sent to `warn`."""

    data_dir: Path
    warn: Callable[[str], None]
    lock_wait_s: float = LOCK_WAIT_S
    read_only_hint: str = "changes are not saved"
    held_elsewhere: bool = False  # the last write found the lock taken: do not wait again
    _warned: set[str] = field(default_factory=set)

    def _say(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    def read(self) -> Any:
        """A read-only `Store` (no lock taken); close it after use."""
        from spool.store import Store

        store = Store(self.data_dir, read_only=True)
        for w in store.warnings:
            self._say(w)
        return store

    @contextlib.contextmanager
    def write(self) -> Any:
        """A writable `Store` (waits briefly for the lock); yields None when another spool
        holds it (after a warning)."""
        from spool.store import Store

        wait = 0.0 if self.held_elsewhere else self.lock_wait_s
        deadline = time.monotonic() + wait
        while True:
            store = Store(self.data_dir)
            if not store.read_only or time.monotonic() >= deadline:
                break
            store.close()  # another short-lived `spool` command may be done in a moment
            time.sleep(0.05)
        self.held_elsewhere = store.read_only
        try:
            for w in store.warnings:
                if not store.read_only or "Another spool" not in w:
                    self._say(w)
            if store.read_only:
                self._say(
                    f"warning: another spool (the TUI?) holds the thread index of "
                    f"{self.data_dir}: {self.read_only_hint}"
                )
                yield None
            else:
                yield store
        finally:
            store.close()


def _setting_key(kind: str, profile: str) -> str:
    return f"{kind}.{profile}"


def preview_of(text: str) -> str:
    """The sidebar preview of a reply: one line of at most PREVIEW_MAX characters."""
    return " ".join(text.split())[:PREVIEW_MAX]


# --- output -----------------------------------------------------------------------------------
DEMO_MODEL = "smollm2"
DEMO_MODEL_NOTE = (
    "note: the default model, SmolLM2-135M, is a tiny offline demo; for real answers point "
    "spool at your own model ([models] in the config file: `spool locate config`; README: Models)"
)


def _use_color(stream: TextIO) -> bool:
    try:
        return stream.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        return False


def _dim(text: str, color: bool) -> str:
    return f"\x1b[2m{text}\x1b[0m" if color else text


class ReplyPrinter:
    """Writes streamed assistant text to `out` as it arrives; keeps what each message showed."""

    def __init__(self, out: TextIO, display: Callable[[str], str] | None = None) -> None:
        self.out = out
        self.display = display or (lambda text: text)  # e.g. citation markers → [n]
        self.shown: dict[str, str] = {}  # message id -> text written so far
        self.current: str | None = None
        self.tail = "\n"  # the last character written ("\n" before anything)

    def write(self, message_id: str, text: str) -> None:
        """Append streamed text of a message."""
        if not text:
            return
        if message_id != self.current:
            if self.current is not None and self.shown.get(self.current):
                self._raw("\n" if self.tail == "\n" else "\n\n")
            self.current = message_id
        self.shown[message_id] = self.shown.get(message_id, "") + text
        self._raw(self.display(text))

    def complete(self, message_id: str, full_text: str) -> None:
        """A message's final text: write whatever the deltas did not bring."""
        shown = self.shown.get(message_id, "")
        if full_text.startswith(shown):
            self.write(message_id, full_text[len(shown) :])

    def _raw(self, text: str) -> None:
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self.tail = text[-1]

    def finish(self) -> None:
        """End the output with a newline."""
        if self.tail != "\n":
            self._raw("\n")

    @property
    def reply(self) -> str:
        """Everything the assistant said in this command."""
        return "\n\n".join(t for t in self.shown.values() if t)


class MarkdownPrinter(ReplyPrinter):
    """On a terminal: the reply rendered as Markdown, block by block as each one finishes
    (a paragraph, a list, a code block); the last block when the message ends."""

    def __init__(self, out: TextIO, display: Callable[[str], str] | None = None) -> None:
        super().__init__(out, display)
        from rich.console import Console

        self.console = Console(file=out, force_terminal=True, soft_wrap=False)
        self.pending = ""  # shown text not rendered yet (the unfinished last block)
        self.rendered_any = False

    def write(self, message_id: str, text: str) -> None:
        if not text:
            return
        if message_id != self.current:
            self._flush_all()
            self.current = message_id
        self.shown[message_id] = self.shown.get(message_id, "") + text
        self.pending += self.display(text)
        if "\n" not in text:
            return  # a block can only end at a newline: no need to parse again
        cut = finished_prefix_length(self.pending)
        if cut:
            self._render(self.pending[:cut])
            self.pending = self.pending[cut:]

    def _render(self, markdown: str) -> None:
        from rich.markdown import Markdown

        if markdown.strip():
            self.console.print(Markdown(markdown, hyperlinks=False))
            self.out.flush()
            self.rendered_any = True
            self.tail = "\n"

    def _flush_all(self) -> None:
        pending, self.pending = self.pending, ""
        self._render(pending)

    def finish(self) -> None:
        self._flush_all()


def reply_printer(out: TextIO, display: Callable[[str], str] | None = None) -> ReplyPrinter:
    """Markdown on a terminal (unless NO_COLOR), plain text when piped."""
    return MarkdownPrinter(out, display) if _use_color(out) else ReplyPrinter(out, display)


# --- spool ask --------------------------------------------------------------------------------
@dataclass
class AskRequest:
    """The options of `spool ask`."""

    question: str
    data_dir: Path
    profile: str = "local"
    thread_id: str | None = None
    new: bool = False
    assistant: str | None = None
    model: str | None = None
    files: list[Path] = field(default_factory=list)  # attached for file_search
    mcp_servers: tuple[str, ...] = ()  # [mcp.NAME] servers whose tools the run is offered
    approve_all: bool = False  # --yes: tool calls that ask first run without asking
    ask_on_terminal: bool = False  # stdin and stderr are a terminal: approvals are asked there


@dataclass
class Asker:
    """Runs one `spool ask`: `await Asker(request, out, err).run()` returns the exit code."""

    request: AskRequest
    out: TextIO
    err: TextIO
    registry: Any = None  # a ToolRegistry; loaded on the first requires_action
    toolbox: Any = None  # client.ask_tools.AskToolbox: MCP servers + the registry
    config: Any = None
    connection: Connection | None = None
    client: Any = None
    thread_id: str | None = None
    run_id: str | None = None
    assistant: Any = None
    printer: ReplyPrinter | None = None
    posted: bool = False  # the question is on the server
    footnotes: Any = None  # client.citations.Footnotes: citations → [n]
    _index: Index | None = None

    def warn(self, message: str) -> None:
        """A line on stderr, prefixed with `spool ask:`."""
        self.err.write(f"spool ask: {message}\n")
        self.err.flush()

    async def run(self) -> int:
        """Connect, pick assistant and thread, stream the reply; returns the exit code."""
        req = self.request
        if self.config is None:
            from spool.config import load_config

            self.config = load_config()
        for problem in self.config.problems:
            self.warn(f"config: {problem}")
        self.connection = connection_for(req.profile, req.data_dir, self.config)
        self._index = Index(req.data_dir, self.warn)
        from spool.client.citations import Footnotes

        self.footnotes = Footnotes()
        self.printer = reply_printer(self.out, self.footnotes.show)
        try:
            try:
                self.client = await self.connection.connect()
            except ConnectionFailed as exc:
                raise CommandError(f"cannot connect: {exc}") from exc
            return await self._ask()
        except (asyncio.CancelledError, BrokenPipeError):  # ctrl+c, or the reader left
            await self._cancel_active_run()
            raise
        finally:
            if self.toolbox is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.toolbox.close())
            with contextlib.suppress(Exception):
                await asyncio.shield(self.connection.close())

    async def _ask(self) -> int:
        import openai

        req = self.request
        await self._start_tools()
        remembered, thread_title = self._read_index()
        try:
            self.assistant = await self._resolve_assistant(remembered)
            title = await self._resolve_thread(thread_title)
        except openai.APIError as exc:
            raise CommandError(describe_error(exc)) from exc
        self._save(title=title)
        color = _use_color(self.out)
        if color:
            name = self.assistant.name or DEFAULT_ASSISTANT_NAME
            model = req.model or self.assistant.model or ""
            self.out.write(_dim(f"{name} · {model} · {self.thread_id}", color) + "\n")
            self.out.flush()
        try:
            run = await self._stream_reply()
        except openai.APIError as exc:
            raise CommandError(describe_error(exc)) from exc
        finally:
            assert self.printer is not None
            self.printer.finish()
            notes = self.footnotes.lines() if self.footnotes else []
            if notes:
                self.out.write("\n" + "\n".join(notes) + "\n")
                self.out.flush()
            if self.printer.reply:
                self._save(preview=preview_of(self.printer.reply))
        return self._outcome(run)

    # --- index ------------------------------------------------------------------------------
    def _read_index(self) -> tuple[list[str], str]:
        """(assistant ids to try, known title); also picks the thread to continue."""
        req = self.request
        assert self._index is not None
        store = self._index.read()
        try:
            remembered: list[str] = []
            title = ""
            thread_id = req.thread_id
            if thread_id is None and not req.new:
                last = store.get_setting(_setting_key("last_thread", req.profile))
                if last and store.get_thread(last) is not None:
                    thread_id = last
                else:
                    records = store.threads(req.profile)
                    thread_id = records[0].id if records else None
            if thread_id is not None:
                rec = store.get_thread(thread_id)
                if rec is not None:
                    title = rec.title
                    if rec.assistant_id:
                        remembered.append(rec.assistant_id)
            setting = store.get_setting(_setting_key("assistant", req.profile))
            if setting and setting not in remembered:
                remembered.append(setting)
            self.thread_id = thread_id
            return remembered, title
        finally:
            store.close()

    def _save(self, *, title: str | None = None, preview: str | None = None) -> None:
        """Add or update the thread in the index (a failure is a warning, never fatal)."""
        try:
            self._write_index(title=title, preview=preview)
        except Exception as exc:
            self.warn(f"warning: cannot save the thread in the index: {exc}")

    def _write_index(self, *, title: str | None, preview: str | None) -> None:
        from spool.store import AssistantRecord, ThreadRecord

        req = self.request
        assert self._index is not None and self.thread_id is not None
        profile = "" if req.profile == "local" else f" --profile {req.profile}"
        self._index.read_only_hint = (
            f"this thread is not saved in it; add it later with "
            f"`spool threads add {self.thread_id}{profile}`"
        )
        with self._index.write() as store:
            if store is None:
                return
            rec = store.get_thread(self.thread_id)
            assistant_id = self.assistant.id if self.assistant is not None else None
            if rec is None:
                store.add_thread(
                    ThreadRecord(
                        self.thread_id,
                        req.profile,
                        title=title or "",
                        assistant_id=assistant_id,
                        preview=preview or "",
                    )
                )
            else:
                fields: dict[str, Any] = {}
                if title and not rec.title:
                    fields["title"] = title
                if assistant_id:
                    fields["assistant_id"] = assistant_id
                if preview is not None:
                    fields["preview"] = preview
                store.update_thread(self.thread_id, touch=True, **fields)
            store.set_setting(_setting_key("last_thread", req.profile), self.thread_id)
            model = req.model or (self.assistant.model if self.assistant is not None else "")
            if model == DEMO_MODEL and not store.get_setting("demo_model_note"):
                store.set_setting("demo_model_note", True)  # said once per data dir
                self.warn(DEMO_MODEL_NOTE)
            if self.assistant is not None:
                a = self.assistant
                store.put_assistant(
                    AssistantRecord(
                        a.id, req.profile, a.name or DEFAULT_ASSISTANT_NAME, a.model or ""
                    )
                )
                key = _setting_key("assistant", req.profile)
                if not store.get_setting(key):
                    store.set_setting(key, a.id)

    # --- assistant and thread -----------------------------------------------------------------
    async def _resolve_assistant(self, remembered: list[str]) -> Any:
        import openai

        assistants = self.client.beta.assistants
        wanted = self.request.assistant
        if wanted:
            if wanted.startswith("asst_"):
                with contextlib.suppress(openai.NotFoundError):
                    return await assistants.retrieve(wanted)
            exact, folded = [], []
            async for a in assistants.list(limit=100):
                if a.id == wanted or a.name == wanted:
                    exact.append(a)
                elif (a.name or "").casefold() == wanted.casefold():
                    folded.append(a)
            found = exact or folded
            if not found:
                raise CommandError(f"no assistant named {wanted!r} (or with that id)")
            return found[0]
        for assistant_id in remembered:
            with contextlib.suppress(openai.NotFoundError):
                return await assistants.retrieve(assistant_id)
        page = await assistants.list(limit=1, order="asc")
        if page.data:
            return page.data[0]
        assert self.connection is not None
        return await assistants.create(
            name=DEFAULT_ASSISTANT_NAME,
            model=self.connection.default_model(self.request.model),
            instructions=DEFAULT_INSTRUCTIONS,
        )

    async def _resolve_thread(self, known_title: str) -> str:
        """Check or create the thread; returns its title for the index."""
        import openai

        threads = self.client.beta.threads
        question_title = title_from(self.request.question) or "New thread"
        if self.thread_id is not None:
            try:
                await threads.retrieve(self.thread_id)
            except openai.NotFoundError:
                if self.request.thread_id is not None:
                    raise CommandError(f"no thread {self.thread_id} on this server") from None
                self.warn(f"the last thread {self.thread_id} is gone; starting a new one")
                self.thread_id = None
        if self.thread_id is None:
            thread = await threads.create()
            self.thread_id = thread.id
            return question_title
        if known_title:
            return known_title
        async for message in threads.messages.list(self.thread_id, order="asc", limit=20):
            if message.role == "user":
                return title_from(message_text(message)) or question_title
            break
        return question_title

    # --- the run ----------------------------------------------------------------------------
    async def _stream_reply(self) -> Any:
        """Post the question and stream runs (answering tool calls) until the run ends."""
        threads = self.client.beta.threads
        assert self.thread_id is not None
        attachments = await self._upload_files()
        extra: dict[str, Any] = {"attachments": attachments} if attachments else {}
        await threads.messages.create(
            self.thread_id, role="user", content=self.request.question, **extra
        )
        self.posted = True
        kwargs: dict[str, Any] = {"thread_id": self.thread_id, "assistant_id": self.assistant.id}
        if self.request.model:
            kwargs["model"] = self.request.model
        tools = None
        if attachments:
            from spool.client.files import with_file_search

            tools = with_file_search(self.assistant.tools or [])
        offered = self.toolbox.run_tools(tools if tools is not None else self._assistant_tools())
        if offered is not None or tools is not None:
            kwargs["tools"] = offered if offered is not None else tools
        manager = threads.runs.stream(**kwargs)
        while True:
            run = await self._consume(manager)
            if run.status in ACTIVE_STATUSES and run.status != "requires_action":
                run = await self._poll(run)
            if run.status != "requires_action":
                return run
            outputs = await self._tool_outputs(run)
            if outputs is None:
                return run
            manager = threads.runs.submit_tool_outputs_stream(
                run_id=run.id, thread_id=self.thread_id, tool_outputs=outputs
            )

    async def _upload_files(self) -> list[dict[str, Any]]:
        """Upload the --file paths (progress on stderr); their file_search attachments."""
        from spool.client.files import FILE_SEARCH, upload

        attachments = []
        color = _use_color(self.err)
        for path in self.request.files:
            size = path.stat().st_size
            shown = -1

            def progress(sent: int, total: int, path: Path = path) -> None:
                nonlocal shown
                percent = 100 * sent // total if total else 100
                if color and percent != shown:
                    shown = percent
                    self.err.write(f"\r{_dim(f'uploading {path.name}: {percent}%', color)}")
                    self.err.flush()

            file = await upload(self.client, path, progress=progress)
            if color:
                self.err.write("\r\x1b[2K")
            self.err.write(_dim(f"[file] {path.name} ({size} bytes) -> {file.id}", color) + "\n")
            self.err.flush()
            self.footnotes.names[file.id] = path.name
            attachments.append({"file_id": file.id, "tools": [dict(FILE_SEARCH)]})
        return attachments

    def _learn_citations(self, message: Any) -> None:
        for part in getattr(message, "content", None) or []:
            if part.type == "text" and part.text is not None:
                self.footnotes.add(part.text.annotations)

    async def _consume(self, manager: Any) -> Any:
        """Print a stream's text deltas; returns the last run object it announced."""
        assert self.printer is not None
        run = None
        try:
            async with manager as stream:
                async for event in stream:
                    name = getattr(event, "event", "") or ""
                    data = getattr(event, "data", None)
                    if name.startswith("thread.run.") and not name.startswith("thread.run.step."):
                        run = data
                        self.run_id = data.id
                    elif name == "thread.message.delta":
                        for part in data.delta.content or []:
                            if part.type == "text" and part.text is not None and part.text.value:
                                self.footnotes.add(part.text.annotations)
                                self.printer.write(data.id, part.text.value)
                    elif name in ("thread.message.completed", "thread.message.incomplete"):
                        self._learn_citations(data)
                        self.printer.complete(data.id, message_text(data))
        except (asyncio.CancelledError, BrokenPipeError):
            raise
        except Exception as exc:
            if self.run_id is None:
                raise
            self.warn(f"the stream broke ({describe_error(exc)}); following the run by polling")
        if run is None:
            if self.run_id is None:
                raise CommandError("the server sent no run")
            run = await self.client.beta.threads.runs.retrieve(
                self.run_id, thread_id=self.thread_id
            )
        return run

    async def _poll(self, run: Any) -> Any:
        """Follow a run until it ends or needs outputs, then print its messages' rest."""
        assert self.printer is not None
        threads = self.client.beta.threads
        while run.status in ACTIVE_STATUSES and run.status != "requires_action":
            await asyncio.sleep(POLL_INTERVAL_S)
            run = await threads.runs.retrieve(run.id, thread_id=self.thread_id)
        async for message in threads.messages.list(
            self.thread_id, run_id=run.id, order="asc", limit=100
        ):
            if message.role == "assistant":
                self._learn_citations(message)
                self.printer.complete(message.id, message_text(message))
        return run

    async def _start_tools(self) -> None:
        """Start the MCP servers chosen with --mcp (before anything is posted)."""
        import sys

        from spool.client.ask_tools import AskToolbox, ToolboxError

        req = self.request
        color = _use_color(self.err)

        def prompt(question: str) -> str:
            self.err.write(question)
            self.err.flush()
            return sys.stdin.readline()

        self.toolbox = AskToolbox(
            self.config,
            servers=req.mcp_servers,
            prompt=prompt if req.ask_on_terminal else None,
            approve_all=req.approve_all,
            registry=self.registry,
            log_dir=req.data_dir / "mcp-logs",
            log=lambda line: (self.err.write(_dim(line, color) + "\n"), self.err.flush()),
            warn=self.warn,
        )
        try:
            await self.toolbox.start()
        except ToolboxError as exc:
            raise CommandError(f"MCP: {exc}") from exc

    def _assistant_tools(self) -> list[dict[str, Any]]:
        tools = self.assistant.tools or []
        return [t.model_dump(exclude_unset=True) if hasattr(t, "model_dump") else t for t in tools]

    async def _tool_outputs(self, run: Any) -> list[dict[str, str]] | None:
        """Answer every pending call (MCP tools, the tool registry); CommandError when a call
        has no answerer (the run is cancelled)."""
        calls = run.required_action.submit_tool_outputs.tool_calls
        unknown = self.toolbox.unknown(calls)
        if unknown:
            await self._cancel_active_run(run.id)
            from spool.config import config_dir

            names = ", ".join(unknown)
            s = "s" if len(unknown) > 1 else ""
            raise CommandError(
                f"the assistant called the function{s} {names}, which no local tool provides "
                f"(define it in {config_dir() / 'tools.py'} or a `spool.tools` entry point); "
                "the run was cancelled"
            )
        return await self.toolbox.outputs(calls)

    async def _cancel_active_run(self, run_id: str | None = None) -> None:
        """Cancel the run (best effort), so the thread is not left locked."""
        run_id = run_id or self.run_id
        if self.client is None or self.thread_id is None:
            return
        runs = self.client.beta.threads.runs
        with contextlib.suppress(Exception):
            if run_id is None and self.posted:
                # Interrupted before the stream named the run: the thread's active run is ours
                # (the thread is locked while one runs, and our message came last).
                page = await asyncio.shield(runs.list(self.thread_id, limit=1, order="desc"))
                if page.data and page.data[0].status in ACTIVE_STATUSES:
                    run_id = page.data[0].id
            if run_id is not None:
                await asyncio.shield(runs.cancel(run_id, thread_id=self.thread_id))

    def _outcome(self, run: Any) -> int:
        if run.status == "completed":
            return 0
        if run.status == "failed":
            message = run.last_error.message if run.last_error else "no reason given"
            raise CommandError(f"run failed: {message}")
        if run.status == "incomplete":
            reason = run.incomplete_details.reason if run.incomplete_details else "no reason given"
            raise CommandError(f"run incomplete: {reason}")
        if run.status == "expired":
            raise CommandError("run expired")
        if run.status in ("cancelled", "cancelling"):
            raise CommandError("run cancelled")
        raise CommandError(f"run ended as {run.status}")


async def ask(request: AskRequest, out: TextIO, err: TextIO, *, registry: Any = None) -> int:
    """Run `spool ask`; returns the exit code (CommandError for failures)."""
    return await Asker(request, out, err, registry=registry).run()


# --- spool threads add ------------------------------------------------------------------------
async def import_thread(
    profile: str, data_dir: Path, thread_id: str, err: TextIO, *, config: Any = None
) -> Any:
    """Fetch a thread from the server and add it to the index; returns its `ThreadRecord`."""
    import openai

    from spool.store import ThreadRecord

    connection = connection_for(profile, data_dir, config)
    try:
        try:
            client = await connection.connect()
        except ConnectionFailed as exc:
            raise CommandError(f"cannot connect: {exc}") from exc
        threads = client.beta.threads
        try:
            thread = await threads.retrieve(thread_id)
        except openai.NotFoundError:
            raise CommandError(f"no thread {thread_id} on the {profile!r} server") from None
        except openai.APIError as exc:
            raise CommandError(describe_error(exc)) from exc
        title = ""
        async for message in threads.messages.list(thread_id, order="asc", limit=100):
            if message.role == "user":
                title = title_from(message_text(message))
                break
        latest = await threads.messages.list(thread_id, order="desc", limit=10)
        reply = next((m for m in latest.data if m.role == "assistant"), None)
        runs = await threads.runs.list(thread_id, order="desc", limit=1)
        assistant_id = runs.data[0].assistant_id if runs.data else None
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())

    def warn(message: str) -> None:
        err.write(f"spool threads add: {message}\n")

    record = ThreadRecord(
        thread.id,
        profile,
        title=title,
        assistant_id=assistant_id,
        created_at=float(thread.created_at or 0),
        preview=preview_of(message_text(reply)) if reply else "",
    )
    with Index(data_dir, warn, read_only_hint="cannot add the thread").write() as store:
        if store is None:
            raise CommandError("the thread index is read-only while another spool runs")
        existing = store.get_thread(thread.id)
        if existing is not None and existing.title and not record.title:
            record.title = existing.title
        store.add_thread(record)
        store.update_thread(thread.id, touch=True)
    return record


def format_record_time(timestamp: float) -> str:
    """An index time as local `YYYY-MM-DD HH:MM` ("-" for none)."""
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
