"""A real MCP server for the tests, written with the `mcp` SDK: run it as
`python tests/mcp_server.py [PREFIX]` (stdio), or `python tests/mcp_server.py --http PORT`
(streamable HTTP on 127.0.0.1:PORT/mcp).

Tools: `add(a, b)`, `shout(text)` (PREFIX + upper case), `slow(seconds)` (sleeps, then says so),
`crash()` (the process exits at once), `fail()` (a tool error), `picture()` (an image block).
Every call is appended to the file named by `$MCP_CALL_LOG` (when set), so tests can tell
whether a call reached the server.
"""

from __future__ import annotations

import base64
import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp_types import ImageContent

HTTP_PORT = int(sys.argv[2]) if sys.argv[1:2] == ["--http"] else None
PREFIX = sys.argv[1] if len(sys.argv) > 1 and HTTP_PORT is None else ""
server = MCPServer("spool-test-tools")


def _log(line: str) -> None:
    path = os.environ.get("MCP_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> str:
    _log(f"add {a} {b}")
    return str(a + b)


@server.tool(description="The text in capitals.")
def shout(text: str) -> str:
    _log(f"shout {text}")
    return PREFIX + text.upper()


@server.tool(description="Sleep, then say so.")
def slow(seconds: float) -> str:
    _log(f"slow {seconds}")
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool(description="Exit the server process at once.")
def crash() -> str:
    _log("crash")
    print("about to crash", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(description="Always fails.")
def fail() -> str:
    _log("fail")
    raise ValueError("this tool always fails")


@server.tool(description="A one-pixel picture.")
def picture() -> ImageContent:
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    return ImageContent(type="image", data=data, mime_type="image/png")


if __name__ == "__main__":
    print("spool test MCP server starting", file=sys.stderr, flush=True)
    _log(f"pid {os.getpid()}")
    if HTTP_PORT is not None:
        server.run("streamable-http", host="127.0.0.1", port=HTTP_PORT)
    else:
        server.run()
