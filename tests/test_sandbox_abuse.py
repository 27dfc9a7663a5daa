"""Escape and abuse attempts against the sandbox, each contained with a clear log while the
server (this process and its event loop) stays unharmed. Small limits keep them fast.

Each test prints one `ABUSE …` line with what it measured (`pytest -s` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from pathlib import Path

from sandbox_helpers import SMALL, loop_lag, manager
from spool.server.sandbox import SandboxManager


def report(name: str, started: float, detail: str) -> None:
    print(f"\nABUSE {name}: {time.monotonic() - started:.2f} s; {detail}")


async def still_works(m: SandboxManager, key: str = "t1") -> None:
    """The session (or a fresh one) still runs code; a new thread does too."""
    assert (await m.run(key, "print('alive')")).logs.endswith("alive\n")
    assert (await m.run(key + "-other", "print(2 + 2)")).logs == "4\n"


async def test_no_network_not_even_the_servers_port(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"""
import socket
print(socket.if_nameindex())
for target in [("127.0.0.1", {port}), ("192.0.2.1", 80)]:
    # 192.0.2.1 is TEST-NET-1; attempted only when the sandbox has nothing but loopback
    if target[0] != "127.0.0.1" and socket.if_nameindex() != [(1, "lo")]:
        print("not attempted", target)
        continue
    try:
        socket.create_connection(target, timeout=2)
        print("CONNECTED", target)
    except OSError as exc:
        print(type(exc).__name__, target)
try:
    socket.getaddrinfo("example.com", 80)
    print("RESOLVED")
except OSError as exc:
    print("no DNS:", type(exc).__name__)
"""
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        report("network", started, result.logs.replace("\n", " | "))
        assert "[(1, 'lo')]" in result.logs
        assert "CONNECTED" not in result.logs and "RESOLVED" not in result.logs
        assert f"ConnectionRefusedError ('127.0.0.1', {port})" in result.logs
        assert "OSError ('192.0.2.1', 80)" in result.logs  # network unreachable
        try:
            listener.accept()
            raise AssertionError("the sandbox reached the server's port")
        except BlockingIOError:
            pass
        finally:
            listener.close()
        await still_works(m)


async def test_cannot_read_the_data_dir_key_shadow_or_home(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "api_key").write_text("sk-secret\n")
    (data / "spool.db").write_bytes(b"SQLite format 3\x00")
    home = Path.home()
    home_entries = [
        p
        for p in home.iterdir()
        if not any(str(x).startswith(str(p)) for x in (os.path.realpath(os.sys.base_prefix),))
    ][:20]
    targets = [
        str(data / "api_key"),
        str(data / "spool.db"),
        str(data),
        "/etc/shadow",
        "/etc/gshadow",
        *map(str, home_entries),
        f"/proc/{os.getpid()}/environ",
    ]
    code = f"""
import os
for path in {targets!r}:
    try:
        if os.path.isdir(path):
            print("LISTED", path, os.listdir(path))
        else:
            print("READ", path, open(path, "rb").read(20))
    except OSError as exc:
        print(type(exc).__name__, path)
print("passwd:", open("/etc/passwd").read().strip())
print("home:", os.path.expanduser("~"))
"""
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        report("read secrets", started, f"{len(targets)} paths, none readable")
        assert "READ" not in result.logs and "LISTED" not in result.logs, result.logs
        assert result.logs.count("FileNotFoundError") == len(targets), result.logs
        assert "root:" not in result.logs  # the host's passwd is not there either
        assert "home: /tmp" in result.logs
        await still_works(m)


async def test_cannot_write_outside_tmp_and_mnt_data(tmp_path: Path) -> None:
    import sys

    places = [
        "/x",
        "/usr/x",
        "/etc/x",
        "/opt/spool/boot.py",
        "/run/spool/x",
        "/proc/x",
        f"{sys.prefix}/x",
        "/mnt/x",
        "/dev/x",
        "/bin/x",
    ]
    code = f"""
import os
for path in {places!r}:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        print("WROTE", path)
    except OSError as exc:
        print(type(exc).__name__, path)
for ok in ["/tmp/ok", "/mnt/data/ok"]:
    open(ok, "w").write("fine")
    print("ok", ok)
"""
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        report("write outside", started, f"{len(places)} places refused; /tmp and /mnt/data ok")
        assert "WROTE" not in result.logs, result.logs
        assert "ok /tmp/ok" in result.logs and "ok /mnt/data/ok" in result.logs
        assert not Path(sys.prefix, "x").exists()
        await still_works(m)


async def test_fork_bomb_hits_the_process_limit(tmp_path: Path) -> None:
    code = "import os\nwhile True:\n    os.fork()"
    async with manager(tmp_path) as m, loop_lag() as lag:
        started = time.monotonic()
        result = await m.run("t1", code)
        report(
            "fork bomb",
            started,
            f"status {result.status}, loop lag {lag.worst * 1000:.0f} ms, "
            f"log: {result.logs.strip().splitlines()[-1]!r}",
        )
        assert result.status in ("error", "timeout", "died")
        assert "BlockingIOError" in result.logs or "[spool]" in result.logs
        assert lag.worst < 0.5
        await still_works(m)


async def test_allocating_10_gib_is_a_memory_error(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", "x = 1\nbig = bytearray(10 * 1024**3)")
        grow = await m.run(
            "t1", "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024**2))"
        )
        report(
            "10 GiB",
            started,
            f"{result.logs.strip().splitlines()[-1]!r}; growing: "
            f"{grow.logs.strip().splitlines()[-1]!r}",
        )
        assert result.status == "error" and "MemoryError" in result.logs
        assert grow.status in ("error", "died") and (
            "MemoryError" in grow.logs or "[spool]" in grow.logs
        )
        if grow.status == "error":
            assert (await m.run("t1", "del chunks; print(x)")).logs == "1\n"  # state kept
        await still_works(m)


async def test_endless_loop_is_interrupted_and_the_session_kept(tmp_path: Path) -> None:
    async with manager(tmp_path) as m, loop_lag() as lag:
        await m.run("t1", "kept = 'yes'")
        started = time.monotonic()
        result = await m.run("t1", "while True:\n    pass")
        took = time.monotonic() - started
        report(
            "endless loop", started, f"status {result.status}, loop lag {lag.worst * 1000:.0f} ms"
        )
        assert result.status == "timeout"
        assert "Execution interrupted: the call ran longer than 3 s" in result.logs
        assert "The session is kept" in result.logs
        assert SMALL.timeout_s <= took < SMALL.timeout_s + SMALL.interrupt_grace_s + 1
        assert lag.worst < 0.5
        assert (await m.run("t1", "print(kept)")).logs == "yes\n"


async def test_code_that_ignores_interrupts_gets_a_new_session(tmp_path: Path) -> None:
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        report("ignores SIGINT", started, f"status {result.status}")
        assert result.status == "timeout"
        assert "did not stop when interrupted; the Python session was ended" in result.logs
        after = await m.run("t1", "print('fresh')")
        assert after.new_session and "This is a new Python session" in after.logs


async def test_sleeping_past_the_timeout(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", "import time\ntime.sleep(30)\nprint('woke')")
        report("sleep", started, f"status {result.status}")
        assert result.status == "timeout" and "woke" not in result.logs
        assert time.monotonic() - started < SMALL.timeout_s + SMALL.interrupt_grace_s + 1
        await still_works(m)


async def test_printing_100_mb_is_capped(tmp_path: Path) -> None:
    code = "line = 'x' * 999\nfor _ in range(100_000):\n    print(line)"
    raw = "import os\nfor _ in range(100):\n    os.write(1, b'y' * 1_000_000)\nprint('done')"
    async with manager(tmp_path) as m, loop_lag() as lag:
        started = time.monotonic()
        result = await m.run("t1", code)
        direct = await m.run("t1", raw)
        report(
            "100 MB print",
            started,
            f"kept {len(result.logs)} chars, status {result.status}, "
            f"fd-1 writes: {direct.status}, loop lag {lag.worst * 1000:.0f} ms",
        )
        assert result.status == "ok"
        assert len(result.logs) < SMALL.max_output_kb * 1024 + 500
        assert "[output truncated:" in result.logs
        # writes to fd 1 bypass sys.stdout (ipykernel forwards them): the server's cap holds
        assert len(direct.logs) < SMALL.max_output_kb * 1024 + 4096 + 500
        assert "more characters of output were not kept" in direct.logs
        assert lag.worst < 0.5
        await still_works(m)


async def test_killing_the_server_pid_or_everything(tmp_path: Path) -> None:
    me = os.getpid()
    code = f"""
import os, signal
for pid in [{me}, {os.getppid()}, 1]:
    try:
        os.kill(pid, signal.SIGKILL)
        print("signalled", pid)
    except OSError as exc:
        print(type(exc).__name__, pid)
"""
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        everything = await m.run("t1", "import os, signal\nos.kill(-1, signal.SIGKILL)")
        itself = await m.run("t1", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        report(
            "os.kill",
            started,
            f"{result.logs.strip()!r}; kill(-1): "
            f"{everything.logs.strip().splitlines()[-1]!r}; kill(self): {itself.status}",
        )
        assert f"ProcessLookupError {me}" in result.logs
        assert "signalled" not in result.logs.replace("signalled 1", "")
        assert itself.status == "died"
        assert "ended unexpectedly (signal 9" in itself.logs
        await still_works(m)
    assert os.getpid() == me  # still here


async def test_filling_mnt_data_and_tmp_stops_at_their_size(tmp_path: Path) -> None:
    code = """
import os
print("one file:", end=" ")
try:
    with open("/tmp/one_big", "wb") as f:
        for _ in range(64):
            f.write(b"z" * (1 << 20))
except OSError as exc:
    print(exc.strerror, os.path.getsize("/tmp/one_big") >> 20, "MiB")
os.remove("/tmp/one_big")
for where in ["/mnt/data", "/tmp"]:
    total = 0
    try:
        for i in range(64):
            with open(f"{where}/part{i}", "wb") as f:
                f.write(b"z" * (4 << 20))
            total += 4
        print("wrote", where)
    except OSError as exc:
        print(where, exc.strerror, "after", total, "MiB")
"""
    async with manager(tmp_path) as m:
        started = time.monotonic()
        result = await m.run("t1", code)
        report("fill disks", started, result.logs.strip().replace("\n", " | "))
        assert "wrote" not in result.logs, result.logs
        assert "one file: File too large 8 MiB" in result.logs
        assert result.logs.count("No space left on device") == 2, result.logs
        assert all(len(f.data) <= SMALL.max_file_mb << 20 for f in result.files)
        await still_works(m)


async def test_a_running_call_is_interrupted_when_its_task_is_cancelled(tmp_path: Path) -> None:
    async with manager(tmp_path) as m:
        await m.run("t1", "kept = 7")
        task = asyncio.create_task(m.run("t1", "import time\nwhile True:\n    time.sleep(0.01)"))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        result = await m.run("t1", "print(kept)")
        report("cancel", started, f"next call after {time.monotonic() - started:.2f} s")
        assert result.logs == "7\n"
        assert time.monotonic() - started < 3
