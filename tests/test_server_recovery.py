"""Conformance: crash recovery, persistence across restarts, and concurrent streams."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from conftest import BACKEND_PARAMS
from server_helpers import (
    AsyncRecordingHandler,
    echo_words,
    message_text,
    raw_http,
    text_run_events,
    wait_for_run,
)


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_kill_9_mid_run_fails_run_on_restart(start_server: Any, backend: str) -> None:
    srv = start_server()
    with srv.client() as client:
        asst = client.beta.assistants.create(model="echo")
        thread = client.beta.threads.create()
        client.beta.threads.messages.create(thread.id, role="user", content="/sleep 30000")
        run = client.beta.threads.runs.create(thread.id, assistant_id=asst.id)
        wait_for_run(client, thread.id, run.id, {"in_progress"}, timeout=5)
    srv.kill()

    start = time.monotonic()
    srv2 = start_server(data_dir=srv.data_dir)
    assert srv2.base_url  # listening again
    with srv2.client() as client:
        if backend == "sqlite":  # one process: failed as it starts
            after = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        else:  # replicas: failed once the dead one's lease expires (docs/scale-out.md)
            after = wait_for_run(client, thread.id, run.id, timeout=15)
        assert after.status == "failed"
        assert after.last_error is not None
        assert after.last_error.code == "server_error"
        assert after.last_error.message
        assert after.failed_at is not None
        assert after.expires_at is None
        assert time.monotonic() - start < 20

        # The thread is unlocked: new messages and runs work.
        client.beta.threads.messages.create(thread.id, role="user", content="back again")
        run2 = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run2.status == "completed"
        msgs = client.beta.threads.messages.list(thread.id, order="asc").data
        assert message_text(msgs[-1]) == "You said: back again"
        assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run2.id, run.id]


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_kill_9_during_requires_action(start_server: Any) -> None:
    """A run waiting for tool outputs survives a crash in a consistent state.

    Either it is failed like any other active run, or (since it needs no server work while
    waiting) it is still `requires_action` and accepts the tool outputs after the restart.
    """
    srv = start_server()
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    with srv.client() as client:
        asst = client.beta.assistants.create(model="echo", tools=[tool])
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "/call lookup {}"}]
        )
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run.status == "requires_action"
    srv.kill()
    srv2 = start_server(data_dir=srv.data_dir)
    with srv2.client() as client:
        after = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        if after.status == "requires_action":
            assert after.required_action == run.required_action
            assert after.expires_at == run.expires_at
            call_id = after.required_action.submit_tool_outputs.tool_calls[0].id
            done = client.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id,
                thread_id=thread.id,
                tool_outputs=[{"tool_call_id": call_id, "output": "found"}],
                poll_interval_ms=20,
            )
            assert done.status == "completed"
            last = client.beta.threads.messages.list(thread.id, limit=1).data[0]
            assert message_text(last) == "lookup returned: found"
        else:
            assert after.status == "failed"
            assert after.last_error.code == "server_error"
        client.beta.threads.messages.create(thread.id, role="user", content="ok")


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_data_survives_clean_restart(start_server: Any) -> None:
    srv = start_server()
    with srv.client() as client:
        asst = client.beta.assistants.create(
            model="gpt-4o", name="Keeper", instructions="Persist.", metadata={"a": "b"}
        )
        thread = client.beta.threads.create(metadata={"t": "1"})
        client.beta.threads.messages.create(thread.id, role="user", content="remember me")
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run.status == "completed"
    paths = [
        f"assistants/{asst.id}",
        f"threads/{thread.id}",
        f"threads/{thread.id}/messages?order=asc",
        f"threads/{thread.id}/runs",
        f"threads/{thread.id}/runs/{run.id}",
        f"threads/{thread.id}/runs/{run.id}/steps",
    ]
    with raw_http(srv) as http:
        before = {p: http.get(p).json() for p in paths}
    srv.stop()

    srv2 = start_server(data_dir=srv.data_dir)
    with raw_http(srv2) as http:
        after = {p: http.get(p).json() for p in paths}
    assert after == before
    with srv2.client() as client:
        msgs = client.beta.threads.messages.list(thread.id, order="asc").data
        assert [message_text(m) for m in msgs] == ["remember me", "You said: remember me"]
        client.beta.threads.messages.create(thread.id, role="user", content="still here")
        run2 = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=20
        )
        assert run2.status == "completed"
        assert client.beta.assistants.retrieve(asst.id).name == "Keeper"


@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)
def test_other_key_after_restart(start_server: Any) -> None:
    """The bearer key comes from the command line, not from the data dir."""
    srv = start_server(api_key="sk-first")
    with srv.client() as client:
        thread = client.beta.threads.create()
    srv.stop()
    srv2 = start_server(data_dir=srv.data_dir, api_key="sk-second")
    with raw_http(srv2, api_key="sk-first") as http:
        assert http.get(f"threads/{thread.id}").status_code == 401
    with srv2.client() as client:
        assert client.beta.threads.retrieve(thread.id).id == thread.id


async def test_twenty_concurrent_streams(server: Any) -> None:
    async with server.async_client() as aclient:
        asst = await aclient.beta.assistants.create(model="echo")
        threads = await asyncio.gather(
            *(
                aclient.beta.threads.create(
                    messages=[{"role": "user", "content": f"concurrent number {i}"}]
                )
                for i in range(20)
            )
        )

        async def one(i: int, thread_id: str) -> AsyncRecordingHandler:
            handler = AsyncRecordingHandler()
            async with aclient.beta.threads.runs.stream(
                thread_id=thread_id, assistant_id=asst.id, event_handler=handler
            ) as stream:
                await stream.until_done()
            return handler

        start = time.monotonic()
        handlers = await asyncio.gather(*(one(i, t.id) for i, t in enumerate(threads)))
        elapsed = time.monotonic() - start
        assert elapsed < 30
        for i, (thread, handler) in enumerate(zip(threads, handlers, strict=True)):
            words = echo_words(f"concurrent number {i}")
            assert handler.events == text_run_events(len(words)), i
            assert handler.deltas == words, i
            run = await handler.get_final_run()
            assert run.status == "completed"
            assert run.thread_id == thread.id
            msgs = await handler.get_final_messages()
            assert [message_text(m) for m in msgs] == [f"You said: concurrent number {i}"]
            stored = await aclient.beta.threads.messages.list(thread.id, order="asc")
            assert [message_text(m) for m in stored.data] == [
                f"concurrent number {i}",
                f"You said: concurrent number {i}",
            ]


async def test_twenty_concurrent_streams_with_delay(slow_server: Any) -> None:
    """With a per-delta delay the streams really interleave; still every one is exact."""
    async with slow_server.async_client() as aclient:
        asst = await aclient.beta.assistants.create(model="echo")

        async def one(i: int) -> tuple[str, str]:
            thread = await aclient.beta.threads.create(
                messages=[{"role": "user", "content": f"/long {20 + i}"}]
            )
            async with aclient.beta.threads.runs.stream(
                thread_id=thread.id, assistant_id=asst.id
            ) as stream:
                streamed = "".join([t async for t in stream.text_deltas])
                final = await stream.get_final_messages()
                run = await stream.get_final_run()
            assert run.status == "completed"
            return streamed, message_text(final[0])

        start = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(20)))
        elapsed = time.monotonic() - start
        for streamed, final in results:
            assert streamed == final
            assert streamed
        # 20 streams of ~0.4-0.8 s each must overlap, not run one after another.
        assert elapsed < 8, f"streams were not served concurrently ({elapsed:.1f}s)"


async def test_concurrent_run_creation_on_one_thread(server: Any) -> None:
    """The thread lock holds under a race: exactly one of 10 simultaneous runs is created."""
    import openai

    async with server.async_client() as aclient:
        asst = await aclient.beta.assistants.create(model="echo")
        thread = await aclient.beta.threads.create(
            messages=[{"role": "user", "content": "/sleep 500"}]
        )
        results = await asyncio.gather(
            *(aclient.beta.threads.runs.create(thread.id, assistant_id=asst.id) for _ in range(10)),
            return_exceptions=True,
        )
        created = [r for r in results if not isinstance(r, BaseException)]
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(created) == 1, results
        assert all(isinstance(e, openai.BadRequestError) for e in failed), failed
        runs = await aclient.beta.threads.runs.list(thread.id)
        assert [r.id for r in runs.data] == [created[0].id]
        await aclient.beta.threads.runs.poll(
            created[0].id, thread_id=thread.id, poll_interval_ms=20
        )


async def test_concurrent_message_creation(server: Any) -> None:
    async with server.async_client() as aclient:
        thread = await aclient.beta.threads.create()
        msgs = await asyncio.gather(
            *(
                aclient.beta.threads.messages.create(thread.id, role="user", content=f"c{i}")
                for i in range(20)
            )
        )
        listed = [m.id async for m in aclient.beta.threads.messages.list(thread.id, limit=7)]
        assert sorted(listed) == sorted(m.id for m in msgs)
        assert len(set(listed)) == 20
