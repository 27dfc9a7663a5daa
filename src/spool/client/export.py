"""Exporting a thread to Markdown or JSON (`spool export`; the TUI can call it too).

`export_thread(client, thread_id, fmt)` fetches the thread, all its messages (auto-paging,
oldest first), its runs and their steps, and returns the text:

* `json`: `{"thread": {...}, "messages": [...], "runs": [...], "footnotes": [...]}`, the API
  objects as dicts (`model_dump(mode="json")`); each run dict carries an extra `"steps"` list
  with its run steps; `footnotes` lists the cited files (`number`, `file_id`, `file_name`,
  `markers`, `message_ids`), numbered as in the Markdown.
* `md`: a title, every turn under a level-2 heading with its author (`User`, or the assistant's
  name) and time, the function calls of each run as fenced JSON (arguments and output) inside
  the assistant's turn where they happened, and a line for runs that did not complete. Headings
  inside messages are moved down two levels, so they cannot be mistaken for turns. Citations
  become Markdown footnotes: `[^n]` in the text (one number per cited file, across the thread),
  `[^n]: file name` after the message that first cites the file.

No Textual here; `client` is an `openai.AsyncOpenAI` (or anything with the same `beta.threads`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spool.client.citations import Footnotes

FORMATS = ("md", "json")
PAGE_LIMIT = 100
TITLE_MAX = 80
_UNFINISHED = {"failed", "cancelled", "expired", "incomplete"}


@dataclass
class ThreadDump:
    """Everything fetched for one thread: SDK objects, oldest first."""

    thread: Any
    messages: list[Any] = field(default_factory=list)
    runs: list[Any] = field(default_factory=list)
    steps: dict[str, list[Any]] = field(default_factory=dict)  # run id -> its steps
    assistants: dict[str, str] = field(default_factory=dict)  # assistant id -> name
    file_names: dict[str, str] = field(default_factory=dict)  # cited file id -> file name


def message_text(message: Any) -> str:
    """The text of an SDK Message (images as Markdown links)."""
    parts: list[str] = []
    for part in getattr(message, "content", None) or []:
        kind = getattr(part, "type", None)
        if kind == "text" and getattr(part, "text", None) is not None:
            parts.append(part.text.value or "")
        elif kind == "image_file":
            parts.append(f"![image]({part.image_file.file_id})")
        elif kind == "image_url":
            parts.append(f"![image]({part.image_url.url})")
        elif kind == "refusal":
            parts.append(f"(refused: {getattr(part, 'refusal', '')})")
    return "".join(parts)


def title_from(text: str) -> str:
    """A thread title from a message: its first non-blank line, trimmed."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:TITLE_MAX]
    return ""


async def fetch_thread(client: Any, thread_id: str, *, steps: bool = True) -> ThreadDump:
    """Fetch the thread, all messages and runs (ascending), and each run's steps."""
    threads = client.beta.threads
    dump = ThreadDump(thread=await threads.retrieve(thread_id))
    async for message in threads.messages.list(thread_id, order="asc", limit=PAGE_LIMIT):
        dump.messages.append(message)
    async for run in threads.runs.list(thread_id, order="asc", limit=PAGE_LIMIT):
        dump.runs.append(run)
    if steps:
        for run in dump.runs:
            dump.steps[run.id] = [
                step
                async for step in threads.runs.steps.list(
                    run.id, thread_id=thread_id, order="asc", limit=PAGE_LIMIT
                )
            ]
    ids = {m.assistant_id for m in dump.messages if getattr(m, "assistant_id", None)}
    ids |= {r.assistant_id for r in dump.runs if getattr(r, "assistant_id", None)}
    for assistant_id in sorted(ids):
        try:
            assistant = await client.beta.assistants.retrieve(assistant_id)
        except Exception:  # deleted since, or not ours to see: keep the generic name
            continue
        if assistant.name:
            dump.assistants[assistant_id] = assistant.name
    cited = footnotes(dump)
    for file_id in cited.unnamed():
        try:
            dump.file_names[file_id] = (await client.files.retrieve(file_id)).filename
        except Exception:  # deleted since: the name in its marker, else its id
            continue
    return dump


def footnotes(dump: ThreadDump) -> Footnotes:
    """The thread's citations, numbered in the order the messages cite their files."""
    notes = Footnotes(names=dict(dump.file_names))
    for message in dump.messages:
        notes.add_message(message)
    return notes


async def export_thread(client: Any, thread_id: str, fmt: str, *, title: str | None = None) -> str:
    """The thread as Markdown (`md`) or JSON (`json`); `title` overrides the derived one."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use one of: {', '.join(FORMATS)})")
    dump = await fetch_thread(client, thread_id)
    if fmt == "json":
        return to_json(dump)
    return to_markdown(dump, title=title)


# --- JSON -------------------------------------------------------------------------------------
def _dump(obj: Any) -> Any:
    return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj


def to_json(dump: ThreadDump) -> str:
    """`{"thread", "messages", "runs"}` as indented JSON (runs carry their `steps`)."""
    runs = []
    for run in dump.runs:
        data = _dump(run)
        data["steps"] = [_dump(s) for s in dump.steps.get(run.id, [])]
        runs.append(data)
    notes = footnotes(dump)
    cited_in: dict[str, list[str]] = {}
    for message in dump.messages:
        one = Footnotes()
        one.add_message(message)
        for file_id in one.numbers:
            cited_in.setdefault(file_id, []).append(message.id)
    doc = {
        "thread": _dump(dump.thread),
        "messages": [_dump(m) for m in dump.messages],
        "runs": runs,
        "footnotes": [
            {
                "number": s.number,
                "file_id": s.file_id,
                "file_name": s.name,
                "markers": s.markers,
                "message_ids": cited_in.get(s.file_id, []),
            }
            for s in notes.sources()
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- Markdown ---------------------------------------------------------------------------------
def format_time(timestamp: float | int | None) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS UTC` ("" for none)."""
    if not timestamp:
        return ""
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fenced(text: str, lang: str = "") -> str:
    """`text` in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _pretty_json(raw: str | None) -> tuple[str, str]:
    """(text, lang): pretty JSON when `raw` parses, else the raw text."""
    if raw is None:
        return "", "text"
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False), "json"
    except (TypeError, ValueError):
        return raw, "text"


def _tool_call_md(call: Any) -> str:
    kind = getattr(call, "type", "")
    if kind == "function":
        fn = call.function
        args, lang = _pretty_json(fn.arguments)
        lines = [f"**Tool call** `{fn.name}`", "", fenced(args, lang)]
        if fn.output is not None:
            out, out_lang = _pretty_json(fn.output)
            lines += ["", "Output:", "", fenced(out, out_lang)]
        else:
            lines += ["", "Output: *(none submitted)*"]
        return "\n".join(lines)
    if kind == "code_interpreter":
        ci = call.code_interpreter
        lines = ["**Code** (code_interpreter)", "", fenced(ci.input or "", "python")]
        outputs = ci.outputs or []
        logs = "".join(getattr(o, "logs", "") or "" for o in outputs if o.type == "logs")
        if logs:
            lines += ["", "Output:", "", fenced(logs.rstrip("\n"))]
        images = [o.image.file_id for o in outputs if o.type == "image" and o.image]
        if images:
            lines += ["", "Images: " + ", ".join(f"`{file_id}`" for file_id in images)]
        return "\n".join(lines)
    if kind == "file_search":
        results = getattr(call.file_search, "results", None) or []
        found = "; ".join(f"{r.file_name} ({r.score:.2f})" for r in results) or "no results"
        return f"**File search**: {found}"
    body = json.dumps(_dump(call), indent=2, ensure_ascii=False)
    return f"**Tool call** ({kind})\n\n{fenced(body, 'json')}"


def _tool_steps_md(steps: list[Any]) -> list[str]:
    blocks: list[str] = []
    for step in steps:
        details = step.step_details
        if getattr(details, "type", None) != "tool_calls":
            continue
        blocks.extend(_tool_call_md(call) for call in details.tool_calls or [])
    return blocks


def _run_note(run: Any) -> str | None:
    if run.status not in _UNFINISHED:
        return None
    reason = ""
    if run.last_error is not None:
        reason = f": {run.last_error.code}: {run.last_error.message}"
    elif run.incomplete_details is not None:
        reason = f": {run.incomplete_details.reason}"
    return f"> Run `{run.id}` {run.status}{reason}"


def to_markdown(dump: ThreadDump, *, title: str | None = None) -> str:
    """A readable Markdown transcript of the thread."""
    messages = dump.messages
    if not title:
        metadata = getattr(dump.thread, "metadata", None) or {}
        title = metadata.get("title") if isinstance(metadata, dict) else None
    if not title:
        first_user = next((m for m in messages if m.role == "user"), None)
        title = title_from(message_text(first_user)) if first_user else ""
    title = title or f"Thread {dump.thread.id}"

    # Place each run's tool calls (and a note when it did not complete) beside its messages:
    # before the message its steps preceded, after its last message otherwise.
    index_of = {m.id: i for i, m in enumerate(messages)}
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    head: list[str] = []
    for run in dump.runs:
        pending: list[Any] = []
        last_index: int | None = None
        for step in dump.steps.get(run.id, []):
            details = step.step_details
            if getattr(details, "type", None) == "message_creation":
                i = index_of.get(details.message_creation.message_id)
                if i is not None:
                    before.setdefault(i, []).extend(_tool_steps_md(pending))
                    pending = []
                    last_index = i if last_index is None else max(last_index, i)
            else:
                pending.append(step)
        if last_index is None:  # no message of its own: after the messages before it
            earlier = [i for i, m in enumerate(messages) if (m.created_at or 0) <= run.created_at]
            last_index = max(earlier) if earlier else None
        tail = _tool_steps_md(pending)
        note = _run_note(run)
        if note:
            tail.append(note)
        if tail:
            (after.setdefault(last_index, []) if last_index is not None else head).extend(tail)

    out = [f"# {title}", "", f"- Thread: `{dump.thread.id}`"]
    if created := format_time(getattr(dump.thread, "created_at", None)):
        out.append(f"- Created: {created}")
    out.append(f"- Messages: {len(messages)}")
    out.append("")
    run_assistant = {r.id: r.assistant_id for r in dump.runs}
    notes = footnotes(dump)
    defined: set[str] = set()  # cited files whose footnote is written

    def assistant_name(assistant_id: str | None) -> str:
        return dump.assistants.get(assistant_id or "", "") or "Assistant"

    def turn(heading: str, when: str = "") -> None:
        out.append(f"## {heading}" + (f" · {when}" if when else ""))
        out.append("")

    if head:
        turn(assistant_name(dump.runs[0].assistant_id if dump.runs else None))
        out.extend(block + "\n" for block in head)
    for i, message in enumerate(messages):
        when = format_time(message.created_at)
        if message.role == "user":
            calls = before.get(i, [])
            if calls:  # tool calls of a run that wrote no message before this one
                turn(assistant_name(None))
                out.extend(block + "\n" for block in calls)
            turn("User", when)
        else:
            who = message.assistant_id or run_assistant.get(message.run_id or "")
            turn(assistant_name(who), when)
            out.extend(block + "\n" for block in before.get(i, []))  # its calls, first
        text = demote_headings(notes.show(message_text(message), "[^{n}]").strip("\n"))
        out.append(text if text else "*(empty)*")
        out.append("")
        first = [s for s in notes.sources() if s.file_id not in defined and _cites(message, s)]
        for source in first:
            defined.add(source.file_id)
            out.append(f"[^{source.number}]: {source.name}")
        if first:
            out.append("")
        out.extend(block + "\n" for block in after.get(i, []))
    return "\n".join(out).rstrip("\n") + "\n"


def _cites(message: Any, source: Any) -> bool:
    one = Footnotes()
    one.add_message(message)
    return source.file_id in one.numbers


_HEADING = re.compile(r"^(#{1,6})(\s)")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def demote_headings(text: str) -> str:
    """Markdown headings in `text` moved down two levels (outside code fences), so that a
    message's own `## Title` cannot pass for a turn of the transcript."""
    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * len(opened.group(1))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            line = _HEADING.sub(lambda m: ("#" * min(6, len(m.group(1)) + 2)) + m.group(2), line)
        out.append(line)
    return "\n".join(out)
