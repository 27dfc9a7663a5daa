"""The storage backends beyond the shared conformance suite: `--database` URLs, two servers on
one PostgreSQL sharing a blobs dir, and file_search indexing jobs claimed across replicas."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
