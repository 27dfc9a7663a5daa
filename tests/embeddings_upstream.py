"""A scripted OpenAI-compatible `/v1/embeddings` upstream on loopback, for the dense half of
file_search: deterministic hashed bag-of-concepts vectors.

Each word is lower-cased, mapped through a small synonym table to a concept ("physician" and
"doctor" are one concept) and hashed (sha256) to one of `DIMS` dimensions; a text's vector is
its concepts' counts. So a paraphrase sharing no word with a document (but its concepts) has
cosine ~1 with it, while BM25 finds nothing. `fail = True` makes every request answer 500;
`requests` records the inputs.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from loopback import LoopbackServer

DIMS = 1024
SYNONYMS = {
    "physician": "doctor",
    "doctor": "doctor",
    "medic": "doctor",
    "prescribed": "advise",
    "recommended": "advise",
    "advised": "advise",
    "rest": "sleep",
    "sleep": "sleep",
    "slumber": "sleep",
    "operation": "surgery",
    "surgery": "surgery",
    "procedure": "surgery",
    "after": "after",
    "following": "after",
    "harbour": "port",
    "port": "port",
    "freezes": "ice",
    "icy": "ice",
    "winter": "cold",
    "cold": "cold",
}
_WORD = re.compile(r"\w+")
STOP = {"the", "a", "an", "of", "in", "to", "and", "is", "was", "what", "did", "do"}


def vector(text: str) -> list[float]:
    """The text's hashed bag-of-concepts vector (not normalised: the server does that)."""
    out = [0.0] * DIMS
    for word in _WORD.findall(text.lower()):
        if word in STOP:
            continue
        concept = SYNONYMS.get(word, word)
        out[int(hashlib.sha256(concept.encode()).hexdigest(), 16) % DIMS] += 1.0
    if not any(out):
        out[0] = 1e-3
    return out


class EmbeddingsUpstream:
    """`POST /v1/embeddings` answering `vector(text)` for every input (or 500 when failing)."""

    def __init__(self) -> None:
        self.fail = False
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""
        self._server: Any = None

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def embeddings(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            if self.fail:
                return JSONResponse({"error": {"message": "scripted failure"}}, status_code=500)
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return JSONResponse(
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [
                        {"object": "embedding", "index": i, "embedding": vector(t)}
                        for i, t in enumerate(texts)
                    ],
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                }
            )

        return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])

    def start(self) -> EmbeddingsUpstream:
        self._server = LoopbackServer(self.app())
        self.base_url = self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def config_toml(self, *, model: str = "embed") -> str:
        """A spool config whose `[retrieval] embedding_model` is this upstream."""
        return (
            'default_model = "echo"\n\n'
            f'[models.{model}]\nengine = "openai"\nbase_url = "{self.base_url}"\n'
            'upstream_model = "scripted-bow"\ntimeout = 5\n\n'
            f'[retrieval]\nembedding_model = "{model}"\n'
        )
