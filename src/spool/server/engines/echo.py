"""The deterministic `echo` engine (DESIGN.md): tests, demos and benchmarks rely on its contract.

- `You said: <last user message>`, one word per delta (a space stays with the word after it);
- `/call NAME {json}` calls function NAME (when the run has it); after the output is submitted
  it answers `NAME returned: <output>`;
- `/long N`: N words of Markdown (headings, lists, a fenced code block every 200 words);
- `/fail`: the run fails with `server_error`; `/sleep MS`: waits, then `slept MS`.
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


def long_markdown_words(n: int) -> Iterator[str]:
    """N words of Markdown: a heading, paragraphs, lists and a fenced code block every 200."""
    produced = 0
    section = 0

    def emit(word: str) -> Iterator[str]:
        nonlocal produced
        if produced < n:
            produced += 1
            yield word

    while produced < n:
        section += 1
        yield from emit(
            f"## Section {section}\n\n" if produced == 0 else f"\n\n## Section {section}\n\n"
        )
        for i in range(60):
            yield from emit(("" if i == 0 else " ") + _LOREM[(section + i) % len(_LOREM)])
        yield from emit("\n\n- item")
        for i in range(40):
            yield from emit((" " if i % 8 else "\n- ") + _LOREM[(section * 3 + i) % len(_LOREM)])
        yield from emit("\n\n```python\ndef")
        for i in range(40):
            yield from emit(f" step_{section}_{i}()" if i % 5 else f"\n    value_{i} =")
        yield from emit("\n```\n\nAfter")
        for i in range(56):
            yield from emit(" " + _LOREM[(section * 7 + i) % len(_LOREM)])


def _words(text: str) -> Iterator[str]:
    """Split keeping each space with the word that follows it."""
    for i, match in enumerate(re.finditer(r"\s*\S+", text)):
        yield match.group(0) if i else match.group(0).lstrip()


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
                outputs.append(f"{message.name} returned: {message.content}")
            async for event in self._reply("\n".join(reversed(outputs)), request, prompt_tokens):
                yield event
            return
        text = last.content.strip() if last.role == "user" else ""
        call = _CALL.fullmatch(text)
        tools = {t["name"] for t in request.tools}
        if call and call.group(1) in tools and request.tool_choice != "none":
            async for event in self._call(call.group(1), call.group(2), prompt_tokens):
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
        self, name: str, raw_args: str, prompt_tokens: int
    ) -> AsyncIterator[EngineEvent]:
        raw_args = raw_args.strip() or "{}"
        try:
            arguments = json.dumps(json.loads(raw_args))
        except json.JSONDecodeError as exc:
            raise EngineError(f"/call {name}: the arguments are not valid JSON ({exc})") from exc
        yield ToolCallDelta(index=0, id=new_id("call_"), name=name, arguments="")
        for fragment in _fragments(arguments):
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


def _fragments(arguments: str, size: int = 8) -> Iterator[str]:
    for start in range(0, len(arguments), size):
        yield arguments[start : start + size]
