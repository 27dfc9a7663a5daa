"""`spool.client.tool_steps.StepTracker`: code input deltas reach the view's listeners at most
every EMIT_S, the last fragment always (a trailing emit), outputs and the step's end at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace as NS
from typing import Any

from spool.client.tool_steps import EMIT_S, StepTracker
from spool.client.view_model import CodeStepItem, ThreadView


def delta(fragment: str, *, first: bool = False, logs: str | None = None) -> list[Any]:
    outputs = [NS(index=0, type="logs", logs=logs)] if logs is not None else None
    return [
        NS(
            index=0,
            type="code_interpreter",
            id="call_1" if first else None,
            code_interpreter=NS(input=fragment, outputs=outputs),
        )
    ]


async def test_code_deltas_are_batched_and_the_last_one_is_shown() -> None:
    view = ThreadView("thread_1")
    seen: list[tuple[str, str]] = []

    def listen(v: ThreadView, change: Any) -> None:
        if isinstance(change.item, CodeStepItem):
            seen.append((change.kind, change.item.code))

    view.listeners.append(listen)
    tracker = StepTracker(clock=lambda: 100.0)
    source = "".join(f"line_{i} = {i}\n" for i in range(200))
    pieces = [source[i : i + 7] for i in range(0, len(source), 7)]
    for n, piece in enumerate(pieces):
        tracker.delta(view, "step_1", delta(piece, first=n == 0), "run_1")
    updates = [code for kind, code in seen if kind == "update"]
    assert seen[0][0] == "add" and len(updates) < len(pieces) / 10  # batched
    assert updates[-1] != source  # the tail is still to come…
    await asyncio.sleep(EMIT_S * 2)
    assert seen[-1] == ("update", source)  # …and comes by itself, EMIT_S later at most
    (item,) = view.items
    assert isinstance(item, CodeStepItem) and item.code == source
    count = len(seen)
    tracker.delta(view, "step_1", delta("", logs="done\n"), "run_1")
    assert len(seen) == count + 1 and item.logs == "done\n"  # outputs: at once
