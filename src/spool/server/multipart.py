"""A streaming `multipart/form-data` reader: parts arrive as they are received, never whole.

`read_form(stream, content_type, on_file)` reads small fields into memory (each capped at
`MAX_FIELD_BYTES`) and hands every file part's bytes, chunk by chunk, to the `FileSink` that
`on_file(field, filename, content_type, fields)` returns, so an upload of any size costs a buffer of one
chunk plus the boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from spool.server.errors import bad_request

MAX_FIELD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024


class FileSink(Protocol):
    """Receives one file part's bytes."""

    def write(self, data: bytes) -> None: ...


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a `multipart/form-data` content type (400 when missing)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise bad_request(
            "Invalid content type: this endpoint expects multipart/form-data "
            f"(got '{kind.strip() or 'none'}')."
        )
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            value = value.strip('"')
            if 0 < len(value) <= 200:
                return value.encode("latin-1")
    raise bad_request("Invalid multipart body: the content type has no boundary.")


def _disposition(headers: bytes) -> tuple[str | None, str | None, str]:
    """(field name, filename, content type) from a part's headers."""
    name = filename = None
    content_type = "application/octet-stream"
    for line in headers.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            for item in value.split(";")[1:]:
                k, _, v = item.strip().partition("=")
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1].replace('\\"', '"')
                if k.lower() == "name":
                    name = v
                elif k.lower() == "filename":
                    filename = v
        elif key == "content-type":
            content_type = value.strip() or content_type
    return name, filename, content_type


async def read_form(
    stream: AsyncIterator[bytes],
    content_type: str,
    on_file: Callable[[str, str, str, dict[str, str]], FileSink],
) -> dict[str, str]:
    """Read the form; returns its text fields.

    `on_file(field, filename, type, fields_so_far)` returns the sink of a file part.
    """
    boundary = boundary_of(content_type)
    opening = b"--" + boundary
    delimiter = b"\r\n--" + boundary
    fields: dict[str, str] = {}
    buffer = b"\r\n"  # so the opening boundary matches the delimiter too
    state = "preamble"
    field_name: str | None = None
    field_value = bytearray()
    sink: FileSink | None = None
    keep = len(delimiter) + 4

    def bad(message: str) -> Exception:
        return bad_request(f"Invalid multipart body: {message}.")

    async for chunk in stream:
        buffer += chunk
        while True:
            if state == "preamble":
                at = buffer.find(delimiter)
                if at < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise bad("no opening boundary")
                    break
                buffer = buffer[at + len(delimiter) :]
                state = "after_boundary"
            if state == "after_boundary":
                if len(buffer) < 2:
                    break
                if buffer.startswith(b"--"):
                    return fields
                if not buffer.startswith(b"\r\n"):
                    raise bad("a boundary is not followed by a line break")
                buffer = buffer[2:]
                state = "headers"
            if state == "headers":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise bad("part headers too long")
                    break
                name, filename, part_type = _disposition(buffer[:end])
                buffer = buffer[end + 4 :]
                if not name:
                    raise bad("a part has no name")
                field_name = name
                field_value = bytearray()
                sink = on_file(name, filename, part_type, fields) if filename is not None else None
                state = "body"
            if state == "body":
                at = buffer.find(delimiter)
                if at < 0:
                    # Everything except what could be the start of the delimiter.
                    cut = max(len(buffer) - keep, 0)
                    data, buffer = buffer[:cut], buffer[cut:]
                    _feed(sink, field_value, data, field_name)
                    break
                _feed(sink, field_value, buffer[:at], field_name)
                buffer = buffer[at + len(delimiter) :]
                if sink is None and field_name is not None:
                    fields[field_name] = field_value.decode("utf-8", "replace")
                sink = None
                state = "after_boundary"
    if state == "preamble" and opening not in buffer:
        raise bad("no opening boundary")
    raise bad("the body ended before the closing boundary")


def _feed(sink: FileSink | None, value: bytearray, data: bytes, name: str | None) -> None:
    if not data:
        return
    if sink is not None:
        sink.write(data)
        return
    value += data
    if len(value) > MAX_FIELD_BYTES:
        raise bad_request(f"Invalid multipart body: the field '{name}' is too long.")
