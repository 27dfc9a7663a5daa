"""`/v1/vector_stores`: stores, their files, file batches, file content and search."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spool.server import objects
from spool.server.errors import ApiError, bad_request, not_found
from spool.server.retrieval import filters, search
from spool.server.routes.common import list_params, page, read_body, route
from spool.server.state import State
from spool.server.validation import (
    CHUNKING,
    array,
    boolean,
    enum,
    metadata,
    nullable,
    number,
    obj,
    one_of,
    string,
)
from spool.server.vector_stores import chunking_strategy

EXPIRES_AFTER = obj({"anchor": enum("last_active_at"), "days": number(1, 365, integer=True)})
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


def _attributes(value: Any, path: str) -> None:
    """Up to 16 attributes: keys ≤ 64 characters; values strings ≤ 512, numbers or booleans."""
    if value is None:
        return
    metadata_like = metadata()
    if not isinstance(value, dict):
        metadata_like(value, path)  # the type error
    if len(value) > 16:
        metadata_like(value, path)
    for key, item in value.items():
        if len(key) > 64:
            raise bad_request(f"Invalid '{path}': key '{key[:20]}…' is too long.", param=path)
        if isinstance(item, str):
            string(max_len=512)(item, f"{path}.{key}")
        elif not isinstance(item, int | float | bool):
            raise bad_request(
                f"Invalid type for '{path}.{key}': expected a string, number or boolean.",
                param=f"{path}.{key}",
                code="invalid_type",
            )


CREATE_STORE = obj(
    optional={
        "file_ids": array(string(), max_items=500),
        "name": string(),
        "expires_after": EXPIRES_AFTER,
        "chunking_strategy": CHUNKING,
        "metadata": metadata(),
    }
)
MODIFY_STORE = obj(
    optional={
        "name": nullable(string()),
        "expires_after": nullable(EXPIRES_AFTER),
        "metadata": metadata(),
    }
)
CREATE_FILE = obj({"file_id": string()}, {"chunking_strategy": CHUNKING, "attributes": _attributes})
CREATE_BATCH = obj(
    optional={
        "file_ids": array(string(), max_items=2000, min_items=1),
        "files": array(CREATE_FILE, max_items=2000, min_items=1),
        "chunking_strategy": CHUNKING,
        "attributes": _attributes,
    }
)
UPDATE_ATTRIBUTES = obj({"attributes": _attributes})
SEARCH = obj(
    {
        "query": one_of(
            (lambda v: isinstance(v, str), string()),
            (lambda v: isinstance(v, list), array(string(min_len=1), min_items=1, max_items=16)),
            expected="a string or an array of strings",
        )
    },
    {
        "rewrite_query": boolean(),
        "max_num_results": number(1, 50, integer=True),
        "filters": filters.check,
        "ranking_options": obj(
            optional={
                "ranker": enum("none", "auto", "default-2024-11-15"),
                "score_threshold": number(0, 1),
            }
        ),
    },
)


async def _store(state: State, request: Request) -> dict[str, Any]:
    return await state.stores.get(request.path_params["vector_store_id"])


async def _entry(state: State, request: Request) -> dict[str, Any]:
    store = await _store(state, request)
    file_id = request.path_params["file_id"]
    entry = await state.stores.get_file(store["id"], file_id)
    if entry is None:
        raise not_found("vector store file", file_id)
    return entry


# --- stores --------------------------------------------------------------------------------


async def create_store(state: State, request: Request) -> Any:
    body = await read_body(request, CREATE_STORE, optional=True)
    return await state.stores.create(body)


async def list_stores(state: State, request: Request) -> Any:
    return await page(state, "vector_stores", request, {})


async def get_store(state: State, request: Request) -> Any:
    return await _store(state, request)


async def modify_store(state: State, request: Request) -> Any:
    store = await _store(state, request)
    body = await read_body(request, MODIFY_STORE)
    return await state.stores.modify(store, body)


async def delete_store(state: State, request: Request) -> Any:
    store = await _store(state, request)
    await state.stores.delete(store["id"])
    return objects.deleted(store["id"], "vector_store")


# --- files of a store ----------------------------------------------------------------------


async def create_store_file(state: State, request: Request) -> Any:
    store = await _store(state, request)
    body = await read_body(request, CREATE_FILE)
    strategy = chunking_strategy(body.get("chunking_strategy"))
    entry = await state.stores.add_file(
        store["id"], body["file_id"], strategy, body.get("attributes")
    )
    await state.stores.refresh(store["id"])
    return entry


def _file_filter(request: Request, where: dict[str, str]) -> dict[str, str]:
    status = request.query_params.get("filter")
    if status is not None:
        enum(*FILE_STATUSES)(status, "filter")
        where["status"] = status
    return where


async def list_store_files(state: State, request: Request) -> Any:
    store = await _store(state, request)
    where = _file_filter(request, {"vector_store_id": store["id"]})
    return await page(state, "vector_store_files", request, where, list_params(request))


async def get_store_file(state: State, request: Request) -> Any:
    return await _entry(state, request)


async def update_store_file(state: State, request: Request) -> Any:
    entry = await _entry(state, request)
    body = await read_body(request, UPDATE_ATTRIBUTES)
    return await state.stores.update_attributes(entry, body["attributes"])


async def delete_store_file(state: State, request: Request) -> Any:
    entry = await _entry(state, request)
    await state.stores.remove_file(entry["vector_store_id"], entry["id"])
    return objects.deleted(entry["id"], "vector_store.file")


async def store_file_content(state: State, request: Request) -> Any:
    entry = await _entry(state, request)
    text = await state.stores.file_content(entry["vector_store_id"], entry["id"])
    data = [{"type": "text", "text": text}] if text else []
    return {
        "object": "vector_store.file_content.page",
        "data": data,
        "has_more": False,
        "next_page": None,
    }


# --- batches -------------------------------------------------------------------------------


async def create_batch(state: State, request: Request) -> Any:
    store = await _store(state, request)
    body = await read_body(request, CREATE_BATCH)
    if ("file_ids" in body) == ("files" in body):
        raise bad_request(
            "Provide either 'file_ids' or 'files' (exactly one of them).", param="file_ids"
        )
    default = chunking_strategy(body.get("chunking_strategy"))
    items = []
    if "file_ids" in body:
        attributes = body.get("attributes")
        items = [(file_id, default, attributes) for file_id in dict.fromkeys(body["file_ids"])]
    else:
        for item in body["files"]:
            strategy = (
                chunking_strategy(item["chunking_strategy"])
                if item.get("chunking_strategy")
                else default
            )
            items.append((item["file_id"], strategy, item.get("attributes")))
    return await state.stores.create_batch(store["id"], items)


async def _batch(state: State, request: Request) -> dict[str, Any]:
    store = await _store(state, request)
    return await state.stores.batch(store["id"], request.path_params["batch_id"])


async def get_batch(state: State, request: Request) -> Any:
    return await _batch(state, request)


async def cancel_batch(state: State, request: Request) -> Any:
    return await state.stores.cancel_batch(await _batch(state, request))


async def list_batch_files(state: State, request: Request) -> Any:
    batch = await _batch(state, request)
    where = _file_filter(
        request, {"vector_store_id": batch["vector_store_id"], "batch_id": batch["id"]}
    )
    return await page(state, "vector_store_files", request, where, list_params(request))


# --- search --------------------------------------------------------------------------------


def refuse_expired(store: dict[str, Any]) -> None:
    if store["status"] == "expired":
        raise ApiError(
            400,
            f"Vector store {store['id']} is expired. Create a new vector store and try again.",
            param="vector_store_id",
            code="vector_store_expired",
        )


async def search_store(state: State, request: Request) -> Any:
    store = await _store(state, request)
    body = await read_body(request, SEARCH)
    refuse_expired(store)
    query = body["query"]
    queries = [query] if isinstance(query, str) else list(query)
    ranking = body.get("ranking_options") or {}
    results = await search.search_async(
        state.db,
        [store["id"]],
        queries,
        max_results=body.get("max_num_results", 10),
        score_threshold=ranking.get("score_threshold", 0.0),
        filter_=body.get("filters"),
        embedder=state.stores.embedder,
    )
    await state.stores.touch(store)
    data = []
    for result in results:
        file = await state.files.get(result.file_id)
        data.append(
            {
                "file_id": result.file_id,
                "filename": file["filename"] if file else "",
                "score": result.score,
                "attributes": result.attributes or {},
                "content": [{"type": "text", "text": result.text}],
            }
        )
    return {
        "object": "vector_store.search_results.page",
        "search_query": queries,
        "data": data,
        "has_more": False,
        "next_page": None,
    }


_S = "/vector_stores/{vector_store_id}"
ROUTES = [
    route("/vector_stores", create_store, "POST"),
    route("/vector_stores", list_stores, "GET"),
    route(_S, get_store, "GET"),
    route(_S, modify_store, "POST"),
    route(_S, delete_store, "DELETE"),
    route(_S + "/files", create_store_file, "POST"),
    route(_S + "/files", list_store_files, "GET"),
    route(_S + "/files/{file_id}", get_store_file, "GET"),
    route(_S + "/files/{file_id}", update_store_file, "POST"),
    route(_S + "/files/{file_id}", delete_store_file, "DELETE"),
    route(_S + "/files/{file_id}/content", store_file_content, "GET"),
    route(_S + "/file_batches", create_batch, "POST"),
    route(_S + "/file_batches/{batch_id}", get_batch, "GET"),
    route(_S + "/file_batches/{batch_id}/cancel", cancel_batch, "POST"),
    route(_S + "/file_batches/{batch_id}/files", list_batch_files, "GET"),
    route(_S + "/search", search_store, "POST"),
]
