"""Request latency on one kept-alive SDK connection: p50/p99 of sequential retrieves.

Also the time to the first streamed event of a run on a reused connection. Goal: p50 of 100
sequential `assistants.retrieve` calls <= 3 ms (a Nagle/delayed-ACK regression shows ~40 ms).

    .venv/bin/python benchmarks/bench_server_latency.py [--requests 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import openai

from _server import API_KEY, spool_server

warnings.filterwarnings("ignore", category=DeprecationWarning)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with spool_server() as url, openai.OpenAI(base_url=url, api_key=API_KEY) as client:
        assistant = client.beta.assistants.create(model="echo")
        client.beta.assistants.retrieve(assistant.id)
        retrieves = []
        for _ in range(args.requests):
            start = time.perf_counter()
            client.beta.assistants.retrieve(assistant.id)
            retrieves.append((time.perf_counter() - start) * 1000)
        thread = client.beta.threads.create()
        firsts = []
        for i in range(20):
            client.beta.threads.messages.create(thread.id, role="user", content=f"hello {i}")
            start = time.perf_counter()
            with client.beta.threads.runs.stream(
                thread_id=thread.id, assistant_id=assistant.id
            ) as stream:
                first = None
                for _event in stream:
                    if first is None:
                        first = (time.perf_counter() - start) * 1000
            firsts.append(first or 0.0)
    print(
        f"{args.requests} sequential retrieves, one connection: "
        f"p50 {statistics.median(retrieves):.2f} ms, p99 {percentile(retrieves, 0.99):.2f} ms"
    )
    print(
        f"first stream event, reused connection (20 runs): "
        f"p50 {statistics.median(firsts):.2f} ms, p99 {percentile(firsts, 0.99):.2f} ms"
    )
    print("goal: retrieve p50 <= 3 ms")


if __name__ == "__main__":
    main()
