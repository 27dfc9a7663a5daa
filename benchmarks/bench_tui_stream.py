"""Streaming render benchmark: `/long N` from the echo engine into the spool TUI vs a plain `Log`.

Headless 120×40. Every measurement runs in a fresh subprocess against one `spool serve` (echo).

* firehose (`--echo-delay-ms 0`): wall time from Enter to the final text painted, CPU time of the
  client process, the worst UI stall (lateness of a 5 ms heartbeat);
* paced (`--echo-delay-ms 5`, ~200 tokens/s): lag at the end (last delta received → painted),
  worst stall, CPU share of one core.

Usage: python benchmarks/bench_tui_stream.py [--tokens 4000 8000] [--paced-tokens 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


class Heartbeat:
    """Measures event-loop stalls: how late a 5 ms sleep wakes up."""

    def __init__(self) -> None:
        self.max_stall = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            self.max_stall = max(self.max_stall, time.perf_counter() - t - 0.005)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def measure_spool(data_dir: Path, tokens: int) -> dict[str, float]:
    from spool.config import Config, Profile
    from spool.tui.app import SpoolApp
    from spool.tui.widgets.message import MessageView

    app = SpoolApp(
        data_dir=data_dir,
        model="echo",
        cursor_blink=False,
        config=Config(profiles={"local": Profile("local")}),
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        await pilot.pause()
        await pilot.press("ctrl+n")
        while not (app.current and app.workspace.view(app.current).loaded):
            await asyncio.sleep(0.01)
        await app.wait_for_ui()
        view = app.workspace.view(app.current)
        hb = Heartbeat()
        hb.start()
        last_delta = [0.0]
        view.listeners.append(lambda v, c: last_delta.__setitem__(0, time.perf_counter()))
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        app.composer.set_text(f"/long {tokens}")
        await pilot.press("enter")
        while not (view.run and view.run.id and not view.run.active):
            await asyncio.sleep(0.005)
        t_run_end = time.perf_counter()
        await app.wait_for_ui()
        msg = [w for w in app.transcript.query(MessageView) if w.item.role == "assistant"][-1]
        md = msg.markdown
        assert md is not None
        while not md.settled:
            await asyncio.sleep(0.005)
        await pilot.pause()
        t_end = time.perf_counter()
        cpu = time.process_time() - cpu0
        hb.stop()
        words = len(view.items[-1].text.split())
        return {
            "wall_s": t_end - t0,
            "cpu_s": cpu,
            "max_stall_ms": hb.max_stall * 1000,
            "lag_ms": (t_end - max(last_delta[0], t_run_end)) * 1000,
            "run_s": t_run_end - t0,
            "flushes": md.flushes,
            "frozen_widgets": len(md.query(".frozen")),
            "words": words,
        }


async def measure_log(url: str, key: str, tokens: int) -> dict[str, float]:
    import warnings

    import openai
    from textual.app import App, ComposeResult
    from textual.widgets import Log

    warnings.filterwarnings("ignore")

    class LogApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Log()

    client = openai.AsyncOpenAI(base_url=url, api_key=key)
    a = await client.beta.assistants.create(model="echo", name="bench")
    t = await client.beta.threads.create()
    await client.beta.threads.messages.create(t.id, role="user", content=f"/long {tokens}")
    app = LogApp()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(Log)
        hb = Heartbeat()
        hb.start()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        n = 0
        async with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id) as stream:
            async for event in stream:
                if event.event == "thread.message.delta":
                    for part in event.data.delta.content or []:
                        if part.type == "text" and part.text and part.text.value:
                            log.write(part.text.value)
                            n += 1
                    await asyncio.sleep(0)  # as the spool driver does
        t_last = time.perf_counter()
        await pilot.pause()
        t_end = time.perf_counter()
        cpu = time.process_time() - cpu0
        hb.stop()
    await client.close()
    return {
        "wall_s": t_end - t0,
        "cpu_s": cpu,
        "max_stall_ms": hb.max_stall * 1000,
        "lag_ms": (t_end - t_last) * 1000,
        "deltas": n,
    }


def child(args: argparse.Namespace) -> None:
    if args.method == "spool":
        result = asyncio.run(measure_spool(Path(args.data_dir), args.tokens))
    else:
        result = asyncio.run(measure_log(args.url, args.key, args.tokens))
    print(json.dumps(result))


def start_server(data_dir: Path, delay_ms: int) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "spool", "serve", "--port", "0", "--data-dir", str(data_dir),
         "--echo-delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
            break
    else:
        raise SystemExit("server did not start")
    key = (data_dir / "api_key").read_text().strip()
    return proc, url, key


def run_child(method: str, tokens: int, data_dir: Path, url: str, key: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--tokens", str(tokens),
         "--data-dir", str(data_dir), "--url", url, "--key", key],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", dest="method")
    parser.add_argument("--tokens", type=int, nargs="*", default=[4000, 8000])
    parser.add_argument("--paced-tokens", type=int, nargs="*", default=[4000])
    parser.add_argument("--data-dir")
    parser.add_argument("--url")
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.method:
        args.tokens = args.tokens[0]
        child(args)
        return
    results: dict[str, dict[str, float]] = {}
    for delay, sizes in ((0, args.tokens), (5, args.paced_tokens)):
        if not sizes:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            proc, url, key = start_server(data, delay)
            try:
                for n in sizes:
                    for method in ("log", "spool"):
                        r = run_child(method, n, data, url, key)
                        name = f"{'paced' if delay else 'firehose'} {method} {n}"
                        results[name] = r
                        print(
                            f"{name:24s} "
                            + "  ".join(
                                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in r.items()
                            ),
                            flush=True,
                        )
            finally:
                proc.terminate()
                proc.wait(10)
    print()
    for n in args.tokens:
        s, lg = results[f"firehose spool {n}"], results[f"firehose log {n}"]
        print(f"firehose {n}: spool/log wall = {s['wall_s'] / lg['wall_s']:.2f}x (goal ≤ 2x)")
    if len(args.tokens) >= 2:
        a, b = sorted(args.tokens)[:2]
        ratio = results[f"firehose spool {b}"]["wall_s"] / results[f"firehose spool {a}"]["wall_s"]
        print(f"spool {b}/{a} wall = {ratio:.2f} (goal ≤ 2.2)")
    for n in args.paced_tokens:
        s = results[f"paced spool {n}"]
        print(
            f"paced {n} @200 tok/s: lag {s['lag_ms']:.0f} ms (goal ≤ 100), max stall "
            f"{s['max_stall_ms']:.0f} ms (goal ≤ 50), CPU {100 * s['cpu_s'] / s['wall_s']:.0f}% "
            f"(goal ≤ 40%); log CPU {100 * results[f'paced log {n}']['cpu_s'] / results[f'paced log {n}']['wall_s']:.0f}%"
        )


if __name__ == "__main__":
    main()
