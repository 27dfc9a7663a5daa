"""Server-sent-event framing exactly as the Assistants API streamed it.

Every event is `event: <name>` + one `data:` line of compact JSON + a blank line; a stream ends
with `event: done` / `data: [DONE]`. Comments (`: keep-alive`) keep idle connections open.
"""

from __future__ import annotations

import json
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

DONE = b"event: done\ndata: [DONE]\n\n"
KEEP_ALIVE = b": keep-alive\n\n"
MEDIA_TYPE = "text/event-stream; charset=utf-8"


def frame(event: str, data: dict[str, Any]) -> bytes:
    """One SSE event; `json.dumps` escapes newlines, so the data is always one line."""
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data).encode() + b"\n\n"


def text_delta(message_id: str, text: str, *, first: bool) -> bytes:
    """The `thread.message.delta` frame of one text fragment, without encoding a dict.

    The commonest event of a stream: only the fragment goes through the JSON encoder. The first
    delta of a text part carries `annotations: []`, as the API sent it.
    """
    value = _dumps(text)
    text_json = f'{{"value":{value},"annotations":[]}}' if first else f'{{"value":{value}}}'
    return (
        f'event: thread.message.delta\ndata: {{"id":{_dumps(message_id)},'
        f'"object":"thread.message.delta","delta":{{"content":[{{"index":0,"type":"text",'
        f'"text":{text_json}}}]}}}}\n\n'
    ).encode()
