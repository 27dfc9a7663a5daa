"""Conformance: list pagination for every list endpoint (protocol notes §3.7)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from server_helpers import CALL_WEATHER, GET_WEATHER_TOOL, raw_http

N_MESSAGES = 30


@dataclass
class Filled:
    thread_id: str
    ids: list[str]  # creation order


@pytest.fixture(scope="module")
def filled(server: Any) -> Iterator[Filled]:
    """A thread with 30 messages created back to back (mostly within the same second)."""
    with server.client() as c:
        thread = c.beta.threads.create()
        ids = [
            c.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
            for i in range(N_MESSAGES)
        ]
        yield Filled(thread.id, ids)


def _list(raw: Any, path: str, **params: Any) -> dict[str, Any]:
    r = raw.get(path, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert set(body) >= {"object", "data", "first_id", "last_id", "has_more"}
    if body["data"]:
        assert body["first_id"] == body["data"][0]["id"]
        assert body["last_id"] == body["data"][-1]["id"]
    else:
        assert body["first_id"] is None and body["last_id"] is None
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [o["id"] for o in body["data"]]


def test_default_order_is_desc(raw: Any, filled: Filled, spec: Any) -> None:
    body = _list(raw, f"threads/{filled.thread_id}/messages", limit=100)
    spec.validate(body, "ListMessagesResponse")
    assert _ids(body) == filled.ids[::-1]
    assert body["has_more"] is False


def test_order_asc_and_desc(raw: Any, filled: Filled) -> None:
    path = f"threads/{filled.thread_id}/messages"
    asc = _list(raw, path, limit=100, order="asc")
    assert _ids(asc) == filled.ids
    created = [m["created_at"] for m in asc["data"]]
    assert created == sorted(created)
    desc = _list(raw, path, limit=100, order="desc")
    assert _ids(desc) == filled.ids[::-1]


def test_default_limit_is_20(raw: Any, filled: Filled) -> None:
    body = _list(raw, f"threads/{filled.thread_id}/messages")
    assert _ids(body) == filled.ids[::-1][:20]
    assert body["has_more"] is True


@pytest.mark.parametrize("limit", [1, 2, 29, 30, 31, 100])
def test_limit_bounds_ok(raw: Any, filled: Filled, limit: int) -> None:
    body = _list(raw, f"threads/{filled.thread_id}/messages", limit=limit, order="asc")
    assert _ids(body) == filled.ids[:limit]
    assert body["has_more"] is (limit < N_MESSAGES)


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_out_of_range_is_400(client: Any, filled: Filled, limit: int) -> None:
    thread = client.beta.threads.retrieve(filled.thread_id)
    calls = [
        lambda: client.beta.threads.messages.list(thread.id, limit=limit),
        lambda: client.beta.assistants.list(limit=limit),
        lambda: client.beta.threads.runs.list(thread.id, limit=limit),
    ]
    for call in calls:
        with pytest.raises(openai.BadRequestError) as exc:
            call()
        assert exc.value.status_code == 400
        assert exc.value.type == "invalid_request_error"


def test_after_cursor(raw: Any, filled: Filled) -> None:
    path = f"threads/{filled.thread_id}/messages"
    ids = filled.ids
    body = _list(raw, path, order="asc", after=ids[9], limit=5)
    assert _ids(body) == ids[10:15]
    assert body["has_more"] is True
    body = _list(raw, path, order="asc", after=ids[24], limit=5)
    assert _ids(body) == ids[25:30]
    assert body["has_more"] is False
    body = _list(raw, path, order="asc", after=ids[27], limit=5)
    assert _ids(body) == ids[28:30]
    assert body["has_more"] is False
    # desc: "after" continues in the travel direction (older objects).
    body = _list(raw, path, order="desc", after=ids[20], limit=5)
    assert _ids(body) == ids[19:14:-1]
    assert body["has_more"] is True
    body = _list(raw, path, order="desc", after=ids[2], limit=5)
    assert _ids(body) == [ids[1], ids[0]]
    assert body["has_more"] is False


def test_after_last_gives_empty_page(raw: Any, filled: Filled) -> None:
    path = f"threads/{filled.thread_id}/messages"
    body = _list(raw, path, order="asc", after=filled.ids[-1])
    assert body["data"] == []
    assert body["first_id"] is None and body["last_id"] is None
    assert body["has_more"] is False
    body = _list(raw, path, order="desc", after=filled.ids[0])
    assert body["data"] == [] and body["has_more"] is False


def test_before_cursor(raw: Any, filled: Filled) -> None:
    path = f"threads/{filled.thread_id}/messages"
    ids = filled.ids
    # Everything strictly before ids[10] in ascending order.
    body = _list(raw, path, order="asc", before=ids[10], limit=100)
    assert _ids(body) == ids[:10]
    # A short "previous page": the objects immediately preceding the cursor.
    body = _list(raw, path, order="asc", before=ids[10], limit=3)
    assert _ids(body) == ids[7:10]
    # desc: "before" means newer objects, still listed newest first.
    body = _list(raw, path, order="desc", before=ids[10], limit=100)
    assert _ids(body) == ids[:10:-1]
    body = _list(raw, path, order="desc", before=ids[10], limit=3)
    assert _ids(body) == [ids[13], ids[12], ids[11]]
    body = _list(raw, path, order="asc", before=ids[0])
    assert body["data"] == []


def test_after_and_before_together(raw: Any, filled: Filled) -> None:
    ids = filled.ids
    body = _list(
        raw, f"threads/{filled.thread_id}/messages", order="asc", after=ids[3], before=ids[8]
    )
    assert _ids(body) == ids[4:8]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 7, 30])
def test_sdk_auto_paging_yields_each_once(
    client: Any, filled: Filled, order: str, limit: int
) -> None:
    seen = [
        m.id for m in client.beta.threads.messages.list(filled.thread_id, limit=limit, order=order)
    ]
    expected = filled.ids if order == "asc" else filled.ids[::-1]
    assert seen == expected


async def test_async_auto_paging(aclient: Any, filled: Filled) -> None:
    seen = [
        m.id
        async for m in aclient.beta.threads.messages.list(filled.thread_id, limit=4, order="asc")
    ]
    assert seen == filled.ids


def test_sdk_page_attributes(client: Any, filled: Filled) -> None:
    page = client.beta.threads.messages.list(filled.thread_id, limit=10, order="asc")
    assert [m.id for m in page.data] == filled.ids[:10]
    assert page.has_more is True
    assert page.has_next_page()
    nxt = page.get_next_page()
    assert [m.id for m in nxt.data] == filled.ids[10:20]


def test_same_second_objects_keep_stable_order(client: Any, raw: Any) -> None:
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=str(i)).id
        for i in range(30)
    ]
    path = f"threads/{thread.id}/messages"
    for _ in range(3):  # repeated listings give the same order
        assert _ids(_list(raw, path, order="asc", limit=100)) == ids
        assert _ids(_list(raw, path, order="desc", limit=100)) == ids[::-1]
    # Cursor walking inside a group of same-second objects loses nothing.
    walked: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"order": "asc", "limit": 3}
        if after:
            params["after"] = after
        body = _list(raw, path, **params)
        walked += _ids(body)
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert walked == ids


def test_assistants_pagination(client: Any, raw: Any, spec: Any) -> None:
    mine = [client.beta.assistants.create(model="echo", name=f"pg{i}").id for i in range(5)]
    everything = [a.id for a in client.beta.assistants.list(limit=3)]
    assert len(everything) == len(set(everything))
    positions = [everything.index(a) for a in mine]
    assert positions == sorted(positions, reverse=True)  # default desc: newest first
    asc = [a.id for a in client.beta.assistants.list(limit=2, order="asc")]
    assert asc == everything[::-1]
    body = _list(raw, "assistants", order="asc", after=mine[0], limit=4)
    spec.validate(body, "ListAssistantsResponse")
    assert _ids(body) == mine[1:5]
    body = _list(raw, "assistants", order="desc", before=mine[0], limit=100)
    assert _ids(body)[-4:] == mine[:0:-1]


def test_runs_pagination(client: Any, raw: Any, spec: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    thread = client.beta.threads.create()
    run_ids = []
    for i in range(4):
        client.beta.threads.messages.create(thread.id, role="user", content=f"run {i}")
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run.status == "completed"
        run_ids.append(run.id)
    body = _list(raw, f"threads/{thread.id}/runs")
    spec.validate(body, "ListRunsResponse")
    assert _ids(body) == run_ids[::-1]
    body = _list(raw, f"threads/{thread.id}/runs", order="asc", limit=2)
    assert _ids(body) == run_ids[:2]
    assert body["has_more"] is True
    body = _list(raw, f"threads/{thread.id}/runs", order="asc", limit=2, after=run_ids[1])
    assert _ids(body) == run_ids[2:]
    assert body["has_more"] is False
    assert [r.id for r in client.beta.threads.runs.list(thread.id, limit=1)] == run_ids[::-1]


def test_steps_pagination(client: Any, raw: Any, spec: Any) -> None:
    asst = client.beta.assistants.create(model="echo", tools=[GET_WEATHER_TOOL])
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content=CALL_WEATHER)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        poll_interval_ms=20,
    )
    assert run.status == "completed"
    path = f"threads/{thread.id}/runs/{run.id}/steps"
    desc = _list(raw, path)
    spec.validate(desc, "ListRunStepsResponse")
    assert [s["type"] for s in desc["data"]] == ["message_creation", "tool_calls"]
    asc = _list(raw, path, order="asc")
    assert _ids(asc) == _ids(desc)[::-1]
    one = _list(raw, path, order="asc", limit=1)
    assert _ids(one) == _ids(asc)[:1] and one["has_more"] is True
    rest = _list(raw, path, order="asc", after=one["last_id"])
    assert _ids(rest) == _ids(asc)[1:] and rest["has_more"] is False
    seen = [s.id for s in client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, limit=1)]
    assert seen == _ids(desc)


def test_messages_run_id_filter(client: Any, raw: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="one")
    r1 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    client.beta.threads.messages.create(thread.id, role="user", content="two")
    r2 = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    assert (r1.status, r2.status) == ("completed", "completed")

    all_msgs = _list(raw, f"threads/{thread.id}/messages", order="asc")
    assert [m["role"] for m in all_msgs["data"]] == ["user", "assistant", "user", "assistant"]

    only1 = _list(raw, f"threads/{thread.id}/messages", run_id=r1.id)
    assert len(only1["data"]) == 1
    assert only1["data"][0]["run_id"] == r1.id
    assert only1["data"][0]["content"][0]["text"]["value"] == "You said: one"
    assert only1["has_more"] is False

    only2 = client.beta.threads.messages.list(thread.id, run_id=r2.id)
    assert [m.run_id for m in only2.data] == [r2.id]
    assert only2.data[0].assistant_id == asst.id


def test_empty_list_envelope(server: Any) -> None:
    with raw_http(server) as http, server.client() as c:
        thread = c.beta.threads.create()
        body = _list(http, f"threads/{thread.id}/messages")
        assert body == {
            "object": "list",
            "data": [],
            "first_id": None,
            "last_id": None,
            "has_more": False,
        }
        page = c.beta.threads.messages.list(thread.id)
        assert page.data == [] and list(page) == []


def test_bad_order_and_limit_on_every_list(client: Any, raw: Any) -> None:
    asst = client.beta.assistants.create(model="echo")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
    )
    paths = [
        "assistants",
        f"threads/{thread.id}/messages",
        f"threads/{thread.id}/runs",
        f"threads/{thread.id}/runs/{run.id}/steps",
    ]
    for path in paths:
        for params in ({"order": "sideways"}, {"limit": 0}, {"limit": 101}, {"limit": "ten"}):
            r = raw.get(path, params=params)
            assert r.status_code == 400, (path, params, r.status_code, r.text)
            assert r.json()["error"]["type"] == "invalid_request_error"
        assert raw.get(path, params={"limit": 100, "order": "asc"}).status_code == 200
