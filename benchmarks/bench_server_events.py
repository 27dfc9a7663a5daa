"""Server CPU per streamed event: events per CPU second of the server process.

N concurrent raw SSE streams (httpx, so the client side stays cheap) of `/long WORDS` echo runs
paced at `--echo-delay-ms` (5: every delta is its own write, as with a real model); the
server's CPU time (/proc) is measured over the whole batch.

    .venv/bin/python benchmarks/bench_server_events.py [--streams 200] [--words 500] [--echo-delay-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import warnings

import httpx2 as httpx
import openai

from _server import API_KEY, cpu_seconds, spool_server_process

warnings.filterwarnings("ignore", category=DeprecationWarning)
HEADERS = {"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "assistants=v2"}


async def one_stream(http: httpx.AsyncClient, url: str, assistant_id: str, thread_id: str) -> int:
    count = 0
    async with http.stream(
        "POST",
        f"{url}/threads/{thread_id}/runs",
        json={"assistant_id": assistant_id, "stream": True},
        headers=HEADERS,
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                count += 1
    return count


async def main_async(streams: int, words: int, delay: int) -> None:
    with spool_server_process("--echo-delay-ms", str(delay)) as (url, proc):
        async with openai.AsyncOpenAI(base_url=url, api_key=API_KEY) as client:
            assistant = await client.beta.assistants.create(model="echo")
            threads = [
                await client.beta.threads.create(
                    messages=[{"role": "user", "content": f"/long {words}"}]
                )
                for _ in range(streams)
            ]
        limits = httpx.Limits(max_connections=streams + 5)
        async with httpx.AsyncClient(timeout=300, limits=limits) as http:
            cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
            counts = await asyncio.gather(
                *(one_stream(http, url, assistant.id, t.id) for t in threads)
            )
            cpu1, wall1 = cpu_seconds(proc.pid), time.perf_counter()
    events = sum(counts)
    cpu = cpu1 - cpu0
    print(f"{streams} concurrent streams of /long {words}, delay {delay} ms: {events} events")
    print(f"server CPU {cpu:.2f} s, wall {wall1 - wall0:.2f} s")
    print(f"events per server CPU second: {events / cpu:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--words", type=int, default=500)
    parser.add_argument("--echo-delay-ms", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.streams, args.words, args.echo_delay_ms))


if __name__ == "__main__":
    main()
