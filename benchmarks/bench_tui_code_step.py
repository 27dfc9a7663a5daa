"""Does a code step slow down streaming? The same reply streamed into the spool TUI after a
code_interpreter step and without one, in one process, headless 120×40, embedded server (echo).

* plain: the user sends N words; the echo engine streams `You said: <N words>`;
* code: `/code print(<N words>)`; the TUI shows the code step (code streamed, logs), then the
  engine streams `Code output: <N words>` (the same words, one per delta).

For each, from the reply's first delta to its last word painted: wall time, words per second,
and the worst stall of the event loop (a 5 ms heartbeat) over the whole run; also how long the
code step took to show its logs after the step ended. Runs alternate (warm sandbox first) and the
medians are compared in this run.

Needs the sandbox (bubblewrap). Usage: python benchmarks/bench_tui_code_step.py [--words 3000]
[--repeats 3]
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


async def bench(words: int, repeats: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(bench(args.words, args.repeats))


if __name__ == "__main__":
    main()
