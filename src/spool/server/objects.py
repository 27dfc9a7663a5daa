"""Builders for the API objects, with every field the spec and the SDK's strict models require."""

from __future__ import annotations

import secrets
import time
from typing import Any

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Random bytes map onto the alphabet through one table (bytes.translate): ~140 bits per id, and
# 20x faster than 24 `secrets.choice` calls (which dominated creating a thread of many messages).
_TABLE = bytes(ord(_ALPHABET[i % len(_ALPHABET)]) for i in range(256))


def new_id(prefix: str) -> str:
    """OpenAI-style ids: `asst_`, `thread_`, `msg_`, `run_`, `step_`, `call_` + 24 characters."""
    return prefix + secrets.token_bytes(24).translate(_TABLE).decode("ascii")


def now() -> int:
    return int(time.time())


def assistant(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("asst_"),
        "object": "assistant",
        "created_at": now(),
        "name": body.get("name"),
        "description": body.get("description"),
        "model": body["model"],
        "instructions": body.get("instructions"),
        "tools": body.get("tools") or [],
        "tool_resources": assistant_tool_resources(
            body.get("tools") or [], normalize_tool_resources(body.get("tool_resources"))
        ),
        "metadata": body.get("metadata") or {},
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "response_format": body.get("response_format") or "auto",
    }


def normalize_tool_resources(resources: dict[str, Any] | None) -> dict[str, Any]:
    """Store tool resources in their response shape (the vector_stores helper becomes ids)."""
    if not resources:
        return {}
    out: dict[str, Any] = {}
    if "code_interpreter" in resources:
        out["code_interpreter"] = {
            "file_ids": list(resources["code_interpreter"].get("file_ids") or [])
        }
    if "file_search" in resources:
        fs = resources["file_search"]
        ids = list(fs.get("vector_store_ids") or [])
        ids += [new_id("vs_") for _ in fs.get("vector_stores") or []]
        out["file_search"] = {"vector_store_ids": ids}
    return out


def assistant_tool_resources(
    tools: list[dict[str, Any]], resources: dict[str, Any]
) -> dict[str, Any]:
    """As OpenAI did: a code_interpreter / file_search tool gets its (empty) resources entry."""
    kinds = {t["type"] for t in tools}
    out = dict(resources)
    if "code_interpreter" in kinds:
        out.setdefault("code_interpreter", {"file_ids": []})
    if "file_search" in kinds:
        out.setdefault("file_search", {"vector_store_ids": []})
    return out


def thread(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("thread_"),
        "object": "thread",
        "created_at": now(),
        "tool_resources": normalize_tool_resources(body.get("tool_resources")),
        "metadata": body.get("metadata") or {},
    }


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def content_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Request content (a string or request parts) → response content parts."""
    if isinstance(content, str):
        return [text_part(content)]
    parts = []
    for part in content:
        if part["type"] == "text":
            parts.append(text_part(part["text"]))
        elif part["type"] == "image_file":
            parts.append(
                {
                    "type": "image_file",
                    "image_file": {"detail": "auto", **part["image_file"]},
                }
            )
        else:
            parts.append(
                {"type": "image_url", "image_url": {"detail": "auto", **part["image_url"]}}
            )
    return parts


def user_message(thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A message created through the API (create-message, create-thread, additional_messages)."""
    return {
        "id": new_id("msg_"),
        "object": "thread.message",
        "created_at": now(),
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": body["role"],
        "content": content_parts(body["content"]),
        "assistant_id": None,
        "run_id": None,
        "attachments": body.get("attachments") or [],
        "metadata": body.get("metadata") or {},
    }


def run_message(run: dict[str, Any]) -> dict[str, Any]:
    """An assistant message being produced by a run (content fills in as it streams)."""
    return {
        "id": new_id("msg_"),
        "object": "thread.message",
        "created_at": now(),
        "thread_id": run["thread_id"],
        "status": "in_progress",
        "incomplete_details": None,
        "completed_at": None,
        "incomplete_at": None,
        "role": "assistant",
        "content": [],
        "assistant_id": run["assistant_id"],
        "run_id": run["id"],
        "attachments": [],
        "metadata": {},
    }


def step(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("step_"),
        "object": "thread.run.step",
        "created_at": now(),
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": details["type"],
        "status": "in_progress",
        "step_details": details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def deleted(object_id: str, kind: str) -> dict[str, Any]:
    return {"id": object_id, "object": f"{kind}.deleted", "deleted": True}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
