"""Answering a run's function calls, for `SpoolApp`: local tools, MCP tools, approval, the dialog.

`ToolAnswersMixin` is a base of `WorkflowsMixin` (so of `SpoolApp`). When a run stops for tool
outputs (`handle_requires_action`):

* each pending call is matched to an answerer: an MCP tool of a server chosen for the thread
  in the run options (`spool.client.mcp`), else a function of the local tool registry
  (`spool.client.tools`);
* calls that must be approved first (MCP servers by default, `[mcp.NAME] ask = false` turns it
  off; local tools only with `[tools] ask = true`) open the approval dialog, one at a time:
  allow once, always allow this tool, or deny (the run is told the call was not allowed);
* the approved calls run (MCP ones bounded by their server's timeout), and if every pending
  call got an output they are submitted at once and shown expanded in the transcript; otherwise
  the tool outputs dialog opens with those outputs prefilled.

MCP servers start on demand: when the run options choose them (their tools are listed and
offered to the thread's runs as function tools), or when a call needs a server that stopped.
They stop with the app. Nothing here builds requests: the server is reached through
`spool.client` only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spool.client.approvals import DENIED_OUTPUT, Approvals, Decision
from spool.client.run_options import MAX_RUN_TOOLS
from spool.client.view_model import ThreadView, ToolCallItem
from spool.tui.host import AppHost

if TYPE_CHECKING:
    from spool.client.mcp import McpHub, McpTool
    from spool.client.run_options import RunOptions
    from spool.client.tools import ToolRegistry
    from spool.tui.screens.run_options import McpChoice

LOCAL_TOOL = "local tool"
MAX_AUTO_ROUNDS = 8  # consecutive automatic answers for one run before asking the user

# Palette-only commands of this module: (name, action, help).
TOOL_PALETTE: list[tuple[str, str, str]] = [
    ("MCP servers: status", "mcp_status", "The MCP servers of the config file and their tools"),
    (
        "Forget tool approvals",
        "forget_tool_approvals",
        "Ask again before the tools allowed with “always”",
    ),
]


def mcp_source(server: str) -> str:
    """How an MCP server is named as a call's answerer."""
    return f"MCP server {server}"


@dataclass
class ToolAnswerState:
    """What the tool-answer flow remembers between runs."""

    drafts: dict[str, dict[str, str]] = field(default_factory=dict)  # thread -> call -> typed
    prefill: dict[str, dict[str, str]] = field(default_factory=dict)  # thread -> call -> output
    prefill_by: dict[str, dict[str, str]] = field(default_factory=dict)  # thread -> call -> who
    auto_rounds: dict[str, int] = field(default_factory=dict)  # run id -> automatic answers
    approvals: Approvals = field(default_factory=Approvals)
    answering: set[str] = field(default_factory=set)  # call ids being approved or run now


@dataclass
class _Answer:
    """How one pending call is answered: by which source, and whether it must ask first."""

    call: ToolCallItem
    source: str  # LOCAL_TOOL or mcp_source(server)
    key: str  # the approval key of the source
    where: str
    ask: bool
    mcp: McpTool | None = None


class ToolAnswersMixin(AppHost):
    """The function-call answering of `SpoolApp` (local tools, MCP tools, approval, dialog)."""

    if TYPE_CHECKING:  # provided by SpoolApp
        config: Any
        data_dir: Any
        cursor_blink: bool

        def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
        def _run_submit(self, view: ThreadView, outputs: dict[str, str]) -> Any: ...
        def _cancel(self, view: ThreadView) -> Any: ...
        def _assistant_for(self, thread_id: str | None) -> str | None: ...
        def run_options_for(self, thread_id: str | None) -> RunOptions | None: ...
        def _update_status(self) -> None: ...

    _wf_registry: ToolRegistry | None = None
    _wf_registry_lock: asyncio.Lock | None = None
    _mcp_hub: McpHub | None = None

    def _tool_state(self) -> ToolAnswerState:
        state = self.__dict__.get("_tool_answer_state")
        if state is None:
            state = self.__dict__["_tool_answer_state"] = ToolAnswerState()
        return state

    def _first_key(self, binding_id: str, default: str) -> str:
        return (self._keys_for(binding_id) or default).split(",")[0].strip() or default

    # --- the local tool registry ---------------------------------------------------------------
    def load_tool_registry(self) -> None:
        """Load the registry in the background (its problems are toasted once)."""
        self.run_worker(self.tool_registry(), group="tools", exit_on_error=False)

    async def tool_registry(self) -> ToolRegistry:
        """The local tool registry (loaded in a thread on first use)."""
        if self._wf_registry is not None:
            return self._wf_registry
        if self._wf_registry_lock is None:
            self._wf_registry_lock = asyncio.Lock()
        async with self._wf_registry_lock:
            if self._wf_registry is None:
                from spool.client.tools import ToolRegistry

                registry = await asyncio.to_thread(ToolRegistry.load)
                self._wf_registry = registry
                if registry.problems:
                    self.notify(
                        "\n".join(registry.problems),
                        title="Local tools: some failed to load",
                        severity="warning",
                        timeout=12,
                    )
        assert self._wf_registry is not None
        return self._wf_registry

    # --- MCP servers ----------------------------------------------------------------------------
    def mcp_hub(self) -> McpHub:
        """The config file's MCP servers (none is started until its tools are wanted)."""
        if self._mcp_hub is None:
            from spool.client.mcp import McpHub

            self._mcp_hub = McpHub(dict(self.config.mcp), log_dir=self.data_dir / "mcp-logs")
        return self._mcp_hub

    def mcp_choices(self) -> list[McpChoice]:
        """The configured MCP servers as the run options screen lists them."""
        from spool.tui.screens.run_options import McpChoice

        if not self.config.mcp:
            return []
        hub = self.mcp_hub()
        return [
            McpChoice(name, spec.where, hub.state(name), spec.ask)
            for name, spec in hub.specs.items()
        ]

    def offer_mcp_tools(self, thread_id: str, options: RunOptions) -> None:
        """Start the MCP servers the options choose and offer their tools to the thread's runs."""
        if options.mcp_servers:
            self.run_worker(
                self._offer_mcp_tools(thread_id, options), group="mcp", exit_on_error=False
            )

    async def _offer_mcp_tools(self, thread_id: str, options: RunOptions) -> None:
        from spool.client.assistants import retrieve_assistant

        tools, problems = await self.mcp_hub().tools_for(options.mcp_servers)
        for problem in problems:
            self.notify(problem, title="MCP server", severity="error", timeout=12)
        assistant_tools: list[dict[str, Any]] = []
        assistant_id = self._assistant_for(thread_id)
        if assistant_id and self.driver is not None:
            try:
                assistant = await retrieve_assistant(self.connection.client, assistant_id)
                assistant_tools = [t.model_dump(exclude_none=True) for t in assistant.tools or []]
            except Exception as exc:
                self.notify(
                    f"Could not read the assistant's own tools ({exc}); the runs get the MCP "
                    "tools only.",
                    severity="warning",
                )
        left_out = options.offer_mcp_tools(assistant_tools, [t.function_tool() for t in tools])
        self._update_status()
        if options.mcp_tool_names:
            names = ", ".join(options.mcp_tool_names)
            self.notify(f"MCP tools offered to this thread's runs: {names}", title="MCP")
        if left_out:
            self.notify(
                f"A run takes at most {MAX_RUN_TOOLS} tools: left out {', '.join(left_out)}. "
                "Choose fewer servers, or list the tools wanted: [mcp.NAME] tools = [...].",
                title="MCP",
                severity="warning",
                timeout=12,
            )

    def action_mcp_status(self) -> None:
        """Say which MCP servers are configured, running or failed, and what they offer."""
        if not self.config.mcp:
            self.notify(
                "No MCP servers: add [mcp.NAME] with command = … (or url = …) to the config file.",
                title="MCP",
            )
            return
        hub = self.mcp_hub()
        lines = []
        for name, spec in hub.specs.items():
            tools = [t.function_name for t in hub.tools_of(name)]
            listed = f" · tools: {', '.join(tools)}" if tools else ""
            asks = "asks" if spec.ask else "no asking"
            lines.append(f"{name}: {hub.state(name)} · {asks}{listed}")
        self.notify("\n".join(lines), title="MCP servers", timeout=12)

    def action_forget_tool_approvals(self) -> None:
        """Ask again before every tool that was allowed with “always”."""
        count = self._tool_state().approvals.forget()
        self.notify(
            f"Forgot {count} “always” tool approval{'s' if count != 1 else ''}: those tools ask "
            "again."
        )

    async def on_unmount(self) -> None:
        """Stop the MCP servers that were started (dispatched after `SpoolApp.on_unmount`)."""
        hub = self._mcp_hub
        if hub is not None:
            await hub.close()

    # --- requires_action ----------------------------------------------------------------------
    def handle_requires_action(self, view: ThreadView) -> None:
        """A run of `view` stopped for tool outputs: answer what spool can, ask for the rest."""
        self.run_worker(self._answer_tool_calls(view), group="tools", exit_on_error=False)

    async def _plan(self, view: ThreadView, pending: list[ToolCallItem]) -> list[_Answer]:
        """Who answers each pending call that spool can answer."""
        registry = await self.tool_registry()
        options = self.run_options_for(view.thread_id)
        servers = options.mcp_servers if options is not None else ()
        hub = self.mcp_hub() if servers else None
        plan = []
        for call in pending:
            tool = hub.find(call.name, servers) if hub is not None else None
            if tool is not None and hub is not None:
                spec = hub.specs[tool.server]
                plan.append(
                    _Answer(
                        call,
                        mcp_source(tool.server),
                        f"mcp:{tool.server}",
                        spec.where,
                        spec.ask,
                        tool,
                    )
                )
            elif registry.knows(call.name):
                where = registry.sources.get(call.name, "")
                plan.append(_Answer(call, LOCAL_TOOL, "local", where, bool(self.config.tools_ask)))
        return plan

    async def _approve(self, view: ThreadView, answer: _Answer) -> bool:
        """Ask the user about one call (unless allowed always); True when it may run."""
        state = self._tool_state()
        name = answer.call.name
        if not state.approvals.needs_asking(answer.key, name, ask=answer.ask):
            return True
        from spool.tui.screens.tool_approval import ApprovalRequest, ToolApprovalScreen

        request = ApprovalRequest(
            tool=name,
            source=answer.source,
            where=answer.where,
            arguments=answer.call.pretty_arguments,
            thread=self.thread_title(view.thread_id),
        )
        decided: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()

        def done(decision: Decision | None) -> None:
            if not decided.done():
                decided.set_result(decision or "deny")

        self.push_screen(ToolApprovalScreen(request), done)
        return state.approvals.record(answer.key, name, await decided)

    async def _run_answer(self, answer: _Answer) -> str:
        if answer.mcp is not None:
            return await self.mcp_hub().call(answer.mcp, answer.call.arguments)
        registry = await self.tool_registry()
        return await registry.call(answer.call.name, answer.call.arguments)

    async def _answer_tool_calls(self, view: ThreadView) -> None:
        pending = view.pending_tool_calls()
        if not pending or view.run is None:
            return
        answering = self._tool_state().answering
        ids = {c.id for c in pending}
        if ids & answering:
            return  # already being answered (the run was reported twice): never ask twice
        answering |= ids
        try:
            await self._answer_pending(view, pending)
        finally:
            answering -= ids

    async def _answer_pending(self, view: ThreadView, pending: list[ToolCallItem]) -> None:
        assert view.run is not None
        plan = await self._plan(view, pending)
        allowed: list[_Answer] = []
        outputs: dict[str, str] = {}
        by: dict[str, str] = {}
        for answer in plan:  # one approval at a time, in the run's order
            if await self._approve(view, answer):
                allowed.append(answer)
            else:
                outputs[answer.call.id] = DENIED_OUTPUT
                by[answer.call.id] = f"{answer.source}, call denied"
        results = await asyncio.gather(*(self._run_answer(a) for a in allowed))
        for answer, output in zip(allowed, results, strict=True):
            outputs[answer.call.id] = output
            by[answer.call.id] = answer.source
        state = self._tool_state()
        run_id = view.run.id or ""
        rounds = state.auto_rounds.get(run_id, 0)
        if plan and len(plan) == len(pending) and rounds < MAX_AUTO_ROUNDS:
            state.auto_rounds[run_id] = rounds + 1
            for answer in plan:
                call = answer.call
                call.answered_by = by[call.id]
                call.output = outputs[call.id]
                view.updated(call)
            self.notify(_answered_note(plan, by))
            await self._run_submit(view, outputs)
            return
        state.prefill[view.thread_id] = outputs
        state.prefill_by[view.thread_id] = by
        if view.thread_id == self.current and not self._tool_outputs_open():
            self.open_tool_outputs(view)
        else:
            key = self._first_key("spool.tool_outputs", "ctrl+o")
            title = self.thread_title(view.thread_id)
            self.notify(f"A run in “{title}” waits for tool outputs ({key} there answers).")

    def _tool_outputs_open(self) -> bool:
        from spool.tui.screens.tool_outputs import ToolOutputsScreen

        return any(isinstance(s, ToolOutputsScreen) for s in self.screen_stack)  # type: ignore[attr-defined]

    def open_tool_outputs(self, view: ThreadView) -> bool:
        """Show the tool outputs dialog for the view's pending calls (False if there are none)."""
        from spool.tui.screens.tool_outputs import PendingCall, ToolOutputsResult, ToolOutputsScreen

        pending = view.pending_tool_calls()
        if not pending:
            return False
        state = self._tool_state()
        prefill: dict[str, str] = state.prefill.get(view.thread_id, {})
        prefill_by: dict[str, str] = state.prefill_by.get(view.thread_id, {})
        drafts: dict[str, str] = state.drafts.get(view.thread_id, {})
        calls = []
        for call in pending:
            source = prefill_by.get(call.id, LOCAL_TOOL)
            draft = drafts.get(call.id)
            if draft is not None:
                output, by = draft, (source if draft == prefill.get(call.id) else None)
            elif call.id in prefill:
                output, by = prefill[call.id], source
            else:
                output, by = "", None
            calls.append(PendingCall(call.id, call.name, call.pretty_arguments, output, by))

        def done(result: ToolOutputsResult | None) -> None:
            if result is None:
                return
            if result.action == "hide":
                state.drafts[view.thread_id] = result.outputs
                return
            state.drafts.pop(view.thread_id, None)
            state.prefill.pop(view.thread_id, None)
            state.prefill_by.pop(view.thread_id, None)
            if result.action == "cancel":
                self.run_worker(self._cancel(view), group="cancel", exit_on_error=False)
                return
            for call in pending:
                if call.id in prefill and result.outputs.get(call.id) == prefill[call.id]:
                    call.answered_by = prefill_by.get(call.id, LOCAL_TOOL)
            self.run_worker(
                self._run_submit(view, result.outputs), group="run", exit_on_error=False
            )

        run_id = view.run.id if view.run else None
        screen = ToolOutputsScreen(
            calls,
            run_id=run_id,
            answer_key=self._first_key("spool.tool_outputs", "ctrl+o"),
            cursor_blink=self.cursor_blink,
        )
        self.push_screen(screen, done)
        return True

    def action_tool_outputs(self) -> None:
        """Answer the current thread's pending function calls (the tool outputs dialog)."""
        view = self.workspace.views.get(self.current or "")
        if view is None or not self.open_tool_outputs(view):
            self.notify("No function call is waiting for an output here.")


def _answered_note(plan: list[_Answer], by: dict[str, str]) -> str:
    """The toast after automatic answers, e.g. "Answered add with MCP server notes; …"."""
    names = ", ".join(sorted({a.call.name for a in plan}))
    sources = sorted({a.source for a in plan})
    denied = [a.call.name for a in plan if by[a.call.id].endswith("call denied")]
    if sources == [LOCAL_TOOL]:
        where = "local tools"
    else:
        where = " and ".join("local tools" if s == LOCAL_TOOL else s for s in sources)
    note = f"Answered {names} with {where}"
    if denied:
        note += f" (not allowed: {', '.join(sorted(set(denied)))})"
    return note + "; the run continues."
