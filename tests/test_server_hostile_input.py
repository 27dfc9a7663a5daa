# ruff: noqa: UP031  (JSON text templates: %-formatting keeps the braces readable)
"""Hostile request bodies: every one is a 400 envelope (never a 500), and nothing the server
accepts can break a later read (lone surrogates, huge integers, deep nesting, NaN/Infinity)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server_helpers import assert_error_envelope, raw_http


def _post(server: Any, path: str, text: str) -> Any:
    with raw_http(server) as http:
        return http.post(path, content=text.encode(), headers={"content-type": "application/json"})


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _deep_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 1):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def _function_tool(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


LONE = '"\\ud800"'  # the JSON text of a string holding a lone surrogate


@pytest.fixture
def thread_id(client: Any) -> str:
    return client.beta.threads.create().id


@pytest.mark.parametrize(
    "template",
    [
        '{"model": "echo", "name": %s}',
        '{"model": "echo", "metadata": {"k": %s}}',
        '{"model": "echo", "metadata": {%s: "v"}}',
        '{"model": "echo", "instructions": "ok \\udc00 then"}',
    ],
)
def test_lone_surrogate_in_assistant_is_400(server: Any, template: str) -> None:
    text = template % LONE if "%s" in template else template
    error = assert_error_envelope(_post(server, "assistants", text), 400)
    assert "surrogate" in error["message"]


def test_lone_surrogate_in_message_content_is_400(server: Any, thread_id: str) -> None:
    body = '{"role": "user", "content": %s}' % LONE
    assert_error_envelope(_post(server, f"threads/{thread_id}/messages", body), 400)
    body = '{"messages": [{"role": "user", "content": [{"type": "text", "text": %s}]}]}' % LONE
    assert_error_envelope(_post(server, "threads", body), 400)


def test_surrogate_pairs_are_fine(server: Any, thread_id: str) -> None:
    body = '{"role": "user", "content": "smile \\ud83d\\ude00"}'
    r = _post(server, f"threads/{thread_id}/messages", body)
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"]["value"] == "smile \U0001f600"


def test_lone_surrogate_in_tool_output_is_400(client: Any, server: Any) -> None:
    from server_helpers import CALL_WEATHER, GET_WEATHER_TOOL, wait_for_run

    assistant = client.beta.assistants.create(model="echo", tools=[GET_WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": CALL_WEATHER}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = wait_for_run(client, thread.id, run.id, {"requires_action"})
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    body = '{"tool_outputs": [{"tool_call_id": "%s", "output": %s}]}' % (call_id, LONE)
    path = f"threads/{thread.id}/runs/{run.id}/submit_tool_outputs"
    assert_error_envelope(_post(server, path, body), 400)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


@pytest.mark.parametrize(
    "number",
    ["9" * 5000, "9223372036854775808", "-9223372036854775809", "1" + "0" * 30],
    ids=["5000-digits", "int64-max+1", "int64-min-1", "1e30-as-int"],
)
def test_integers_outside_int64_are_400(server: Any, number: str) -> None:
    text = '{"model": "echo", "tools": [{"type": "file_search", "file_search": {"max_num_results": %s}}]}'
    assert_error_envelope(_post(server, "assistants", text % number), 400)
    text = '{"model": "echo", "tools": [%s]}' % json.dumps(_function_tool({"type": "object"}))
    text = text.replace('"object"}', '"object", "maxLength": %s}' % number)
    assert_error_envelope(_post(server, "assistants", text), 400)


def test_int64_bounds_are_accepted_inside_parameters(server: Any, client: Any) -> None:
    params = {"type": "integer", "maximum": 9223372036854775807, "minimum": -9223372036854775808}
    assistant = client.beta.assistants.create(model="echo", tools=[_function_tool(params)])
    assert client.beta.assistants.retrieve(assistant.id).tools[0].function.parameters == params


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_400(server: Any, constant: str) -> None:
    error = assert_error_envelope(
        _post(server, "assistants", '{"model": "echo", "temperature": %s}' % constant), 400
    )
    assert error["message"]
    text = '{"model": "echo", "tools": [%s]}' % json.dumps(_function_tool({"type": "object"}))
    text = text.replace('"object"}', '"object", "default": %s}' % constant)
    assert_error_envelope(_post(server, "assistants", text), 400)


def test_listing_stays_json_after_non_finite_attempts(server: Any) -> None:
    _post(server, "assistants", '{"model": "echo", "temperature": NaN}')
    with raw_http(server) as http:
        r = http.get("assistants", params={"limit": 100})
    assert r.status_code == 200
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"bare {c} in a list body"))


@pytest.mark.parametrize("depth", [65, 200, 958, 5000, 100_000])
def test_deep_nesting_outside_parameters_is_400(server: Any, depth: int) -> None:
    error = assert_error_envelope(
        _post(server, "assistants", '{"model": "echo", "metadata": %s}' % _nested(depth)), 400
    )
    assert "nest" in error["message"]
    error = assert_error_envelope(_post(server, "threads", _nested(depth, "{}")), 400)


def test_deep_parameters_are_400(server: Any) -> None:
    for levels in (33, 479, 5000):
        tool = _function_tool(_deep_schema(levels)) if levels < 400 else None
        text = (
            json.dumps({"model": "echo", "tools": [tool]})
            if tool
            else '{"model": "echo", "tools": [{"type": "function", "function": {"name": "f", '
            '"parameters": %s}}]}' % ('{"a":' * levels * 2 + "1" + "}" * levels * 2)
        )
        error = assert_error_envelope(_post(server, "assistants", text), 400)
        assert "nest" in error["message"] or "levels" in error["message"], error


def test_accepted_deep_parameters_never_break_reads(server: Any, client: Any) -> None:
    """The deepest accepted schema (32 levels) reads back through GET and the list."""
    tool = _function_tool(_deep_schema(32))
    r = _post(server, "assistants", json.dumps({"model": "echo", "tools": [tool]}))
    assert r.status_code == 200, r.text
    assistant_id = r.json()["id"]
    with raw_http(server) as http:
        assert http.get(f"assistants/{assistant_id}").status_code == 200
        listed = http.get("assistants", params={"limit": 100})
        assert listed.status_code == 200, listed.text
    assert client.beta.assistants.retrieve(assistant_id).tools[0].function.parameters
    assert any(a.id == assistant_id for a in client.beta.assistants.list(limit=100).data)


def test_deep_json_schema_response_format_is_400(server: Any) -> None:
    body = {
        "model": "echo",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": _deep_schema(40)},
        },
    }
    assert_error_envelope(_post(server, "assistants", json.dumps(body)), 400)


def test_server_healthy_after_hostile_bodies(server: Any) -> None:
    for text in (
        '{"model": "echo", "name": %s}' % LONE,
        '{"model": "echo", "temperature": %s}' % ("9" * 5000),
        _nested(100_000),
    ):
        assert_error_envelope(_post(server, "assistants", text), 400)
    with raw_http(server) as http:
        assert http.get("models").status_code == 200
        assert http.get("assistants", params={"limit": 100}).status_code == 200


@pytest.mark.parametrize("tag", ["{}", "[]", "[1]", "null", "3"])
def test_non_string_type_tags_are_400(server: Any, thread_id: str, tag: str) -> None:
    """Found by schemathesis: a dict `type` in a tagged object was hashed → 500."""
    body = '{"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": [{"type": %s}]}]}'
    assert_error_envelope(_post(server, f"threads/{thread_id}/messages", body % tag), 400)
    text = '{"model": "echo", "tools": [{"type": %s}]}' % tag
    assert_error_envelope(_post(server, "assistants", text), 400)
