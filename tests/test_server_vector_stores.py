"""`/v1/vector_stores*` through the real SDK (strict) against `spool serve`: every operation,
objects validated against the spec subset, background indexing (txt, md, code, json, html, pdf,
docx, pptx; unsupported and invalid files fail alone), batches, attributes and filters, BM25
search, expiry, delete cascades, pagination, a restart mid-indexing, bad input as 4xx."""

from __future__ import annotations

import json
import time

import openai
import pytest

from conftest import BACKEND_PARAMS
from retrieval_helpers import (  # noqa: F401
    dump,
    files_spec,
    make_docx,
    make_pdf,
    make_pptx,
    wait_store,
)
from server_helpers import assert_error_envelope, raw_http

DOCS = {
    "owls.md": b"# Owls\n\nThe barn owl hunts small rodents at night using its acute hearing.\n",
    "tea.txt": b"Green tea is steamed or pan-fired soon after picking to stop oxidation.\n",
    "fib.py": b"def fibonacci(n):\n    '''Return the n-th Fibonacci number.'''\n    return n\n",
    "config.json": json.dumps({"service": "lighthouse", "port": 8443}).encode(),
    "page.html": b"<html><body><h1>Volcanoes</h1><p>Basalt lava is runny.</p>"
    b"<script>var hidden = 'javascriptonly';</script></body></html>",
}


def upload(client, name: str, data: bytes):
    return client.files.create(file=(name, data), purpose="assistants")


def test_store_lifecycle_and_search(client, files_spec):  # noqa: F811
    ids = {name: upload(client, name, data).id for name, data in DOCS.items()}
    store = client.vector_stores.create(name="docs", file_ids=list(ids.values()))
    files_spec.validate(dump(store), "VectorStoreObject")
    assert store.name == "docs" and store.file_counts.total == len(DOCS)
    store = wait_store(client, store.id)
    files_spec.validate(dump(store), "VectorStoreObject")
    assert store.status == "completed"
    assert store.file_counts.completed == len(DOCS) and store.file_counts.failed == 0
    assert store.usage_bytes > 0

    entry = client.vector_stores.files.retrieve(ids["owls.md"], vector_store_id=store.id)
    files_spec.validate(dump(entry), "VectorStoreFileObject")
    assert entry.status == "completed" and entry.last_error is None
    assert entry.chunking_strategy.type == "static"
    assert entry.chunking_strategy.static.max_chunk_size_tokens == 800
    assert entry.chunking_strategy.static.chunk_overlap_tokens == 400

    results = client.vector_stores.search(store.id, query="what do barn owls hunt at night")
    files_spec.validate(dump(results), "VectorStoreSearchResultsPage")
    best = results.data[0]
    assert (best.file_id, best.filename) == (ids["owls.md"], "owls.md")
    assert "rodents" in best.content[0].text
    assert all(0 <= r.score <= 1 for r in results.data)
    assert [r.score for r in results.data] == sorted((r.score for r in results.data), reverse=True)

    html = client.vector_stores.search(store.id, query="basalt lava").data[0]
    assert html.filename == "page.html" and "javascriptonly" not in html.content[0].text
    assert client.vector_stores.search(store.id, query="javascriptonly").data == []
    code = client.vector_stores.search(store.id, query=["fibonacci number"]).data[0]
    assert code.filename == "fib.py"
    assert client.vector_stores.search(store.id, query="lighthouse").data[0].filename == (
        "config.json"
    )
    assert len(client.vector_stores.search(store.id, query="the", max_num_results=1).data) <= 1
    assert (
        client.vector_stores.search(
            store.id, query="owl", ranking_options={"score_threshold": 1.0}
        ).data
        == []
    )

    content = client.vector_stores.files.content(ids["tea.txt"], vector_store_id=store.id)
    texts = [c.text for c in content]
    assert texts == [DOCS["tea.txt"].decode()]

    modified = client.vector_stores.update(store.id, name="renamed", metadata={"k": "v"})
    assert (modified.name, modified.metadata) == ("renamed", {"k": "v"})
    removed = client.vector_stores.files.delete(ids["owls.md"], vector_store_id=store.id)
    files_spec.validate(removed.model_dump(mode="json"), "DeleteVectorStoreFileResponse")
    assert client.vector_stores.search(store.id, query="barn owl rodents").data == []
    assert client.vector_stores.retrieve(store.id).file_counts.total == len(DOCS) - 1

    deleted = client.vector_stores.delete(store.id)
    files_spec.validate(deleted.model_dump(mode="json"), "DeleteVectorStoreResponse")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_documents_and_unsupported_files(client, files_spec):  # noqa: F811
    uploads = {
        "report.pdf": make_pdf(["Quarterly revenue grew by twelve percent", "Page two: otters"]),
        "memo.docx": make_docx(["The meeting moved to Thursday", "Bring the blue folder"]),
        "deck.pptx": make_pptx([["Roadmap"], ["Launch the glacier project in spring"]]),
        "image.bin": b"\x00\x01\x02binary",
        "broken.json": b"{not json",
        "broken.pdf": b"%PDF-1.4 garbage",
    }
    ids = {name: upload(client, name, data).id for name, data in uploads.items()}
    store = client.vector_stores.create(file_ids=list(ids.values()))
    store = wait_store(client, store.id)
    assert store.status == "completed"
    assert (store.file_counts.completed, store.file_counts.failed) == (3, 3)
    failed = {f.id: f for f in client.vector_stores.files.list(store.id, filter="failed")}
    for f in failed.values():
        files_spec.validate(dump(f), "VectorStoreFileObject")
    assert failed[ids["image.bin"]].last_error.code == "unsupported_file"
    assert failed[ids["broken.json"]].last_error.code == "invalid_file"
    assert failed[ids["broken.pdf"]].last_error.code == "invalid_file"

    def top(query: str) -> str:
        return client.vector_stores.search(store.id, query=query).data[0].filename

    assert top("otters") == "report.pdf"
    assert top("quarterly revenue") == "report.pdf"
    assert top("blue folder") == "memo.docx"
    assert top("glacier project") == "deck.pptx"


def test_batches_attributes_and_filters(client, files_spec):  # noqa: F811
    store = client.vector_stores.create(name="batch")
    a = upload(client, "a.txt", b"Apples are harvested in autumn in the northern orchards.").id
    b = upload(client, "b.txt", b"Apples are stored in cold rooms over the winter months.").id
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        files=[
            {"file_id": a, "attributes": {"region": "north", "year": 2024}},
            {"file_id": b, "attributes": {"region": "south", "year": 2025, "cold": True}},
        ],
    )
    files_spec.validate(dump(batch), "VectorStoreFileBatchObject")
    assert batch.status == "completed" and batch.file_counts.completed == 2
    again = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert again.id == batch.id
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    files_spec.validate(dump(listed), "ListVectorStoreFilesResponse")
    assert {f.id for f in listed.data} == {a, b}

    def found(filters) -> set[str]:
        page = client.vector_stores.search(store.id, query="apples", filters=filters)
        return {r.file_id for r in page.data}

    assert found({"type": "eq", "key": "region", "value": "north"}) == {a}
    assert found({"type": "gte", "key": "year", "value": 2025}) == {b}
    assert found({"type": "in", "key": "region", "value": ["north", "south"]}) == {a, b}
    assert found(
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "cold", "value": True},
                {"type": "lt", "key": "year", "value": 2000},
            ],
        }
    ) == {b}
    assert found({"type": "ne", "key": "region", "value": "north"}) == {b}
    result = client.vector_stores.search(store.id, query="orchards").data[0]
    assert result.attributes == {"region": "north", "year": 2024}

    updated = client.vector_stores.files.update(
        a, vector_store_id=store.id, attributes={"region": "east"}
    )
    assert updated.attributes == {"region": "east"}
    assert found({"type": "eq", "key": "region", "value": "east"}) == {a}

    cancel_store = client.vector_stores.create()
    pending = client.vector_stores.file_batches.create(
        vector_store_id=cancel_store.id, file_ids=[a, b]
    )
    cancelled = client.vector_stores.file_batches.cancel(
        pending.id, vector_store_id=cancel_store.id
    )
    assert cancelled.status in ("cancelled", "completed")
    final = wait_store(client, cancel_store.id)
    assert final.file_counts.in_progress == 0


def test_static_chunking_and_bad_input(client, server):
    long_text = " ".join(f"word{i}" for i in range(3000)).encode()
    file_id = upload(client, "long.txt", long_text).id
    store = client.vector_stores.create(
        file_ids=[file_id],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        },
    )
    wait_store(client, store.id)
    entry = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert entry.chunking_strategy.static.max_chunk_size_tokens == 100
    hits = client.vector_stores.search(store.id, query="word1500", max_num_results=50).data
    assert 1 <= len(hits) <= 3 and all(len(h.content[0].text) < 1200 for h in hits)

    bad_bodies = [
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 50,
                                                            "chunk_overlap_tokens": 0}}},
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 400,
                                                            "chunk_overlap_tokens": 300}}},
        {"chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 5000,
                                                            "chunk_overlap_tokens": 0}}},
        {"chunking_strategy": {"type": "sliding"}},
        {"expires_after": {"anchor": "created_at", "days": 1}},
        {"expires_after": {"anchor": "last_active_at", "days": 0}},
        {"file_ids": ["file-missing"]},
        {"name": 5},
        {"bogus": 1},
    ]  # fmt: skip
    with raw_http(server) as http:
        for body in bad_bodies:
            response = http.post("vector_stores", json=body)
            assert_error_envelope(response, (400, 404))
        sid = store.id
        bad_searches = [
            {},
            {"query": 3},
            {"query": []},
            {"query": "x", "max_num_results": 0},
            {"query": "x", "max_num_results": 51},
            {"query": "x", "ranking_options": {"score_threshold": 2}},
            {"query": "x", "filters": {"type": "eq", "key": "k"}},
            {"query": "x", "filters": {"type": "near", "key": "k", "value": 1}},
            {"query": "x", "filters": {"type": "and", "filters": "no"}},
            {"query": "x", "filters": {"type": "in", "key": "k", "value": "notalist"}},
            {"query": "x", "filters": {"type": "eq", "key": "k", "value": {"o": 1}}},
        ]
        for body in bad_searches:
            assert_error_envelope(http.post(f"vector_stores/{sid}/search", json=body), 400)
        assert_error_envelope(http.get("vector_stores/vs_nope"), 404)
        assert_error_envelope(http.post("vector_stores/vs_nope/search", json={"query": "x"}), 404)
        assert_error_envelope(http.get(f"vector_stores/{sid}/files/file-nope"), 404)
        assert_error_envelope(http.get(f"vector_stores/{sid}/files?filter=done"), 400)
        assert_error_envelope(http.get(f"vector_stores/{sid}/file_batches/vsfb_nope"), 404)
        assert_error_envelope(
            http.post(f"vector_stores/{sid}/files", json={"file_id": "file-nope"}), 404
        )
        assert_error_envelope(
            http.post(f"vector_stores/{sid}/file_batches", json={"file_ids": []}), 400
        )
        assert_error_envelope(
            http.post(f"vector_stores/{sid}/files/{file_id}", json={"attributes": {"k": [1, 2]}}),
            400,
        )
        # an FTS5 query syntax in the query is just words
        ok = http.post(f"vector_stores/{sid}/search", json={"query": 'NEAR("a" b) OR * -'})
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_pagination_of_stores_and_files(start_server, files_spec):  # noqa: F811
    server = start_server()
    with server.client() as client:
        stores = [client.vector_stores.create(name=f"s{i}").id for i in range(5)]
        page = client.vector_stores.list(limit=2)
        files_spec.validate(dump(page), "ListVectorStoresResponse")
        assert [s.id for s in page.data] == stores[::-1][:2] and page.has_more
        assert [s.id for s in client.vector_stores.list(limit=2, order="asc")] == stores
        before = client.vector_stores.list(order="asc", before=stores[3])
        assert [s.id for s in before.data] == stores[:3]
        file_ids = [upload(client, f"{i}.txt", f"text {i}".encode()).id for i in range(4)]
        for file_id in file_ids:
            client.vector_stores.files.create(vector_store_id=stores[0], file_id=file_id)
            client.vector_stores.files.create(vector_store_id=stores[1], file_id=file_id)
        walked = [f.id for f in client.vector_stores.files.list(stores[0], limit=1, order="asc")]
        assert walked == file_ids
        after = client.vector_stores.files.list(stores[1], order="asc", after=file_ids[1])
        assert [f.id for f in after.data] == file_ids[2:]


def test_deleting_a_file_detaches_it_everywhere(client):
    file_id = upload(client, "gone.txt", b"Quokkas live on Rottnest Island.").id
    one = client.vector_stores.create(file_ids=[file_id])
    two = client.vector_stores.create(file_ids=[file_id])
    wait_store(client, one.id)
    wait_store(client, two.id)
    assert client.vector_stores.search(one.id, query="quokkas").data
    client.files.delete(file_id)
    for store_id in (one.id, two.id):
        assert client.vector_stores.retrieve(store_id).file_counts.total == 0
        assert client.vector_stores.search(store_id, query="quokkas").data == []
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.files.retrieve(file_id, vector_store_id=store_id)


def test_expired_store_refuses_searches(client, server):
    store = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 1})
    assert store.expires_at == store.last_active_at + 86400
    data = json.loads(server.sql("SELECT data FROM vector_stores WHERE id = ?", (store.id,))[0][0])
    data["expires_at"] = int(time.time()) - 1
    server.sql("UPDATE vector_stores SET data = ? WHERE id = ?", (json.dumps(data), store.id))
    assert client.vector_stores.retrieve(store.id).status == "expired"
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.search(store.id, query="anything")
    assert caught.value.body["code"] == "vector_store_expired"


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_indexing_resumes_after_a_crash(start_server, tmp_path):
    """Files left in progress (a kill -9 mid-indexing) are indexed again on the next start."""
    data_dir = tmp_path / "crash"
    server = start_server(data_dir=data_dir)
    with server.client() as client:
        file_id = upload(client, "pangolin.txt", b"Pangolins are covered in keratin scales.").id
        store = client.vector_stores.create(file_ids=[file_id])
        wait_store(client, store.id)
    server.kill()
    # The state a crash mid-indexing leaves: the file in progress, its chunks half written.
    row = server.sql("SELECT data FROM vector_store_files WHERE id = ?", (file_id,))[0]
    entry = json.loads(row[0]) | {"status": "in_progress"}
    server.sql(
        "UPDATE vector_store_files SET status = 'in_progress', data = ? WHERE id = ?",
        (json.dumps(entry), file_id),
    )
    # half its chunks written: FTS5's text gone on SQLite, the chunk rows on PostgreSQL
    server.sql("DELETE FROM chunks_fts" if server.database_url is None else "DELETE FROM chunks")
    again = start_server(data_dir=data_dir)
    with again.client() as client:
        store = wait_store(client, store.id)
        assert store.file_counts.completed == 1
        hits = client.vector_stores.search(store.id, query="keratin scales").data
        assert [h.file_id for h in hits] == [file_id]
        assert again.sql("SELECT COUNT(*) FROM chunks") == [(1,)]  # no duplicate chunks


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_indexing_and_deleting_a_big_file_do_not_stall(start_server) -> None:
    """Parsing, chunking and the FTS5 writes happen in the indexing thread, in short
    transactions: reads and writes of other clients keep answering quickly meanwhile."""
    from server_helpers import StallProbe

    server = start_server()
    words = " ".join(f"term{i % 5000} filler{i % 17}" for i in range(400_000)).encode()  # ~6 MB
    with server.client() as client:
        file = client.files.create(file=("big.txt", words), purpose="assistants")
        store = client.vector_stores.create()
        writes: list[float] = []
        with StallProbe(server) as probe:
            client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
            while client.vector_stores.retrieve(store.id).file_counts.in_progress:
                started = time.perf_counter()
                client.beta.threads.create()  # a write while the index thread writes
                writes.append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)
        assert client.vector_stores.retrieve(store.id).file_counts.completed == 1
        assert probe.worst_ms < 150, probe.samples
        assert max(writes, default=0) < 150, writes
        assert client.vector_stores.search(store.id, query="term42").data
        with StallProbe(server) as probe:
            client.vector_stores.delete(store.id)
        assert probe.worst_ms < 150, probe.samples
