"""The kernel's entry point *inside* the sandbox (stdlib + ipykernel only; never imports spool).

`python -I -B boot.py CONNECTION_FILE` with the limits in `SPOOL_SANDBOX` (JSON): drops root to
the session's own uid (when started as root, so that the process limit applies), applies the
resource limits, caps what one execution may print, and starts the IPython kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys

PR_SET_NO_NEW_PRIVS = 38


def _drop_privileges(uid: int | None) -> None:
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # clears every capability bwrap left us (CAP_SETUID/CAP_SETGID)


def _no_new_privs() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _limits(limits: dict[str, int]) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write fails (EFBIG), no kill
    pairs = {
        "memory": resource.RLIMIT_AS,
        "processes": resource.RLIMIT_NPROC,
        "file_size": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
    }
    for name, which in pairs.items():
        value = limits.get(name)
        if value:
            resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _cap_output(shell: object, limit: int) -> None:
    """Keep at most `limit` characters of stdout+stderr per execution; say how much was cut."""
    state = {"used": 0, "dropped": 0}
    last: list[object] = [None]

    def wrap(stream: object) -> None:
        write = stream.write  # type: ignore[attr-defined]

        def capped(text: str) -> int:
            if not isinstance(text, str):
                return write(text)
            if last[0] is not stream:  # stdout and stderr are buffered apart: keep the order
                if last[0] is not None:
                    last[0].flush()  # type: ignore[attr-defined]
                last[0] = stream
            room = limit - state["used"]
            if room <= 0:
                state["dropped"] += len(text)
                return len(text)
            if len(text) > room:
                state["dropped"] += len(text) - room
                text = text[:room]
            state["used"] += len(text)
            write(text)
            return len(text)

        stream.write = capped  # type: ignore[attr-defined]

    def reset(*_args: object) -> None:
        state["used"] = 0
        state["dropped"] = 0

    def report(*_args: object) -> None:
        if state["dropped"]:
            dropped = state["dropped"]
            state["used"] = -(1 << 30)  # let the note itself through
            sys.stderr.write(
                f"\n[output truncated: {dropped} more characters were printed than the "
                f"{limit // 1024} KiB shown]\n"
            )

    wrap(sys.stdout)
    wrap(sys.stderr)
    shell.events.register("pre_execute", reset)  # type: ignore[attr-defined]
    shell.events.register("post_execute", report)  # type: ignore[attr-defined]


def main() -> None:
    config = json.loads(os.environ.pop("SPOOL_SANDBOX", "{}"))
    _drop_privileges(config.get("uid"))
    _no_new_privs()
    _limits(config.get("limits", {}))
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(
        [
            "-f",
            sys.argv[1],
            "--HistoryManager.enabled=False",
            "--InteractiveShell.colors=nocolor",
            "--IPKernelApp.quiet=True",
        ]
    )
    _cap_output(app.shell, int(config.get("max_output_chars", 1 << 20)))
    app.start()


if __name__ == "__main__":
    main()
