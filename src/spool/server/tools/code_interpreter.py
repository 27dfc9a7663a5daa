"""The `code_interpreter` server-side tool: runs the model's Python in the thread's sandboxed
session (`server/sandbox/`) and records `{input, outputs}` in the run step.

- The engine is offered a function `code_interpreter` with one argument, `code`; the `input`
  streams as the model writes it (`arguments_delta` decodes the JSON string as it grows).
- Logs stream into the step while the code runs; each PNG the code displays is stored as a
  file (purpose `assistants_output`) and becomes an `image` output and an `image_file` part of
  the next assistant message; files the code writes in /mnt/data are stored too, and a link
  `sandbox:/mnt/data/NAME` in the reply becomes a `file_path` annotation (via `citations`).
- `/mnt/data` holds the files of the assistant's and the thread's
  `tool_resources.code_interpreter.file_ids` and of message attachments for code_interpreter,
  under their filenames.
- The model reads the logs (what the echo engine answers with).

The process-wide `SandboxManager` is made by `configure()` (spool serve, from the config's
`[code_interpreter]` table) or on first use with defaults, and ended by `shutdown()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from spool.server.sandbox import (
    Image,
    LogText,
    SandboxManager,
    SandboxSettings,
    SandboxUnavailable,
)
from spool.server.sandbox.manager import InputFile
from spool.server.sandbox.session import SandboxError
from spool.server.tools import ToolContext, ToolError, ToolResult, register

log = logging.getLogger("spool.server")

LINK_PREFIX = "sandbox:/mnt/data/"
MAX_INPUT_FILES = 20
STREAM_LIMIT = 64 * 1024  # arguments streamed as input deltas up to this many characters
_manager: SandboxManager | None = None


def configure(settings: SandboxSettings, *, hidden: list[Path]) -> SandboxManager:
    """Make the process-wide manager (replacing one that has no sessions yet)."""
    global _manager
    _manager = SandboxManager(settings, hidden=hidden)
    return _manager


def manager(data_dir: Path | None = None) -> SandboxManager:
    """The process-wide manager (made with default settings if `configure` was not called)."""
    global _manager
    if _manager is None:
        _manager = SandboxManager(SandboxSettings(), hidden=[data_dir] if data_dir else [])
    return _manager


async def shutdown() -> None:
    """End every session (the server is stopping)."""
    if _manager is not None:
        await _manager.shutdown()


_CODE_KEY = re.compile(r'"code"\s*:\s*"')
_SPECIAL = re.compile(r'[\\"]')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class CodeStream:
    """Decodes the `code` string of growing JSON arguments (`{"code": "…`) incrementally: each
    `feed` scans only what is new, and an escape cut in the middle (or half of a surrogate
    pair) waits for the next fragment."""

    def __init__(self) -> None:
        self.pos = -1  # where decoding resumes in the arguments (-1: the key not found yet)
        self.done = False

    def feed(self, raw: str) -> str:
        """The code text that `raw` adds to what earlier feeds returned."""
        if self.done:
            return ""
        if self.pos < 0:
            key = _CODE_KEY.search(raw)
            if key is None:
                return ""
            self.pos = key.end()
        out: list[str] = []
        pos = self.pos
        while True:
            special = _SPECIAL.search(raw, pos)
            if special is None:
                out.append(raw[pos:])
                pos = len(raw)
                break
            out.append(raw[pos : special.start()])
            pos = special.start()
            if raw[pos] == '"':
                self.done = True
                break
            decoded, used = _escape(raw, pos)
            if used == 0:
                break  # incomplete: wait for more
            out.append(decoded)
            pos += used
        self.pos = pos
        return "".join(out)


def _escape(raw: str, pos: int) -> tuple[str, int]:
    """The escape at `raw[pos]` (a backslash): (text, characters used), or ("", 0) if cut."""
    if pos + 1 >= len(raw):
        return "", 0
    kind = raw[pos + 1]
    if kind != "u":
        return _ESCAPES.get(kind, kind), 2
    if pos + 6 > len(raw):
        return "", 0
    try:
        unit = int(raw[pos + 2 : pos + 6], 16)
    except ValueError:
        return raw[pos : pos + 6], 6
    if 0xD800 <= unit <= 0xDBFF:
        if pos + 12 > len(raw):
            return "", 0
        if raw[pos + 6 : pos + 8] == "\\u":
            try:
                low = int(raw[pos + 8 : pos + 12], 16)
            except ValueError:
                low = 0
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(unit), 6


def partial_code(raw: str) -> str:
    """The `code` string decoded from a (possibly unfinished) JSON object like `{"code": "…`."""
    return CodeStream().feed(raw)


def code_of(arguments: str) -> str:
    """The code of a finished call: `{"code": …}`; anything else is taken as the code itself."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("code"), str):
        return value["code"]
    if isinstance(value, str):
        return value
    return arguments


async def _thread_facts(ctx: ToolContext) -> tuple[list[str], bool]:
    """The file ids attached to the thread's messages for code_interpreter, and whether the
    thread ran code before (in this or an earlier server process)."""
    db = ctx.services.db
    thread_id = ctx.run["thread_id"]
    rows = await db.fetchall(
        "SELECT data FROM messages WHERE thread_id = ? "
        "AND data LIKE '%\"code_interpreter\"%' ORDER BY seq",
        (thread_id,),
    )
    ids: list[str] = []
    for (raw,) in rows:
        for attachment in json.loads(raw).get("attachments") or []:
            kinds = {t.get("type") for t in attachment.get("tools") or []}
            if "code_interpreter" in kinds and attachment.get("file_id"):
                ids.append(attachment["file_id"])
    before = ctx.ordinal > 0 or (
        await db.fetchone(
            "SELECT 1 FROM tool_outputs t JOIN runs r ON r.id = t.run_id "
            "WHERE r.thread_id = ? AND t.type = 'code_interpreter' LIMIT 1",
            (thread_id,),
        )
        is not None
    )
    return ids, before


async def input_files(ctx: ToolContext, attached: list[str]) -> list[InputFile]:
    """The files /mnt/data must hold: tool_resources of the assistant and the thread, then the
    attachments (quick lookups by id; the bytes are read later, off the loop)."""
    db = ctx.services.db
    store = ctx.services.files
    if store is None:
        return []
    ids: list[str] = []
    for table, key in (("assistants", "assistant_id"), ("threads", "thread_id")):
        owner = await db.get(table, ctx.run[key]) or {}
        resources = owner.get("tool_resources") or {}
        ids += (resources.get("code_interpreter") or {}).get("file_ids") or []
    out: list[InputFile] = []
    for file_id in list(dict.fromkeys([*ids, *attached]))[-MAX_INPUT_FILES:]:
        file = await store.get(file_id)
        path = await store.path_of(file_id)
        if file is None or path is None:
            continue
        out.append(InputFile(file_id, file.get("filename") or file_id, path.read_bytes))
    return out


class CodeInterpreterTool:
    """Run Python in the thread's sandboxed session (see the module docstring)."""

    type = "code_interpreter"

    def function(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "code_interpreter",
            "description": (
                "Run Python 3 code in a stateful Jupyter session (variables and imports persist "
                "between calls in this conversation). numpy, pandas, matplotlib, sympy and scipy "
                "are installed; there is no internet access. Files the user attached are in "
                "/mnt/data; save files there to give them to the user and link them as "
                "sandbox:/mnt/data/NAME. Returns what the code printed, the value of the last "
                "expression, and errors. plt.show() displays a figure to the user."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The Python code to run."}
                },
                "required": ["code"],
            },
        }

    def initial(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"input": "", "outputs": []}

    def __init__(self) -> None:
        # the decoder of each call being streamed, by (length, last characters) of what it
        # has seen: each fragment costs only its own characters; beyond STREAM_LIMIT the input
        # is not streamed (the step's final `input` still has all of it)
        self._streams: dict[tuple[int, str], CodeStream] = {}

    def arguments_delta(self, fragment: str, so_far: str) -> dict[str, Any] | None:
        prefix_len = len(so_far) - len(fragment)
        key = (prefix_len, so_far[max(prefix_len - 16, 0) : prefix_len])
        stream = self._streams.pop(key, None)
        if so_far and len(so_far) > STREAM_LIMIT:
            return None
        if stream is None:
            stream = CodeStream()
            stream.feed(so_far[:prefix_len])
        text = stream.feed(so_far)
        if not stream.done:
            self._streams[(len(so_far), so_far[-16:])] = stream
            while len(self._streams) > 64:  # calls that ended without their closing quote
                self._streams.pop(next(iter(self._streams)))
        return {"input": text} if text else None

    def public(self, body: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
        return body

    async def run(self, ctx: ToolContext, arguments: str) -> ToolResult:
        code = code_of(arguments)
        store = ctx.services.files
        data_dir = ctx.services.data_dir or Path(ctx.services.db.path).parent  # type: ignore[attr-defined]
        sandboxes = manager(data_dir)
        try:
            attached, had_before = await _thread_facts(ctx)
            files = await input_files(ctx, attached)
        except Exception as exc:  # a damaged row
            message = f"code_interpreter could not read its files: {exc}"
            raise ToolError("server_error", message) from None
        outputs: list[dict[str, Any]] = []
        logs_at: list[int] = []
        parts: list[dict[str, Any]] = []
        queue: asyncio.Queue[LogText | Image | None] = asyncio.Queue()

        async def publish() -> None:
            while (event := await queue.get()) is not None:
                if isinstance(event, LogText):
                    if not logs_at:
                        logs_at.append(len(outputs))
                        outputs.append({"type": "logs", "logs": ""})
                    outputs[logs_at[0]]["logs"] += event.text
                    ctx.emit(
                        {"outputs": [{"index": logs_at[0], "type": "logs", "logs": event.text}]}
                    )
                elif store is not None:
                    file = await store.store_bytes(event.png, f"{ctx.call_id}-image.png")
                    outputs.append({"type": "image", "image": {"file_id": file["id"]}})
                    index = len(outputs) - 1
                    ctx.emit({"outputs": [{"index": index, **outputs[index]}]})
                    parts.append(
                        {
                            "type": "image_file",
                            "image_file": {"file_id": file["id"], "detail": "auto"},
                        }
                    )

        publisher = asyncio.get_running_loop().create_task(publish())
        try:
            result = await sandboxes.run(
                ctx.run["thread_id"],
                code,
                queue.put_nowait,
                files=files,
                new_session_note=had_before or None,
            )
        except SandboxUnavailable as exc:
            raise ToolError("server_error", str(exc)) from None
        except SandboxError as exc:
            raise ToolError(
                "server_error", f"code_interpreter's Python session could not start: {exc}"
            ) from None
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(publisher)
        citations: dict[str, str] = {}
        if store is not None:
            for produced in result.files:
                file = await store.store_bytes(produced.data, produced.name)
                citations[LINK_PREFIX + produced.name] = file["id"]
        return ToolResult(
            body={"input": code, "outputs": outputs},
            output=result.logs,
            citations=citations,
            message_parts=parts,
        )


register(CodeInterpreterTool())
