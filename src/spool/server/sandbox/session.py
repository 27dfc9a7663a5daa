"""One Python session: a Jupyter kernel in its sandbox, driven over Unix sockets.

`start()` launches bubblewrap (or, with `sandbox = "none"`, the bare kernel) and waits for the
kernel to answer; `execute()` runs code with the wall-clock limit (interrupt, then restart if the
kernel does not stop), streaming typed events as they arrive; `put_files()` and
`changed_files()` move files in and out of `/mnt/data` (through `/proc/PID/root`, never
following a link the code made); `stop()` ends the whole PID namespace. All kernel I/O is async
(zmq.asyncio) and every message is size-capped, so a hostile kernel cannot stall the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import queue
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spool.server.sandbox import command
from spool.server.sandbox.outputs import (
    CallEvent,
    CallResult,
    Image,
    LogBuffer,
    LogText,
    ProducedFile,
)
from spool.server.sandbox.settings import SandboxSettings

log = logging.getLogger("spool.server")

MAX_MESSAGE_BYTES = 32 << 20  # a kernel message larger than this drops the connection
MAX_FILES_PER_CALL = 20  # files returned from /mnt/data per call
MAX_FILES_BYTES_PER_CALL = 128 << 20  # and their total size
MAX_IMAGES_PER_CALL = 20
RUNTIME_PREFIX = "spool-sbx-"  # the per-session dirs (sockets, passwd) in the system temp dir
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_uids = itertools.count()
UID_BASE = 200_000  # as root, every session gets its own uid (the process limit is per uid)


class SandboxError(Exception):
    """A session could not start or broke; the message says why (shown in `last_error`)."""


def _user_tasks(uid: int) -> int:
    """How many processes/threads `uid` has (RLIMIT_NPROC counts them all, not per sandbox)."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def sweep_stale_runtimes() -> int:
    """Remove the runtime dirs of sessions whose server died (kill -9 leaves them; blocking)."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(RUNTIME_PREFIX + "*"):
        try:
            owner = int((path / "owner").read_text())
            os.kill(owner, 0)
            continue  # its server still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue  # not ours to judge (no owner file, another user's)
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def safe_name(name: str) -> str:
    """A file name usable in /mnt/data (no directories, no hidden tricks)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "").strip()
    if name in ("", ".", ".."):
        name = "file"
    return name[:200]


class Session:
    """One sandboxed kernel (see the module docstring). Not thread-safe; one call at a time."""

    def __init__(self, settings: SandboxSettings, *, hidden: list[Path]) -> None:
        self.settings = settings
        self.hidden = hidden
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Any = None
        self.context: Any = None
        self.runtime: Path | None = None
        self.data_dir: str | None = None  # /mnt/data as the server reaches it
        self.lock = asyncio.Lock()
        self.placed: set[str] = set()  # keys of the input files already in /mnt/data
        self.last_used = time.monotonic()
        self.stderr_tail = b""
        self._drain_fd: int | None = None
        self.sandboxed = settings.sandbox != "none"
        self.uid: int | None = None  # the session's own uid (when the server runs as root)

    # --- life ----------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self) -> None:
        """Launch the sandbox and the kernel; SandboxError (with its stderr) on failure."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        import zmq
        import zmq.asyncio
        from jupyter_client.asynchronous import AsyncKernelClient

        runtime = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
        self.runtime = runtime
        (runtime / "owner").write_text(str(os.getpid()))
        sockets = runtime / "s"
        sockets.mkdir()
        as_root = os.getuid() == 0 and self.sandboxed
        uid = UID_BASE + next(_uids) % 100_000 if as_root else os.getuid()
        limits = await asyncio.to_thread(self._limits, uid, as_root)  # scans /proc
        key = secrets.token_hex(32)
        inside_ip = f"{command.SOCKETS_INSIDE}/k" if self.sandboxed else str(sockets / "k")
        info = {
            "transport": "ipc",
            "ip": inside_ip,
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": key,
            "signature_scheme": "hmac-sha256",
            "kernel_name": "spool",
        }
        conn = sockets / "kernel.json"
        conn.write_text(json.dumps(info), encoding="utf-8")
        env_config = {
            "uid": uid if as_root else None,
            "limits": limits,
            "max_output_chars": self.settings.max_output_kb * 1024,
        }
        if self.sandboxed:
            etc = runtime / "etc"
            etc.mkdir()
            (etc / "passwd").write_text(f"sandbox:x:{uid}:{uid}:sandbox:/tmp:/bin/sh\n")
            (etc / "group").write_text(f"sandbox:x:{uid}:\n")
            if as_root:
                os.chown(sockets, uid, uid)
                os.chmod(runtime, 0o755)
                os.chmod(conn, 0o644)
            info_r, info_w = os.pipe()
            args = [
                "bwrap",
                *command.bwrap_args(
                    self.settings,
                    sockets_dir=sockets,
                    etc_dir=etc,
                    hidden=self.hidden,
                    as_root=as_root,
                ),
                "--setenv",
                "SPOOL_SANDBOX",
                json.dumps(env_config),
                "--info-fd",
                str(info_w),
                sys.executable,
                "-I",
                "-B",
                command.BOOT_INSIDE,
                f"{command.SOCKETS_INSIDE}/kernel.json",
            ]
            try:
                self.proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    pass_fds=(info_w,),
                    start_new_session=True,
                    umask=0o022,  # the directories bwrap creates must be traversable
                )
            finally:
                os.close(info_w)
            child = await self._child_pid(info_r)
            self.data_dir = f"/proc/{child}/root/mnt/data"
        else:
            data = runtime / "data"
            data.mkdir()
            self.data_dir = str(data)
            env = {**os.environ, **command.SANDBOX_ENV, "HOME": str(runtime)}
            for name in ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR"):
                env[name] = str(runtime / name.lower())
            env["SPOOL_SANDBOX"] = json.dumps(env_config)
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", str(command.BOOT), str(conn)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=env,
                start_new_session=True,
            )
        self._start_drain()
        self.context = zmq.asyncio.Context()
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.context.setsockopt(zmq.LINGER, 0)
        client = AsyncKernelClient(context=self.context)
        client.load_connection_info({**info, "ip": str(sockets / "k")})
        client.start_channels()
        self.client = client
        await self._wait_ready()
        if as_root:
            os.chown(sockets, 0, 0)  # the kernel has made its sockets: no more files there
            os.chmod(sockets, 0o755)
            self.uid = uid

    def _limits(self, uid: int, as_root: bool) -> dict[str, int]:
        s = self.settings
        processes = s.max_processes
        if self.sandboxed and not as_root:
            processes += _user_tasks(uid)  # the limit counts every process of this user
        return {
            "memory": s.memory_mb << 20,
            "processes": processes if self.sandboxed else 0,
            "file_size": s.max_file_mb << 20,
            "open_files": 1024,
        }

    async def _child_pid(self, fd: int) -> int:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            async with asyncio.timeout(self.settings.start_timeout_s):
                raw = b""
                while b"child-pid" not in raw or b"}" not in raw:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    raw += chunk
        except TimeoutError:
            raw = b""
        finally:
            transport.close()
        try:
            return int(json.loads(raw)["child-pid"])
        except (ValueError, KeyError):
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(self.proc.wait, 2)
                self._read_output()
            raise SandboxError(
                "bubblewrap did not start the sandbox: " + (self._tail() or "no output")
            ) from None

    def _start_drain(self) -> None:
        """The kernel's own stdout/stderr (not the user's: that goes over iopub): last 8 KiB."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._read_output)
        self._drain_fd = fd

    def _read_output(self) -> None:
        if self.proc is None or self.proc.stdout is None or self._drain_fd is None:
            return
        try:
            chunk = os.read(self._drain_fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if chunk:
            self.stderr_tail = (self.stderr_tail + chunk)[-8192:]
        else:
            self._stop_drain()

    def _stop_drain(self) -> None:
        if self._drain_fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._drain_fd)
            self._drain_fd = None

    def _tail(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace").strip()[-2000:]

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_s
        asked: set[str] = set()
        next_ask = 0.0
        while True:
            if not self.alive:
                await asyncio.sleep(0.05)  # let the drain task read the last words
                raise SandboxError(
                    f"the Python kernel exited while starting (code {self.proc.returncode}): "
                    + (self._tail() or "no output")
                )
            now = time.monotonic()
            if now >= deadline:
                raise SandboxError(
                    "the Python kernel did not answer within "
                    f"{self.settings.start_timeout_s:g} s: {self._tail()}"
                )
            if now >= next_ask:  # requests queue until the kernel binds; ask again rarely
                asked.add(self.client.kernel_info())
                next_ask = now + 2.0
            try:
                reply = await self.client.get_shell_msg(timeout=min(0.2, deadline - now))
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") not in asked:
                continue
            await self._wait_iopub(asked, deadline)
            await self._drain_shell()  # answers to the other kernel_info requests
            return

    async def _wait_iopub(self, asked: set[str], deadline: float) -> None:
        """iopub is a subscription: wait until it delivers (a status of one of our requests)."""
        while time.monotonic() < deadline:
            try:
                msg = await self.client.get_iopub_msg(timeout=0.3)
            except queue.Empty:
                asked.add(self.client.kernel_info())  # published before we were subscribed
                continue
            if msg.get("parent_header", {}).get("msg_id") in asked:
                with contextlib.suppress(queue.Empty):
                    while True:  # the rest of what the kernel published so far
                        await self.client.get_iopub_msg(timeout=0.01)
                return
        raise SandboxError("the Python kernel's output channel did not connect")

    async def stop(self) -> None:
        """End the kernel and everything in its PID namespace; remove its runtime files."""
        proc = self.proc
        self._read_output()
        self._stop_drain()
        self.proc = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.stop_channels()
            self.client = None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)  # bwrap and (die-with-parent) the whole namespace
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if proc is not None:
            with contextlib.suppress(Exception):
                if proc.poll() is None:
                    await asyncio.to_thread(proc.wait, 5)
            self._stop_drain()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.context is not None:
            with contextlib.suppress(Exception):
                self.context.destroy(linger=0)
            self.context = None
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            await asyncio.to_thread(shutil.rmtree, runtime, True)

    def process_count(self) -> int | None:
        """Processes and threads of this session (known when it has its own uid), blocking."""
        return _user_tasks(self.uid) if self.uid is not None else None

    def kill_now(self) -> None:
        """Synchronous last resort (interpreter exit): kill the process group."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)

    # --- calls ---------------------------------------------------------------------------------

    async def execute(
        self,
        code: str,
        on_event: Callable[[CallEvent], None] | None = None,
        *,
        preface: str | None = None,
        timeout_s: float | None = None,
    ) -> CallResult:
        """Run `code`; events stream to `on_event`; the result has all logs and images.

        At the wall-clock limit the kernel is interrupted (the logs say so); a kernel that does
        not stop within the grace period, or that dies, is ended (status "timeout"/"died").
        Cancelling the awaiting task interrupts the code too.
        """
        assert self.client is not None
        timeout = self.settings.timeout_s if timeout_s is None else timeout_s
        result = CallResult()
        logs = LogBuffer(self.settings.max_output_kb * 1024 + 4096)  # + the kernel's own note

        def emit_log(text: str, *, note: bool = False) -> None:
            kept = logs.note(text) if note else logs.add(text)
            if kept and on_event:
                on_event(LogText(kept))

        dropped_images = [0]

        def emit_image(png: bytes) -> None:
            if len(result.images) >= MAX_IMAGES_PER_CALL:
                dropped_images[0] += 1
                return
            result.images.append(png)
            if on_event:
                on_event(Image(png))

        if preface:
            emit_log(preface, note=True)
        self.last_used = time.monotonic()
        msg_id = self.client.execute(code, store_history=True, allow_stdin=False)
        deadline = time.monotonic() + timeout
        interrupted = False
        try:
            while True:
                if not self.alive:
                    result.status = "died"
                    emit_log(self._death_note(), note=True)
                    break
                now = time.monotonic()
                if now >= deadline:
                    if interrupted:
                        result.status = "timeout"
                        emit_log(
                            "\n[spool] The code did not stop when interrupted; the Python session "
                            "was ended (variables and files are lost). A new session starts with "
                            "the next call.\n",
                            note=True,
                        )
                        await self.stop()
                        break
                    interrupted = True
                    result.status = "timeout"
                    self._interrupt()
                    emit_log(
                        f"\n[spool] Execution interrupted: the call ran longer than {timeout:g} s "
                        "(the time limit of one call). The session is kept.\n",
                        note=True,
                    )
                    deadline = now + self.settings.interrupt_grace_s
                    continue
                try:
                    msg = await self.client.get_iopub_msg(timeout=min(deadline - now, 0.5))
                except queue.Empty:
                    continue
                except Exception as exc:  # a message over the size cap, a broken socket
                    result.status = "died"
                    emit_log(
                        f"\n[spool] The session's output channel broke ({exc!r}); "
                        "the session was ended.\n",
                        note=True,
                    )
                    await self.stop()
                    break
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg.get("msg_type")
                content = msg.get("content") or {}
                if kind == "status" and content.get("execution_state") == "idle":
                    break
                if kind == "stream":
                    emit_log(str(content.get("text", "")))
                elif kind in ("display_data", "update_display_data", "execute_result"):
                    data = content.get("data") or {}
                    png = data.get("image/png")
                    if isinstance(png, str):
                        try:
                            emit_image(base64.b64decode(png))
                        except ValueError:
                            emit_log("[spool] an image could not be decoded\n", note=True)
                    elif kind == "execute_result" and isinstance(data.get("text/plain"), str):
                        emit_log(data["text/plain"] + "\n")
                elif kind == "error":
                    if result.status == "ok":
                        result.status = "error"
                    lines = content.get("traceback") or [
                        f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
                    ]
                    if interrupted and content.get("ename") == "KeyboardInterrupt":
                        continue  # the note above says it; the traceback adds nothing
                    emit_log(_ANSI.sub("", "\n".join(str(x) for x in lines)) + "\n")
        except asyncio.CancelledError:
            self._after_cancel(msg_id)
            raise
        finally:
            self.last_used = time.monotonic()
        if self.client is not None:
            await self._drain_shell()
        if dropped_images[0]:
            emit_log(
                f"\n[spool] {dropped_images[0]} more images were not kept (the limit is "
                f"{MAX_IMAGES_PER_CALL} per call).\n",
                note=True,
            )
        if logs.dropped:
            emit_log(
                f"\n[spool] {logs.dropped} more characters of output were not kept (the limit "
                f"is {self.settings.max_output_kb} KiB per call).\n",
                note=True,
            )
        result.logs = logs.text()
        result.dropped_chars = logs.dropped
        return result

    def _death_note(self) -> str:
        code = self.proc.returncode if self.proc is not None else None
        why = ""
        if code is not None and (code < 0 or code > 128):
            why = f" (signal {-code if code < 0 else code - 128})"
        elif code:
            why = f" (exit code {code})"
        return (
            f"\n[spool] The Python session ended unexpectedly{why}, e.g. by exceeding the memory "
            "limit. Variables and files are lost; a new session starts with the next call.\n"
        )

    def _interrupt(self) -> None:
        """Jupyter's message-mode interrupt (the kernel raises KeyboardInterrupt in itself)."""
        if self.client is None:
            return
        with contextlib.suppress(Exception):
            msg = self.client.session.msg("interrupt_request", content={})
            self.client.control_channel.send(msg)

    def _after_cancel(self, msg_id: str) -> None:
        """The run was cancelled mid-call: interrupt, and end the session if it stays busy."""
        self._interrupt()

        async def settle() -> None:
            async with self.lock:
                deadline = time.monotonic() + self.settings.interrupt_grace_s
                while self.alive and self.client is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        await self.stop()
                        return
                    try:
                        msg = await self.client.get_iopub_msg(timeout=remaining)
                    except queue.Empty:
                        continue
                    except Exception:
                        await self.stop()
                        return
                    if (
                        msg.get("parent_header", {}).get("msg_id") == msg_id
                        and msg.get("msg_type") == "status"
                        and msg["content"].get("execution_state") == "idle"
                    ):
                        await self._drain_shell()
                        return

        task = asyncio.get_running_loop().create_task(settle())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _drain_shell(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.client.get_shell_msg(timeout=0.001)

    # --- files ---------------------------------------------------------------------------------

    def _open_data(self) -> int:
        assert self.data_dir is not None
        return os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    def put_files(self, files: list[tuple[str, str, bytes]]) -> list[str]:
        """Write (key, name, data) files into /mnt/data (blocking: call off the loop).

        Returns the names used; a name already taken gets the key appended.
        """
        used: list[str] = []
        dirfd = self._open_data()
        try:
            for key, name, data in files:
                if key in self.placed:
                    continue
                name = safe_name(name)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                try:
                    fd = os.open(name, flags, 0o666, dir_fd=dirfd)
                except FileExistsError:
                    stem, dot, ext = name.rpartition(".")
                    name = f"{stem}-{key}.{ext}" if dot and stem else f"{name}-{key}"
                    fd = os.open(name, flags, 0o666, dir_fd=dirfd)
                os.fchmod(fd, 0o666)  # the server's umask is 077; the session has its own uid
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                self.placed.add(key)
                used.append(name)
        finally:
            os.close(dirfd)
        return used

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Name → (size, mtime_ns) of the regular files in /mnt/data (blocking)."""
        out: dict[str, tuple[int, int]] = {}
        try:
            dirfd = self._open_data()
        except OSError:
            return out
        try:
            for name in os.listdir(dirfd):
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out[name] = (st.st_size, st.st_mtime_ns)
        finally:
            os.close(dirfd)
        return out

    def changed_files(self, before: dict[str, tuple[int, int]]) -> list[ProducedFile]:
        """The regular files new or changed since `before` (blocking; links never followed)."""
        out: list[ProducedFile] = []
        limit = self.settings.max_file_mb << 20
        budget = MAX_FILES_BYTES_PER_CALL
        try:
            dirfd = self._open_data()
        except OSError:
            return out
        try:
            now = self.snapshot()
            for name, sig in sorted(now.items()):
                if before.get(name) == sig or sig[0] > min(limit, budget):
                    continue
                if len(out) >= MAX_FILES_PER_CALL:
                    break
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                except OSError:
                    continue
                with os.fdopen(fd, "rb") as f:
                    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                        continue
                    data = f.read(limit + 1)
                if len(data) <= min(limit, budget):
                    out.append(ProducedFile(name, data))
                    budget -= len(data)
        finally:
            os.close(dirfd)
        return out


_background: set[asyncio.Task[None]] = set()
