"""spool's message search extension (`GET /v1/spool`, `GET /v1/spool/search`): the real SDK
and raw HTTP over loopback against a real `spool serve`; the FTS index follows every write."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from server_helpers import assert_error_envelope, raw_http, wait_for_run
from spool.client.search import MessageSearch
from spool.server.storage.sqlite import SQLiteDatabase as Database


def word() -> str:
    """A word no other test's messages contain."""
    return "zq" + uuid.uuid4().hex[:10]


def search(raw: Any, q: str, **params: Any) -> dict[str, Any]:
    response = raw.get("spool/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_info_route_names_the_search_extension(raw: Any) -> None:
    response = raw.get("spool")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "spool.server"
    assert body["extensions"]["search"] == "/v1/spool/search"


def test_search_finds_a_message_with_its_thread_and_highlight(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    msg = client.beta.threads.messages.create(
        thread.id, role="user", content=f"Where did I put the {w} recipe?"
    )
    body = search(raw, w)
    assert body["object"] == "list" and body["has_more"] is False
    [hit] = body["data"]
    assert hit["object"] == "spool.search_result"
    assert (hit["thread_id"], hit["message_id"], hit["role"]) == (thread.id, msg.id, "user")
    assert hit["created_at"] == msg.created_at
    [(start, end)] = hit["highlights"]
    assert hit["snippet"][start:end] == w
    # the last word is a prefix (search as you type); every word must occur
    assert [h["message_id"] for h in search(raw, f"recipe {w[:6]}")["data"]][:1] == [msg.id]
    assert search(raw, f"{w} nonexistentwordxyz")["data"] == []


def test_results_are_newest_first_and_paged_by_limit(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"{w} number {i}").id
        for i in range(3)
    ]
    body = search(raw, w, limit=2)
    assert [h["message_id"] for h in body["data"]] == [ids[2], ids[1]]
    assert body["has_more"] is True


def test_after_pages_through_every_result_once(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"{w} item {i}").id
        for i in range(7)
    ]
    seen: list[str] = []
    after = None
    while True:
        body = search(raw, w, limit=3, **({"after": after} if after else {}))
        seen += [h["message_id"] for h in body["data"]]
        if not body["has_more"]:
            break
        after = body["data"][-1]["message_id"]
    assert seen == ids[::-1]  # newest first, none twice, none missed
    # a cursor whose message was deleted meanwhile still resolves (its tombstone's position)
    client.beta.threads.messages.delete(ids[4], thread_id=thread.id)
    assert [h["message_id"] for h in search(raw, w, limit=2, after=ids[4])["data"]] == [
        ids[3],
        ids[2],
    ]
    response = raw.get("spool/search", params={"q": w, "after": "msg_nosuch"})
    assert assert_error_envelope(response, 400)["param"] == "after"


def test_run_written_replies_are_indexed_once_complete(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    assistant = client.beta.assistants.create(model="echo", name="Searcher")
    client.beta.threads.messages.create(thread.id, role="user", content=f"say {w}")
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert wait_for_run(client, thread.id, run.id).status == "completed"
    roles = sorted(h["role"] for h in search(raw, w)["data"])
    assert roles == ["assistant", "user"]
    reply = next(h for h in search(raw, w)["data"] if h["role"] == "assistant")
    assert reply["snippet"] == f"You said: say {w}"


def test_deleted_messages_and_threads_leave_the_index(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    first = client.beta.threads.messages.create(thread.id, role="user", content=f"{w} one")
    client.beta.threads.messages.create(thread.id, role="user", content=f"{w} two")
    client.beta.threads.messages.delete(first.id, thread_id=thread.id)
    assert [h["snippet"] for h in search(raw, w)["data"]] == [f"{w} two"]
    client.beta.threads.delete(thread.id)
    assert search(raw, w)["data"] == []


def test_modifying_metadata_keeps_the_message_findable(client: Any, raw: Any) -> None:
    w = word()
    thread = client.beta.threads.create()
    msg = client.beta.threads.messages.create(thread.id, role="user", content=w)
    client.beta.threads.messages.update(msg.id, thread_id=thread.id, metadata={"k": "v"})
    assert [h["message_id"] for h in search(raw, w)["data"]] == [msg.id]


def test_query_syntax_is_never_fts_syntax(raw: Any) -> None:
    for q in ['"unbalanced', "NEAR(a b", "a OR", "*", "col:x", "ünïcödé ß", "a AND NOT b"]:
        response = raw.get("spool/search", params={"q": q})
        assert response.status_code in (200, 400), (q, response.text)
        if response.status_code == 400:
            assert_error_envelope(response, 400)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, "q", "missing_required_parameter"),
        ({"q": "   "}, "q", "missing_required_parameter"),
        ({"q": "?!…"}, "q", "invalid_value"),
        ({"q": "x" * 501}, "q", "string_above_max_length"),
        ({"q": "x", "limit": "0"}, "limit", "invalid_value"),
        ({"q": "x", "limit": "51"}, "limit", "invalid_value"),
        ({"q": "x", "limit": "ten"}, "limit", "invalid_type"),
    ],
)
def test_bad_input_is_a_400_envelope(raw: Any, params: dict, param: str, code: str) -> None:
    error = assert_error_envelope(raw.get("spool/search", params=params), 400)
    assert (error["param"], error["code"]) == (param, code)


def test_search_needs_the_key(server: Any) -> None:
    for key in ("", "sk-wrong-key"):
        with raw_http(server, api_key=key) as http:
            for path in ("spool/search?q=x", "spool"):
                error = assert_error_envelope(http.get(path), 401)
                assert error["code"] == "invalid_api_key"


async def test_client_search_uses_the_extension_through_the_sdk(aclient: Any) -> None:
    w = word()
    thread = await aclient.beta.threads.create()
    msg = await aclient.beta.threads.messages.create(thread.id, role="user", content=f"the {w}")
    searcher = MessageSearch(aclient)
    answer = await searcher.search(w, threads=[])
    assert answer.source == "server"
    assert [(r.thread_id, r.message_id) for r in answer.results] == [(thread.id, msg.id)]
    assert answer.results[0].snippet == f"the {w}"
    assert answer.results[0].highlights == [(4, 4 + len(w))]


async def test_migration_indexes_messages_written_before_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    db = Database(path)
    await db.insert(
        "messages",
        {
            "id": "msg_old",
            "thread_id": "thread_old",
            "content": [{"type": "text", "text": {"value": "an old pelican", "annotations": []}}],
        },
    )
    db.conn.executescript(
        "DROP TRIGGER messages_fts_insert; DROP TRIGGER messages_fts_update;"
        "DROP TRIGGER messages_fts_delete; DROP TABLE messages_fts; PRAGMA user_version = 5;"
    )
    await db.close()
    db = Database(path)
    rows = db.conn.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'pelican'")
    assert len(rows.fetchall()) == 1
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] >= 6
    await db.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_client_search_says_why_when_the_server_is_gone(start_server: Any) -> None:
    from spool.client.search import SearchFailed

    server = start_server()
    async with server.async_client(timeout=5) as aclient:
        searcher = MessageSearch(aclient)
        assert await searcher.server_has_search() is True
        server.stop()
        with pytest.raises(SearchFailed):
            await searcher.search("anything", threads=[])
