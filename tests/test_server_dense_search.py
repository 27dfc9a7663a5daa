"""The dense half of file_search (`[retrieval] embedding_model`) on both backends, against a
scripted `/v1/embeddings` upstream on loopback (tests/embeddings_upstream.py): a paraphrase
sharing no word with a document is found only with the embedding model configured; without
one nothing changes; an upstream that fails leaves files keyword-only (still completed) and
searches keyword-only; schema 7 databases migrate to 8 keeping their chunks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKEND_PARAMS, DATABASE_URL, NO_DATABASE, FreshDatabase
from embeddings_upstream import EmbeddingsUpstream
from retrieval_helpers import wait_store
from server_helpers import message_text

DOC = b"The physician prescribed rest after the operation.\n"
OTHER = b"The harbour freezes in winter.\n"
PARAPHRASE = "doctor recommended sleep following surgery"  # no word (or stem) of DOC


@pytest.fixture
def upstream() -> Iterator[EmbeddingsUpstream]:
    server = EmbeddingsUpstream().start()
    yield server
    server.stop()


def _store(client: Any) -> tuple[Any, Any]:
    doc = client.files.create(file=("care.txt", DOC), purpose="assistants")
    other = client.files.create(file=("port.txt", OTHER), purpose="assistants")
    store = client.vector_stores.create(file_ids=[doc.id, other.id])
    store = wait_store(client, store.id)
    assert store.file_counts.completed == 2, store.file_counts
    return store, doc


def _embedded(server: Any) -> list[tuple[Any, ...]]:
    return server.sql("SELECT file_id, embedding_model FROM chunks ORDER BY id")


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_a_paraphrase_is_found_only_by_the_dense_half(start_server, upstream) -> None:
    server = start_server(config_toml=upstream.config_toml())
    with server.client() as client:
        store, doc = _store(client)
        assert [m for _, m in _embedded(server)] == ["embed", "embed"]
        page = client.vector_stores.search(store.id, query=PARAPHRASE)
        assert page.data, "the dense half found nothing"
        first = page.data[0]
        assert first.file_id == doc.id
        assert first.content[0].text == DOC.decode()
        assert all(0.0 <= r.score <= 1.0 for r in page.data)
        assert first.score == max(r.score for r in page.data)
        # a keyword query still ranks its document first, in the same score range
        page = client.vector_stores.search(store.id, query="harbour")
        assert page.data[0].filename == "port.txt" and 0 < page.data[0].score <= 1
        # the threshold applies to the fused score as before
        page = client.vector_stores.search(
            store.id, query=PARAPHRASE, ranking_options={"score_threshold": 1.0}
        )
        assert page.data == []
        # and in a run: the echo engine's /search goes through the same path
        assistant = client.beta.assistants.create(
            model="echo",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        )
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": f"/search {PARAPHRASE}"}]
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed", run.last_error
        reply = client.beta.threads.messages.list(thread.id, limit=1).data[0]
        assert "care.txt" in message_text(reply)
        (citation,) = {a.file_citation.file_id for a in reply.content[0].text.annotations}
        assert citation == doc.id
    assert len(upstream.requests) >= 2  # the files' chunks, then the queries


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_without_an_embedding_model_nothing_changes(start_server, upstream) -> None:
    server = start_server()
    with server.client() as client:
        store, doc = _store(client)
        assert [m for _, m in _embedded(server)] == [None, None]
        assert client.vector_stores.search(store.id, query=PARAPHRASE).data == []
        page = client.vector_stores.search(store.id, query="physician operation")
        assert [r.file_id for r in page.data] == [doc.id]
    assert upstream.requests == []


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_an_upstream_that_fails(start_server, upstream) -> None:
    upstream.fail = True
    server = start_server(config_toml=upstream.config_toml())
    with server.client() as client:
        store, doc = _store(client)  # still completed, keyword-only
        assert [m for _, m in _embedded(server)] == [None, None]
        assert client.vector_stores.search(store.id, query=PARAPHRASE).data == []
        page = client.vector_stores.search(store.id, query="physician")
        assert [r.file_id for r in page.data] == [doc.id]
        # the upstream comes back: a file added now has vectors; a query failing to embed
        # is searched by keywords (no 500)
        upstream.fail = False
        third = client.files.create(
            file=("note.txt", b"A medic advised slumber."), purpose="assistants"
        )
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=third.id)
        assert client.vector_stores.search(store.id, query=PARAPHRASE).data[0].file_id == third.id
        upstream.fail = True
        page = client.vector_stores.search(store.id, query="physician")
        assert [r.file_id for r in page.data] == [doc.id]
    assert any("keyword-only" in line for line in server.output), "".join(server.output)
    assert any("searching by keywords only" in line for line in server.output)


# --- the migration from schema version 7 --------------------------------------------------


def _sqlite_v7(path: Path) -> None:
    import sqlite3

    from spool.server.storage.migrations import SQLITE_MIGRATIONS, sqlite_statements

    conn = sqlite3.connect(path)
    for version in range(1, 8):
        for statement in sqlite_statements(SQLITE_MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO chunks (id, vector_store_id, file_id, position, tokens) "
        "VALUES (1, 'vs_1', 'file-1', 0, 3)"
    )
    conn.execute("INSERT INTO chunks_fts (rowid, text) VALUES (1, 'the wick is trimmed')")
    conn.execute(
        "INSERT INTO vector_store_files (id, vector_store_id, status, data) "
        "VALUES ('file-1', 'vs_1', 'completed', '{}')"
    )
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()


def test_sqlite_schema_7_migrates(tmp_path: Path) -> None:
    from spool.server.retrieval import search
    from spool.server.storage.sqlite import SQLiteDatabase

    path = tmp_path / "spool.db"
    _sqlite_v7(path)
    db = SQLiteDatabase(path)
    try:
        assert db.conn.execute("PRAGMA user_version").fetchone()[0] == 8
        row = db.conn.execute("SELECT embedding_model, embedding FROM chunks").fetchone()
        assert row == (None, None)
        found = search.search(db.reader(), ["vs_1"], ["wick"], max_results=5)
        assert [r.text for r in found] == ["the wick is trimmed"]
    finally:
        db.close_now()


def test_postgres_schema_7_migrates() -> None:
    if not DATABASE_URL:
        pytest.skip(NO_DATABASE)
    import psycopg

    from spool.server.storage.migrations import POSTGRES_MIGRATIONS
    from spool.server.storage.postgres import PostgresDatabase

    fresh = FreshDatabase()
    try:
        with psycopg.connect(fresh.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            for version in range(1, 8):
                for statement in POSTGRES_MIGRATIONS[version]:
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (7)")
            conn.execute(
                "INSERT INTO chunks (vector_store_id, file_id, position, tokens, text) "
                "VALUES ('vs_1', 'file-1', 0, 3, 'the wick is trimmed')"
            )

        async def check() -> None:
            db = await PostgresDatabase.open(fresh.url)
            try:
                assert await db.schema_version() == 8
                row = await db.fetchone(
                    "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "WHERE a.attrelid = 'chunks'::regclass AND a.attname = 'embedding'"
                )
                assert row == ("vector",)
                assert await db.fetchall("SELECT text, embedding_model, embedding FROM chunks") == [
                    ("the wick is trimmed", None, None)
                ]
            finally:
                await db.close()

        asyncio.run(check())
    finally:
        fresh.drop()


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_unrelated_chunks_are_not_dense_hits(start_server, upstream) -> None:
    server = start_server(config_toml=upstream.config_toml())
    with server.client() as client:
        store, doc = _store(client)
        # shares no concept with either document: cosine 0, so neither half finds anything
        assert client.vector_stores.search(store.id, query="violin concerto").data == []
        page = client.vector_stores.search(store.id, query=PARAPHRASE)
        assert [r.file_id for r in page.data] == [doc.id]


def test_migrate_to_postgresql_keeps_the_vectors(start_server, upstream, tmp_path: Path) -> None:
    if not DATABASE_URL:
        pytest.skip(NO_DATABASE)
    import subprocess
    import sys

    source = start_server(data_dir=tmp_path / "sqlite", config_toml=upstream.config_toml())
    with source.client() as client:
        store, doc = _store(client)
        before = client.vector_stores.search(store.id, query=PARAPHRASE).data
    source.stop()
    fresh = FreshDatabase()
    try:
        blobs = tmp_path / "blobs"
        command = [sys.executable, "-m", "spool", "serve", "migrate", "--from",
                   str(tmp_path / "sqlite"), "--to", fresh.url, "--blobs", str(blobs)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        requests = len(upstream.requests)
        served = start_server(
            data_dir=tmp_path / "pg",
            config_toml=upstream.config_toml(),
            extra_args=["--database", fresh.url, "--blobs", str(blobs)],
        )
        assert [m for _, m in _embedded(served)] == ["embed", "embed"]
        with served.client() as client:
            after = client.vector_stores.search(store.id, query=PARAPHRASE).data
        assert [r.file_id for r in after] == [r.file_id for r in before] == [doc.id]
        assert len(upstream.requests) == requests + 1  # the query only: nothing re-embedded
        served.stop()
    finally:
        fresh.drop()


def test_postgresql_without_pgvector_stays_keyword_only(start_server, upstream) -> None:
    """A database whose schema 8 has no `embedding` column (pgvector missing when it
    migrated): the configured model is not used, said once, and nothing fails."""
    if not DATABASE_URL:
        pytest.skip(NO_DATABASE)
    fresh = FreshDatabase()
    try:
        first = start_server(extra_args=["--database", fresh.url])
        first.sql("ALTER TABLE chunks DROP COLUMN embedding")
        first.stop()
        server = start_server(
            config_toml=upstream.config_toml(), extra_args=["--database", fresh.url]
        )
        with server.client() as client:
            store, doc = _store(client)
            assert client.vector_stores.search(store.id, query=PARAPHRASE).data == []
            page = client.vector_stores.search(store.id, query="physician")
            assert [r.file_id for r in page.data] == [doc.id]
        assert upstream.requests == []
        assert any("has no pgvector" in line for line in server.output), "".join(server.output)
        server.stop()
    finally:
        fresh.drop()


def test_the_setting_must_name_a_model(tmp_path: Path) -> None:
    from spool.config import load_config
    from spool.server.retrieval.dense import model_for

    path = tmp_path / "config.toml"
    path.write_text('[retrieval]\nembedding_model = "nope"\n', encoding="utf-8")
    config = load_config(path)
    assert config.embedding_model is None and model_for(config) is None
    assert any("embedding_model must name a [models] entry" in p for p in config.problems)
    path.write_text(
        '[models.e]\nengine = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
        '[models.alias]\nalias = "e"\n\n[retrieval]\nembedding_model = "alias"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.problems == []
    model = model_for(config)
    assert model is not None and model.name == "e"


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_files_indexed_before_the_model_get_vectors_when_added_again(
    start_server, upstream, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    before = start_server(data_dir=data_dir)
    with before.client() as client:
        store, doc = _store(client)
    before.stop()
    server = start_server(data_dir=data_dir, config_toml=upstream.config_toml())
    with server.client() as client:
        assert client.vector_stores.search(store.id, query=PARAPHRASE).data == []  # keyword-only
        client.vector_stores.files.delete(doc.id, vector_store_id=store.id)
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=doc.id)
        assert sorted(m or "" for _, m in _embedded(server)) == ["", "embed"]
        page = client.vector_stores.search(store.id, query=PARAPHRASE)
        assert [r.file_id for r in page.data] == [doc.id]
