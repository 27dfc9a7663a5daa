"""SSE throughput: events per second for one `/long 10000` echo run with no delay.

Reads the raw event stream with httpx (what the SDK does underneath) and, in the same run, the
same stream through the SDK's `runs.stream` helper. Goal: >= 5,000 events/s.

    .venv/bin/python benchmarks/bench_server_sse.py [--words 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import httpx2 as httpx
import openai

from _server import API_KEY, spool_server

warnings.filterwarnings("ignore", category=DeprecationWarning)


def raw_events(url: str, assistant_id: str, words: int) -> tuple[int, float]:
    with openai.OpenAI(base_url=url, api_key=API_KEY) as client:
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": f"/long {words}"}]
        )
    headers = {"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "assistants=v2"}
    count = 0
    start = time.perf_counter()
    with httpx.stream(
        "POST",
        f"{url}/threads/{thread.id}/runs",
        json={"assistant_id": assistant_id, "stream": True},
        headers=headers,
        timeout=120,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                count += 1
    return count, time.perf_counter() - start


def sdk_events(url: str, assistant_id: str, words: int) -> tuple[int, float]:
    with openai.OpenAI(base_url=url, api_key=API_KEY) as client:
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": f"/long {words}"}]
        )
        count = 0
        start = time.perf_counter()
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as s:
            for _event in s:
                count += 1
        return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with spool_server() as url:
        with openai.OpenAI(base_url=url, api_key=API_KEY) as client:
            assistant = client.beta.assistants.create(model="echo")
        raw_rates, sdk_rates = [], []
        for _ in range(args.repeat):
            count, seconds = raw_events(url, assistant.id, args.words)
            raw_rates.append(count / seconds)
            count2, seconds2 = sdk_events(url, assistant.id, args.words)
            sdk_rates.append(count2 / seconds2)
        print(f"/long {args.words}: {count} events per run")
        print(f"raw SSE (httpx):      median {statistics.median(raw_rates):8.0f} events/s")
        print(f"SDK runs.stream:      median {statistics.median(sdk_rates):8.0f} events/s")
        print("goal: >= 5000 events/s")


if __name__ == "__main__":
    main()
