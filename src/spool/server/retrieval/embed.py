"""In-process embedding models (numpy): benchmarks/bench_retrieval.py `--dense` uses them, and
the server's dense half (dense.py) uses `LlamaEmbedder` for `engine = "llama"` models.

* `LlamaEmbedder(path)`: a local GGUF through llama-cpp-python (`embedding=True`, mean pooling),
  e.g. SmolLM2's file from the `local` extra: offline.
* `OpenAIEmbedder(base_url, model, api_key)`: any OpenAI-compatible `/v1/embeddings`.

Both return L2-normalised float32 vectors, so a dot product is the cosine similarity.
"""

from __future__ import annotations

from typing import Any, Protocol


class Embedder(Protocol):
    """Texts → unit vectors (one row per text)."""

    def embed(self, texts: list[str]) -> Any: ...


def _normalise(rows: Any) -> Any:
    import numpy as np

    matrix = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class LlamaEmbedder:
    """A GGUF model through llama-cpp-python."""

    def __init__(self, path: str, n_ctx: int = 1024, n_threads: int | None = None) -> None:
        from llama_cpp import Llama

        self.n_ctx = n_ctx
        self.model = Llama(
            model_path=path,
            embedding=True,
            n_ctx=n_ctx,
            n_batch=n_ctx,
            n_ubatch=n_ctx,
            pooling_type=1,  # mean
            n_threads=n_threads,
            verbose=False,
        )

    def embed(self, texts: list[str]) -> Any:
        rows = []
        for text in texts:
            tokens = self.model.tokenize(text.encode("utf-8"), add_bos=True)[: self.n_ctx]
            rows.append(self.model.embed(self.model.detokenize(tokens).decode("utf-8", "ignore")))
        return _normalise(rows)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str = "none") -> None:
        import openai

        self.model = model
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=120)

    def embed(self, texts: list[str]) -> Any:
        response = self.client.embeddings.create(model=self.model, input=texts)
        data = sorted(response.data, key=lambda item: item.index)
        return _normalise([item.embedding for item in data])
