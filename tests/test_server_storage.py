"""The storage backends beyond the shared conformance suite: `--database` URLs, two servers on
one PostgreSQL sharing a blobs dir, file_search indexing jobs claimed across replicas, lost
database connections, and `spool serve migrate` from SQLite to PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import DATABASE_URL, NO_DATABASE, FreshDatabase
from retrieval_helpers import wait_store

needs_postgres = pytest.mark.skipif(not DATABASE_URL, reason=NO_DATABASE)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped after)."""
    fresh = FreshDatabase()
    yield fresh.url
    fresh.drop()


def test_a_sqlite_url_puts_the_database_where_it_says(start_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "chats.db"
    path.parent.mkdir()
    server = start_server(extra_args=["--database", f"sqlite:///{path}"])
    with server.client() as client:
        assistant = client.beta.assistants.create(model="echo", name="kept")
    assert path.exists() and not (server.data_dir / "spool.db").exists()
    server.stop()
    again = start_server(extra_args=["--database", f"sqlite:///{path}"])
    with again.client() as client:
        assert client.beta.assistants.retrieve(assistant.id).name == "kept"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://localhost/db", "unknown database URL scheme 'mysql'"),
        ("sqlite://relative", "sqlite:///PATH"),
    ],
)
def test_a_bad_database_url_is_refused_clearly(tmp_path: Path, url: str, says: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(tmp_path),
         "--database", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert "--database" in result.stderr and says in result.stderr, result.stderr


@needs_postgres
def test_two_servers_share_one_database_and_blobs(
    start_server: Any, database: str, tmp_path: Path
) -> None:
    args = ["--database", database, "--blobs", str(tmp_path / "blobs")]
    a, b = start_server(extra_args=args), start_server(extra_args=args)
    with a.client() as on_a, b.client() as on_b:
        file = on_a.files.create(
            file=("otters.txt", b"Sea otters hold hands."), purpose="assistants"
        )
        assert on_b.files.content(file.id).content == b"Sea otters hold hands."
        store = on_b.vector_stores.create(file_ids=[file.id])
        store = wait_store(on_a, store.id)
        assert store.file_counts.completed == 1
        hits = on_a.vector_stores.search(store.id, query="otters").data
        assert [h.file_id for h in hits] == [file.id]
        thread = on_a.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
        assert [m.id for m in on_b.beta.threads.messages.list(thread.id)] == [
            m.id for m in on_a.beta.threads.messages.list(thread.id)
        ]


@needs_postgres
def test_indexing_jobs_are_claimed_once_and_taken_over_when_their_claim_lapses(
    start_server: Any, database: str, tmp_path: Path
) -> None:
    """A job another (live) replica holds is left alone; once its claim lapses (the replica
    died mid-indexing) a worker of another replica takes it and indexes the file once."""
    args = ["--database", database, "--blobs", str(tmp_path / "blobs")]
    server = start_server(extra_args=args)
    with server.client() as client:
        file = client.files.create(
            file=("p.txt", b"Pangolins have keratin scales."), purpose="assistants"
        )
        store = wait_store(client, client.vector_stores.create(file_ids=[file.id]).id)
        assert store.file_counts.completed == 1
        # The state a replica dying mid-indexing leaves: the file in progress, half its chunks,
        # and its claim on the job, still valid for an hour.
        server.sql(
            "UPDATE vector_store_files SET status = 'in_progress', "
            "data = jsonb_set(data::jsonb, '{status}', '\"in_progress\"')::text WHERE id = ?",
            (file.id,),
        )
        server.sql("DELETE FROM chunks")
        server.sql(
            "INSERT INTO index_jobs (vector_store_id, file_id, queued_at, replica, claimed_until) "
            "VALUES (?, ?, 0, 'replica_elsewhere', ?)",
            (store.id, file.id, time.time() + 3600),
        )
        time.sleep(2.5)  # > JOB_POLL_S: the worker looked and left it alone
        assert client.vector_stores.files.retrieve(file.id, vector_store_id=store.id).status == (
            "in_progress"
        )
        server.sql("UPDATE index_jobs SET claimed_until = ?", (time.time() - 1,))  # it lapsed
        deadline = time.monotonic() + 15
        while server.sql("SELECT COUNT(*) FROM index_jobs")[0][0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.sql("SELECT COUNT(*) FROM index_jobs") == [(0,)]
        entry = client.vector_stores.files.retrieve(file.id, vector_store_id=store.id)
        assert entry.status == "completed"
        assert server.sql("SELECT COUNT(*) FROM chunks") == [(1,)]
        hits = client.vector_stores.search(store.id, query="keratin").data
        assert [h.file_id for h in hits] == [file.id]


def _fill(server: Any) -> dict[str, Any]:
    """A data dir with a bit of everything, through the SDK; what to look at afterwards."""
    from server_helpers import CALL_WEATHER, GET_WEATHER_TOOL

    with server.client() as client:
        files = [
            client.files.create(file=(name, data), purpose="assistants")
            for name, data in (
                ("otters.txt", b"Sea otters hold hands while sleeping."),
                ("beavers.md", b"# Beavers\n\nBeavers build dams from branches and mud."),
            )
        ]
        store = client.vector_stores.create(name="animals", file_ids=[f.id for f in files])
        wait_store(client, store.id)
        assistant = client.beta.assistants.create(
            model="echo",
            name="helper",
            tools=[{"type": "file_search"}, GET_WEATHER_TOOL],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        threads = []
        for n in range(3):
            thread = client.beta.threads.create(metadata={"n": str(n)})
            for word in ("alpha", "pelican", "gamma", "delta"):
                client.beta.threads.messages.create(thread.id, role="user", content=f"{word} {n}")
            threads.append(thread.id)
        run = client.beta.threads.runs.create_and_poll(
            thread_id=threads[0], assistant_id=assistant.id
        )
        assert run.status == "completed"
        client.beta.threads.messages.create(threads[1], role="user", content="/search otters")
        run = client.beta.threads.runs.create_and_poll(
            thread_id=threads[1], assistant_id=assistant.id
        )
        assert run.status == "completed"
        client.beta.threads.messages.create(threads[2], role="user", content=CALL_WEATHER)
        run = client.beta.threads.runs.create_and_poll(
            thread_id=threads[2], assistant_id=assistant.id
        )
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=threads[2],
            tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
        )
        assert run.status == "completed"
        second = client.beta.threads.messages.list(threads[0], order="asc").data[1]
        client.beta.threads.messages.delete(second.id, thread_id=threads[0])  # a tombstone
        gone = client.beta.assistants.create(model="echo", name="gone")
        client.beta.assistants.delete(gone.id)
    return {
        "files": [f.id for f in files],
        "store": store.id,
        "assistant": assistant.id,
        "threads": threads,
        "deleted_message": second.id,
    }


def _snapshot(server: Any, made: dict[str, Any], *, search_first: bool) -> dict[str, Any]:
    """Everything the API answers about what `_fill` made (search scores aside: the keyword
    rankers differ between backends). A store search moves the store's `last_active_at`: the
    copy's source searches before it is read, the copy after."""
    from server_helpers import raw_http

    out: dict[str, Any] = {}
    with raw_http(server) as http:

        def get(path: str, **params: Any) -> Any:
            response = http.get(path, params=params)
            assert response.status_code == 200, (path, response.text)
            return response.json()

        def walk(path: str, **params: Any) -> list[Any]:
            pages, after = [], None
            while True:
                page = get(path, limit=2, **params, **({"after": after} if after else {}))
                pages.append(page)
                if not page["has_more"]:
                    return pages
                after = page["last_id"]

        def search() -> None:
            path = f"vector_stores/{made['store']}/search"
            found = http.post(path, json={"query": "beavers dams"}).json()["data"]
            out["store_search"] = [(r["file_id"], r["content"]) for r in found]

        if search_first:
            search()
        out["assistants"] = walk("assistants")
        out["assistant"] = get(f"assistants/{made['assistant']}")
        out["files"] = get("files")
        out["content"] = [http.get(f"files/{f}/content").content for f in made["files"]]
        out["store"] = get(f"vector_stores/{made['store']}")
        out["store_files"] = walk(f"vector_stores/{made['store']}/files")
        out["parsed"] = [
            get(f"vector_stores/{made['store']}/files/{f}/content") for f in made["files"]
        ]
        if not search_first:
            search()
        for thread in made["threads"]:
            out[thread] = get(f"threads/{thread}")
            out[f"{thread}/messages"] = walk(f"threads/{thread}/messages")
            out[f"{thread}/messages/desc"] = walk(f"threads/{thread}/messages", order="asc")
            runs = walk(f"threads/{thread}/runs")
            out[f"{thread}/runs"] = runs
            for page in runs:
                for run in page["data"]:
                    out[run["id"]] = walk(
                        f"threads/{thread}/runs/{run['id']}/steps",
                        **{
                            "include[]": "step_details.tool_calls[*].file_search.results[*].content"
                        },
                    )
        # a cursor naming the deleted message still resolves (tombstones)
        out["after_deleted"] = get(
            f"threads/{made['threads'][0]}/messages", after=made["deleted_message"], order="asc"
        )
        hits = get("spool/search", q="pelican")
        out["message_search"] = [(h["message_id"], h["thread_id"]) for h in hits["data"]]
    return out


@needs_postgres
def test_migrate_a_sqlite_data_dir_into_postgresql_loses_nothing(
    start_server: Any, database: str, tmp_path: Path
) -> None:
    source = start_server(data_dir=tmp_path / "sqlite")
    made = _fill(source)
    before = _snapshot(source, made, search_first=True)
    source.stop()
    blobs = tmp_path / "shared-blobs"
    command = [sys.executable, "-m", "spool", "serve", "migrate",
               "--from", str(tmp_path / "sqlite"), "--to", database, "--blobs", str(blobs)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "messages: 16" in result.stdout and "blobs: 2 copied" in result.stdout, result.stdout
    served = start_server(
        data_dir=tmp_path / "replica", extra_args=["--database", database, "--blobs", str(blobs)]
    )
    after = _snapshot(served, made, search_first=False)
    assert before["store_search"] and len(before["message_search"]) == 2
    assert before["after_deleted"]["data"] and len(before["files"]["data"]) == 2
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key
    with served.client() as client:  # and it goes on: new objects come after the copied ones
        thread = made["threads"][0]
        new = client.beta.threads.messages.create(thread, role="user", content="after the move")
        listed = client.beta.threads.messages.list(thread, order="desc", limit=1).data
        assert [m.id for m in listed] == [new.id]
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert "not empty" in again.stderr and "migrate into an empty database" in again.stderr


@needs_postgres
def test_lost_database_connections_answer_503_then_recover(
    start_server: Any, database: str
) -> None:
    """Connections the database dropped (a restart, a failover) are a retryable 503 for the
    requests that hit them, never a 500, and the server reconnects by itself."""
    import psycopg

    from server_helpers import raw_http

    server = start_server(extra_args=["--database", database])
    with server.client() as client:
        assistant = client.beta.assistants.create(model="echo")
    name = urlsplit(database).path.lstrip("/")
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    statuses = []
    with raw_http(server) as http:
        for _ in range(15):
            response = http.get(f"assistants/{assistant.id}")
            statuses.append(response.status_code)
            if response.status_code == 503:
                error = response.json()["error"]
                assert error["code"] == "database_unavailable", error
                assert response.headers["x-should-retry"] == "true"
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses and statuses[-5:] == [200] * 5, statuses


def test_the_config_file_can_name_the_database(start_server: Any, tmp_path: Path) -> None:
    from conftest import TEST_MODELS_TOML

    path = tmp_path / "from-config.db"
    toml = TEST_MODELS_TOML + f'\n[server]\ndatabase = "sqlite:///{path}"\n'
    server = start_server(config_toml=toml)
    with server.client() as client:
        client.beta.assistants.create(model="echo")
    assert path.exists() and not (server.data_dir / "spool.db").exists()


def test_a_starting_server_leaves_other_replicas_uploads_alone(
    start_server: Any, tmp_path: Path
) -> None:
    """Replicas share the blobs dir: a server starting removes only stale temp uploads (a
    crash's leftovers), not the one another replica is receiving right now."""
    import os

    blobs = tmp_path / "blobs"
    (blobs / "tmp").mkdir(parents=True)
    receiving = blobs / "tmp" / "upload-receiving"
    receiving.write_bytes(b"half an upload")
    stale = blobs / "tmp" / "upload-stale"
    stale.write_bytes(b"left by a crash")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    start_server(extra_args=["--blobs", str(blobs)])
    assert receiving.exists() and not stale.exists()


def _serve_fails(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result.stderr


def test_a_newer_sqlite_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "spool.db") as db:
        db.execute("PRAGMA user_version = 99")
    said = _serve_fails(tmp_path)
    assert "schema version 99, newer than this spool" in said, said


@needs_postgres
def test_a_newer_postgresql_schema_is_refused_in_one_line(tmp_path: Path, database: str) -> None:
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (99)")
    said = _serve_fails(tmp_path, "--database", database)
    assert "schema version 99, newer than this spool" in said, said


def test_an_unreachable_postgresql_is_refused_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://spool@/spool?host={tmp_path}/no-server-here"
    said = _serve_fails(tmp_path, "--database", url)
    assert "cannot connect to PostgreSQL" in said and "no-server-here" in said, said
