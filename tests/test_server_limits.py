"""Limits: per-object sizes (as OpenAI had where known), header/body read timeouts and the
connection cap (short values set through the SPOOL_SERVE_* environment variables)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from server_helpers import assert_error_envelope, raw_http


@pytest.fixture
def limited(start_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SPOOL_SERVE_HEADER_TIMEOUT_S", "1")
    monkeypatch.setenv("SPOOL_SERVE_BODY_TIMEOUT_S", "1")
    monkeypatch.setenv("SPOOL_SERVE_MAX_CONNECTIONS", "20")
    return start_server()


def _address(server: Any) -> tuple[str, int]:
    host_port = server.root_url.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    return host, int(port)


def _closed(sock: socket.socket, within: float) -> bool:
    """True when the server closes `sock` (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_half_sent_headers_are_closed(limited: Any) -> None:
    socks = []
    for _ in range(15):
        s = socket.create_connection(_address(limited))
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")  # never finished
        socks.append(s)
    idle = socket.create_connection(_address(limited))  # sends nothing at all
    socks.append(idle)
    start = time.monotonic()
    assert all(_closed(s, 5) for s in socks)
    assert time.monotonic() - start < 5
    with raw_http(limited) as http:
        assert http.get("models").status_code == 200
    for s in socks:
        s.close()


def test_trickled_headers_are_closed(limited: Any) -> None:
    s = socket.create_connection(_address(limited))
    start = time.monotonic()
    closed = False
    for byte in b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        try:
            s.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if _closed(s, 0.2):
            closed = True
            break
    assert closed and time.monotonic() - start < 5
    s.close()


def test_idle_after_a_response_is_closed(limited: Any) -> None:
    s = socket.create_connection(_address(limited))
    s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    assert s.recv(65536).startswith(b"HTTP/1.1 ")
    s.sendall(b"GET /v1/mod")  # the next request, half sent
    assert _closed(s, 5)
    s.close()


def test_half_sent_body_is_408(limited: Any) -> None:
    s = socket.create_connection(_address(limited))
    head = (
        "POST /v1/assistants HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {limited.api_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    s.sendall(head.encode() + b'{"model": ')
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 408 "), data[:100]
    assert _closed(s, 5)
    s.close()


def test_connections_beyond_the_cap_are_refused(limited: Any) -> None:
    socks = [socket.create_connection(_address(limited)) for _ in range(25)]
    time.sleep(0.3)
    refused = [s for s in socks if _closed(s, 0.2)]
    assert len(refused) >= 5, len(refused)
    for s in socks:
        s.close()
    time.sleep(0.2)
    with raw_http(limited) as http:
        assert http.get("models").status_code == 200


# --------------------------------------------------------------------------- object sizes


def test_message_content_is_at_most_256k_characters(client: Any, raw: Any) -> None:
    thread = client.beta.threads.create()
    path = f"threads/{thread.id}/messages"
    ok = raw.post(path, json={"role": "user", "content": "x" * 256_000})
    assert ok.status_code == 200, ok.text[:200]
    error = assert_error_envelope(raw.post(path, json={"role": "user", "content": "x" * 256_001}))
    assert error["code"] == "string_above_max_length" and error["param"] == "content"
    parts = [{"type": "text", "text": "y" * 128_001}, {"type": "text", "text": "y" * 128_000}]
    assert_error_envelope(raw.post(path, json={"role": "user", "content": parts}), 400)


def test_attachments_and_parts_are_limited(client: Any, raw: Any) -> None:
    thread = client.beta.threads.create()
    path = f"threads/{thread.id}/messages"
    file = client.files.create(file=("a.txt", b"attached"), purpose="assistants")  # must exist
    attachment = {"file_id": file.id, "tools": [{"type": "file_search"}]}
    ok = raw.post(path, json={"role": "user", "content": "a", "attachments": [attachment] * 32})
    assert ok.status_code == 200, ok.text
    too_many = {"role": "user", "content": "a", "attachments": [attachment] * 33}
    assert assert_error_envelope(raw.post(path, json=too_many))["param"] == "attachments"
    parts = [{"type": "text", "text": "p"}] * 33
    assert_error_envelope(raw.post(path, json={"role": "user", "content": parts}), 400)


def test_messages_per_request_are_limited(raw: Any) -> None:
    messages = [{"role": "user", "content": "m"}] * 1001
    error = assert_error_envelope(raw.post("threads", json={"messages": messages}), 400)
    assert error["param"] == "messages"
