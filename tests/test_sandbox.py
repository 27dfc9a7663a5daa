"""The sandbox as a component (server/sandbox/): a real kernel in real bubblewrap, no mocks.

Typed outputs in order, state across calls, isolation between keys (threads), files in and
out of /mnt/data, images, the idle timeout and its new-session note, shutdown, the probe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import time
from pathlib import Path

import pytest

from sandbox_helpers import SMALL, manager
from spool.server.sandbox import Image, LogText, SandboxSettings, probe
from spool.server.sandbox.manager import NEW_SESSION_NOTE, InputFile
from spool.server.sandbox.settings import SandboxSettings as Settings


async def test_logs_in_order_results_and_tracebacks(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        events: list[object] = []
        code = "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n6 * 7"
        result = await m.run("t1", code, events.append)
        assert result.status == "ok"
        assert result.logs == "a\nb\nc\n42\n"
        assert "".join(e.text for e in events if isinstance(e, LogText)) == result.logs
        assert result.new_session
        error = await m.run("t1", "def f():\n    return 1 / 0\nf()")
        assert error.status == "error"
        assert "ZeroDivisionError: division by zero" in error.logs
        assert "Traceback (most recent call last)" in error.logs
        assert "----> 3 f()" in error.logs
        assert "\x1b[" not in error.logs  # plain text, as a user reads it
        assert not error.new_session


async def test_state_persists_and_threads_are_isolated(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        await m.run("t1", "x = 41\nimport math")
        assert (await m.run("t1", "print(x + 1, math.pi > 3)")).logs == "42 True\n"
        other = await m.run("t2", "print(x)")
        assert other.status == "error"
        assert "NameError" in other.logs
        await m.run("t2", "open('/mnt/data/mine.txt', 'w').write('t2')")
        listing = await m.run("t1", "import os; print(os.listdir('/mnt/data'))")
        assert listing.logs == "[]\n"


async def test_sympy_solves_the_seed_equation(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        code = (
            "from sympy import symbols, Eq, solve\n"
            "x = symbols('x')\n"
            "print(solve(Eq(3*x + 11, 14), x))"
        )
        result = await m.run("t1", code)
        assert result.logs == "[1]\n", result.logs


async def test_matplotlib_show_gives_a_png(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        events: list[object] = []
        code = (
            "import matplotlib.pyplot as plt\n"
            "plt.plot([1, 2, 3], [1, 4, 9])\n"
            "plt.title('squares')\n"
            "plt.show()\n"
            "print('drawn')"
        )
        result = await m.run("t1", code, events.append)
        assert result.status == "ok", result.logs
        assert len(result.images) == 1
        assert result.images[0].startswith(b"\x89PNG\r\n\x1a\n")
        assert result.logs.endswith("drawn\n")
        kinds = [type(e).__name__ for e in events]
        assert kinds.index("Image") < kinds.index("LogText", kinds.index("Image"))
        assert isinstance(events[kinds.index("Image")], Image)


async def test_files_in_and_out_of_mnt_data(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        csv = InputFile("file-abc", "scores.csv", lambda: b"name,score\nada,3\nbob,5\n")
        code = (
            "import pandas as pd\n"
            "df = pd.read_csv('/mnt/data/scores.csv')\n"
            "print(int(df.score.sum()))\n"
            "df.to_csv('/mnt/data/out.csv', index=False)\n"
            "open('/tmp/scratch.txt', 'w').write('not returned')"
        )
        result = await m.run("t1", code, files=[csv])
        assert result.status == "ok", result.logs
        assert result.logs.startswith("8\n")
        assert [f.name for f in result.files] == ["out.csv"]
        assert result.files[0].data == b"name,score\nada,3\nbob,5\n"
        again = await m.run("t1", "print(sorted(__import__('os').listdir('.')))", files=[csv])
        assert again.logs == "['out.csv', 'scores.csv']\n"  # placed once, cwd is /mnt/data
        assert again.files == []


async def test_a_link_the_code_made_is_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "data" / "secret.txt"
    async with manager(tmp_path) as m:
        secret.write_text("host secret")
        code = f"import os\nos.symlink({str(secret)!r}, '/mnt/data/leak.txt')\nos.mkfifo('/mnt/data/pipe')"
        result = await m.run("t1", code)
        assert result.status == "ok", result.logs
        assert result.files == []  # neither the link nor the FIFO is read by the server


async def test_idle_timeout_ends_the_session_and_the_next_says_so(tmp_path: Path) -> None:
    settings = dataclasses.replace(SMALL, idle_timeout_s=0.5)
    async with manager(tmp_path, settings) as m:
        await m.run("t1", "x = 1")
        deadline = time.monotonic() + 10
        while "t1" in m.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "t1" not in m.sessions
        result = await m.run("t1", "print('x' in globals())")
        assert result.new_session
        assert result.logs == NEW_SESSION_NOTE + "False\n"


async def test_shutdown_ends_every_kernel(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        await m.run("t1", "pass")
        await m.run("t2", "pass")
        procs = [s.proc for s in m.sessions.values()]
        await m.shutdown()
        assert all(p is not None and p.returncode is not None for p in procs)
        assert m.sessions == {}


def test_probe_names_the_fix_when_bwrap_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    problem = probe(SandboxSettings())
    assert problem is not None
    assert "apt-get install bubblewrap" in problem
    assert 'sandbox = "none"' in problem
    assert probe(SandboxSettings(sandbox="none")) is None  # the opt-in needs no bwrap


def test_settings_from_config_table() -> None:
    problems: list[str] = []
    s = Settings.from_table(
        {"sandbox": "none", "timeout_s": 5, "memory_mb": 2048, "bogus": 1, "tmp_mb": -1},
        problems,
    )
    assert (s.sandbox, s.timeout_s, s.memory_mb, s.tmp_mb) == ("none", 5.0, 2048, 256)
    assert problems == [
        "[code_interpreter] unknown key: bogus",
        "[code_interpreter] tmp_mb must be a positive number",
    ]
    Settings.from_table({"sandbox": "docker"}, problems)
    assert problems[-1] == "[code_interpreter] sandbox must be one of bubblewrap, none"


async def test_runtime_dirs_of_a_dead_server_are_swept(tmp_path: Path) -> None:
    import subprocess
    import tempfile

    from spool.server.sandbox.session import RUNTIME_PREFIX

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
    (stale / "owner").write_text(str(dead.pid))
    live = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
    (live / "owner").write_text(str(os.getpid()))
    try:
        async with manager(tmp_path) as m:
            await m.run("t1", "pass")
            assert not stale.exists()
            assert live.exists()
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


async def test_images_per_call_are_capped(tmp_path: Path) -> None:
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "from IPython.display import Image, display\nimport io\n"
        "fig = plt.figure(figsize=(1, 1)); buf = io.BytesIO(); fig.savefig(buf, format='png')\n"
        "for _ in range(25):\n    display(Image(buf.getvalue()))"
    )
    async with manager(tmp_path) as m:
        result = await m.run("t1", code)
        assert len(result.images) == 20
        assert "5 more images were not kept" in result.logs
