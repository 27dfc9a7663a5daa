"""file_search with the `openai` engine against a scripted chat-completions upstream: the
upstream model sees `file_search` as a function, calls it, reads the passages (with their
citation markers) from the tool message, and its marker becomes a `file_citation`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from loopback import LoopbackServer
from retrieval_helpers import wait_store
from server_helpers import message_text


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


class Upstream:
    """Calls file_search first; then answers with the first passage's marker."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""
        self._server: Any = None

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import StreamingResponse
        from starlette.routing import Route

        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
            if not tool_messages:
                call = {
                    "index": 0,
                    "id": "call_up1",
                    "type": "function",
                    "function": {"name": "file_search", "arguments": '{"query": "wick"}'},
                }
                parts = [_chunk({"tool_calls": [call]}), _chunk({}, "tool_calls")]
            else:
                found = json.loads(tool_messages[-1]["content"])["results"][0]
                answer = ["The wick is trimmed ", "every four hours ", found["marker"][:5],
                          found["marker"][5:], "."]  # fmt: skip
                parts = [_chunk({"content": piece}) for piece in answer]
                parts.append(_chunk({}, "stop"))
            parts.append("data: [DONE]\n\n")

            async def gen():
                for part in parts:
                    yield part
                    await asyncio.sleep(0)

            return StreamingResponse(gen(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    def start(self) -> None:
        self._server = LoopbackServer(self.app())
        self.base_url = self._server.start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    server.start()
    yield server
    server._server.stop()


def test_openai_engine_calls_file_search_and_cites(start_server, upstream, spec) -> None:
    config = f'default_model = "echo"\n\n[models.up]\nengine = "openai"\nbase_url = "{upstream.base_url}"\n'
    server = start_server(config_toml=config)
    with server.client() as client:
        file = client.files.create(
            file=("lamp.md", b"The keeper trims the wick every four hours at night."),
            purpose="assistants",
        )
        store = client.vector_stores.create(file_ids=[file.id])
        wait_store(client, store.id)
        assistant = client.beta.assistants.create(
            model="up",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "How often is the wick trimmed?"}]
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed", run.last_error
        reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
        spec.validate(reply.model_dump(mode="json", exclude_unset=True), "MessageObject")
        text = reply.content[0].text
        assert message_text(reply) == "The wick is trimmed every four hours 【0:0†lamp.md】."
        (annotation,) = text.annotations
        assert annotation.file_citation.file_id == file.id
        assert text.value[annotation.start_index : annotation.end_index] == "【0:0†lamp.md】"
    first, second = upstream.requests
    offered = [t["function"]["name"] for t in first["tools"]]
    assert offered == ["file_search"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "file_search"
    assert "trims the wick" in second["messages"][-1]["content"]
