"""Protocol points found by real clients: deleted list cursors, 405 with `Allow`, and one
rule for modify endpoints sent without a body."""

from __future__ import annotations

from typing import Any

import pytest

from server_helpers import assert_error_envelope, raw_http

# --------------------------------------------------------------------------- deleted cursors


def _messages(client: Any, n: int) -> tuple[str, list[str]]:
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
        for i in range(n)
    ]
    return thread.id, ids


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_after_a_deleted_cursor_resumes_at_its_position(client: Any, raw: Any, order: str) -> None:
    thread_id, ids = _messages(client, 6)
    listed = ids if order == "asc" else ids[::-1]
    client.beta.threads.messages.delete(listed[2], thread_id=thread_id)
    r = raw.get(f"threads/{thread_id}/messages", params={"order": order, "after": listed[2]})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["data"]] == listed[3:]
    r = raw.get(f"threads/{thread_id}/messages", params={"order": order, "before": listed[2]})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["data"]] == listed[:2]


def test_auto_pagination_survives_a_delete_at_the_page_boundary(client: Any) -> None:
    thread_id, ids = _messages(client, 6)
    page = client.beta.threads.messages.list(thread_id, order="asc", limit=2)
    assert [m.id for m in page.data] == ids[:2]
    client.beta.threads.messages.delete(ids[1], thread_id=thread_id)  # another client
    seen = [m.id for m in page]  # auto-pagination: the next request has after=<deleted id>
    assert seen == ids[:2] + ids[2:]


def test_deleted_assistant_cursor_resolves(client: Any, raw: Any) -> None:
    mine = [client.beta.assistants.create(model="echo", name=f"dc{i}").id for i in range(3)]
    client.beta.assistants.delete(mine[1])
    r = raw.get("assistants", params={"order": "asc", "after": mine[1], "limit": 100})
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["id"] == mine[2]


def test_cursor_from_another_list_is_400(client: Any, raw: Any) -> None:
    thread_a, _ = _messages(client, 2)
    thread_b, ids_b = _messages(client, 2)
    for cursor in (ids_b[0], "msg_never_existed"):
        for key in ("after", "before"):
            r = raw.get(f"threads/{thread_a}/messages", params={key: cursor})
            error = assert_error_envelope(r, 400)
            assert error["param"] == key
    # a deleted message of another thread is still not a cursor of this one
    client.beta.threads.messages.delete(ids_b[1], thread_id=thread_b)
    assert_error_envelope(raw.get(f"threads/{thread_a}/messages", params={"after": ids_b[1]}), 400)


# --------------------------------------------------------------------------- 405


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "assistants", {"GET", "POST"}),
        ("DELETE", "threads", {"POST"}),
        ("PATCH", "threads/thread_x", {"GET", "POST", "DELETE"}),
        ("GET", "threads/thread_x/runs/run_x/cancel", {"POST"}),
        ("DELETE", "models", {"GET"}),
    ],
)
def test_405_carries_allow(raw: Any, method: str, path: str, allowed: set[str]) -> None:
    r = raw.request(method, path)
    assert_error_envelope(r, 405)
    assert "allow" in r.headers, r.headers
    listed = {m.strip() for m in r.headers["allow"].split(",")}
    assert listed - {"HEAD"} == allowed


# --------------------------------------------------------------------------- modify, no body


def test_modify_without_a_body_is_one_rule(client: Any, server: Any) -> None:
    """The spec marks every modify body required: no body is a 400 everywhere, `{}` a no-op."""
    assistant = client.beta.assistants.create(model="echo")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    message = client.beta.threads.messages.list(thread.id).data[0]
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    paths = [
        f"assistants/{assistant.id}",
        f"threads/{thread.id}",
        f"threads/{thread.id}/messages/{message.id}",
        f"threads/{thread.id}/runs/{run.id}",
    ]
    with raw_http(server) as http:
        for path in paths:
            r = http.post(path, headers={"content-type": "application/json"})
            error = assert_error_envelope(r, 400)
            assert error["code"] == "missing_required_parameter", (path, error)
            assert http.post(path, json={}).status_code == 200, path
    # The SDK's update() with no arguments sends `{}`: still fine.
    client.beta.assistants.update(assistant.id)
    client.beta.threads.update(thread.id)
    client.beta.threads.messages.update(message.id, thread_id=thread.id)
    client.beta.threads.runs.update(run.id, thread_id=thread.id)
