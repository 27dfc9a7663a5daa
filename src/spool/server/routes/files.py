"""`/v1/files`: upload (multipart, streamed to disk), list, retrieve, content, delete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse

from spool.server import connections, objects
from spool.server.errors import ApiError, bad_request, not_found
from spool.server.files import UPLOAD_PURPOSES, BlobWriter, media_type, too_large
from spool.server.multipart import read_form
from spool.server.routes.common import list_params, page, route
from spool.server.state import State

FORM_OVERHEAD_BYTES = 64 * 1024  # room for the boundaries and the small fields
# A refused upload's rest is read (and dropped) up to this much / this long before the answer:
# closing a connection with unread data resets it, and the client never sees the 413.
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_S = 2.0
KNOWN_FIELDS = {"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}
LIST_PURPOSES = (*UPLOAD_PURPOSES, "assistants_output", "batch_output", "fine-tune-results")


def _check_purpose(value: str | None) -> str:
    if value is None:
        raise bad_request(
            "Missing required parameter: 'purpose'.",
            param="purpose",
            code="missing_required_parameter",
        )
    if value not in UPLOAD_PURPOSES:
        listed = ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES)
        raise bad_request(
            f"Invalid value for 'purpose': '{value}'. Supported values are: {listed}.",
            param="purpose",
            code="invalid_value",
        )
    return value


def _expires_after(fields: dict[str, str]) -> dict[str, Any] | None:
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request(
            f"Invalid value for 'expires_after.anchor': '{anchor}'. Supported values are: "
            "'created_at'.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    if seconds is None or not seconds.isdigit() or not 3600 <= int(seconds) <= 2592000:
        raise bad_request(
            "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return {"anchor": anchor, "seconds": int(seconds)}


async def _timed(request: Request) -> AsyncIterator[bytes]:
    """The body, with a deadline between chunks (a big upload may take longer than 30 s)."""
    stream = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(connections.BODY_TIMEOUT_S):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(
                408,
                f"Request timeout: the upload stalled for {connections.BODY_TIMEOUT_S:g} s.",
                headers={"connection": "close"},
            ) from None
        yield chunk


async def create_file(state: State, request: Request) -> Any:
    limit = state.files.max_bytes
    length = request.headers.get("content-length", "")
    body = _timed(request)
    if length.isdigit() and int(length) > limit + FORM_OVERHEAD_BYTES:
        if int(length) <= DRAIN_BYTES:
            await _drain(body)
        raise _closing(too_large(limit))
    received: list[tuple[BlobWriter, str]] = []

    def on_file(field: str, filename: str, _type: str, fields: dict[str, str]) -> BlobWriter:
        if field != "file":
            raise bad_request(f"Unknown parameter: '{field}'.", param=field)
        if received:
            raise bad_request("Only one file can be uploaded per request.", param="file")
        if "purpose" in fields:
            _check_purpose(fields["purpose"])
        if not filename.strip():
            raise bad_request("The uploaded file must have a file name.", param="file")
        writer = state.files.writer()
        received.append((writer, filename.replace("\\", "/").rsplit("/", 1)[-1]))
        return writer

    try:
        fields = await read_form(body, request.headers.get("content-type", ""), on_file)
        for name in fields:
            if name not in KNOWN_FIELDS:
                raise bad_request(f"Unknown parameter: '{name}'.", param=name)
        purpose = _check_purpose(fields.get("purpose"))
        expires_after = _expires_after(fields)
        if not received:
            raise bad_request(
                "Missing required parameter: 'file'.",
                param="file",
                code="missing_required_parameter",
            )
        writer, filename = received[0]
        digest, size = await asyncio.to_thread(writer.commit)
    except ApiError as exc:
        for writer, _ in received:
            writer.abort()
        if exc.status == 413:
            await _drain(body)
            _closing(exc)
        raise
    except BaseException:
        for writer, _ in received:
            writer.abort()
        raise
    return await state.files.create(
        filename=filename,
        purpose=purpose,
        digest=digest,
        size=size,
        expires_after=expires_after,
    )


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read what the client is still sending of a refused body (at most DRAIN_BYTES, for at
    most DRAIN_S), so that the 413 reaches it before the connection closes."""
    read = 0
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_S):
            async for chunk in body:
                read += len(chunk)
                if read >= DRAIN_BYTES:
                    return


def _closing(exc: ApiError) -> ApiError:
    """An error answered before the body was read: the connection cannot be reused."""
    exc.headers.setdefault("connection", "close")
    return exc


async def file_of(state: State, file_id: str) -> dict[str, Any]:
    file = await state.files.get(file_id)
    if file is None:
        raise not_found("file", file_id)
    return file


async def list_files(state: State, request: Request) -> Any:
    params = list_params(request, default_limit=10000, max_limit=10000)
    where = {}
    if purpose := request.query_params.get("purpose"):
        if purpose not in LIST_PURPOSES:
            listed = ", ".join(f"'{p}'" for p in LIST_PURPOSES)
            raise bad_request(
                f"Invalid value for 'purpose': '{purpose}'. Supported values are: {listed}.",
                param="purpose",
                code="invalid_value",
            )
        where["purpose"] = purpose
    return await page(state, "files", request, where, params)


async def get_file(state: State, request: Request) -> Any:
    return await file_of(state, request.path_params["file_id"])


async def get_content(state: State, request: Request) -> Any:
    file = await file_of(state, request.path_params["file_id"])
    path = await state.files.path_of(file["id"])
    if path is None or not path.exists():
        raise not_found("file", file["id"])
    return FileResponse(path, media_type=media_type(file["filename"]))


async def delete_file(state: State, request: Request) -> Any:
    file_id = request.path_params["file_id"]
    await file_of(state, file_id)
    for hook in state.on_file_deleted:
        await hook(file_id)
    await state.files.delete(file_id)
    return objects.deleted(file_id, "file") | {"object": "file"}


ROUTES = [
    route("/files", create_file, "POST"),
    route("/files", list_files, "GET"),
    route("/files/{file_id}", get_file, "GET"),
    route("/files/{file_id}", delete_file, "DELETE"),
    route("/files/{file_id}/content", get_content, "GET"),
]
