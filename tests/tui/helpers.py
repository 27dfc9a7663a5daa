"""Helpers for driving `SpoolApp` with Pilot against the embedded echo server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from spool.client.view_model import MessageItem, NoticeItem, ThreadView
from spool.config import Config, Profile
from spool.tui.app import SpoolApp

FIXED_NOW = 1_790_000_000.0  # 2026-09-21, for snapshots


def make_app(data_dir: Path, **kwargs: Any) -> SpoolApp:
    """An app on `data_dir`, echo model, no blinking cursor, default config."""
    kwargs.setdefault("model", "echo")
    kwargs.setdefault("cursor_blink", False)
    kwargs.setdefault("config", Config(profiles={"local": Profile("local")}))
    return SpoolApp(data_dir=data_dir, **kwargs)


async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll `predicate` until it is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (IndexError, KeyError, AttributeError):  # (e.g. `items[-1]` before any item)
            value = None
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


async def ready(app: SpoolApp, timeout: float = 60.0) -> None:
    """Wait for the connection and the first thread."""
    await asyncio.wait_for(app.ready.wait(), timeout)
    await wait_until(lambda: app.current and app.workspace.view(app.current).loaded, what="load")


def view(app: SpoolApp, thread_id: str | None = None) -> ThreadView:
    return app.workspace.view(thread_id or app.current or "")


async def run_ended(app: SpoolApp, thread_id: str | None = None, timeout: float = 20.0) -> str:
    """Wait until the thread's run is no longer active; returns its status."""
    v = view(app, thread_id)
    await wait_until(
        lambda: v.run is not None and v.run.id is not None and not v.run.active,
        timeout,
        "run end",
    )
    assert v.run is not None
    await app.wait_for_ui()
    return v.run.status


def texts(v: ThreadView) -> list[tuple[str, str]]:
    """(role/kind, text) of every item."""
    out = []
    for item in v.items:
        if isinstance(item, MessageItem):
            out.append((item.role, item.text))
        elif isinstance(item, NoticeItem):
            out.append((item.kind, item.text))
        else:
            out.append(("tool", getattr(item, "name", "")))
    return out


async def type_and_send(pilot: Any, text: str) -> None:
    """Put text in the composer and press Enter."""
    app = pilot.app
    app.composer.focus()
    app.composer.set_text(text)
    await pilot.press("enter", "wait:40")  # an Enter is a send once no key follows it at once


Answer = tuple[int, str, bytes]  # status, content type, body


@contextlib.contextmanager
def scripted_api(answer: Callable[[str, str], Answer]) -> Iterator[Config]:
    """A scripted stand-in for a broken or slow server on loopback (a proxy's HTML 500s, a
    thread that takes long to create): `answer(method, path)` gives each response. Yields a
    config whose profile `scripted` points at it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status, kind, body = answer(self.command, self.path.split("?")[0])
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/v1"
    try:
        yield Config(profiles={"local": Profile("local"), "scripted": Profile("scripted", url)})
    finally:
        httpd.shutdown()
