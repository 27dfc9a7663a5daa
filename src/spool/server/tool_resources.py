"""`tool_resources` and message `attachments` for file_search, as OpenAI handled them.

* `resolve(stores, resources)`: the `file_search.vector_stores` create-time helper becomes new
  stores (their files queued for indexing), and named `vector_store_ids` must exist.
* `attach(stores, db, thread, attachments)`: files attached for `file_search` go into the
  thread's own vector store, created on demand (named after the thread, expiring 7 days after
  its last use) and recorded in the thread's `tool_resources.file_search.vector_store_ids`.
"""

from __future__ import annotations

from typing import Any

from spool.server.errors import ApiError, bad_request
from spool.server.storage import Database
from spool.server.vector_stores import THREAD_STORE_DAYS, VectorStores, chunking_strategy


async def resolve(stores: VectorStores, resources: dict[str, Any] | None) -> dict[str, Any] | None:
    """The request's tool_resources with the vector store helper turned into store ids."""
    if not resources or not resources.get("file_search"):
        return resources
    file_search = resources["file_search"]
    ids = list(file_search.get("vector_store_ids") or [])
    for i, store_id in enumerate(ids):
        try:
            await stores.get(store_id)
        except ApiError:
            raise bad_request(
                f"Vector store {store_id} not found.",
                param=f"tool_resources.file_search.vector_store_ids[{i}]",
            ) from None
    helpers = file_search.get("vector_stores") or []
    if ids and helpers:
        raise bad_request(
            "Provide either 'vector_store_ids' or 'vector_stores' in "
            "tool_resources.file_search, not both.",
            param="tool_resources.file_search",
        )
    for helper in helpers:
        store = await stores.create(
            {
                "file_ids": helper.get("file_ids") or [],
                "chunking_strategy": helper.get("chunking_strategy"),
                "metadata": helper.get("metadata"),
            }
        )
        ids.append(store["id"])
    return {**resources, "file_search": {"vector_store_ids": ids}}


async def check_attachments(stores: VectorStores, messages: list[dict[str, Any]]) -> None:
    """Every attached file exists (before anything is stored)."""
    for m, message in enumerate(messages):
        for a, attachment in enumerate(message.get("attachments") or []):
            file_id = attachment.get("file_id")
            if file_id is None or await stores.files.get(file_id) is None:
                raise bad_request(
                    f"Invalid 'attachments[{a}].file_id': no file found with id '{file_id}'.",
                    param=f"messages[{m}].attachments[{a}].file_id",
                )


async def attach(
    stores: VectorStores,
    db: Database,
    thread: dict[str, Any],
    attachments: list[dict[str, Any]] | None,
) -> None:
    """Add the message's file_search attachments to the thread's vector store."""
    wanted = [
        a["file_id"]
        for a in attachments or []
        if any(t.get("type") == "file_search" for t in a.get("tools") or [])
    ]
    if not wanted:
        return
    resources = thread.get("tool_resources") or {}
    ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    if ids:
        store_id = ids[0]
    else:
        store = await stores.create(
            {
                "name": f"thread {thread['id']}",
                "expires_after": {"anchor": "last_active_at", "days": THREAD_STORE_DAYS},
            }
        )
        store_id = store["id"]
        resources = {**resources, "file_search": {"vector_store_ids": [store_id]}}
        thread["tool_resources"] = resources
        await db.update("threads", thread)
    for file_id in wanted:
        await stores.add_file(store_id, file_id, chunking_strategy(None), None)
    await stores.refresh(store_id)
