"""Model Context Protocol servers as tool providers (the client side; no Textual here).

`McpHub` holds the `[mcp.NAME]` servers of the config file. A server is started the first time
its tools are wanted (`McpHub.tools_for`) and kept running until `McpHub.close()`; each of its
tools becomes a function tool a run can be offered (`McpTool.function_tool()`), and a call of
that function is answered by `McpHub.call`, which never raises and never hangs: a server that
cannot start, exits, errs or stays silent past its `timeout` gives an `error: …` output that
says so, and the run goes on.

One asyncio task per server owns the SDK's `mcp.Client` (entered and left in that task, as
anyio requires); calls from other tasks go through the open session. A stdio server's stderr
goes to a log file (never to the terminal the TUI draws on); its last lines are quoted when
the server fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from spool.client.tools import output_text
from spool.config import McpServerSpec

START_TIMEOUT_S = 20.0  # starting a server and listing its tools
STOP_TIMEOUT_S = 8.0
MAX_TOOL_NAME = 64  # the API's limit for function names
STDERR_TAIL = 400  # characters of a failed server's stderr quoted in its error
MAX_OUTPUT_CHARS = 100_000  # a longer tool output is cut (with a note saying so)
_BAD_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class McpError(Exception):
    """A server could not be started, or a call could not be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool of an MCP server, and the function name runs know it by."""

    server: str
    name: str  # the tool's own name on its server
    function_name: str  # the function tool's name offered to runs (unique in the hub)
    description: str
    parameters: dict[str, Any]

    def function_tool(self) -> dict[str, Any]:
        """The Assistants API function tool for this MCP tool."""
        return {
            "type": "function",
            "function": {
                "name": self.function_name,
                "description": self.description or f"{self.name} (MCP server {self.server})",
                "parameters": self.parameters or {"type": "object", "properties": {}},
            },
        }


def expand_env(value: str, environ: dict[str, str] | None = None) -> str:
    """`${VAR}` in a config value replaced by the environment's VAR (unset: empty)."""
    env = os.environ if environ is None else environ
    return _ENV_REF.sub(lambda m: env.get(m.group(1), ""), value)


def unset_env_refs(values: Iterable[str], environ: dict[str, str] | None = None) -> list[str]:
    """The `${VAR}` names in `values` that the environment does not set."""
    env = os.environ if environ is None else environ
    return sorted({m.group(1) for v in values for m in _ENV_REF.finditer(v)} - set(env))


def function_name_for(tool: str) -> str:
    """A valid function name (letters, digits, `_`, `-`; ≤ 64) for an MCP tool name."""
    return _BAD_NAME_CHARS.sub("_", tool)[:MAX_TOOL_NAME] or "tool"


def describe_exception(exc: BaseException) -> str:
    """One line for an exception, looking inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def cap_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """`text`, cut to `limit` characters with a note when it is longer."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… (output cut: {len(text):,} characters, the first {limit:,} kept)"


def result_text(result: Any) -> str:
    """A `CallToolResult` as the output string the model sees.

    Text blocks are joined by newlines; images, audio and resource links are named (their
    bytes are not sent on); structured content is used as JSON when no block has text. A tool
    error (`isError`) is `error: <its text>`.
    """
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[resource {resource.uri}]")
    structured = getattr(result, "structured_content", None)
    text = "\n".join(parts)
    if not text and structured is not None:
        text = output_text(structured)
    if getattr(result, "is_error", False):
        return f"error: {text or 'the tool failed'}"
    return text


class McpConnection:
    """One MCP server: started by `start()` (once; again after it failed), stopped by `close()`."""

    def __init__(self, spec: McpServerSpec, *, log_dir: Path | None = None) -> None:
        self.spec = spec
        self.log_dir = log_dir
        self.tools: list[Any] = []  # the SDK's Tool objects, as last listed
        self.error: str | None = None  # why the last start or the connection failed
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._errlog: IO[str] | None = None
        self._http: Any = None  # the HTTP client of a url server with headers

    @property
    def running(self) -> bool:
        """Whether the server is up and its tools are listed."""
        return self._client is not None and self._task is not None and not self._task.done()

    @property
    def state(self) -> str:
        """`running`, `failed` (with `error`) or `stopped` (not started yet)."""
        if self.running:
            return "running"
        return "failed" if self.error else "stopped"

    # --- starting and stopping --------------------------------------------------------------
    async def start(self) -> list[Any]:
        """Start the server if it is not running and list its tools; raises McpError."""
        async with self._lock:
            if self.running:
                return self.tools
            await self._stop_task()
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[list[Any]] = loop.create_future()
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._serve(ready, self._stop))
            try:
                tools = await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT_S)
            except TimeoutError:
                await self._stop_task()
                self.error = self._with_stderr(
                    f"MCP server {self.spec.name!r} did not answer within {START_TIMEOUT_S:g} s "
                    "of starting"
                )
                raise McpError(self.error) from None
            except McpError as exc:
                await self._stop_task()
                self.error = str(exc)
                raise
            self.error = None
            self.tools = tools
            return tools

    def _transport(self) -> Any:
        spec = self.spec
        for key, table in (("env", spec.env), ("headers", spec.headers)):
            unset = unset_env_refs(table.values())
            if unset:
                names = ", ".join(f"${{{n}}}" for n in unset)
                raise McpError(
                    f"MCP server {spec.name!r} could not be started: {names} (in {key}) "
                    "is not set in spool's environment"
                )
        if spec.url:
            from mcp.client.streamable_http import streamable_http_client

            headers = {k: expand_env(v) for k, v in spec.headers.items()}
            if headers:
                import httpx2  # the SDK's HTTP client

                self._http = httpx2.AsyncClient(
                    headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)
                )
                return streamable_http_client(spec.url, http_client=self._http)
            return streamable_http_client(spec.url)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=os.path.expanduser(spec.command or ""),
            args=list(spec.args),
            env={k: expand_env(v) for k, v in spec.env.items()} or None,
            cwd=os.path.expanduser(spec.cwd) if spec.cwd else None,
        )
        return stdio_client(params, errlog=self._open_errlog())

    def _open_errlog(self) -> IO[str]:
        if self._errlog is not None:
            with contextlib.suppress(OSError):
                self._errlog.close()
        if self.log_dir is not None:
            try:
                self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                path = self.log_dir / f"mcp-{function_name_for(self.spec.name)}.log"
                self._errlog = open(path, "w+", encoding="utf-8")  # noqa: SIM115 (kept open)
                os.chmod(path, 0o600)
                return self._errlog
            except OSError:
                pass
        self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        return self._errlog

    def stderr_mark(self) -> int:
        """Where the server's stderr log ends now (for `stderr_tail(since=…)`)."""
        log = self._errlog
        if log is None:
            return 0
        try:
            log.flush()
            return log.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            return 0

    def stderr_tail(self, since: int = 0) -> str:
        """The last lines the server wrote to stderr after `since` (stdio; "" when none)."""
        log = self._errlog
        if log is None:
            return ""
        try:
            end = self.stderr_mark()
            log.seek(max(since, end - STDERR_TAIL * 4))
            text = log.read()
            log.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            return ""
        lines = [" ".join(line.split()) for line in text.splitlines()]
        return " | ".join(line for line in lines[-5:] if line)[-STDERR_TAIL:]

    def _with_stderr(self, message: str, since: int = 0) -> str:
        tail = self.stderr_tail(since)
        return f"{message} (stderr: {tail})" if tail else message

    async def _serve(self, ready: asyncio.Future[list[Any]], stop: asyncio.Event) -> None:
        """The owner task: open the session, list the tools, hold it until `stop`."""
        try:
            from mcp import Client
        except ImportError:
            ready.set_exception(
                McpError("the mcp package is not installed (pip install 'spool[mcp]')")
            )
            return
        name = self.spec.name
        try:
            try:
                transport = self._transport()
            except McpError as exc:
                ready.set_exception(exc)
                return
            async with Client(transport, client_info=_client_info()) as client:
                tools = await _list_all_tools(client)
                self._client = client
                if not ready.done():
                    ready.set_result(tools)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # the SDK raises exception groups
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            message = self._with_stderr(
                f"MCP server {name!r} could not be started: {describe_exception(exc)}"
                if not ready.done()
                else f"MCP server {name!r} stopped: {describe_exception(exc)}"
            )
            self.error = message
            if not ready.done():
                ready.set_exception(McpError(message))
        finally:
            self._client = None
            http, self._http = self._http, None
            if http is not None:
                with contextlib.suppress(Exception):
                    await http.aclose()

    async def _stop_task(self) -> None:
        """End the owner task: gracefully when connected (the session closes, a stdio process
        is asked to exit), at once when it is still starting."""
        task, self._task = self._task, None
        connected = self._client is not None
        if self._stop is not None:
            self._stop.set()
        self._client = None
        if task is None or task.done():
            return
        if connected:
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
                return
            except BaseException:
                pass
        task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, STOP_TIMEOUT_S)

    async def close(self) -> None:
        """Stop the server (a stdio one: its process ends)."""
        async with self._lock:
            await self._stop_task()
        if self._errlog is not None:
            with contextlib.suppress(OSError):
                self._errlog.close()
            self._errlog = None

    # --- calling --------------------------------------------------------------------------------
    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call `tool` and return its output; raises McpError for anything but a tool error.

        Bounded by the server's `timeout`; a server that exits during the call is noticed at
        once (not after the timeout) and is started again on the next call.
        """
        await self.start()
        client, task = self._client, self._task
        if client is None or task is None:
            raise McpError(self.error or f"MCP server {self.spec.name!r} is not running")
        timeout = self.spec.timeout
        mark = self.stderr_mark()
        call = asyncio.ensure_future(client.call_tool(tool, arguments))
        done, _ = await asyncio.wait(
            {call, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if call in done:
            exc = call.exception()
            if exc is None:
                return result_text(call.result())
            await self._broken()
            why = describe_exception(exc)
            if "connection closed" in why.lower():
                why = f"exited during the call of {tool}"
            else:
                why = f"failed on {tool}: {why}"
            raise McpError(self._with_stderr(f"MCP server {self.spec.name!r} {why}", mark))
        call.cancel()
        with contextlib.suppress(BaseException):
            await call
        if task in done:
            await self._broken()
            raise McpError(
                self._with_stderr(
                    f"MCP server {self.spec.name!r} exited during the call of {tool}", mark
                )
            )
        raise McpError(
            f"MCP server {self.spec.name!r} did not answer {tool} within {timeout:g} s "
            "(timed out; the run goes on without it)"
        )

    async def _broken(self) -> None:
        """The connection failed: stop what is left of it; the next call starts it again."""
        async with self._lock:
            await self._stop_task()


def _client_info() -> Any:
    from mcp_types import Implementation

    try:
        from importlib.metadata import version

        ours = version("spool")
    except Exception:
        ours = "0"
    return Implementation(name="spool", version=ours)


async def _list_all_tools(client: Any, max_pages: int = 50) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


class McpHub:
    """The configured MCP servers (started on demand) and the function tools they offer."""

    def __init__(self, specs: dict[str, McpServerSpec], *, log_dir: Path | None = None) -> None:
        self.specs = dict(specs)
        self.connections = {
            name: McpConnection(spec, log_dir=log_dir) for name, spec in self.specs.items()
        }
        self._by_function: dict[str, McpTool] = {}  # function name -> tool, over all servers
        self._names: dict[tuple[str, str], str] = {}  # (server, tool) -> function name

    @property
    def names(self) -> list[str]:
        """The configured servers, in config order."""
        return list(self.specs)

    def state(self, server: str) -> str:
        """`running`, `failed: …` or `not started`."""
        conn = self.connections.get(server)
        if conn is None:
            return "not configured"
        if conn.state == "failed":
            return f"failed: {conn.error}"
        return "running" if conn.state == "running" else "not started"

    def asks(self, server: str) -> bool:
        """Whether calls of this server's tools are approved by the user first."""
        spec = self.specs.get(server)
        return True if spec is None else spec.ask

    def _function_name(self, server: str, tool: str) -> str:
        key = (server, tool)
        if key in self._names:
            return self._names[key]
        name = function_name_for(tool)
        if name in self._by_function or name in self._names.values():
            name = function_name_for(f"{server}_{tool}")
        n = 2
        base = name
        while name in self._names.values():
            name = f"{base[: MAX_TOOL_NAME - 3]}_{n}"
            n += 1
        self._names[key] = name
        return name

    def _register(self, server: str, listed: list[Any]) -> list[McpTool]:
        for fname in [f for f, t in self._by_function.items() if t.server == server]:
            del self._by_function[fname]
        only = self.specs[server].tools
        tools = []
        for t in listed:
            if only is not None and t.name not in only:
                continue
            schema = t.input_schema if isinstance(t.input_schema, dict) else {}
            tool = McpTool(
                server=server,
                name=t.name,
                function_name=self._function_name(server, t.name),
                description=(t.description or "").strip(),
                parameters=dict(schema),
            )
            self._by_function[tool.function_name] = tool
            tools.append(tool)
        return tools

    async def tools_for(self, servers: Iterable[str]) -> tuple[list[McpTool], list[str]]:
        """Start the named servers (concurrently) and list their tools.

        Returns the tools of those that came up and one problem line per server that did not
        (or is not configured). Never raises.
        """
        wanted = [s for s in dict.fromkeys(servers)]
        problems = [
            f"no MCP server {s!r} in the config file" for s in wanted if s not in self.specs
        ]
        wanted = [s for s in wanted if s in self.specs]
        results = await asyncio.gather(
            *(self.connections[s].start() for s in wanted), return_exceptions=True
        )
        tools: list[McpTool] = []
        for server, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                problems.append(
                    str(result) if isinstance(result, McpError) else describe_exception(result)
                )
                continue
            tools.extend(self._register(server, result))
        return tools, problems

    def tools_of(self, server: str) -> list[McpTool]:
        """The tools of `server` as last listed (empty before it started)."""
        return [t for t in self._by_function.values() if t.server == server]

    def find(self, function_name: str, servers: Iterable[str] | None = None) -> McpTool | None:
        """The tool a function call names, if one of `servers` (default: any) offers it."""
        tool = self._by_function.get(function_name)
        if tool is None or (servers is not None and tool.server not in set(servers)):
            return None
        return tool

    async def call(self, tool: McpTool, arguments_json: str) -> str:
        """Call the tool with the JSON object `arguments_json`; the output for the model.

        Never raises: bad arguments, a server that cannot start, exits, fails or times out all
        give `error: …` with the reason.
        """
        try:
            arguments = json.loads(arguments_json) if arguments_json.strip() else {}
        except ValueError as exc:
            return f"error: the arguments are not JSON: {exc}"
        if not isinstance(arguments, dict):
            return f"error: the arguments must be a JSON object, not {type(arguments).__name__}"
        conn = self.connections.get(tool.server)
        if conn is None:
            return f"error: no MCP server {tool.server!r} in the config file"
        try:
            return cap_output(await conn.call(tool.name, arguments))
        except McpError as exc:
            return f"error: {exc}"
        except Exception as exc:  # the SDK's own errors: still an output, never a crash
            return f"error: MCP server {tool.server!r}: {describe_exception(exc)}"

    async def close(self) -> None:
        """Stop every server that was started."""
        await asyncio.gather(
            *(c.close() for c in self.connections.values()), return_exceptions=True
        )
