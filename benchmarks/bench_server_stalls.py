"""Event-loop stalls: the worst latency of a second client's `GET /v1/models` while one heavy
request runs. Goal: no stall above ~20 ms.

Scenarios (the issue's): create a thread with 100,000 messages; a `max_prompt_tokens=256` run on
a thread of 4,000 messages; list 20 messages of ~7 MB each.

    .venv/bin/python benchmarks/bench_server_stalls.py
"""

from __future__ import annotations

import json
import threading
import time
import warnings

import httpx2 as httpx
import openai

from _server import API_KEY, spool_server

warnings.filterwarnings("ignore", category=DeprecationWarning)
HEADERS = {"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "assistants=v2"}


def worst_latency(url: str, heavy) -> tuple[float, float]:
    """(worst GET /models ms, heavy request s) while `heavy()` runs."""
    samples: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url + "/", headers=HEADERS, timeout=120) as http:
            http.get("models")
            while not stop.is_set():
                start = time.perf_counter()
                http.get("models")
                samples.append((time.perf_counter() - start) * 1000)
                time.sleep(0.002)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.1)
    start = time.perf_counter()
    heavy()
    took = time.perf_counter() - start
    stop.set()
    thread.join()
    return max(samples, default=0.0), took


def main() -> None:
    with spool_server() as url, openai.OpenAI(base_url=url, api_key=API_KEY) as client:
        http = httpx.Client(base_url=url + "/", headers=HEADERS, timeout=300)
        many = json.dumps(
            {"messages": [{"role": "user", "content": f"m{i}"} for i in range(100_000)]}
        )
        worst, took = worst_latency(url, lambda: http.post("threads", content=many.encode()))
        print(f"create thread, 100k messages:         worst {worst:7.1f} ms (request {took:.2f} s)")

        assistant = client.beta.assistants.create(model="echo")
        thread = client.beta.threads.create()
        for i in range(4000):
            http.post(
                f"threads/{thread.id}/messages", json={"role": "user", "content": f"m {i} a b c"}
            )

        def truncated_run() -> None:
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id, max_prompt_tokens=256,
                poll_interval_ms=20,
            )  # fmt: skip
            assert run.status == "completed", run.status

        worst, took = worst_latency(url, truncated_run)
        print(f"run, max_prompt_tokens=256, 4k msgs:  worst {worst:7.1f} ms (run {took:.2f} s)")

        big_thread = client.beta.threads.create()
        big = "https://example.com/" + "x" * (7 * 1024 * 1024)
        body = json.dumps(
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": big}}]}
        )
        for _ in range(20):
            http.post(f"threads/{big_thread.id}/messages", content=body.encode())
        sizes: list[int] = []
        worst, took = worst_latency(
            url,
            lambda: sizes.append(
                len(http.get(f"threads/{big_thread.id}/messages", params={"limit": 20}).content)
            ),
        )
        print(
            f"list 20 messages of 7 MB:            worst {worst:7.1f} ms "
            f"(response {sizes[0] / 1e6:.0f} MB in {took:.2f} s)"
        )
        http.close()
    print("goal: worst <= ~20 ms")


if __name__ == "__main__":
    main()
