"""Launch to first frame and to ready: spool with 1,000 threads in the index vs a bare Textual
app (one Static).

Each launch is a fresh `python` process (headless, 120×40, `--model echo`); the child reports the
wall-clock time of its first frame and of *ready* (connected, the last thread open: `● idle`,
a message sent now goes straight out) and exits. Two cases: *cold* (no server running for the
data dir: spool starts the embedded one) and *reuse* (a server of that data dir is up).
Goals: first frame ≤ 0.8 s and ≤ 2× the bare app; ready ≤ 1.2 s (cold, echo).

Usage: python benchmarks/bench_tui_startup.py [--threads 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

BARE = """
import time
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.done)
    def done(self):
        print(time.time(), flush=True)
        self.exit()

Bare().run(headless=True, size=(120, 40))
"""

SPOOL = """
import sys, time
sys.path.insert(0, {src!r})
from spool.tui.app import SpoolApp

class Timed(SpoolApp):
    def _after_first_frame(self):
        self.first = time.time()
        super()._after_first_frame()
        self.set_interval(0.005, self.check)

    def check(self):
        view = self.workspace.views.get(self.current or "")
        if self.ready.is_set() and view is not None and view.loaded:
            print(self.first, time.time(), len(self.sidebar.shown_ids), flush=True)
            self.exit(0)

Timed(data_dir={data!r}, model="echo", server_args={args!r}).run(headless=True, size=(120, 40))
"""


def launch(code: str) -> list[float]:
    """Run `code` in a fresh process; the times it prints, relative to its start."""
    env = {**os.environ, "TEXTUAL_ANIMATIONS": "none"}
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    fields = out.stdout.strip().splitlines()[-1].split()
    return [float(f) - t0 for f in fields[:2]] + [float(f) for f in fields[2:]]


def wait_server_gone(data: Path, timeout: float = 30.0) -> None:
    """The embedded server of `data` exits by itself after its client's goodbye."""
    deadline = time.monotonic() + timeout
    while (data / "server.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, SRC)
    from spool.store import Store, ThreadRecord

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        quick_exit = ["--idle-exit-s", "1"]
        launch(SPOOL.format(src=SRC, data=str(data), args=quick_exit))  # assistant + thread
        wait_server_gone(data)
        store = Store(data)
        now = time.time() - 3600
        store.add_threads(
            [
                ThreadRecord(
                    f"thread_{i:06d}", "local", f"thread title number {i}", "asst_x",
                    now - i * 60, now - i * 60, "a preview",
                )
                for i in range(args.threads - 1)
            ]
        )  # fmt: skip
        store.close()
        bare: list[float] = []
        cold_frame: list[float] = []
        cold_ready: list[float] = []
        reuse_ready: list[float] = []
        for _ in range(args.repeat):  # interleaved, so load changes hit all
            bare.append(launch(BARE)[0])
            wait_server_gone(data)
            frame, ready, rows = launch(SPOOL.format(src=SRC, data=str(data), args=quick_exit))
            assert int(rows) >= args.threads - 1, rows
            cold_frame.append(frame)
            cold_ready.append(ready)
            # reuse: a server of this data dir is already up (another spool, or one just quit)
            keep = ["--idle-exit-s", "30"]
            wait_server_gone(data)
            launch(SPOOL.format(src=SRC, data=str(data), args=keep))
            reuse_ready.append(launch(SPOOL.format(src=SRC, data=str(data), args=keep))[1])
    med = statistics.median
    b, f = med(bare), med(cold_frame)

    def runs(xs: list[float]) -> str:
        return str([round(x, 3) for x in xs])

    print(f"bare Textual app (one Static): first frame median {b:.3f} s  runs {runs(bare)}")
    print(
        f"spool, {args.threads} threads, cold: first frame median {f:.3f} s  runs {runs(cold_frame)}"
    )
    print(
        f"spool, cold (starts the embedded server): ready median {med(cold_ready):.3f} s  runs {runs(cold_ready)}"
    )
    print(
        f"spool, reusing a running server:          ready median {med(reuse_ready):.3f} s  runs {runs(reuse_ready)}"
    )
    print(
        f"first frame ratio spool/bare = {f / b:.2f}x (goal ≤ 2x), {f:.3f} s (goal ≤ 0.8 s); "
        f"ready cold {med(cold_ready):.3f} s (goal ≤ 1.2 s)"
    )


if __name__ == "__main__":
    main()
