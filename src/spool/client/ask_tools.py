"""Who answers the function calls of a `spool ask` run: MCP servers and the local tool registry.

`spool ask --mcp NAME` starts the `[mcp.NAME]` servers of the config file before the question
is posted, offers their tools to the run beside the assistant's own (as the TUI's run options
do), and answers calls of those tools through the server; any other call goes to the local
tool registry (`tools.py`, `spool.tools` entry points). Calls of a server that asks first
(`[mcp.NAME] ask`, the default; local tools with `[tools] ask = true`) are approved on the
terminal (`y` once, `a` always for that tool, anything else denies); without a terminal they
are denied with a message saying so, unless `--yes` allowed them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spool.client.approvals import DENIED_OUTPUT, Approvals, Decision
from spool.client.run_options import RunOptions

if TYPE_CHECKING:
    from spool.client.mcp import McpHub, McpTool
    from spool.client.tools import ToolRegistry

Prompt = Callable[[str], str]  # shows a question, returns the line the user typed
LOCAL = "local"


class ToolboxError(Exception):
    """An MCP server chosen with --mcp could not start, or a call has no answerer."""


@dataclass
class AskToolbox:
    """The tools of one `spool ask`: `await start()`, `run_tools(...)`, `await outputs(...)`."""

    config: Any  # spool.config.Config
    servers: tuple[str, ...] = ()
    prompt: Prompt | None = None  # None: no terminal to ask on
    approve_all: bool = False  # --yes
    registry: ToolRegistry | None = None
    log: Callable[[str], None] = lambda line: None  # one line per call, for stderr
    warn: Callable[[str], None] = lambda line: None
    log_dir: Path | None = None  # where the MCP servers' stderr goes
    hub: McpHub | None = None
    approvals: Approvals = field(default_factory=Approvals)
    _mcp_tools: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> None:
        """Start the chosen MCP servers and list their tools; raises ToolboxError."""
        if not self.servers:
            return
        from spool.client.mcp import McpHub

        self.hub = McpHub(dict(self.config.mcp), log_dir=self.log_dir)
        tools, problems = await self.hub.tools_for(self.servers)
        if problems:
            raise ToolboxError("; ".join(problems))
        self._mcp_tools = [t.function_tool() for t in tools]

    def run_tools(self, assistant_tools: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The run's `tools`: the assistant's plus the MCP tools (None: no MCP server chosen)."""
        if self.hub is None:
            return None
        options = RunOptions(mcp_servers=self.servers)
        left_out = options.offer_mcp_tools(assistant_tools, self._mcp_tools)
        if left_out:
            self.warn(
                f"a run takes at most 20 tools; left out: {', '.join(left_out)} "
                "(list the ones wanted with [mcp.NAME] tools = [...])"
            )
        return options.tools

    def unknown(self, calls: list[Any]) -> list[str]:
        """The names of calls nothing here answers."""
        registry = self._registry()
        return sorted(
            {
                c.function.name
                for c in calls
                if self._mcp_tool(c.function.name) is None and not registry.knows(c.function.name)
            }
        )

    async def outputs(self, calls: list[Any]) -> list[dict[str, str]]:
        """Answer every call (each known to `unknown()`'s check); denied ones say so."""
        outputs = []
        for call in calls:
            name, arguments = call.function.name, call.function.arguments
            tool = self._mcp_tool(name)
            if tool is not None:
                assert self.hub is not None
                source, key = f"MCP server {tool.server}", f"mcp:{tool.server}"
                ask = self.hub.asks(tool.server)
            else:
                source, key = "local tool", LOCAL
                ask = bool(getattr(self.config, "tools_ask", False))
            if self._allowed(source, key, name, arguments, ask=ask):
                if tool is not None:
                    assert self.hub is not None
                    output = await self.hub.call(tool, arguments)
                else:
                    output = await self._registry().call(name, arguments)
            else:
                output = DENIED_OUTPUT
            self.log(f"[tool] {name}({arguments}) -> {output}")
            outputs.append({"tool_call_id": call.id, "output": output})
        return outputs

    async def close(self) -> None:
        """Stop the MCP servers that were started."""
        if self.hub is not None:
            await self.hub.close()

    # --- helpers ----------------------------------------------------------------------------
    def _registry(self) -> ToolRegistry:
        if self.registry is None:
            from spool.client.tools import ToolRegistry

            self.registry = ToolRegistry.load()
            for problem in self.registry.problems:
                self.warn(f"tool registry: {problem}")
        return self.registry

    def _mcp_tool(self, function_name: str) -> McpTool | None:
        return self.hub.find(function_name, self.servers) if self.hub is not None else None

    def _allowed(self, source: str, key: str, name: str, arguments: str, *, ask: bool) -> bool:
        if self.approve_all or not self.approvals.needs_asking(key, name, ask=ask):
            return True
        if self.prompt is None:
            self.warn(
                f"not allowed: {name} ({source}) asks before it runs and there is no terminal "
                "to ask on; pass --yes to allow the calls without asking"
            )
            return False
        answer = self.prompt(
            f"Allow {name}({arguments}) from the {source}? [y]es once, [a]lways, [N]o: "
        )
        decision: Decision = {"y": "once", "yes": "once", "a": "always", "always": "always"}.get(
            answer.strip().lower(), "deny"
        )
        return self.approvals.record(key, name, decision)
