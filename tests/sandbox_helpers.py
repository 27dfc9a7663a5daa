"""Helpers for the sandbox tests: a real SandboxManager with small limits, a loop-lag probe."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from spool.server.sandbox import SandboxManager, SandboxSettings, probe

SMALL = SandboxSettings(
    timeout_s=3.0,
    interrupt_grace_s=1.5,
    memory_mb=1024,
    max_processes=64,
    max_file_mb=8,
    data_mb=16,
    tmp_mb=16,
    max_output_kb=64,
)


def require_sandbox() -> None:
    """Skip where no sandbox can start, except in CI (where `.ci/run` installs bubblewrap)."""
    problem = probe(SandboxSettings())
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to run the sandbox: {problem}")
        pytest.skip(problem)


@dataclass
class LoopLag:
    """The longest gap between 10 ms ticks of the event loop while it ran."""

    worst: float = 0.0
    ticks: list[float] = field(default_factory=list)


@asynccontextmanager
async def loop_lag() -> AsyncIterator[LoopLag]:
    lag = LoopLag()
    stop = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            lag.worst = max(lag.worst, now - last - 0.01)
            last = now

    task = asyncio.create_task(tick())
    try:
        yield lag
    finally:
        stop.set()
        await task


@asynccontextmanager
async def manager(
    tmp_path: Path, settings: SandboxSettings = SMALL
) -> AsyncIterator[SandboxManager]:
    require_sandbox()
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    m = SandboxManager(settings, hidden=[data])
    try:
        yield m
    finally:
        await m.shutdown()
