"""The `file_search` server-side tool: searches the run's vector stores (the assistant's and the
thread's), records the results in the step, and hands the model the passages with citation
markers (`【n:i†file name】`) that the run manager turns into `file_citation` annotations.

Defaults as OpenAI's: `max_num_results` 20 (5 for gpt-3.5 models), `score_threshold` 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

from spool.server.retrieval import search
from spool.server.tools import ToolContext, ToolResult, register

log = logging.getLogger("spool.server")

INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
_UNSAFE = re.compile(r"[【】\s]+")
INDEXING_WAIT_S = 60.0


def max_results(config: dict[str, Any], model: str) -> int:
    """The tool's `max_num_results`, or OpenAI's default for the model."""
    value = (config.get("file_search") or {}).get("max_num_results")
    if value:
        return int(value)
    return 5 if model.startswith("gpt-3.5") else 20


def ranking_options(config: dict[str, Any]) -> dict[str, Any]:
    options = (config.get("file_search") or {}).get("ranking_options") or {}
    ranker = options.get("ranker") or "auto"
    return {
        "ranker": "default_2024_08_21" if ranker == "auto" else ranker,
        "score_threshold": float(options.get("score_threshold") or 0.0),
    }


def marker(ordinal: int, position: int, file_name: str) -> str:
    """The citation marker of a result (no brackets or whitespace inside the name)."""
    return f"【{ordinal}:{position}†{_UNSAFE.sub('_', file_name) or 'source'}】"


async def store_ids(ctx: ToolContext) -> list[str]:
    """The union of the assistant's and the thread's file_search vector stores."""
    db = ctx.services.db
    ids: list[str] = []
    for table, key in (("assistants", "assistant_id"), ("threads", "thread_id")):
        owner = await db.get(table, ctx.run[key]) or {}
        resources = owner.get("tool_resources") or {}
        ids += (resources.get("file_search") or {}).get("vector_store_ids") or []
    return list(dict.fromkeys(ids))


class FileSearchTool:
    """Search the run's vector stores (see the module docstring)."""

    type = "file_search"

    def function(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "file_search",
            "description": (
                "Search the files the user attached (documents, notes, code). Returns the "
                "most relevant passages, each with a citation marker such as 【0:0†name.txt】. "
                "Answer from the passages and write the marker of each passage you use right "
                "after the sentence it supports."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "string",
                        "description": "What to look for, in a few keywords or a question.",
                    }
                },
                "required": ["query"],
            },
        }

    def initial(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def arguments_delta(self, fragment: str, so_far: str) -> dict[str, Any] | None:
        return None

    async def run(self, ctx: ToolContext, arguments: str) -> ToolResult:
        query = _query(arguments)
        options = ranking_options(ctx.config)
        limit = max_results(ctx.config, ctx.run.get("model") or "")
        stores = ctx.services.stores
        usable = []
        if stores is not None:
            for store_id in await store_ids(ctx):
                try:
                    store = await stores.get(store_id)
                except Exception:
                    log.info("run %s: vector store %s is gone", ctx.run["id"], store_id)
                    continue
                if store["status"] == "expired":
                    continue
                await stores.touch(store)
                usable.append(store_id)
        await _wait_for_indexing(stores, usable)
        db = ctx.services.db
        found = (
            await search.search_async(
                db,
                usable,
                [query],
                max_results=limit,
                score_threshold=options["score_threshold"],
                embedder=stores.embedder if stores is not None else None,
            )
            if usable and query
            else []
        )
        results = []
        passages = []
        citations: dict[str, str] = {}
        for position, hit in enumerate(found):
            file = await ctx.services.files.get(hit.file_id) if ctx.services.files else None
            name = file["filename"] if file else hit.file_id
            results.append(
                {
                    "file_id": hit.file_id,
                    "file_name": name,
                    "score": hit.score,
                    "content": [{"type": "text", "text": hit.text}],
                }
            )
            cite = marker(ctx.ordinal, position, name)
            citations[cite] = hit.file_id
            passages.append({"marker": cite, "file_name": name, "text": hit.text})
        output = json.dumps(
            {
                "query": query,
                "results": passages,
                "note": "Cite a passage by writing its marker exactly as given."
                if passages
                else "No passage matched the query.",
            },
            ensure_ascii=False,
        )
        # `query` is spool's extension (OpenAI's call object has none): clients show what was
        # searched for
        body = {"ranking_options": options, "results": results, "query": query}
        return ToolResult(body=body, output=output, citations=citations)

    def public(self, body: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
        if INCLUDE_CONTENT in include or not body.get("results"):
            return body
        return {
            **body,
            "results": [
                {k: v for k, v in result.items() if k != "content"} for result in body["results"]
            ],
        }


async def _wait_for_indexing(stores: Any, store_ids: list[str]) -> None:
    """Files still being indexed are waited for (up to `INDEXING_WAIT_S`), as OpenAI did."""
    deadline = time.monotonic() + INDEXING_WAIT_S
    waiting = list(store_ids)
    while waiting and time.monotonic() < deadline:
        waiting = [i for i in waiting if (await stores.get(i))["file_counts"]["in_progress"]]
        if waiting:
            await asyncio.sleep(0.05)


def _query(arguments: str) -> str:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return arguments.strip()
    if isinstance(parsed, dict):
        value = parsed.get("query") or parsed.get("queries") or ""
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        return str(value).strip()
    return str(parsed).strip()


register(FileSearchTool())
