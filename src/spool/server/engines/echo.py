"""The deterministic `echo` engine (DESIGN.md): tests, demos and benchmarks rely on its contract.

- `You said: <last user message>`, one word per delta (a space stays with the word after it);
- `/call NAME {json}` calls function NAME (when the run has it); after the output is submitted
  it answers `NAME returned: <output>`;
- `/long N`: N words of Markdown (headings, lists, a fenced code block every 200 words);
- `/fail`: the run fails with `server_error`; `/sleep MS`: waits, then `slept MS`;
- `/search QUERY` calls file_search (when the run has it) with `{"query": QUERY}`; given its
  results it answers `Top result: "<first 20 words of the best chunk>" <its citation marker>`
  (or `No results.`);
- `/code SOURCE` calls code_interpreter (when the run has it) with `{"code": SOURCE}`, streamed
  in a few fragments; given its output it answers `Code output: <the logs, stripped>` (or
  `Code output: (none)`).
One token = one whitespace-separated word.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator

from spool.server.engines.base import (
    ChatMessage,
    EngineError,
    EngineEvent,
    EngineRequest,
    Finish,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from spool.server.objects import new_id

_CALL = re.compile(r"/call\s+([A-Za-z0-9_-]+)\s*(.*)", re.DOTALL)
_LONG = re.compile(r"/long\s+(\d+)\s*")
_SLEEP = re.compile(r"/sleep\s+(\d+)\s*")
_SEARCH = re.compile(r"/search\s+(.+)", re.DOTALL)
_CODE = re.compile(r"/code[ \t\n](.+)", re.DOTALL)

_LOREM = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "streams",
    "of",
    "tokens",
    "flow",
    "through",
    "terminal",
    "windows",
    "and",
    "assistants",
    "answer",
    "every",
    "question",
    "with",
    "patience",
    "and",
    "care",
]


def _long_section(section: int) -> str:
    """About 200 words of Markdown: a heading, a paragraph, a list, a fenced code block."""
    lorem = _LOREM
    paragraph = " ".join(lorem[(section + i) % len(lorem)] for i in range(60))
    items = "\n".join(
        "- " + " ".join(lorem[(section * 3 + i * 8 + j) % len(lorem)] for j in range(7))
        for i in range(5)
    )
    code = "\n".join(
        f"    value_{i} = step_{section}_{i}(value_{i - 1}) + {i} * scale" for i in range(1, 9)
    )
    after = " ".join(lorem[(section * 7 + i) % len(lorem)] for i in range(35))
    return (
        f"## Section {section}\n\n{paragraph}\n\n{items}\n\n"
        f"```python\ndef compute_{section}(scale):\n{code}\n    return value_8\n```\n\n{after}"
    )


def long_markdown_words(n: int) -> Iterator[str]:
    """N words (deltas) of Markdown, a fenced code block in every 200 or so."""
    produced = 0
    section = 0
    while True:
        section += 1
        text = _long_section(section) if section == 1 else "\n\n" + _long_section(section)
        for word in _words(text, keep_leading=section > 1):
            if produced >= n:
                return
            produced += 1
            yield word


def _words(text: str, *, keep_leading: bool = False) -> Iterator[str]:
    """One whitespace-separated word per item; whitespace stays with the word that follows."""
    for i, match in enumerate(re.finditer(r"\s*\S+", text)):
        yield match.group(0) if i or keep_leading else match.group(0).lstrip()


def count_words(text: str) -> int:
    return len(text.split())


class EchoEngine:
    """The deterministic model. `delay_ms` is the pause between deltas (`--echo-delay-ms`)."""

    def __init__(self, delay_ms: int = 0) -> None:
        self.delay = max(delay_ms, 0) / 1000

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return sum(count_words(m.content) for m in messages)

    async def aclose(self) -> None:
        return None

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineEvent]:
        prompt_tokens = self.count_tokens(request.messages)
        last = request.messages[-1] if request.messages else ChatMessage("user", "")
        if last.role == "tool":
            outputs = []
            for message in reversed(request.messages):
                if message.role != "tool":
                    break
                if message.name == "file_search":
                    outputs.append(search_reply(message.content))
                elif message.name == "code_interpreter":
                    outputs.append(f"Code output: {message.content.strip() or '(none)'}")
                else:
                    outputs.append(f"{message.name} returned: {message.content}")
            async for event in self._reply("\n".join(reversed(outputs)), request, prompt_tokens):
                yield event
            return
        users = [m for m in request.messages if m.role == "user"]
        text = users[-1].content.strip() if users else ""
        call = _CALL.fullmatch(text)
        tools = {t["name"] for t in request.tools}
        if call and call.group(1) in tools and request.tool_choice != "none":
            async for event in self._call(call.group(1), call.group(2), prompt_tokens):
                yield event
            return
        search = _SEARCH.fullmatch(text)
        if search and "file_search" in tools and request.tool_choice != "none":
            query = json.dumps({"query": search.group(1).strip()})
            async for event in self._call("file_search", query, prompt_tokens):
                yield event
            return
        code = _CODE.fullmatch(users[-1].content.lstrip() if users else "")
        if code and "code_interpreter" in tools and request.tool_choice != "none":
            arguments = json.dumps({"code": code.group(1)})
            size = max(8, -(-len(arguments) // 4))  # a few fragments, however long
            async for event in self._call("code_interpreter", arguments, prompt_tokens, size=size):
                yield event
            return
        if text == "/fail":
            raise EngineError("The echo engine failed this run on request (/fail).")
        if match := _SLEEP.fullmatch(text):
            await asyncio.sleep(int(match.group(1)) / 1000)
            reply = f"slept {match.group(1)}"
        elif match := _LONG.fullmatch(text):
            words = long_markdown_words(int(match.group(1)))
            async for event in self._words(words, request, prompt_tokens):
                yield event
            return
        else:
            reply = f"You said: {text}"
        async for event in self._reply(reply, request, prompt_tokens):
            yield event

    async def _call(
        self, name: str, raw_args: str, prompt_tokens: int, *, size: int = 8
    ) -> AsyncIterator[EngineEvent]:
        raw_args = raw_args.strip() or "{}"
        try:
            arguments = json.dumps(json.loads(raw_args))
        except json.JSONDecodeError as exc:
            raise EngineError(f"/call {name}: the arguments are not valid JSON ({exc})") from exc
        yield ToolCallDelta(index=0, id=new_id("call_"), name=name, arguments="")
        for fragment in _fragments(arguments, size):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield ToolCallDelta(index=0, arguments=fragment)
        yield Finish("tool_calls", Usage(prompt_tokens, count_words(arguments)))

    async def _reply(
        self, text: str, request: EngineRequest, prompt_tokens: int
    ) -> AsyncIterator[EngineEvent]:
        async for event in self._words(_words(text), request, prompt_tokens):
            yield event

    async def _words(
        self, words: Iterator[str], request: EngineRequest, prompt_tokens: int
    ) -> AsyncIterator[EngineEvent]:
        budget = request.max_tokens
        produced = 0
        for word in words:
            if budget is not None and produced >= budget:
                yield Finish("length", Usage(prompt_tokens, produced))
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            elif produced % 64 == 63:
                await asyncio.sleep(0)  # stay cancellable and let the loop breathe
            produced += 1
            yield TextDelta(word)
        yield Finish("stop", Usage(prompt_tokens, produced))


def search_reply(output: str) -> str:
    """The echo answer to file_search results: the best chunk's first 20 words and its marker."""
    try:
        results = json.loads(output).get("results") or []
    except (ValueError, AttributeError):
        results = []
    if not results:
        return "No results."
    best = results[0]
    words = " ".join(str(best.get("text", "")).split()[:20])
    return f'Top result: "{words}" {best.get("marker", "")}'.rstrip()


def _fragments(arguments: str, size: int = 8) -> Iterator[str]:
    for start in range(0, len(arguments), size):
        yield arguments[start : start + size]
