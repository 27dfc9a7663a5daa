"""50 concurrent streamed echo runs: errors, and p50/p99 time to the first event.

Each of N clients creates its own thread and streams a run (`AsyncOpenAI`, `runs.stream`) at the
same moment. Goal: 0 errors, p99 time to first event <= 200 ms.

    .venv/bin/python benchmarks/bench_server_concurrency.py [--runs 50] [--echo-delay-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import warnings

import openai

from _server import API_KEY, spool_server

warnings.filterwarnings("ignore", category=DeprecationWarning)


async def one_run(client: openai.AsyncOpenAI, assistant_id: str, thread_id: str, text: str):
    start = time.perf_counter()
    first = None
    async with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id
    ) as stream:
        async for _event in stream:
            if first is None:
                first = time.perf_counter() - start
        run = await stream.get_final_run()
        messages = await stream.get_final_messages()
    ok = run.status == "completed" and messages[0].content[0].text.value == f"You said: {text}"
    return first, time.perf_counter() - start, ok


async def main_async(runs: int, delay: int) -> None:
    with spool_server("--echo-delay-ms", str(delay)) as url:
        async with openai.AsyncOpenAI(base_url=url, api_key=API_KEY, max_retries=0) as client:
            assistant = await client.beta.assistants.create(model="echo")
            texts = [f"run number {i} says hello to the server" for i in range(runs)]
            threads = await asyncio.gather(
                *(
                    client.beta.threads.create(messages=[{"role": "user", "content": t}])
                    for t in texts
                )
            )
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    one_run(client, assistant.id, th.id, t)
                    for th, t in zip(threads, texts, strict=True)
                ),
                return_exceptions=True,
            )
            wall = time.perf_counter() - start
    errors = [r for r in results if isinstance(r, BaseException) or not r[2]]
    firsts = sorted(r[0] * 1000 for r in results if not isinstance(r, BaseException))
    totals = sorted(r[1] * 1000 for r in results if not isinstance(r, BaseException))
    p99 = firsts[min(len(firsts) - 1, round(0.99 * (len(firsts) - 1)))]
    print(f"{runs} concurrent streamed runs, echo delay {delay} ms, wall {wall:.2f} s")
    print(f"errors: {len(errors)}")
    print(f"time to first event: p50 {statistics.median(firsts):.0f} ms, p99 {p99:.0f} ms")
    print(f"time to done:        p50 {statistics.median(totals):.0f} ms, max {totals[-1]:.0f} ms")
    print("goal: 0 errors, p99 time to first event <= 200 ms")
    for error in errors[:3]:
        print("error:", error)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--echo-delay-ms", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.runs, args.echo_delay_ms))


if __name__ == "__main__":
    main()
