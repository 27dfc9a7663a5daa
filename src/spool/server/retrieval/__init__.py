"""Retrieval for file_search: parse a file → chunk it → index the chunks → search them.

* `parse.py`: bytes → text (txt, md, code, json, html, pdf via pypdf, docx/pptx from their XML).
* `tokens.py`: an offline token estimate (no tokenizer files to fetch) used for chunk sizes.
* `chunk.py`: token windows (800/400 by default) over the text, as character spans.
* `index.py`: the SQLite side: chunks, their FTS5 (BM25) index, each file's parsed text.
* `filters.py`: the search `filters` (comparison and compound) on file attributes.
* `search.py`: queries → ranked, thresholded chunks with scores in [0, 1].
* `dense.py`, `vectors.py`: the dense half (off unless `[retrieval] embedding_model` is set):
  the embedding model, chunk vectors (SQLite BLOB / pgvector) and their exact search.
* `fusion.py`: reciprocal rank fusion of the keyword and dense rankings (`search.py`).
* `embed.py`: in-process embedders (a GGUF, or an OpenAI-compatible endpoint) for
  benchmarks/bench_retrieval.py `--dense`, and the GGUF one behind `engine = "llama"`.
"""
