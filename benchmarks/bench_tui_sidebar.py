"""The thread sidebar with 10,000 threads: mount + first paint, and filtering.

Headless 120×40, the real `Sidebar` widget (OptionList). Goals: mount ≤ 0.5 s, filter ≤ 100 ms.

Usage: python benchmarks/bench_tui_sidebar.py [--threads 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from textual.app import App, ComposeResult

from spool.tui.themes import semantic_defaults
from spool.tui.widgets.sidebar import Sidebar, SidebarRow

NOW = 1_790_000_000.0
TOPICS = ["python tinydb", "textual streaming", "go channels", "rust lifetimes", "sql joins"]


class Harness(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        # The sidebar's CSS uses spool's semantic colours, as SpoolApp provides them.
        return {**super().get_theme_variable_defaults(), **semantic_defaults(self.current_theme)}

    def compose(self) -> ComposeResult:
        yield Sidebar(lambda: NOW, id="sidebar")


async def run(n: int) -> None:
    rows = [
        SidebarRow(f"thread_{i:05d}", f"{TOPICS[i % 5]} #{i:05d}", "Assistant", NOW - 60 * i)
        for i in range(n)
    ]
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        sidebar = app.query_one(Sidebar)
        t0 = time.perf_counter()
        sidebar.set_rows(rows)
        await pilot.pause()
        mount = time.perf_counter() - t0
        print(f"mount + first paint, {n} rows: {mount * 1000:.0f} ms (goal ≤ 500 ms)")
        for query, label in (("#01", "~10%"), ("#001", "~1%"), ("rust", "20%"), ("", "all")):
            t0 = time.perf_counter()
            sidebar.set_filter(query)
            await pilot.pause()
            dt = time.perf_counter() - t0
            shown = len(sidebar.shown_ids)
            print(
                f"filter {query!r:8} ({label:4}) → {shown:5} rows: {dt * 1000:.0f} ms (goal ≤ 100 ms)"
            )
        t0 = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        print(f"End key + repaint: {(time.perf_counter() - t0) * 1000:.0f} ms")
        t0 = time.perf_counter()
        row = rows[5000]
        row.active = True
        sidebar.upsert_row(row)
        await pilot.pause()
        print(f"update one row (run glyph): {(time.perf_counter() - t0) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=10000)
    args = parser.parse_args()
    asyncio.run(run(args.threads))


if __name__ == "__main__":
    main()
