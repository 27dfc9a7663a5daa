"""The spool TUI: saved threads on the left, the streaming transcript in the centre, the composer
below and the run status bar at the bottom.

The app only talks to `spool.client` (connection, run driver, view model) and `spool.store`; it
never builds HTTP requests. The first frame is drawn before `openai` is imported or the embedded
server is started ("connecting…" in the status bar meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input

from spool.client.assistants import default_assistant
from spool.client.connection import Connection, ConnectionFailed, describe_error
from spool.client.outbox import NEW_THREAD
from spool.client.runs import RunDriver, RunError
from spool.client.view_model import Change, MessageItem, ThreadView, Workspace
from spool.store import AssistantRecord, Store, ThreadRecord
from spool.tui.assistant_actions import ASSISTANT_ACTIONS, AssistantActions, modal_key_help
from spool.tui.attaching import ATTACH_ACTIONS, ATTACH_BINDINGS, AttachMixin, attach_key_help
from spool.tui.commands import SpoolCommands
from spool.tui.conversation import CONVERSATION_ACTIONS, ConversationMixin
from spool.tui.heap import settle_heap
from spool.tui.media_actions import MEDIA_ACTIONS, MediaMixin, media_key_help
from spool.tui.retrieval_actions import (
    RETRIEVAL_ACTIONS,
    RETRIEVAL_BINDINGS,
    RetrievalMixin,
    retrieval_key_help,
)
from spool.tui.screens.confirm import ConfirmScreen
from spool.tui.screens.help import HelpScreen, KeyHelp
from spool.tui.screens.rename import RenameScreen
from spool.tui.search_actions import SEARCH_ACTIONS, SEARCH_BINDING, SearchMixin, search_key_help
from spool.tui.sending import SENDING_ACTIONS, SendingMixin, title_from
from spool.tui.themes import semantic_defaults
from spool.tui.theming import register_spool_themes, report_theme_problems
from spool.tui.widgets.attachments import AttachmentsBar
from spool.tui.widgets.composer import Composer
from spool.tui.widgets.key_footer import KeyFooter
from spool.tui.widgets.message import MessageView, warm_up
from spool.tui.widgets.sidebar import Sidebar, SidebarRow
from spool.tui.widgets.status_bar import StatusBar, StatusInfo
from spool.tui.widgets.transcript import Transcript
from spool.tui.workflows import WorkflowsMixin, extra_key_help

DEFAULT_ASSISTANT_NAME = "Assistant"
DEMO_MODEL = "smollm2"
DEMO_MODEL_NOTE = (
    "The default model, SmolLM2-135M, is a tiny offline demo: for real answers point spool at "
    "your own model (a GGUF file or any OpenAI-compatible endpoint: [models] in the config "
    "file, see the README's Models section)."
)
HEARTBEAT_S = 5.0  # how often the app pings its server (the embedded one exits without clients)
SIDEBAR_MIN_TERMINAL_WIDTH = 90  # narrower terminals hide the thread list (ctrl+b shows it)
RECONNECT_MIN_S = 1.0  # first retry delay after the server could not be reached (doubles)
RECONNECT_MAX_S = 30.0
DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
TITLE_MAX = 80

# (binding id, action, description) of every app-level action; used by help and the palette.
ACTIONS: list[tuple[str, str, str]] = [
    ("spool.new_thread", "new_thread", "New thread"),
    ("spool.prev_thread", "prev_thread", "Previous thread"),
    ("spool.next_thread", "next_thread", "Next thread"),
    ("spool.filter", "filter_threads", "Filter threads"),
    ("spool.toggle_sidebar", "toggle_sidebar", "Hide / show the thread list"),
    ("spool.toggle_footer", "toggle_footer", "Hide / show the key footer"),
    *SEARCH_ACTIONS,  # search messages (spool.tui.search_actions)
    *ATTACH_ACTIONS,  # attach files, the thread's files (spool.tui.attaching)
    ("spool.rename", "rename_thread", "Rename thread"),
    ("spool.delete", "delete_thread", "Delete thread (asks first)"),
    ("spool.cancel", "cancel_run", "Cancel the run"),
    *SENDING_ACTIONS,  # retry, take back (spool.tui.sending)
    *CONVERSATION_ACTIONS,  # edit, delete a message (spool.tui.conversation)
    ("spool.copy_reply", "copy_reply", "Copy the focused message or the last reply"),
    ("spool.copy_code", "copy_code", "Copy a code block (again: the next one)"),
    ("spool.tool_outputs", "tool_outputs", "Answer pending function calls (tool outputs)"),
    ("spool.inspect_run", "inspect_run", "Inspect the run (steps, usage, timings)"),
    ("spool.export", "export_thread", "Export the thread (Markdown or JSON)"),
    *MEDIA_ACTIONS,  # save produced files and images (spool.tui.media_actions)
    *ASSISTANT_ACTIONS,  # assistants, run options, theme (spool.tui.assistant_actions)
    *RETRIEVAL_ACTIONS,  # sources, citations, vector stores (spool.tui.retrieval_actions)
    ("spool.help", "help", "Help: keys and paths"),
    ("spool.palette", "command_palette", "Command palette"),
    ("spool.focus_composer", "focus_composer", "Focus the composer"),
    ("spool.quit", "quit", "Quit"),
]


class MainScreen(Screen[None]):
    """The chat screen (sidebar, transcript, composer, status bar).

    The composer has the focus from the first frame, so keys typed while spool starts land in
    it (not in the thread filter, the first focusable widget).
    """

    AUTO_FOCUS = "#composer"


class SpoolApp(
    RetrievalMixin,
    AssistantActions,
    SendingMixin,
    AttachMixin,
    ConversationMixin,
    WorkflowsMixin,
    MediaMixin,
    SearchMixin,
    App[int],
):
    """The spool chat client."""

    CSS_PATH = Path(__file__).parent / "app.tcss"
    TITLE = "spool"
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {SpoolCommands}  # + theme, screenshot…
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_thread", "New", id="spool.new_thread", priority=True),
        Binding("ctrl+up,alt+up", "prev_thread", "Prev", id="spool.prev_thread", priority=True),
        Binding("ctrl+down,alt+down", "next_thread", "Next", id="spool.next_thread", priority=True),
        Binding("ctrl+f", "filter_threads", "Filter", id="spool.filter", priority=True),
        Binding("ctrl+b", "toggle_sidebar", "Threads", id="spool.toggle_sidebar", priority=True),
        SEARCH_BINDING,
        *ATTACH_BINDINGS,
        Binding("f2", "rename_thread", "Rename", id="spool.rename"),
        Binding("ctrl+d", "delete_thread", "Delete", id="spool.delete", priority=True),
        Binding("escape", "cancel_run", "Cancel run", id="spool.cancel"),
        Binding("f5", "retry", "Retry", id="spool.retry"),
        Binding("f6", "take_back", "Take back", id="spool.take_back", priority=True),
        Binding("ctrl+y", "copy_reply", "Copy reply", id="spool.copy_reply", priority=True),
        Binding("ctrl+g", "copy_code", "Copy code", id="spool.copy_code"),
        Binding("ctrl+o", "tool_outputs", "Tool outputs", id="spool.tool_outputs"),
        Binding("f3", "inspect_run", "Inspect run", id="spool.inspect_run"),
        Binding("ctrl+s", "export_thread", "Export", id="spool.export"),
        Binding("f4", "pick_assistant", "Assistant", id="spool.assistants"),
        Binding("f8", "edit_assistant", "Edit assistant", id="spool.edit_assistant"),
        Binding("f9", "run_options", "Run options", id="spool.run_options"),
        Binding("ctrl+t", "pick_theme", "Theme", id="spool.theme"),
        *RETRIEVAL_BINDINGS,
        Binding("f1", "help", "Help", id="spool.help"),
        Binding("ctrl+p", "command_palette", "Palette", id="spool.palette", priority=True),
        Binding("ctrl+l", "focus_composer", "Composer", id="spool.focus_composer", show=False),
        Binding("f10", "toggle_footer", "Footer", id="spool.toggle_footer"),
        Binding("ctrl+q", "quit", "Quit", id="spool.quit", priority=True),
    ]

    def __init__(
        self,
        *,
        data_dir: Path,
        profile: str = "local",
        model: str | None = None,
        clock: Callable[[], float] = time.time,
        connect: bool = True,
        cursor_blink: bool = True,
        server_args: list[str] | None = None,
        config: Any = None,
        status_tick_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.profile = profile
        self.requested_model = model
        self.clock = clock
        self.should_connect = connect
        self.cursor_blink = cursor_blink
        self.status_tick_s = status_tick_s
        self.config = config
        if config is None:
            from spool.config import load_config

            self.config = load_config()
        profile_cfg = self.config.profiles.get(profile)
        self.connection = Connection(
            profile=profile,
            data_dir=self.data_dir,
            base_url=profile_cfg.base_url if profile_cfg else None,
            api_key_env=profile_cfg.api_key_env if profile_cfg else None,
            server_args=list(server_args or []),
        )
        self.unknown_profile = profile_cfg is None
        if connect and not self.unknown_profile:
            self.connection.prestart()  # the server starts while the UI draws its first frame
        self.store: Store | None = None
        self.driver: RunDriver | None = None
        self.workspace = Workspace(listener=self._on_view_change)
        self.current: str | None = None
        self.assistant_id: str | None = None
        self.assistant_names: dict[str, str] = {}
        self.assistant_models: dict[str, str] = {}
        self.connection_state = "connecting…" if connect else "offline"
        self.last_error: str | None = None
        self.banner: str | None = None  # a lasting note in the status bar (read-only index)
        self.first_frame_at: float | None = None
        self.ready = asyncio.Event()  # set when connected and the first thread is open
        self._ui_queue: deque[tuple[str | None, Callable[[], Awaitable[None]]]] = deque()
        self._ui_wake = asyncio.Event()
        self._ui_busy = False  # a queued change is being rendered
        self._composer: Composer | None = None
        self._was_connected = False
        self.sidebar_wanted: bool | None = None  # the user's choice (None: by terminal width)
        self._narrow: bool | None = None  # whether the terminal was narrow at the last check
        self._said_offline = False
        self._pinging = False
        self._reconnect_delay = RECONNECT_MIN_S
        self._reconnect_timer: Any = None
        self.theme_problems = register_spool_themes(self)  # toasted once, on mount
        if self.config.keymap:
            self.set_keymap(self.config.keymap)

    # --- layout ---------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[None]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Sidebar(self.clock, id="sidebar")
        with Vertical(id="main"):
            yield Transcript(id="transcript")
            yield AttachmentsBar(id="attachments")  # files for the next message
            self._composer = Composer(id="composer", cursor_blink=self.cursor_blink)
            yield self._composer
        with Vertical(id="bottom"):  # the status line, and the key footer under it
            yield StatusBar(self.clock, id="status")
            footer = KeyFooter(self._keys_for, id="footer")
            footer.display = self.config.footer
            yield footer

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one("#sidebar", Sidebar)

    @property
    def transcript(self) -> Transcript:
        return self.query_one("#transcript", Transcript)

    @property
    def composer(self) -> Composer:
        return self.query_one("#composer", Composer)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def on_mount(self) -> None:
        self.store = Store(self.data_dir, clock=self.clock)
        if self.store.read_only:
            self.banner = "read-only thread list: another spool uses this data dir"
        for warning in self.store.warnings:
            self.notify(warning, title="Thread index", severity="warning", timeout=10)
        for problem in self.config.problems:
            self.notify(problem, title="Config file", severity="warning", timeout=10)
        if self.unknown_profile:
            self.notify(f"Unknown profile {self.profile!r}", severity="error")
        theme = self.store.get_setting("theme") or self.config.theme
        if theme and theme in self.available_themes:
            self.theme = theme
        elif theme:
            self.theme_problems.append(
                f"no theme named {theme!r} (the {'config file' if theme == self.config.theme else 'saved setting'}"
                f" names it); using {self.theme}. Themes: {', '.join(sorted(self.available_themes))}"
            )
        report_theme_problems(self, self.theme_problems)
        self._report_unknown_keymap_ids()
        for rec in self.store.assistants(self.profile):
            self.assistant_names[rec.id] = rec.name
            self.assistant_models[rec.id] = rec.model
        self.assistant_id = self.store.get_setting(f"assistant.{self.profile}")
        self.init_sending()
        self.show_pending()  # files chosen for the next message last time
        self._refresh_sidebar()
        last = self.store.get_setting(f"last_thread.{self.profile}")
        if last and self.store.get_thread(last) is not None:
            self._select_thread(last, load=False)
        elif self.sidebar.shown_ids:
            self._select_thread(self.sidebar.shown_ids[0], load=False)
        if self.current is None:  # first launch: what was typed before any thread existed
            self.composer.show_draft(self.store.get_draft(NEW_THREAD))
        self._update_status()
        self.sidebar.styles.width = self.config.sidebar_width
        self._place_sidebar()
        self.composer.focus()
        self.run_worker(self._ui_loop(), group="ui", exit_on_error=False)
        self.set_interval(self.status_tick_s, self.status_bar.tick)
        self.set_interval(HEARTBEAT_S, self._heartbeat)
        self.call_after_refresh(self._after_first_frame)

    def _report_unknown_keymap_ids(self) -> None:
        """One toast for `[keymap]` ids that name no binding (a typo would be silently ignored)."""
        from spool.tui.keymap import unknown_keymap_ids

        unknown = unknown_keymap_ids(self.config.keymap or {})
        if unknown:
            self.notify(
                f"[keymap] ids that name no binding (ignored): {', '.join(unknown)}. "
                "Help (F1) lists every id.",
                title="Config file",
                severity="warning",
                timeout=10,
            )

    def _after_first_frame(self) -> None:
        self.first_frame_at = time.perf_counter()
        self.load_tool_registry()
        if self.should_connect and not self.unknown_profile:
            self.run_worker(self._connect(), group="connect", exit_on_error=False)
        self.run_worker(warm_up, thread=True, group="warm-up", exit_on_error=False)

    async def on_unmount(self) -> None:
        self.save_draft()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        with contextlib.suppress(Exception):
            await self.connection.close()  # says goodbye; the server decides when to exit

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast. Plain text by default: toasts show user, config and server text, whose
        square brackets (`[models]`) are not Rich markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def watch_theme(self, theme: str) -> None:
        if self.store is not None:
            self.store.set_setting("theme", theme)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """`$role-*` / `$status-*` for every theme (Textual's own too), from its colours."""
        return {**super().get_theme_variable_defaults(), **semantic_defaults(self.current_theme)}

    # --- the UI queue: transcript changes are rendered in order, one at a time --------------
    def _enqueue(self, thread_id: str | None, job: Callable[[], Awaitable[None]]) -> None:
        self._ui_queue.append((thread_id, job))
        self._ui_wake.set()

    async def _ui_loop(self) -> None:
        while True:
            await self._ui_wake.wait()
            self._ui_wake.clear()
            while self._ui_queue:
                thread_id, job = self._ui_queue.popleft()
                if thread_id is not None and thread_id != (self.current or NEW_THREAD):
                    continue
                self._ui_busy = True
                try:
                    await job()
                except Exception as exc:  # a rendering bug must not kill the app
                    self.log.error(f"render failed: {exc!r}")
                finally:
                    self._ui_busy = False

    async def wait_for_ui(self) -> None:
        """Wait until every queued transcript change is rendered (tests)."""
        while self._ui_queue or self._ui_busy:
            await asyncio.sleep(0.01)

    # --- view-model changes (called by the run driver, on the event loop) ---------------------
    def _on_view_change(self, view: ThreadView, change: Change) -> None:
        shown = self.current or NEW_THREAD
        if change.kind == "run":
            self._update_row(view.thread_id)
            if view.thread_id == shown:
                self._update_status()
            return
        if view.thread_id != shown:
            return
        if isinstance(change.item, MessageItem) and change.item.role == "user":
            self._update_status()  # the queued / not sent counts
        if change.kind == "update" and self._ui_queue:
            _last_tid, last_job = self._ui_queue[-1]
            if getattr(last_job, "change", None) == ("update", id(change.item)):
                return  # that item's re-render is already queued
        transcript = self.transcript

        async def job() -> None:
            if transcript.view is view:
                await transcript.apply(change)

        job.change = (change.kind, id(change.item))  # type: ignore[attr-defined]
        self._enqueue(view.thread_id, job)

    # --- sidebar ----------------------------------------------------------------------------------
    def _row(self, rec: ThreadRecord) -> SidebarRow:
        view = self.workspace.views.get(rec.id)
        assistant = self.assistant_names.get(rec.assistant_id or self.assistant_id or "", "")
        return SidebarRow(
            thread_id=rec.id,
            title=rec.title or "New thread",
            assistant=assistant or DEFAULT_ASSISTANT_NAME,
            updated_at=rec.updated_at,
            active=bool(view and view.active),
            status=view.run.status if view and view.run else "",
            preview=rec.preview,
            unread=self.unread.get(rec.id, ""),
        )

    def _refresh_sidebar(self) -> None:
        assert self.store is not None
        self.sidebar.set_rows([self._row(r) for r in self.store.threads(self.profile)])
        if self.current:
            self.sidebar.select(self.current)

    def _update_row(self, thread_id: str, *, to_top: bool = False) -> None:
        if self.store is None:
            return
        rec = self.store.get_thread(thread_id)
        if rec is not None:
            self.sidebar.upsert_row(self._row(rec), to_top=to_top)
            if to_top and self.current:
                self.sidebar.select(self.current)

    # --- status bar -------------------------------------------------------------------------------
    def _update_status(self) -> None:
        view = self.workspace.views.get(self.current or NEW_THREAD)
        local = view.local_messages() if view is not None else []
        run = view.run if view else None
        assistant_id = self._assistant_for(self.current)
        model = (run.model if run and run.model else "") or self.assistant_models.get(
            assistant_id or "", self.requested_model or ""
        )
        cancel_key = self.get_key_display(self._binding("spool.cancel")) or "esc"
        self.status_bar.show(
            StatusInfo(
                connection=self.connection_state,
                run=run,
                model=model,
                assistant=self.assistant_names.get(assistant_id or "", ""),
                error=self.last_error,
                note=self.banner,
                options=self.options_summary(),
                cancel_key=cancel_key,
                hint=self.retry_hint(view),
                queued=sum(1 for i in local if i.status in ("queued", "sending")),
                unsent=sum(1 for i in local if i.status == "unsent"),
            )
        )

    def _binding(self, binding_id: str) -> Binding:
        for _key, binding in self._bindings:
            if binding.id == binding_id:
                return binding
        return Binding("escape", "cancel_run", id=binding_id)

    def thread_title(self, thread_id: str) -> str:
        """A thread's title for a toast ("a thread" when it has none yet)."""
        rec = self.store.get_thread(thread_id) if self.store is not None else None
        return (rec.title if rec else "") or "a thread"

    def _assistant_for(self, thread_id: str | None) -> str | None:
        if thread_id and self.store is not None:
            rec = self.store.get_thread(thread_id)
            if rec is not None and rec.assistant_id:
                return rec.assistant_id
        return self.assistant_id

    def _set_error(self, message: str | None, *, toast: bool = True) -> None:
        self.last_error = message
        if self.current is not None and self.current in self.workspace.views:
            self.workspace.views[self.current].error = message
        if message and toast:
            self.notify(message, title="Error", severity="error", timeout=8)
        self._update_status()

    # --- connecting ------------------------------------------------------------------------------
    async def _connect(self) -> None:
        """Connect (embedded: start or reuse the server), then open the thread and send what
        was queued meanwhile. A failure is retried with a growing delay, said in the status."""
        try:
            client = await self.connection.connect()
        except (ConnectionFailed, Exception) as exc:
            self._connect_failed(describe_error(exc))
            return
        self._reconnect_delay = RECONNECT_MIN_S
        reconnecting = self.connection_state != "connecting…" or self._was_connected
        self.driver = RunDriver(client, clock=self.clock, durations=self.store)
        self._was_connected = True
        self.last_error = None
        for tid in self.lost_threads:  # "the server went away": no longer true
            if tid in self.workspace.views:
                self.workspace.views[tid].error = None
        self.lost_threads.clear()
        try:
            await self._ensure_assistant(client)
            if not self.store or not self.store.threads(self.profile):
                await self._create_thread(client)
            elif self.current is None:
                self._select_thread(self.sidebar.shown_ids[0])
            else:
                self._reload_thread(self.current, reattach=reconnecting)
        except Exception as exc:
            self._set_error(describe_error(exc))
        # "connected" (the status bar's "idle") once the assistant and the thread are there:
        # keys that need a thread (F9, F3…) work from then on
        self.connection_state = "connected"
        for view in self.workspace.views.values():
            self.outbox.requeue(view)
        self.pump_all()
        self._update_status()
        self.ready.set()
        self.call_after_refresh(settle_heap)

    def _connect_failed(self, reason: str) -> None:
        delay = self._reconnect_delay
        self._reconnect_delay = min(RECONNECT_MAX_S, delay * 2)
        self.connection_state = (
            f"offline: retrying in {delay:.0f} s ({self._keys_for('spool.retry')} now)"
        )
        self._set_error(f"Cannot connect: {reason}", toast=not self._said_offline)
        self._said_offline = True
        self._reconnect_timer = self.set_timer(delay, self._retry_connect)

    def _retry_connect(self) -> None:
        self._reconnect_timer = None
        if self.driver is None and self.should_connect:
            self._start_connecting()

    def connection_lost(self, reason: str) -> None:
        """The server went away (a request failed to reach it): reconnect, then re-attach.

        The embedded server is found again or started anew (same data dir); a remote one is
        retried. Queued messages wait; the run that was streaming is picked up on reload.
        """
        if self.driver is None:
            return  # already reconnecting
        self.driver = None
        if self.connection.base_url is None:
            self.connection.server = None  # gone: do not try to stop it
        self._start_connecting()

    def _start_connecting(self) -> None:
        """Say "reconnecting…" and connect again (one attempt at a time)."""
        self.connection_state = "reconnecting…"
        self._update_status()
        self.run_worker(self._connect(), group="connect", exit_on_error=False, exclusive=True)

    def _terminal_gone(self) -> bool:
        """Whether the terminal spool runs in has been closed (its tty hung up)."""
        if self.is_headless:
            return False
        try:
            os.tcgetpgrp(sys.__stdin__.fileno())
        except (OSError, AttributeError, ValueError):
            return True
        return False

    def _heartbeat(self) -> None:
        """Every few seconds: tell the server this client is here (an embedded server exits
        when no client is left) and notice a server that went away. A closed terminal (no
        hangup signal reaches spool when it runs under `make run`, say) ends spool, so it
        stops pinging and the embedded server can exit."""
        if self._terminal_gone():
            self.save_draft()
            self.exit(0)
            return
        if self.driver is None or self._pinging:
            return
        self._pinging = True
        self.run_worker(self._ping(self.driver), group="ping", exit_on_error=False)

    async def _ping(self, driver: RunDriver) -> None:
        try:
            await driver.ping()
        except Exception as exc:
            if driver is self.driver:
                self.connection_lost(describe_error(exc))
        finally:
            self._pinging = False

    def _reload_thread(self, thread_id: str, *, reattach: bool) -> None:
        """Show the thread again from the server (after reconnecting: pick up its run)."""
        view = self.workspace.view(thread_id)
        if reattach and not view.loading:
            view.loaded = False
        self._select_thread(thread_id, force=True)

    async def _ensure_assistant(self, client: Any) -> None:
        assert self.store is not None
        chosen, seen = await default_assistant(
            client,
            self.assistant_id,
            name=DEFAULT_ASSISTANT_NAME,
            model=self.connection.default_model(self.requested_model),
            instructions=DEFAULT_INSTRUCTIONS,
        )
        for a in seen:
            self._cache_assistant(a)
        self.assistant_id = chosen.id
        self.store.set_setting(f"assistant.{self.profile}", chosen.id)

    def _cache_assistant(self, a: Any) -> None:
        assert self.store is not None
        name = a.name or DEFAULT_ASSISTANT_NAME
        self.assistant_names[a.id] = name
        self.assistant_models[a.id] = a.model or ""
        self.store.put_assistant(AssistantRecord(a.id, self.profile, name, a.model or ""))

    async def _create_thread(self, client: Any) -> str:
        assert self.store is not None
        driver = self.driver or RunDriver(client, clock=self.clock, durations=self.store)
        thread_id = await driver.create_thread()
        early = self.workspace.views.get(NEW_THREAD)
        title = (
            title_from(early.local_messages()[0].text) if early and early.local_messages() else ""
        )
        rec = ThreadRecord(thread_id, self.profile, title, self.assistant_id)
        self.store.add_thread(rec)
        if early is not None:
            self.outbox.move(early, self.workspace.view(thread_id))
            self.workspace.drop(NEW_THREAD)
        self._update_row(thread_id, to_top=True)
        self._select_thread(thread_id)
        return thread_id

    # --- opening threads ------------------------------------------------------------------------
    def _select_thread(self, thread_id: str, *, load: bool = True, force: bool = False) -> None:
        """Show a thread (and load it from the server the first time)."""
        assert self.store is not None
        if thread_id == self.current and not force:
            return
        previous, self.current = self.current, thread_id
        if self.unread.pop(thread_id, None) is not None:
            self._update_row(thread_id)  # seen: the unread mark goes
        self.switch_composer(previous, thread_id)  # never touches the text of the same thread
        self.store.set_setting(f"last_thread.{self.profile}", thread_id)
        view = self.workspace.view(thread_id)
        self.last_error = view.error
        self.sidebar.select(thread_id)
        model = self.assistant_models.get(self._assistant_for(thread_id) or "", "")
        self.transcript.empty_note = DEMO_MODEL_NOTE if model == DEMO_MODEL else ""
        transcript = self.transcript
        name = self.assistant_names.get(self._assistant_for(thread_id) or "", "Assistant")
        self._enqueue(thread_id, lambda: transcript.show(view, assistant_name=name))
        self._update_status()
        if load and self.driver is not None and not view.loaded and not view.loading:
            self.run_worker(self._load_thread(view), group="load", exit_on_error=False)

    async def _load_thread(self, view: ThreadView) -> None:
        assert self.driver is not None
        try:
            active = await self.driver.load(view)
        except RunError as exc:
            self._set_error(str(exc))
            return
        if active is not None and not view.active:
            self.run_worker(self._follow(view, active), group="run", exit_on_error=False)
        self._update_status()

    async def _follow(self, view: ThreadView, run: Any) -> None:
        assert self.driver is not None
        try:
            outcome = await self.driver.poll(view, run)
        except RunError as exc:
            self._report_failure(view.thread_id, str(exc), connection_lost=exc.connection_lost)
            return
        self.after_run(view, outcome.status, outcome.error)

    @on(Sidebar.ThreadChosen)
    def _thread_chosen(self, event: Sidebar.ThreadChosen) -> None:
        self._select_thread(event.thread_id)
        self.composer.focus()

    @on(Composer.ScrollTranscript)
    def _scroll_transcript(self, event: Composer.ScrollTranscript) -> None:
        transcript = self.transcript
        if event.where == "page_up":
            transcript.scroll_page_up(animate=False)
        elif event.where == "page_down":
            transcript.scroll_page_down(animate=False)
        elif event.where == "home":
            transcript.scroll_home(animate=False)
            transcript.load_older_now()
        else:
            transcript.scroll_end(animate=False)

    @on(Sidebar.FilterLeft)
    def _filter_left(self) -> None:
        self.composer.focus()

    @on(Transcript.NeedOlder)
    def _need_older(self, event: Transcript.NeedOlder) -> None:
        view = self.workspace.views.get(event.thread_id)
        if view is not None and self.driver is not None:
            self.run_worker(self._load_older(view), group="load", exit_on_error=False)

    async def _load_older(self, view: ThreadView) -> None:
        assert self.driver is not None
        try:
            await self.driver.load_older(view)
        except RunError as exc:
            self._set_error(str(exc))

    # --- tool outputs (the dialog and the local tools: spool.tui.workflows) -------------------
    async def _run_submit(self, view: ThreadView, outputs: dict[str, str]) -> None:
        assert self.driver is not None
        try:
            outcome = await self.driver.submit_tool_outputs(view, outputs)
        except RunError as exc:
            self._report_failure(view.thread_id, str(exc), connection_lost=exc.connection_lost)
            return
        self.after_run(view, outcome.status, outcome.error)

    # --- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("quit", "command_palette", "help"):
            return True
        # a modal is open: its own keys win
        return not (len(self.screen_stack) > 1 and action in {a for _, a, _ in ACTIONS})

    def action_new_thread(self) -> None:
        """Create a new thread and open it."""
        if self.driver is None:
            self.notify("Not connected yet.", severity="warning")
            return
        self.run_worker(self._new_thread(), group="threads", exit_on_error=False)

    async def _new_thread(self) -> None:
        try:
            await self._create_thread(self.connection.client)
        except Exception as exc:
            self._set_error(describe_error(exc))
            return
        self.composer.focus()

    def _step_thread(self, step: int) -> None:
        target = self.sidebar.neighbour(self.current, step)
        if target is not None and target != self.current:
            self._select_thread(target)

    def action_prev_thread(self) -> None:
        """Open the thread above in the list."""
        self._step_thread(-1)

    def action_next_thread(self) -> None:
        """Open the thread below in the list."""
        self._step_thread(1)

    def action_filter_threads(self) -> None:
        """Focus the filter box."""
        self.sidebar.focus_filter()

    def action_toggle_footer(self) -> None:
        """Hide or show the line of main keys at the bottom."""
        footer = self.query_one("#footer", KeyFooter)
        footer.display = not footer.display

    def action_toggle_sidebar(self) -> None:
        """Hide or show the thread list (it hides itself in terminals under 90 columns)."""
        self._place_sidebar()
        self.sidebar_wanted = not self.sidebar.display
        self._place_sidebar()
        if not self.sidebar.display and self.sidebar.has_focus_within:
            self.composer.focus()

    def _place_sidebar(self, width: int | None = None) -> None:
        narrow = (width if width is not None else self.size.width) < SIDEBAR_MIN_TERMINAL_WIDTH
        if narrow != self._narrow:  # crossed the threshold: back to the automatic rule
            self._narrow = narrow
            self.sidebar_wanted = None
        wanted = self.sidebar_wanted if self.sidebar_wanted is not None else not narrow
        for sidebar in self.query(Sidebar):
            sidebar.display = wanted

    def on_resize(self, event: events.Resize) -> None:
        self._place_sidebar(event.size.width)

    def action_focus_composer(self) -> None:
        """Focus the composer."""
        self.composer.focus()

    def action_rename_thread(self) -> None:
        """Rename the current thread."""
        if self.current is None or self.store is None:
            return
        rec = self.store.get_thread(self.current)
        tid = self.current

        def done(title: str | None) -> None:
            if title and self.store is not None:
                self.store.update_thread(tid, title=title[:TITLE_MAX])
                self._update_row(tid)

        self.push_screen(
            RenameScreen(rec.title if rec else "", cursor_blink=self.cursor_blink), done
        )

    def action_delete_thread(self) -> None:
        """Delete the current thread (on the server and from the index), after asking."""
        if self.current is None or self.store is None:
            return
        rec = self.store.get_thread(self.current)
        title = (rec.title if rec else "") or "New thread"
        tid = self.current

        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._delete_thread(tid), group="threads", exit_on_error=False)

        self.push_screen(
            ConfirmScreen(
                f"Delete the thread “{title}”?\n\n"
                "It is deleted on the server and removed from the thread list."
            ),
            done,
        )

    async def _delete_thread(self, thread_id: str) -> None:
        assert self.store is not None
        if self.driver is not None:
            try:
                await self.driver.delete_thread(thread_id)
            except Exception as exc:
                self._set_error(f"Could not delete: {describe_error(exc)}")
                return
        neighbour = self.sidebar.neighbour(thread_id, 1)
        if neighbour == thread_id:
            neighbour = self.sidebar.neighbour(thread_id, -1)
        self.store.delete_thread(thread_id)
        self.workspace.drop(thread_id)
        self.sidebar.remove_row(thread_id)
        if neighbour and neighbour != thread_id:
            self._select_thread(neighbour)
        elif self.driver is not None:
            self.current = None
            await self._create_thread(self.connection.client)
        self.notify("Thread deleted.")

    def action_cancel_run(self) -> None:
        """Cancel the current thread's run."""
        if self.current is None:
            return
        view = self.workspace.views.get(self.current)
        if view is None or not view.active or self.driver is None:
            return
        self.run_worker(self._cancel(view), group="cancel", exit_on_error=False)

    async def _cancel(self, view: ThreadView) -> None:
        assert self.driver is not None
        waiting = view.run is not None and view.run.status == "requires_action"
        try:
            await self.driver.cancel(view)
        except RunError as exc:
            self._set_error(str(exc))
            return
        if waiting:  # no stream is open to report the end: follow the run to it
            await self._follow(view, None)

    def action_copy_reply(self) -> None:
        """Copy the focused message, else the last reply (system clipboard, else OSC 52)."""
        self.copy_message_or_reply()

    def action_help(self) -> None:
        """Show every key and where spool keeps its files."""
        from spool import config
        from spool.tui.screens import history_search

        keys = []
        for binding_id, _action, desc in ACTIONS:
            keys.append(KeyHelp(self._keys_for(binding_id), desc, binding_id))
        keys += [
            KeyHelp("enter", "Send the message (composer)", "—"),
            KeyHelp("shift+enter, ctrl+j", "New line in the composer", "composer.newline"),
            KeyHelp("up, down (composer)", "Walk through what you sent (first / last line)", "—"),
            *history_search.KEYS,
            KeyHelp("pageup, pagedown (composer)", "Scroll the transcript", "composer.page_up"),
            KeyHelp(
                "ctrl+home, ctrl+end",
                "Transcript top / bottom (also home, end)",
                "composer.transcript_top",
            ),
            KeyHelp("alt+e (composer)", "Write the prompt in $VISUAL / $EDITOR", "composer.editor"),
            KeyHelp("e (message)", "Edit and resend the focused message", "message.edit"),
            KeyHelp("delete (message)", "Delete the focused message", "message.delete"),
            KeyHelp("escape (filter box)", "Clear the filter", "sidebar.leave_filter"),
        ]
        keys += modal_key_help()
        keys += extra_key_help()
        keys += media_key_help()
        keys += search_key_help()
        keys += attach_key_help()
        keys += retrieval_key_help()
        paths = {
            "Config file": str(config.config_file()),
            "Data (index, server)": str(self.data_dir),
            "Thread index": str(self.data_dir / "index.json"),
            "User themes": str(config.config_dir() / "themes"),
        }
        notes = [
            'Remap keys in the config file:  [keymap]  spool.new_thread = "ctrl+t"',
            "Switch themes with the theme picker (live preview; also in the palette).",
            "Copy uses the system clipboard when a tool works (wl-copy, xclip, xsel, pbcopy), "
            "else OSC 52: the terminal's own clipboard, which cannot confirm the copy "
            "(in tmux: set -g set-clipboard on; large texts may be dropped).",
        ]
        self.push_screen(HelpScreen(keys, paths, notes))

    def _keys_for(self, binding_id: str, default: str = "") -> str:
        """The keys of a binding id: the config keymap's, else the declared ones."""
        keys = (self.config.keymap or {}).get(binding_id)
        if keys is None:
            for b in [*self.BINDINGS, *MessageView.BINDINGS]:
                if isinstance(b, Binding) and b.id == binding_id:
                    keys = b.key
                    break
        return ", ".join(k.strip() for k in (keys or default).split(","))

    def action_reconnect(self) -> None:
        """Connect again now (a remote profile after a change, or while offline)."""
        if not self.should_connect or self.unknown_profile:
            return
        if self._reconnect_timer is not None:
            self._reconnect_timer.stop()
            self._reconnect_timer = None
        self.driver = None
        self._start_connecting()

    def quit_message(self) -> str | None:
        """What the terminal is told on quit about runs still going (None: nothing runs)."""
        active = self.workspace.active_threads()
        if not active:
            return None
        runs = f"{len(active)} run{'s' if len(active) > 1 else ''}"
        if self.connection.base_url is None:
            return (
                f"spool: {runs} still going; the embedded server finishes "
                f"{'them' if len(active) > 1 else 'it'} and then exits by itself. "
                "Open spool again to see the answers."
            )
        return f"spool: {runs} still going on {self.connection.base_url}."

    async def action_quit(self) -> None:
        """Leave spool. Runs keep going: the embedded server stays up until they end."""
        self.save_draft()
        self.exit(0, message=self.quit_message())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()


def run_tui(
    *, data_dir: str | None = None, profile: str = "local", model: str | None = None
) -> int:
    """Entry point of `spool` without a subcommand: run the TUI until the user quits."""
    from spool.config import data_dir as resolve_data_dir
    from spool.config import load_config
    from spool.tui.widgets.image_view import prepare_terminal_graphics

    # (asks the terminal about images before Textual reads it; `images` in the config file)
    prepare_terminal_graphics(load_config().images)
    app = SpoolApp(data_dir=resolve_data_dir(data_dir), profile=profile, model=model)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code or 1)
