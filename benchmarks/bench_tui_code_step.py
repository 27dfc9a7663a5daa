"""Does a code step slow down streaming? The same reply streamed into the spool TUI after a
code_interpreter step and without one, in one process, headless 120×40, embedded server (echo);
and code written token by token (many input deltas) against the same characters as reply text.

* plain: the user sends N words; the echo engine streams `You said: <N words>`;
* code: `/code print(<N words>)`; the TUI shows the code step (code streamed, logs), then the
  engine streams `Code output: <N words>` (the same words, one per delta).

For each, from the reply's first delta to its last word painted: wall time, words per second,
and the worst stall of the event loop (a 5 ms heartbeat) over the whole run; also how long the
code step took to show its logs after the step ended. Runs alternate (warm sandbox first) and the
medians are compared in this run.

The deltas part feeds events (shaped like the SDK's) through the run driver's own event handling,
as a stream would, into a fresh thread, and waits until the last one is on screen.

Needs the sandbox (bubblewrap). Usage: python benchmarks/bench_tui_code_step.py [--words 3000]
[--repeats 3] [--fragments 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench_tui_stream import Heartbeat


async def one_run(app: Any, pilot: Any, text: str) -> dict[str, float]:
    from spool.client.view_model import CodeStepItem, MessageItem
    from spool.tui.widgets.code_step import CodeStepView
    from spool.tui.widgets.message import MessageView

    await pilot.press("ctrl+n")
    while not (app.current and app.workspace.view(app.current).loaded):
        await asyncio.sleep(0.01)
    await app.wait_for_ui()
    view = app.workspace.view(app.current)
    marks: dict[str, float] = {}

    def listen(v: Any, change: Any) -> None:
        item = change.item
        now = time.perf_counter()
        if isinstance(item, MessageItem) and item.role == "assistant" and item.text:
            marks.setdefault("first_delta", now)
        if isinstance(item, CodeStepItem) and not item.running:
            marks.setdefault("step_end", now)

    view.listeners.append(listen)

    async def watch_step() -> None:  # when the finished step shows it is done
        while True:
            for step in app.transcript.query(CodeStepView):
                titles = [str(c.title) for c in step.query("Collapsible")]
                if titles and "done" in titles[0]:
                    marks["step_painted"] = time.perf_counter()
                    return
            await asyncio.sleep(0.002)

    watcher = asyncio.get_running_loop().create_task(watch_step())
    hb = Heartbeat()
    hb.start()
    t0 = time.perf_counter()
    app.composer.set_text(text)
    await pilot.press("enter")
    while not (view.run and view.run.id and not view.run.active):
        await asyncio.sleep(0.005)
    await app.wait_for_ui()
    reply = [w for w in app.transcript.query(MessageView) if w.item.role == "assistant"][-1]
    while reply.markdown is not None and not reply.markdown.settled:
        await asyncio.sleep(0.005)
    await pilot.pause()
    t_end = time.perf_counter()
    hb.stop()
    words = len(reply.item.text.split())
    out = {
        "reply_s": t_end - marks["first_delta"],
        "words_per_s": words / (t_end - marks["first_delta"]),
        "max_stall_ms": hb.max_stall * 1000,
        "run_s": t_end - t0,
        "words": words,
    }
    steps = list(app.transcript.query(CodeStepView))
    if steps:
        await asyncio.wait_for(watcher, 10)
        out["step_logs_painted_ms"] = (marks["step_painted"] - marks["step_end"]) * 1000
        out["step_s"] = steps[-1].item.duration_s or 0.0
    else:
        watcher.cancel()
    return out


def _ns(**kw: Any) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(**kw)


def code_delta(fragment: str, first: bool) -> Any:
    call = _ns(
        index=0,
        type="code_interpreter",
        id="call_bench" if first else None,
        code_interpreter=_ns(input=fragment, outputs=None),
    )
    details = _ns(type="tool_calls", tool_calls=[call])
    return _ns(
        event="thread.run.step.delta", data=_ns(id="step_bench", delta=_ns(step_details=details))
    )


def text_delta(fragment: str) -> Any:
    part = _ns(type="text", text=_ns(value=fragment, annotations=None))
    return _ns(event="thread.message.delta", data=_ns(id="msg_bench", delta=_ns(content=[part])))


async def fragments_run(app: Any, pilot: Any, kind: str, fragments: list[str]) -> dict[str, float]:
    """Feed deltas through the run driver's event handling (as a stream would) into a fresh
    thread's view, then wait until the last one is on screen."""
    from spool.client.view_model import CodeStepItem, MessageItem
    from spool.tui.widgets.code_step import CodeStepView

    await pilot.press("ctrl+n")
    while not (app.current and app.workspace.view(app.current).loaded):
        await asyncio.sleep(0.01)
    await app.wait_for_ui()
    view = app.workspace.view(app.current)
    driver = app.driver
    hb = Heartbeat()
    hb.start()
    t0 = time.perf_counter()
    for n, fragment in enumerate(fragments):
        event = code_delta(fragment, n == 0) if kind == "code" else text_delta(fragment)
        await driver._apply_event(view, event)
        await asyncio.sleep(0)  # as RunDriver._consume does
    t_fed = time.perf_counter()
    whole = "".join(fragments)
    if kind == "code":
        item = next(i for i in view.items if isinstance(i, CodeStepItem))
        assert item.code == whole
        while True:
            await app.wait_for_ui()
            widget = app.transcript.widget_for(item)
            if isinstance(widget, CodeStepView) and widget._shown_code == whole:
                break
            await asyncio.sleep(0.002)
    else:
        item = next(i for i in view.items if isinstance(i, MessageItem))
        view.updated(item)  # (the stream's end emits the last text)
        await app.wait_for_ui()
        widget = app.transcript.widget_for(item)
        while widget.markdown is not None and (
            widget.markdown.text != whole or not widget.markdown.settled
        ):
            await asyncio.sleep(0.002)
    await pilot.pause()
    t_end = time.perf_counter()
    hb.stop()
    return {
        "wall_s": t_end - t0,
        "feed_s": t_fed - t0,
        "max_stall_ms": hb.max_stall * 1000,
    }


async def bench(words: int, repeats: int, fragments: int) -> None:
    from spool.config import Config, Profile
    from spool.tui.app import SpoolApp

    text = " ".join(f"w{i}" for i in range(words))
    plain = text
    code = f"/code print({text!r})"
    with tempfile.TemporaryDirectory() as tmp:
        app = SpoolApp(
            data_dir=Path(tmp),
            model="echo",
            cursor_blink=False,
            config=Config(profiles={"local": Profile("local")}),
        )
        app.image_mode = "placeholder"
        async with app.run_test(size=(120, 40)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 60)
            await app.connection.client.beta.assistants.update(
                app.assistant_id, tools=[{"type": "code_interpreter"}]
            )
            await one_run(app, pilot, "/code print('warm')")  # the sandbox starts once
            results: dict[str, list[dict[str, float]]] = {"plain": [], "code": []}
            for _ in range(repeats):
                for name, message in (("plain", plain), ("code", code)):
                    r = await one_run(app, pilot, message)
                    results[name].append(r)
                    print(
                        f"{name:6s} " + "  ".join(f"{k}={v:.2f}" for k, v in r.items()),
                        flush=True,
                    )
            # a model that writes its code token by token: many small input deltas
            lines = [
                f"value_{i} = compute({i}, scale=2.5)  # step {i}" for i in range(fragments // 10)
            ]
            source = "\n".join(lines) + "\n"
            size = max(1, len(source) // fragments)
            pieces = [source[i : i + size] for i in range(0, len(source), size)]
            streamed: dict[str, list[dict[str, float]]] = {"text": [], "code": []}
            for _ in range(repeats):
                for kind in ("text", "code"):
                    r = await fragments_run(app, pilot, kind, pieces)
                    streamed[kind].append(r)
                    print(
                        f"{kind} deltas " + "  ".join(f"{k}={v:.3f}" for k, v in r.items()),
                        flush=True,
                    )
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        for name, rs in results.items()
    }
    p, c = med["plain"], med["code"]
    print()
    print(
        f"{words} words, median of {repeats}: reply after a code step {c['reply_s']:.2f} s vs "
        f"{p['reply_s']:.2f} s without: {c['reply_s'] / p['reply_s']:.2f}x "
        f"({c['words_per_s']:.0f} vs {p['words_per_s']:.0f} words/s)"
    )
    print(
        f"worst stall: {c['max_stall_ms']:.0f} ms with a code step, {p['max_stall_ms']:.0f} ms "
        f"without; code step ran {c['step_s']:.2f} s, its logs shown "
        f"{c['step_logs_painted_ms']:.0f} ms after it ended"
    )
    t = {k: statistics.median(r[k] for r in streamed["text"]) for k in streamed["text"][0]}
    k = {key: statistics.median(r[key] for r in streamed["code"]) for key in streamed["code"][0]}
    print(
        f"{len(pieces)} deltas ({len(source)} characters, {len(lines)} lines), median of "
        f"{repeats}: as code input {k['wall_s']:.2f} s (worst stall {k['max_stall_ms']:.0f} ms) "
        f"vs as reply text {t['wall_s']:.2f} s ({t['max_stall_ms']:.0f} ms): "
        f"{k['wall_s'] / t['wall_s']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fragments", type=int, default=2000, help="code input deltas")
    args = parser.parse_args()
    asyncio.run(bench(args.words, args.repeats, args.fragments))


if __name__ == "__main__":
    main()
