"""Retrieval for file_search: parse a file → chunk it → index the chunks → search them.

* `parse.py`: bytes → text (txt, md, code, json, html, pdf via pypdf, docx/pptx from their XML).
* `tokens.py`: an offline token estimate (no tokenizer files to fetch) used for chunk sizes.
* `chunk.py`: token windows (800/400 by default) over the text, as character spans.
* `index.py`: the SQLite side: chunks, their FTS5 (BM25) index, each file's parsed text.
* `filters.py`: the search `filters` (comparison and compound) on file attributes.
* `search.py`: queries → ranked, thresholded chunks with scores in [0, 1].
* `embed.py`, `fusion.py`: embeddings (a GGUF, or an OpenAI-compatible endpoint) and weighted
  reciprocal rank fusion, for a dense half; measured in benchmarks/bench_retrieval.py, not used
  by `search.py` (SmolLM2's vectors made the fused ranking worse than BM25 alone).
"""
