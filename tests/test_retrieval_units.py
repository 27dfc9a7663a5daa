"""The retrieval pieces on their own: token estimate, chunk windows, parsing, filters, fusion,
and the local embedder (SmolLM2's GGUF, when the local extra is installed)."""

from __future__ import annotations

import itertools

import pytest

from spool.server.engines.llama import local_model_available, smollm2_path
from spool.server.retrieval import filters, tokens
from spool.server.retrieval.chunk import chunk
from spool.server.retrieval.fusion import rrf
from spool.server.retrieval.parse import ParseError, parse


def test_pieces_cover_the_text_exactly() -> None:
    text = "Hello, wörld!  42 tokens\n\tand 1234567 more…"
    spans = list(tokens.pieces(text))
    assert "".join(text[s:e] for s, e, _ in spans) == text
    assert tokens.count("internationalization") == 4  # 20 letters: one token per started 6
    assert tokens.count("1234567") == 3


def test_chunks_respect_size_and_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(5000))  # each word: 1 letter run + 1 digit run
    chunks = chunk(text, max_tokens=100, overlap=40)
    assert all(c.tokens <= 100 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # overlapping
        shared = tokens.count_text(text[after.start : before.end])
        assert shared <= 40
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert chunk("   \n ") == []


def test_unsupported_and_invalid_files() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b"data", "movie.mp4")
    assert caught.value.code == "unsupported_file"
    with pytest.raises(ParseError) as caught:
        parse(b"\x00\x01\x02\xff\xfe\xfd", "notes.txt")
    assert caught.value.code == "invalid_file"
    assert parse("café".encode("latin-1"), "latin.txt") == "café"


def test_filters_match_attributes() -> None:
    attrs = {"team": "ml", "year": 2025, "draft": False}
    assert filters.matches(attrs, {"type": "eq", "key": "team", "value": "ml"})
    assert not filters.matches(attrs, {"type": "gt", "key": "year", "value": 2025})
    assert filters.matches(attrs, {"type": "nin", "key": "missing", "value": ["x"]})
    assert filters.matches(
        attrs,
        {
            "type": "and",
            "filters": [
                {"type": "eq", "key": "draft", "value": False},
                {"type": "lte", "key": "year", "value": 2025},
            ],
        },
    )


def test_reciprocal_rank_fusion() -> None:
    assert set(rrf([["a", "b", "c"], ["c", "b", "d"]])[:2]) == {"b", "c"}
    assert rrf([["a", "b"], ["b", "a"]], weights=[1.0, 0.1]) == ["a", "b"]


@pytest.mark.llama
@pytest.mark.skipif(not local_model_available(), reason="needs the local extra (SmolLM2)")
def test_local_embedder_gives_unit_vectors() -> None:
    import numpy as np

    from spool.server.retrieval.embed import LlamaEmbedder

    embedder = LlamaEmbedder(str(smollm2_path()), n_ctx=256)
    vectors = embedder.embed(["The cat sat on the mat.", "Stock markets fell sharply."])
    assert vectors.shape == (2, 576)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
