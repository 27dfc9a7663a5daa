"""Conformance: assistants/threads/messages CRUD, validation errors, auth (protocol notes §2-§4, §6)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from server_helpers import GET_WEATHER_TOOL, assert_error_envelope, raw_http

# --------------------------------------------------------------------------- assistants


def test_assistant_create_with_all_fields(client: Any, raw: Any, spec: Any) -> None:
    body = {
        "model": "echo",
        "name": "Full assistant",
        "description": "Has every field.",
        "instructions": "Be terse.",
        "tools": [{"type": "code_interpreter"}, GET_WEATHER_TOOL],
        "metadata": {"team": "qa", "n": "1"},
        "temperature": 0.5,
        "top_p": 0.9,
        "response_format": {"type": "json_object"},
    }
    r = raw.post("assistants", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    spec.validate(data, "AssistantObject")
    assert data["id"].startswith("asst_")
    assert data["object"] == "assistant"
    assert isinstance(data["created_at"], int)
    for key in ("model", "name", "description", "instructions", "metadata", "temperature", "top_p"):
        assert data[key] == body[key], key
    assert [t["type"] for t in data["tools"]] == ["code_interpreter", "function"]
    assert data["tools"][1]["function"]["description"] == "Current weather for a city."
    assert data["tools"][1]["function"]["name"] == "get_weather"
    assert data["tools"][1]["function"]["parameters"] == GET_WEATHER_TOOL["function"]["parameters"]
    assert data["response_format"] == {"type": "json_object"}

    # The strict SDK parses the same object.
    asst = client.beta.assistants.retrieve(data["id"])
    assert asst.id == data["id"]
    assert asst.name == "Full assistant"
    assert asst.metadata == {"team": "qa", "n": "1"}


def test_assistant_minimal_defaults(raw: Any, spec: Any) -> None:
    r = raw.post("assistants", json={"model": "echo"})
    assert r.status_code == 200, r.text
    data = r.json()
    spec.validate(data, "AssistantObject")
    assert data["name"] is None
    assert data["description"] is None
    assert data["instructions"] is None
    assert data["tools"] == []
    assert data["metadata"] == {}


def test_assistant_retrieve_modify_delete(client: Any, raw: Any, spec: Any) -> None:
    asst = client.beta.assistants.create(model="echo", name="before", metadata={"a": "1"})
    got = raw.get(f"assistants/{asst.id}")
    assert got.status_code == 200
    spec.validate(got.json(), "AssistantObject")
    assert got.json()["name"] == "before"

    mod = raw.post(
        f"assistants/{asst.id}",
        json={"name": "after", "instructions": "new", "metadata": {"b": "2"}, "model": "gpt-4o"},
    )
    assert mod.status_code == 200, mod.text
    spec.validate(mod.json(), "AssistantObject")
    assert mod.json()["name"] == "after"
    assert mod.json()["instructions"] == "new"
    assert mod.json()["model"] == "gpt-4o"
    assert mod.json()["metadata"] == {"b": "2"}
    assert mod.json()["created_at"] == asst.created_at

    again = client.beta.assistants.retrieve(asst.id)
    assert (again.name, again.instructions, again.metadata) == ("after", "new", {"b": "2"})

    # Modify with an empty body is a no-op, not an error.
    noop = raw.post(f"assistants/{asst.id}", json={})
    assert noop.status_code == 200, noop.text
    assert noop.json()["name"] == "after"

    deleted = raw.delete(f"assistants/{asst.id}")
    assert deleted.status_code == 200
    spec.validate(deleted.json(), "DeleteAssistantResponse")
    assert deleted.json() == {"id": asst.id, "object": "assistant.deleted", "deleted": True}

    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.assistants.retrieve(asst.id)
    assert exc.value.body["message"] == f"No assistant found with id '{asst.id}'."
    assert exc.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.delete(asst.id)


def test_assistant_sdk_delete(client: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    res = client.beta.assistants.delete(asst.id)
    assert res.deleted is True and res.id == asst.id and res.object == "assistant.deleted"


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o", "gpt-4-turbo", "gpt-4o-mini"])
def test_assistant_alias_models_accepted(client: Any, model: str) -> None:
    asst = client.beta.assistants.create(model=model)
    assert asst.model == model


def test_assistant_list_validates(client: Any, raw: Any, spec: Any) -> None:
    client.beta.assistants.create(model="echo")
    r = raw.get("assistants", params={"limit": 5})
    assert r.status_code == 200
    spec.validate(r.json(), "ListAssistantsResponse")
    assert r.json()["object"] == "list"


def test_unknown_ids_404(client: Any) -> None:
    cases = [
        (lambda: client.beta.assistants.retrieve("asst_nope"), "assistant", "asst_nope"),
        (lambda: client.beta.assistants.update("asst_nope", name="x"), "assistant", "asst_nope"),
        (lambda: client.beta.threads.retrieve("thread_nope"), "thread", "thread_nope"),
        (lambda: client.beta.threads.update("thread_nope", metadata={}), "thread", "thread_nope"),
        (lambda: client.beta.threads.delete("thread_nope"), "thread", "thread_nope"),
        (
            lambda: client.beta.threads.messages.list("thread_nope"),
            "thread",
            "thread_nope",
        ),
        (
            lambda: client.beta.threads.messages.create("thread_nope", role="user", content="x"),
            "thread",
            "thread_nope",
        ),
        (
            lambda: client.beta.threads.runs.list("thread_nope"),
            "thread",
            "thread_nope",
        ),
    ]
    for call, kind, obj_id in cases:
        with pytest.raises(openai.NotFoundError) as exc:
            call()
        assert exc.value.status_code == 404
        assert exc.value.body["message"] == f"No {kind} found with id '{obj_id}'."
        assert exc.value.type == "invalid_request_error"


def test_unknown_nested_ids_404(client: Any) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.messages.retrieve("msg_nope", thread_id=thread.id)
    assert exc.value.body["message"] == "No message found with id 'msg_nope'."
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.runs.retrieve("run_nope", thread_id=thread.id)
    assert exc.value.body["message"] == "No run found with id 'run_nope'."
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.cancel("run_nope", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.list("run_nope", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.runs.create(thread.id, assistant_id="asst_nope")
    assert exc.value.body["message"] == "No assistant found with id 'asst_nope'."


def test_message_from_other_thread_is_404(client: Any) -> None:
    t1 = client.beta.threads.create()
    t2 = client.beta.threads.create()
    msg = client.beta.threads.messages.create(t1.id, role="user", content="mine")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(msg.id, thread_id=t2.id)


# --------------------------------------------------------------------------- threads


def test_thread_crud(client: Any, raw: Any, spec: Any) -> None:
    r = raw.post("threads", json={"metadata": {"k": "v"}})
    assert r.status_code == 200, r.text
    data = r.json()
    spec.validate(data, "ThreadObject")
    assert data["id"].startswith("thread_")
    assert data["object"] == "thread"
    assert data["metadata"] == {"k": "v"}
    tid = data["id"]

    got = raw.get(f"threads/{tid}")
    assert got.status_code == 200
    spec.validate(got.json(), "ThreadObject")
    assert got.json() == data

    mod = raw.post(f"threads/{tid}", json={"metadata": {"k": "w", "x": "y"}})
    assert mod.status_code == 200, mod.text
    spec.validate(mod.json(), "ThreadObject")
    assert mod.json()["metadata"] == {"k": "w", "x": "y"}
    assert client.beta.threads.retrieve(tid).metadata == {"k": "w", "x": "y"}

    deleted = raw.delete(f"threads/{tid}")
    assert deleted.status_code == 200
    spec.validate(deleted.json(), "DeleteThreadResponse")
    assert deleted.json() == {"id": tid, "object": "thread.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.retrieve(tid)
    assert exc.value.body["message"] == f"No thread found with id '{tid}'."
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(tid)


def test_thread_create_with_messages(client: Any, spec: Any, raw: Any) -> None:
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "second"},
            {"role": "user", "content": [{"type": "text", "text": "third"}]},
        ],
        metadata={"origin": "test"},
    )
    r = raw.get(f"threads/{thread.id}/messages", params={"order": "asc"})
    assert r.status_code == 200
    spec.validate(r.json(), "ListMessagesResponse")
    msgs = r.json()["data"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert [m["content"][0]["text"]["value"] for m in msgs] == ["first", "second", "third"]
    for m in msgs:
        spec.validate(m, "MessageObject")
        assert m["thread_id"] == thread.id
        assert m["run_id"] is None
        assert m["assistant_id"] is None
        assert m["status"] == "completed"


def test_empty_body_posts_tolerated(server: Any, spec: Any) -> None:
    """The SDK sends `content-type: application/json` with no body (threads.create(), cancel)."""
    with raw_http(server) as http:
        r = http.post("threads", headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        spec.validate(r.json(), "ThreadObject")
        assert r.json()["metadata"] == {}
        r2 = http.post("threads", json={})
        assert r2.status_code == 200, r2.text
        spec.validate(r2.json(), "ThreadObject")


def test_sdk_thread_create_without_args(client: Any) -> None:
    thread = client.beta.threads.create()
    assert thread.object == "thread"
    assert thread.metadata == {}


# --------------------------------------------------------------------------- messages


def test_message_crud(client: Any, raw: Any, spec: Any) -> None:
    thread = client.beta.threads.create()
    r = raw.post(
        f"threads/{thread.id}/messages",
        json={"role": "user", "content": "hello there", "metadata": {"m": "1"}},
    )
    assert r.status_code == 200, r.text
    data = r.json()
    spec.validate(data, "MessageObject")
    assert data["id"].startswith("msg_")
    assert data["object"] == "thread.message"
    assert data["thread_id"] == thread.id
    assert data["role"] == "user"
    assert data["status"] == "completed"
    assert data["content"] == [
        {"type": "text", "text": {"value": "hello there", "annotations": []}}
    ]
    assert data["metadata"] == {"m": "1"}
    assert data["run_id"] is None
    assert data["assistant_id"] is None
    mid = data["id"]

    got = raw.get(f"threads/{thread.id}/messages/{mid}")
    assert got.status_code == 200
    spec.validate(got.json(), "MessageObject")
    assert got.json() == data

    mod = raw.post(f"threads/{thread.id}/messages/{mid}", json={"metadata": {"m": "2"}})
    assert mod.status_code == 200, mod.text
    spec.validate(mod.json(), "MessageObject")
    assert mod.json()["metadata"] == {"m": "2"}
    assert mod.json()["content"] == data["content"]

    msg = client.beta.threads.messages.retrieve(mid, thread_id=thread.id)
    assert msg.metadata == {"m": "2"}

    deleted = raw.delete(f"threads/{thread.id}/messages/{mid}")
    assert deleted.status_code == 200
    spec.validate(deleted.json(), "DeleteMessageResponse")
    assert deleted.json() == {"id": mid, "object": "thread.message.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.messages.retrieve(mid, thread_id=thread.id)
    assert exc.value.body["message"] == f"No message found with id '{mid}'."
    assert client.beta.threads.messages.list(thread.id).data == []


def test_message_content_as_parts(client: Any, raw: Any, spec: Any) -> None:
    thread = client.beta.threads.create()
    parts = [
        {"type": "text", "text": "part one"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "text", "text": "part two"},
    ]
    r = raw.post(f"threads/{thread.id}/messages", json={"role": "user", "content": parts})
    assert r.status_code == 200, r.text
    data = r.json()
    spec.validate(data, "MessageObject")
    content = data["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "text"]
    assert content[0]["text"] == {"value": "part one", "annotations": []}
    assert content[1]["image_url"]["url"] == "https://example.com/cat.png"
    assert content[1]["image_url"]["detail"] == "low"
    assert content[2]["text"] == {"value": "part two", "annotations": []}

    msg = client.beta.threads.messages.create(
        thread.id, role="assistant", content=[{"type": "text", "text": "sdk parts"}]
    )
    assert msg.role == "assistant"
    assert msg.content[0].type == "text"
    assert msg.content[0].text.value == "sdk parts"


def test_message_bad_role_and_content(raw: Any, client: Any) -> None:
    thread = client.beta.threads.create()
    path = f"threads/{thread.id}/messages"
    for body in (
        {"role": "system", "content": "x"},
        {"role": "user"},
        {"content": "x"},
        {"role": "user", "content": []},
        {"role": "user", "content": 5},
        {"role": "user", "content": [{"type": "bogus"}]},
        {"role": "user", "content": [{"type": "text"}]},
    ):
        assert_error_envelope(raw.post(path, json=body), 400)


# --------------------------------------------------------------------------- metadata limits


def _metadata_cases() -> list[tuple[dict[str, str], bool]]:
    return [
        ({f"k{i}": "v" for i in range(16)}, True),
        ({f"k{i}": "v" for i in range(17)}, False),
        ({"k" * 64: "v"}, True),
        ({"k" * 65: "v"}, False),
        ({"k": "v" * 512}, True),
        ({"k": "v" * 513}, False),
    ]


@pytest.mark.parametrize(("metadata", "ok"), _metadata_cases())
def test_metadata_limits_assistant(raw: Any, metadata: dict[str, str], ok: bool) -> None:
    r = raw.post("assistants", json={"model": "echo", "metadata": metadata})
    if ok:
        assert r.status_code == 200, r.text
        assert r.json()["metadata"] == metadata
    else:
        assert_error_envelope(r, 400)


@pytest.mark.parametrize(("metadata", "ok"), _metadata_cases())
def test_metadata_limits_thread_and_message(
    raw: Any, client: Any, metadata: dict[str, str], ok: bool
) -> None:
    r = raw.post("threads", json={"metadata": metadata})
    thread = client.beta.threads.create()
    r2 = raw.post(f"threads/{thread.id}", json={"metadata": metadata})
    r3 = raw.post(
        f"threads/{thread.id}/messages", json={"role": "user", "content": "x", "metadata": metadata}
    )
    for resp in (r, r2, r3):
        if ok:
            assert resp.status_code == 200, resp.text
            assert resp.json()["metadata"] == metadata
        else:
            assert_error_envelope(resp, 400)


def test_metadata_values_must_be_strings(raw: Any) -> None:
    assert_error_envelope(raw.post("assistants", json={"model": "echo", "metadata": {"a": 1}}), 400)
    assert_error_envelope(raw.post("assistants", json={"model": "echo", "metadata": ["a"]}), 400)


def test_sdk_metadata_error_is_bad_request(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.create(metadata={f"k{i}": "v" for i in range(17)})
    assert exc.value.status_code == 400
    assert exc.value.type == "invalid_request_error"


# --------------------------------------------------------------------------- request validation


def test_unknown_parameter_rejected(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.assistants.create(model="echo", extra_body={"foo": 1})
    assert exc.value.code == "unknown_parameter"
    assert exc.value.type == "invalid_request_error"
    assert "foo" in exc.value.body["message"]
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.messages.create(
            thread.id, role="user", content="x", extra_body={"bogus_field": True}
        )
    assert exc.value.code == "unknown_parameter"
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.create(extra_body={"nope": 1})
    assert exc.value.code == "unknown_parameter"


def test_missing_required_parameter(raw: Any) -> None:
    err = assert_error_envelope(raw.post("assistants", json={"name": "no model"}), 400)
    assert err["code"] == "missing_required_parameter"
    assert err["param"] == "model"
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "body",
    [
        {"model": 123},
        {"model": "echo", "name": 5},
        {"model": "echo", "temperature": "hot"},
        {"model": "echo", "temperature": 3},
        {"model": "echo", "top_p": 1.5},
        {"model": "echo", "tools": "code_interpreter"},
        {"model": "echo", "tools": [{"type": "no_such_tool"}]},
        {"model": "echo", "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
        {"model": "echo", "metadata": "x"},
        {"model": "echo", "name": "n" * 257},
        {"model": "echo", "description": "d" * 513},
        {"model": "echo", "response_format": {"type": "nope"}},
    ],
)
def test_wrong_types_are_400(raw: Any, body: dict[str, Any]) -> None:
    assert_error_envelope(raw.post("assistants", json=body), 400)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"model": "echo",}', b"[]", b'"just a string"', b"null", b"\xff\xfe"],
)
def test_malformed_json_is_400(server: Any, content: bytes) -> None:
    with raw_http(server) as http:
        r = http.post("assistants", content=content, headers={"content-type": "application/json"})
        assert_error_envelope(r, 400)
        r2 = http.post("threads", content=content, headers={"content-type": "application/json"})
        if content == b"null":
            assert r2.status_code in (200, 400), r2.text
        else:
            assert_error_envelope(r2, 400)


def test_oversized_body_rejected(server: Any) -> None:
    huge = "x" * (20 * 1024 * 1024)
    with raw_http(server, timeout=60.0) as http:
        r = http.post(
            "assistants",
            content=json.dumps({"model": "echo", "instructions": huge}).encode(),
            headers={"content-type": "application/json"},
        )
        assert_error_envelope(r, (400, 413))
        # The server is still healthy afterwards.
        assert http.get("models").status_code == 200


def test_bad_query_params_are_400(raw: Any) -> None:
    for params in ({"limit": "abc"}, {"order": "sideways"}, {"limit": "-1"}):
        assert_error_envelope(raw.get("assistants", params=params), 400)


def test_unknown_route_is_404_envelope(raw: Any) -> None:
    r = raw.get("no/such/route")
    assert_error_envelope(r, 404)


def test_wrong_method_is_4xx_envelope(raw: Any) -> None:
    r = raw.put("assistants", json={})
    assert_error_envelope(r, (404, 405))


# --------------------------------------------------------------------------- auth


def test_missing_bearer_key_is_401(server: Any) -> None:
    with raw_http(server, api_key="") as http:
        for method, path in (
            ("GET", "models"),
            ("GET", "assistants"),
            ("POST", "threads"),
            ("GET", "threads/thread_x"),
        ):
            r = http.request(method, path, json={} if method == "POST" else None)
            err = assert_error_envelope(r, 401)
            assert err["code"] == "invalid_api_key"
            assert err["type"] == "invalid_request_error"


def test_bad_bearer_key_is_401(server: Any) -> None:
    with raw_http(server, api_key="sk-wrong") as http:
        err = assert_error_envelope(http.get("assistants"), 401)
        assert err["code"] == "invalid_api_key"
        # Not a bearer scheme at all.
        r = http.get("assistants", headers={"Authorization": f"Basic {server.api_key}"})
        assert_error_envelope(r, 401)
    bad = openai.OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as exc:
        bad.beta.assistants.list()
    assert exc.value.status_code == 401
    assert exc.value.code == "invalid_api_key"


# --------------------------------------------------------------------------- models


def test_models_list(client: Any, raw: Any) -> None:
    models = client.models.list()
    ids = {m.id for m in models.data}
    assert {"echo", "gpt-4", "gpt-4o", "gpt-4-turbo", "gpt-4o-mini"} <= ids
    for m in models.data:
        assert m.object == "model"
        assert isinstance(m.created, int)
        assert isinstance(m.owned_by, str)
    r = raw.get("models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    for m in body["data"]:
        assert set(m) >= {"id", "object", "created", "owned_by"}


# --------------------------------------------------------------------------- runs/steps schemas


def test_run_and_step_bodies_validate(client: Any, raw: Any, spec: Any) -> None:
    asst = client.beta.assistants.create(model="echo", instructions="Echo things.")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="validate me")
    r = raw.post(f"threads/{thread.id}/runs", json={"assistant_id": asst.id})
    assert r.status_code == 200, r.text
    spec.validate(r.json(), "RunObject")
    run_id = r.json()["id"]
    client.beta.threads.runs.poll(run_id, thread_id=thread.id, poll_interval_ms=50)

    got = raw.get(f"threads/{thread.id}/runs/{run_id}")
    spec.validate(got.json(), "RunObject")
    runs = raw.get(f"threads/{thread.id}/runs")
    spec.validate(runs.json(), "ListRunsResponse")
    steps = raw.get(f"threads/{thread.id}/runs/{run_id}/steps")
    assert steps.status_code == 200
    spec.validate(steps.json(), "ListRunStepsResponse")
    step_id = steps.json()["data"][0]["id"]
    step = raw.get(f"threads/{thread.id}/runs/{run_id}/steps/{step_id}")
    assert step.status_code == 200
    spec.validate(step.json(), "RunStepObject")
    msgs = raw.get(f"threads/{thread.id}/messages")
    spec.validate(msgs.json(), "ListMessagesResponse")
    for m in msgs.json()["data"]:
        spec.validate(m, "MessageObject")
    mod = raw.post(f"threads/{thread.id}/runs/{run_id}", json={"metadata": {"x": "1"}})
    assert mod.status_code == 200, mod.text
    spec.validate(mod.json(), "RunObject")


def test_empty_lists_validate(client: Any, raw: Any, spec: Any) -> None:
    thread = client.beta.threads.create()
    msgs = raw.get(f"threads/{thread.id}/messages").json()
    spec.validate(msgs, "ListMessagesResponse")
    assert msgs == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    runs = raw.get(f"threads/{thread.id}/runs").json()
    spec.validate(runs, "ListRunsResponse")
    assert runs["data"] == [] and runs["has_more"] is False


def test_run_action_bodies_validate(client: Any, raw: Any, spec: Any) -> None:
    """create-and-run, submit_tool_outputs and cancel responses are RunObjects too."""
    asst = client.beta.assistants.create(model="echo", tools=[GET_WEATHER_TOOL])
    r = raw.post(
        "threads/runs",
        json={
            "assistant_id": asst.id,
            "thread": {
                "messages": [{"role": "user", "content": '/call get_weather {"city": "Oslo"}'}]
            },
        },
    )
    assert r.status_code == 200, r.text
    run = r.json()
    spec.validate(run, "RunObject")
    assert run["thread_id"].startswith("thread_")
    polled = client.beta.threads.runs.poll(
        run["id"], thread_id=run["thread_id"], poll_interval_ms=20
    )
    assert polled.status == "requires_action"
    got = raw.get(f"threads/{run['thread_id']}/runs/{run['id']}")
    spec.validate(got.json(), "RunObject")
    steps = raw.get(f"threads/{run['thread_id']}/runs/{run['id']}/steps")
    spec.validate(steps.json(), "ListRunStepsResponse")
    call_id = got.json()["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    sub = raw.post(
        f"threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs",
        json={"tool_outputs": [{"tool_call_id": call_id, "output": "cold"}]},
    )
    assert sub.status_code == 200, sub.text
    spec.validate(sub.json(), "RunObject")
    client.beta.threads.runs.poll(run["id"], thread_id=run["thread_id"], poll_interval_ms=20)

    thread = client.beta.threads.create(messages=[{"role": "user", "content": "/sleep 2000"}])
    r2 = raw.post(f"threads/{thread.id}/runs", json={"assistant_id": asst.id})
    cancel = raw.post(f"threads/{thread.id}/runs/{r2.json()['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    spec.validate(cancel.json(), "RunObject")
    client.beta.threads.runs.poll(r2.json()["id"], thread_id=thread.id, poll_interval_ms=20)


def test_modify_only_allowed_fields(client: Any, raw: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "fixed"}])
    msg = client.beta.threads.messages.list(thread.id).data[0]
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    err = assert_error_envelope(
        raw.post(f"threads/{thread.id}/messages/{msg.id}", json={"content": "changed"}), 400
    )
    assert err["code"] == "unknown_parameter"
    err = assert_error_envelope(
        raw.post(f"threads/{thread.id}/runs/{run.id}", json={"status": "failed"}), 400
    )
    assert err["code"] == "unknown_parameter"
    err = assert_error_envelope(raw.post(f"threads/{thread.id}", json={"messages": []}), 400)
    assert err["code"] == "unknown_parameter"
    assert client.beta.threads.messages.retrieve(msg.id, thread_id=thread.id).content[
        0
    ].text.value == ("fixed")
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_deleted_assistant_cannot_run(client: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    client.beta.assistants.delete(asst.id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError) as exc:
        client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
    assert exc.value.body["message"] == f"No assistant found with id '{asst.id}'."
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.create_and_run(assistant_id=asst.id)


def test_unicode_and_multiline_round_trip(client: Any, raw: Any) -> None:
    text = 'héllo 世界 🎉\nsecond line\t"quoted" \\ back'
    thread = client.beta.threads.create()
    msg = client.beta.threads.messages.create(thread.id, role="user", content=text)
    assert msg.content[0].text.value == text
    got = raw.get(f"threads/{thread.id}/messages/{msg.id}")
    assert got.json()["content"][0]["text"]["value"] == text
    big = "word " * 20000
    big_msg = client.beta.threads.messages.create(thread.id, role="user", content=big)
    assert big_msg.content[0].text.value == big


def test_streaming_endpoints_need_auth(server: Any) -> None:
    with raw_http(server, api_key="sk-nope") as http:
        r = http.post("threads/runs", json={"assistant_id": "asst_x", "stream": True})
        assert_error_envelope(r, 401)
        r = http.post("threads/thread_x/runs", json={"assistant_id": "asst_x", "stream": True})
        assert_error_envelope(r, 401)


def test_every_documented_request_field_accepted(client: Any, raw: Any, spec: Any) -> None:
    """No property the spec documents is refused as an unknown parameter."""
    json_schema_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "description": "An answer.",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
            "strict": True,
        },
    }
    r = raw.post(
        "assistants",
        json={
            "model": "echo",
            "name": "n",
            "description": "d",
            "instructions": "i",
            "reasoning_effort": "low",
            "tools": [GET_WEATHER_TOOL],
            "tool_resources": {"code_interpreter": {"file_ids": []}},
            "metadata": {"k": "v"},
            "temperature": 0.2,
            "top_p": 0.3,
            "response_format": json_schema_format,
        },
    )
    assert r.status_code == 200, r.text
    spec.validate(r.json(), "AssistantObject")
    assert r.json()["response_format"] == json_schema_format
    asst_id = r.json()["id"]
    mod = raw.post(
        f"assistants/{asst_id}",
        json={"reasoning_effort": "medium", "tool_resources": None, "response_format": "auto"},
    )
    assert mod.status_code == 200, mod.text
    assert mod.json()["response_format"] == "auto"

    t = raw.post(
        "threads",
        json={
            "messages": [
                {"role": "user", "content": "hi", "attachments": [], "metadata": {"m": "1"}}
            ],
            "tool_resources": {"code_interpreter": {"file_ids": []}},
            "metadata": {},
        },
    )
    assert t.status_code == 200, t.text
    spec.validate(t.json(), "ThreadObject")
    tid = t.json()["id"]
    assert raw.post(f"threads/{tid}", json={"tool_resources": {}}).status_code == 200

    forced = {"type": "function", "function": {"name": "get_weather"}}
    run = raw.post(
        f"threads/{tid}/runs",
        json={
            "assistant_id": asst_id,
            "model": "gpt-4o-mini",
            "reasoning_effort": "low",
            "instructions": "run instr",
            "additional_instructions": "more",
            "additional_messages": [{"role": "user", "content": "extra", "attachments": None}],
            "tools": [GET_WEATHER_TOOL],
            "metadata": {"r": "1"},
            "temperature": 0.4,
            "top_p": 0.5,
            "stream": False,
            "max_prompt_tokens": 1000,
            "max_completion_tokens": 1000,
            "truncation_strategy": {"type": "last_messages", "last_messages": 5},
            "tool_choice": forced,
            "parallel_tool_calls": False,
            "response_format": "auto",
        },
    )
    assert run.status_code == 200, run.text
    body = run.json()
    spec.validate(body, "RunObject")
    assert body["model"] == "gpt-4o-mini"
    assert body["max_prompt_tokens"] == 1000
    assert body["max_completion_tokens"] == 1000
    assert body["truncation_strategy"] == {"type": "last_messages", "last_messages": 5}
    assert body["tool_choice"] == forced
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == "auto"
    client.beta.threads.runs.poll(body["id"], thread_id=tid, poll_interval_ms=20)

    car = raw.post(
        "threads/runs",
        json={
            "assistant_id": asst_id,
            "thread": {"messages": [{"role": "user", "content": "x"}], "metadata": {"a": "b"}},
            "model": "echo",
            "instructions": "car",
            "tools": [GET_WEATHER_TOOL],
            "tool_resources": {"code_interpreter": {"file_ids": []}},
            "metadata": {"c": "d"},
            "temperature": 1,
            "top_p": 1,
            "stream": False,
            "max_prompt_tokens": 500,
            "max_completion_tokens": 500,
            "truncation_strategy": {"type": "auto"},
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "response_format": {"type": "text"},
        },
    )
    assert car.status_code == 200, car.text
    spec.validate(car.json(), "RunObject")
    assert car.json()["instructions"] == "car"
    assert client.beta.threads.retrieve(car.json()["thread_id"]).metadata == {"a": "b"}
    client.beta.threads.runs.poll(
        car.json()["id"], thread_id=car.json()["thread_id"], poll_interval_ms=20
    )
