"""A load balancer in miniature for the tests: an HTTP reverse proxy on loopback that sends
each request to the next of several `spool serve` replicas (round-robin per request, not per
connection, so one kept-alive SDK client still reaches every replica), streaming responses
through as they arrive (SSE included). Runs uvicorn in a thread of the test process."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections import Counter
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}


class RoundRobinProxy:
    """`url` forwards to `upstreams` in turn; `hits` counts requests per upstream."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = itertools.cycle(upstreams)
        self.hits: Counter[str] = Counter()
        self._client: httpx2.AsyncClient | None = None
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._forward,
                    methods=["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"],
                )
            ]
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(target=self._run, name="replica-proxy", daemon=True)

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the proxy did not start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        limits = httpx2.Limits(max_connections=500, max_keepalive_connections=100)
        async with httpx2.AsyncClient(timeout=None, limits=limits) as client:
            self._client = client
            await self._server.serve(sockets=[self._sock])

    async def _forward(self, request: Request) -> Any:
        assert self._client is not None
        upstream = next(self._next)
        self.hits[upstream] += 1
        url = upstream + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        outgoing = self._client.build_request(
            request.method, url, headers=headers, content=await request.body()
        )
        response = await self._client.send(outgoing, stream=True)
        back = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=dict(back),
            background=BackgroundTask(response.aclose),
        )
