"""file_search in runs, end to end through the real SDK (strict) against `spool serve`: the
File Search workflow (upload, vector store, assistant with file_search, a cited answer), the
`tool_calls` step, `include[]` content, exact `file_citation` annotations streamed once and
stored, tool_resources helpers, attachments into the thread's own store, max_num_results."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from retrieval_helpers import dump, files_spec, wait_store  # noqa: F401
from server_helpers import (
    GET_WEATHER_TOOL,
    message_text,
    raw_http,
    stream_raw,
    validate_frames,
)

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
GUIDE = (
    b"# Lighthouse keeping\n\nThe keeper lights the lamp at dusk and trims the wick every "
    b"four hours during the night watch.\n\nFog signals sound every thirty seconds when "
    b"visibility drops below two miles.\n"
)
OTHER = b"Sourdough bread needs a starter fed with flour and water every day.\n"


def _store_with_docs(client: Any) -> tuple[Any, dict[str, str]]:
    guide = client.files.create(file=("lighthouse.md", GUIDE), purpose="assistants")
    other = client.files.create(file=("bread.txt", OTHER), purpose="assistants")
    store = client.vector_stores.create(name="Manuals")
    batch = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("extra.txt", b"Extra notes about nothing.")]
    )
    assert batch.status == "completed"
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=guide.id)
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=other.id)
    return store, {"guide": guide.id, "other": other.id}


def test_the_file_search_workflow_with_citations(client, spec, files_spec):  # noqa: F811
    store, ids = _store_with_docs(client)
    assistant = client.beta.assistants.create(
        name="Keeper",
        instructions="Answer from the manuals.",
        model="gpt-4o",
        tools=[{"type": "file_search"}],
    )
    assistant = client.beta.assistants.update(
        assistant.id, tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    assert assistant.tool_resources.file_search.vector_store_ids == [store.id]
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "/search how often is the wick trimmed"}]
    )
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        stream.until_done()
        final = stream.get_final_messages()
    run = stream.current_run
    assert run.status == "completed", run.last_error

    message = final[-1]
    text = message.content[0].text
    assert text.value.startswith('Top result: "# Lighthouse keeping The keeper lights the lamp')
    (annotation,) = text.annotations
    assert annotation.type == "file_citation"
    assert annotation.file_citation.file_id == ids["guide"]
    assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    assert annotation.text == "【0:0†lighthouse.md】"
    assert text.value.endswith(annotation.text)

    stored = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert dump(stored.content[0]) == dump(message.content[0])
    spec.validate(dump(stored), "MessageObject")

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
    spec.validate(dump(steps), "ListRunStepsResponse")
    tool_step, message_step = steps.data
    assert tool_step.type == "tool_calls" and tool_step.status == "completed"
    (call,) = tool_step.step_details.tool_calls
    assert call.type == "file_search"
    assert call.file_search.ranking_options.ranker == "default_2024_08_21"
    assert call.file_search.ranking_options.score_threshold == 0
    best = call.file_search.results[0]
    assert (best.file_id, best.file_name) == (ids["guide"], "lighthouse.md")
    assert 0 < best.score <= 1
    assert best.content is None  # only with include[]
    detailed = client.beta.threads.runs.steps.retrieve(
        tool_step.id, thread_id=thread.id, run_id=run.id, include=[INCLUDE]
    )
    spec.validate(dump(detailed), "RunStepObject")
    content = detailed.step_details.tool_calls[0].file_search.results[0].content
    assert "trims the wick every four hours" in content[0].text
    listed = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[INCLUDE])
    assert listed.data[-1].step_details.tool_calls[0].file_search.results[0].content
    assert message_step.step_details.message_creation.message_id == message.id


def test_stream_events_and_annotation_sent_once(client, server, spec):
    store, ids = _store_with_docs(client)
    assistant = client.beta.assistants.create(
        model="echo",
        tools=[{"type": "file_search", "file_search": {"max_num_results": 1}}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="/search sourdough")
    with raw_http(server) as http:
        _, frames = stream_raw(
            http,
            f"threads/{thread.id}/runs",
            {"assistant_id": assistant.id, "stream": True},
        )
    validate_frames(spec, frames)
    events = [f.event for f in frames]
    assert events[:8] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.step.completed",
        "thread.run.step.created",
    ]
    intro = frames[5].json()["delta"]["step_details"]["tool_calls"][0]
    assert intro["type"] == "file_search" and intro["file_search"] == {}
    completed = frames[6].json()
    results = completed["step_details"]["tool_calls"][0]["file_search"]["results"]
    assert len(results) == 1 and "content" not in results[0]  # max_num_results, no content
    assert results[0]["file_id"] == ids["other"]

    value = ""
    annotations: list[dict[str, Any]] = []
    for frame in frames:
        if frame.event == "thread.message.delta":
            text = frame.json()["delta"]["content"][0]["text"]
            for annotation in text.get("annotations") or []:
                annotations.append(annotation)
                start, end = annotation["start_index"], annotation["end_index"]
                assert (value + text["value"])[start:end] == annotation["text"]
            value += text["value"]
    assert len(annotations) == 1 and annotations[0]["index"] == 0
    assert annotations[0]["file_citation"] == {"file_id": ids["other"]}
    done = next(f.json() for f in frames if f.event == "thread.message.completed")
    assert done["content"][0]["text"]["value"] == value
    stored_annotation = done["content"][0]["text"]["annotations"][0]
    assert stored_annotation == {k: v for k, v in annotations[0].items() if k != "index"}


def test_attachments_go_to_the_thread_store(client, files_spec):  # noqa: F811
    file = client.files.create(file=("otters.txt", b"Sea otters hold hands while sleeping."),
                               purpose="assistants")  # fmt: skip
    assistant = client.beta.assistants.create(model="echo", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "/search what do otters do while sleeping",
                "attachments": [{"file_id": file.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    (store_id,) = thread.tool_resources.file_search.vector_store_ids
    store = client.vector_stores.retrieve(store_id)
    files_spec.validate(dump(store), "VectorStoreObject")
    assert store.expires_after.days == 7
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert "Sea otters hold hands" in message_text(reply)
    assert reply.content[0].text.annotations[0].file_citation.file_id == file.id

    # a second message's attachment lands in the same store
    other = client.files.create(file=("b.txt", b"Beavers build dams."), purpose="assistants")
    client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="/search beavers",
        attachments=[{"file_id": other.id, "tools": [{"type": "file_search"}]}],
    )
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids == [
        store_id
    ]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert "Beavers build dams" in message_text(reply)

    with pytest.raises(openai.BadRequestError):
        client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": "file-missing", "tools": [{"type": "file_search"}]}],
        )


def test_vector_store_helper_no_results_and_no_tool(client):
    file = client.files.create(file=("k.txt", b"Kiwis are flightless birds."), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="echo",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id]}]}},
    )
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    wait_store(client, store_id)
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="/search zzzqqq")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert message_text(reply) == "No results."
    assert reply.content[0].text.annotations == []

    plain = client.beta.assistants.create(model="echo")  # no file_search: /search is just text
    client.beta.threads.messages.create(thread.id, role="user", content="/search kiwis")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=plain.id)
    assert run.status == "completed"
    reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert message_text(reply) == "You said: /search kiwis"

    with pytest.raises(openai.BadRequestError):
        client.beta.assistants.create(
            model="echo",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": ["vs_missing"]}},
        )


def test_default_max_num_results(client):
    from spool.server.tools.file_search import max_results

    assert max_results({"type": "file_search"}, "gpt-4o") == 20
    assert max_results({"type": "file_search"}, "gpt-3.5-turbo") == 5
    assert max_results({"type": "file_search", "file_search": {"max_num_results": 3}}, "x") == 3
    store = client.vector_stores.create()
    files = [
        client.files.create(file=(f"n{i}.txt", f"needle {i} haystack".encode()),
                            purpose="assistants").id
        for i in range(7)
    ]  # fmt: skip
    client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=files)
    thread = client.beta.threads.create(
        tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    for model, expected in (("gpt-4o", 7), ("echo", 7)):
        assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}])
        client.beta.threads.messages.create(thread.id, role="user", content="/search needle")
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[-1]
        assert len(step.step_details.tool_calls[0].file_search.results) == expected


def test_file_search_beside_a_function_tool(client):
    """A run with both: /call still goes to the client; /search is answered by the server."""
    store, _ = _store_with_docs(client)
    assistant = client.beta.assistants.create(
        model="echo",
        tools=[{"type": "file_search"}, GET_WEATHER_TOOL],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="/search fog signals")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.required_action is None
    client.beta.threads.messages.create(
        thread.id, role="user", content='/call get_weather {"city": "Paris"}'
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "9C"}]
    )
    assert run.status == "completed"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
