"""The bubblewrap command line of a session: exactly what the code inside can see and do.

The sandbox's root is an empty, read-only tmpfs holding: `/usr` and the usual `/bin`, `/lib…`
links (read-only), the few `/etc` files a Python needs (no passwd/shadow of the host: a minimal
passwd and group are written for the session), this Python's installation and environment
(read-only; with anything of the data dir masked), a fresh `/proc` (own PID namespace), a minimal
`/dev`, a private size-limited `/tmp` and `/mnt/data`, and `/run/spool` (the session's socket
directory). No network namespace but its own loopback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from spool.server.sandbox.settings import SandboxSettings

BOOT = Path(__file__).with_name("boot.py")
SOCKETS_INSIDE = "/run/spool"
BOOT_INSIDE = "/opt/spool/boot.py"
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "fonts",
    "mime.types",
    "alternatives",
    "matplotlibrc",
)
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
SANDBOX_ENV = {
    "HOME": "/tmp",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "MPLCONFIGDIR": "/tmp/.matplotlib",
    "IPYTHONDIR": "/tmp/.ipython",
    "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter",
    "JUPYTER_PLATFORM_DIRS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def python_paths() -> list[str]:
    """The directories this Python needs: its installation, its environment, site-packages.

    Other `sys.path` entries (a working directory, an editable checkout) stay outside.
    """
    wanted: set[str] = set()
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        wanted.add(os.path.realpath(prefix))
        wanted.add(os.path.abspath(prefix))
    for entry in sys.path:
        packages = "site-packages" in entry or "dist-packages" in entry
        if entry and packages and os.path.isdir(entry):
            wanted.add(os.path.realpath(entry))
    wanted.add(os.path.dirname(os.path.realpath(sys.executable)))
    out: list[str] = []
    for path in sorted(wanted):  # keep the outermost of nested paths; /usr is bound anyway
        if path in ("/", "/usr") or _inside(path, "/usr"):
            continue
        if any(_inside(path, o) for o in out):
            continue
        out.append(path)
    return out


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _parents(paths: list[str]) -> list[str]:
    """Every ancestor directory of `paths` (not `/`), parents before children."""
    out: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path.rstrip("/"))
        while parent not in ("", "/"):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out, key=lambda p: (p.count("/"), p))


def system_args() -> list[str]:
    """/usr read-only and the top-level links into it (/bin, /lib, /lib64 …) as on the host."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in TOP_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    return args


def bwrap_args(
    settings: SandboxSettings,
    *,
    sockets_dir: Path,
    etc_dir: Path,
    hidden: list[Path],
    as_root: bool,
) -> list[str]:
    """The bwrap options (without the command) for one session."""
    args = [
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        *system_args(),
    ]
    tmp = settings.tmp_mb << 20
    data = settings.data_mb << 20
    # /tmp first: Python (a virtualenv in a clone under /tmp, say) is bound over it below
    args += ["--perms", "1777", "--size", str(tmp), "--tmpfs", "/tmp"]
    bound = python_paths()
    targets = [*bound, "/etc/passwd", "/mnt/data", SOCKETS_INSIDE, BOOT_INSIDE]
    for parent in _parents(targets):
        args += ["--perms", "0755", "--dir", parent]  # bwrap would make them 0700
    for name in ETC_FILES:
        host = Path("/etc") / name
        if host.exists():
            args += ["--ro-bind", str(host), str(host)]
    args += ["--ro-bind", str(etc_dir / "passwd"), "/etc/passwd"]
    args += ["--ro-bind", str(etc_dir / "group"), "/etc/group"]
    for path in bound:
        args += ["--ro-bind", path, path]
    for secret in hidden:
        real = os.path.realpath(secret)
        if any(_inside(real, b) for b in bound):
            args += ["--tmpfs", real]  # e.g. a data dir inside the virtualenv
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(64 << 20), "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--size", str(data), "--tmpfs", "/mnt/data"]
    args += ["--bind", str(sockets_dir), SOCKETS_INSIDE]
    args += ["--ro-bind", str(BOOT), BOOT_INSIDE]
    args += ["--remount-ro", "/", "--chdir", "/mnt/data", "--clearenv"]
    for key, value in SANDBOX_ENV.items():
        args += ["--setenv", key, value]
    if as_root:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return args
