"""Can a sandbox start on this machine? If not, the reason and the fix, in one sentence.

`spool serve` prints the answer at start; a code_interpreter run on a server where the answer
is a problem fails with it as `last_error` (never silently unsandboxed).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

from spool.server.sandbox.settings import SandboxSettings

NONE_WARNING = (
    'code_interpreter runs code WITHOUT a sandbox ([code_interpreter] sandbox = "none" in the '
    "config): the code the model writes can read and change everything this server's user can, "
    "and reach the network"
)


class SandboxUnavailable(Exception):
    """code_interpreter cannot run here; the message names the fix."""


def missing_libraries() -> str | None:
    """The sentence to show when the `code` extra is not installed, else None."""
    missing = [m for m in ("jupyter_client", "ipykernel") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"code_interpreter needs {', '.join(missing)}: install spool's code extra "
        "(pip install 'spool[code]', or `make test` / `pip install -e '.[code]'` in a checkout)"
    )


def probe(settings: SandboxSettings) -> str | None:
    """None when code can run as configured, else what is wrong and how to fix it."""
    problem = missing_libraries()
    if problem or settings.sandbox == "none":
        return problem
    if shutil.which("bwrap") is None:
        return (
            "code_interpreter's sandbox needs bubblewrap, which is not installed: install it "
            "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), or "
            'set [code_interpreter] sandbox = "none" in the config to run code unsandboxed (unsafe)'
        )
    from spool.server.sandbox.command import system_args

    args = [
        "bwrap",
        *system_args(),
        "--unshare-net", "--unshare-pid", "--proc", "/proc", "--dev", "/dev",
        "--tmpfs", "/tmp", "--die-with-parent",
        "/usr/bin/true",
    ]  # fmt: skip
    try:
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"code_interpreter's sandbox (bubblewrap) could not be run: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        return (
            f"code_interpreter's sandbox cannot start here: bubblewrap said {why!r}. It needs "
            "unprivileged user namespaces: allow them (sysctl kernel.unprivileged_userns_clone=1; "
            "on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0), or set "
            '[code_interpreter] sandbox = "none" in the config to run code unsandboxed (unsafe)'
        )
    return None
