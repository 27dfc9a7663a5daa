"""The openai SDK (~0.5 s to import) is warmed at start, in the background, when the model
table has an openai-engine model: the first run of such a model must not freeze the loop."""

from __future__ import annotations

import socket
import time
from typing import Any

from server_helpers import StallProbe, wait_for_run


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_first_openai_engine_run_does_not_stall(start_server: Any) -> None:
    config = (
        'default_model = "echo"\n\n[models.upstream]\nengine = "openai"\n'
        f'base_url = "http://127.0.0.1:{_closed_port()}/v1"\ntimeout = 2\n'
    )
    server = start_server(config_toml=config)
    deadline = time.monotonic() + 30
    while not any("openai SDK ready" in line for line in server.output):
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.05)
    with server.client() as client:
        assistant = client.beta.assistants.create(model="upstream")
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        with StallProbe(server) as probe:
            run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
            run = wait_for_run(client, thread.id, run.id, timeout=30)
    assert run.status == "failed"  # nothing listens upstream
    print(f"worst GET /v1/models: {probe.worst_ms:.1f} ms")
    assert probe.worst_ms < 150, probe.samples
