"""Citations: `file_citation` annotations → numbered markers `[n]` and a list of sources, and the
cited chunk in the context of its file. One owner for `spool ask`, the TUI and export.

* `Footnotes` learns annotations (whole ones or streamed deltas, SDK objects or dicts), replaces
  each marker (e.g. `【0:0†guide.md】`) by `[n]` (one number per cited file, in citation order)
  and lists the sources.
* `cited_chunk` finds what a source cites: the file_search results of the run's steps (with
  `include[]` content) give the chunk; the file's parsed text from a vector store of the run
  (`GET /vector_stores/{id}/files/{file_id}/content`) gives its context.

No Textual here; `client` is an `openai.AsyncOpenAI`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
# 【call:position†name】 as spool's server (and OpenAI's service) writes them
MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")
CONTEXT_CHARS = 600  # text shown before and after a chunk


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


@dataclass(slots=True)
class Source:
    """One cited file: its number, name and the markers that cite it."""

    number: int
    file_id: str
    name: str
    markers: list[str] = field(default_factory=list)


@dataclass
class Footnotes:
    """Citation markers in a reply → `[n]`, one number per cited file, in citation order."""

    names: dict[str, str] = field(default_factory=dict)  # file id -> file name
    numbers: dict[str, int] = field(default_factory=dict)  # file id -> n
    markers: dict[str, str] = field(default_factory=dict)  # marker text -> file id

    def add(self, annotations: list[Any] | None) -> bool:
        """Learn the file_citation annotations of a text part (or delta); True if any is new."""
        new = False
        for annotation in annotations or []:
            if _get(annotation, "type") != "file_citation":
                continue
            file_id = _get(_get(annotation, "file_citation"), "file_id")
            text = _get(annotation, "text")
            if not file_id or not text or self.markers.get(text) == file_id:
                continue
            self.markers[text] = file_id
            self.numbers.setdefault(file_id, len(self.numbers) + 1)
            new = True
        return new

    def add_message(self, message: Any) -> bool:
        """Learn the annotations of every text part of an SDK message (or message delta)."""
        new = False
        content = _get(message, "content")
        if content is None and _get(message, "delta") is not None:
            content = _get(_get(message, "delta"), "content")
        for part in content or []:
            if _get(part, "type") == "text" and _get(part, "text") is not None:
                new = self.add(_get(_get(part, "text"), "annotations")) or new
        return new

    def __len__(self) -> int:
        return len(self.numbers)

    def __bool__(self) -> bool:  # (an empty Footnotes is still a Footnotes)
        return True

    def show(self, text: str, template: str = "[{n}]") -> str:
        """The text with every known marker replaced by its `[n]` (or `template`, e.g. the
        Markdown footnote reference `[^{n}]`)."""
        if not self.markers:
            return text
        pattern = "|".join(re.escape(m) for m in sorted(self.markers, key=len, reverse=True))
        return re.sub(
            pattern, lambda m: template.format(n=self.numbers[self.markers[m.group(0)]]), text
        )

    def name(self, file_id: str) -> str:
        """The file's name: known, else the one in its marker, else its id."""
        if file_id in self.names:
            return self.names[file_id]
        for marker, fid in self.markers.items():
            found = MARKER.fullmatch(marker)
            if fid == file_id and found and found.group(3) not in ("", "source"):
                return found.group(3)
        return file_id

    def sources(self) -> list[Source]:
        """Every cited file, by number."""
        out = [
            Source(n, file_id, self.name(file_id))
            for file_id, n in sorted(self.numbers.items(), key=lambda item: item[1])
        ]
        by_id = {s.file_id: s for s in out}
        for marker, file_id in self.markers.items():
            by_id[file_id].markers.append(marker)
        return out

    def lines(self) -> list[str]:
        """`[n] file name` for every cited file."""
        return [f"[{s.number}] {s.name}" for s in self.sources()]

    def unnamed(self) -> list[str]:
        """Cited file ids whose name is not known yet."""
        return [file_id for file_id in self.numbers if file_id not in self.names]


def cited_text(text: str, notes: Footnotes) -> str:
    """A reply as it is copied: markers as `[n]`, then a `[n] file name` line per source."""
    if not len(notes):
        return text
    return notes.show(text).rstrip() + "\n\n" + "\n".join(notes.lines())


async def learn_names(client: Any, footnotes: Footnotes, cache: dict[str, str]) -> bool:
    """Look up the names of cited files (`files.retrieve`, remembered in `cache`); True if a
    name was learnt. A file that is gone keeps the name in its marker."""
    learnt = False
    for file_id in footnotes.unnamed():
        if file_id not in cache:
            try:
                cache[file_id] = (await client.files.retrieve(file_id)).filename or ""
            except Exception:
                cache[file_id] = ""
        if cache[file_id]:
            footnotes.names[file_id] = cache[file_id]
            learnt = True
    return learnt


# --- the cited chunk in context -----------------------------------------------------------------
@dataclass(slots=True)
class Passage:
    """A cited chunk and the file text around it (`before`/`after` are "" when unknown)."""

    text: str
    score: float | None = None
    before: str = ""
    after: str = ""
    found: bool = False  # located in the file's parsed text


@dataclass(slots=True)
class CitedChunk:
    """What a source cites: its passages, and a note when something could not be shown."""

    file_id: str
    name: str
    passages: list[Passage] = field(default_factory=list)
    store_id: str | None = None
    note: str = ""


def _results(steps: list[Any]) -> list[list[Any]]:
    """The results of every file_search call of a run, in call order."""
    calls: list[list[Any]] = []
    for step in steps:
        details = _get(step, "step_details")
        if _get(details, "type") != "tool_calls":
            continue
        for call in _get(details, "tool_calls") or []:
            if _get(call, "type") == "file_search":
                calls.append(list(_get(_get(call, "file_search"), "results") or []))
    return calls


def _result_text(result: Any) -> str:
    return "".join(_get(c, "text") or "" for c in _get(result, "content") or [])


def chunks_for(steps: list[Any], source: Source) -> list[Passage]:
    """The chunks `source` cites, from the run's steps (fetched with `include[]` content).

    A marker `【k:p†…】` names result p of the run's k-th file_search call; a marker of another
    shape (or one that does not match) falls back to the file's best result."""
    calls = _results(steps)
    picked: list[Any] = []
    for marker in source.markers:
        found = MARKER.fullmatch(marker)
        if found:
            k, p = int(found.group(1)), int(found.group(2))
            if k < len(calls) and p < len(calls[k]):
                result = calls[k][p]
                if _get(result, "file_id") == source.file_id:
                    picked.append(result)
    if not picked:
        best = [r for results in calls for r in results if _get(r, "file_id") == source.file_id]
        best.sort(key=lambda r: -(_get(r, "score") or 0.0))
        picked = best[:1]
    out: list[Passage] = []
    seen: set[str] = set()
    for result in picked:
        text = _result_text(result)
        if text and text not in seen:
            seen.add(text)
            out.append(Passage(text, _get(result, "score")))
    return out


def locate(passage: Passage, document: str, context: int = CONTEXT_CHARS) -> Passage:
    """Fill `before`/`after` from the file's text (exact match, else whitespace-insensitive)."""
    start = document.find(passage.text)
    end = start + len(passage.text)
    if start < 0:
        words = passage.text.split()
        if not words:
            return passage
        pattern = r"\s+".join(re.escape(w) for w in words)
        found = re.search(pattern, document)
        if found is None:
            return passage
        start, end = found.span()
    cut = max(0, start - context)
    before = document[cut:start]
    if cut > 0:
        before = "…" + before[before.find(" ") + 1 :] if " " in before else "…" + before
    after = document[end : end + context]
    if end + context < len(document):
        after = (after[: after.rfind(" ")] if " " in after else after) + "…"
    return Passage(passage.text, passage.score, before, after, True)


async def run_store_ids(client: Any, thread_id: str, assistant_id: str | None) -> list[str]:
    """The vector stores a run of this thread and assistant searched (thread's, assistant's)."""
    ids: list[str] = []
    owners: list[Any] = []
    with contextlib.suppress(Exception):
        owners.append(await client.beta.threads.retrieve(thread_id))
    if assistant_id:
        with contextlib.suppress(Exception):
            owners.append(await client.beta.assistants.retrieve(assistant_id))
    for owner in owners:
        search = _get(_get(owner, "tool_resources"), "file_search")
        ids += list(_get(search, "vector_store_ids") or [])
    return list(dict.fromkeys(ids))


async def file_text(client: Any, store_ids: list[str], file_id: str) -> tuple[str | None, str]:
    """The file's parsed text from the first of `store_ids` that has it: (text, store id)."""
    for store_id in store_ids:
        try:
            page = await client.vector_stores.files.content(file_id, vector_store_id=store_id)
        except Exception:
            continue
        return "".join(_get(part, "text") or "" for part in page.data), store_id
    return None, ""


async def cited_chunk(
    client: Any,
    *,
    thread_id: str,
    run_id: str | None,
    source: Source,
    context: int = CONTEXT_CHARS,
) -> CitedChunk:
    """The chunks `source` cites with the file text around them (see the module docstring)."""
    out = CitedChunk(source.file_id, source.name)
    run = None
    steps: list[Any] = []
    if run_id:
        try:
            run = await client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            page = await client.beta.threads.runs.steps.list(
                run_id, thread_id=thread_id, limit=100, order="asc", include=[INCLUDE_CONTENT]
            )
            steps = list(page.data)
        except Exception as exc:
            out.note = f"Could not load the run's steps: {exc}"
    out.passages = chunks_for(steps, source)
    stores = await run_store_ids(client, thread_id, _get(run, "assistant_id"))
    document, store_id = await file_text(client, stores, source.file_id)
    out.store_id = store_id or None
    if document is None:
        if not out.note:
            out.note = "The file is in none of the run's vector stores now: no context to show."
        if not out.passages:
            out.note = "The server did not say which chunk was cited. " + out.note
        return out
    if not out.passages:
        out.note = "The server did not say which chunk was cited: the file's start is shown."
        out.passages = [Passage(document[: context * 2], None, "", "", False)]
        return out
    out.passages = [locate(p, document, context) for p in out.passages]
    return out
