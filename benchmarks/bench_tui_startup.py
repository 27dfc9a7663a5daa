"""Launch to first frame: spool with 1,000 threads in the index vs a bare Textual app (one Static).

Each launch is a fresh `python` process (headless, 120×40); the child reports the wall-clock time
of its first frame and exits. Goal: spool ≤ 0.8 s and ≤ 2× the bare app.

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
        print(time.time(), len(self.sidebar.shown_ids), flush=True)
        self.exit(0)

Timed(data_dir={data!r}, model="echo").run(headless=True, size=(120, 40))
"""


def launch(code: str) -> tuple[float, str]:
    env = {**os.environ, "TEXTUAL_ANIMATIONS": "none"}
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    fields = out.stdout.strip().splitlines()[-1].split()
    return float(fields[0]) - t0, " ".join(fields[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, SRC)
    from spool.store import Store, ThreadRecord

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        store = Store(data)
        now = time.time()
        store.add_threads(
            [
                ThreadRecord(
                    f"thread_{i:06d}", "local", f"thread title number {i}", "asst_x",
                    now - i * 60, now - i * 60, "a preview",
                )
                for i in range(args.threads)
            ]
        )  # fmt: skip
        store.close()
        bare, spool = [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both
            bare.append(launch(BARE)[0])
            t, rows = launch(SPOOL.format(src=SRC, data=str(data)))
            assert int(rows) == args.threads, rows
            spool.append(t)
    b, s = statistics.median(bare), statistics.median(spool)
    print(f"bare Textual app (one Static): median {b:.3f} s  runs {[round(x, 3) for x in bare]}")
    print(
        f"spool, {args.threads} threads:    median {s:.3f} s  runs {[round(x, 3) for x in spool]}"
    )
    print(f"ratio spool/bare = {s / b:.2f}x (goal ≤ 2x), spool {s:.3f} s (goal ≤ 0.8 s)")


if __name__ == "__main__":
    main()
