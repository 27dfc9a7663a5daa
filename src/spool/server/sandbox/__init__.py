"""code_interpreter's sandbox: one stateful Python session (a Jupyter kernel) per thread.

Each session is an `ipykernel` inside bubblewrap (no network, its own PID namespace, a read-only
view of what Python needs, a private `/tmp`, `/mnt/data` with only the thread's files, resource
limits), driven over Unix sockets with `jupyter-client`. Modules, one job each:

- `settings`: limits and options (`[code_interpreter]` in the config);
- `probe`: can a sandbox start here, and if not, what fixes it;
- `command`: the bwrap command line (what the sandbox sees);
- `boot`: runs *inside* the sandbox: drops privileges, applies limits, starts the kernel;
- `outputs`: the typed results of a call (logs, images, files);
- `session`: one kernel: start, execute with a wall-clock limit, files in and out, stop;
- `manager`: the sessions of all threads: created on demand, ended when idle and at shutdown.
"""

from spool.server.sandbox.manager import SandboxManager
from spool.server.sandbox.outputs import CallResult, Image, LogText, ProducedFile
from spool.server.sandbox.probe import SandboxUnavailable, probe
from spool.server.sandbox.settings import SandboxSettings

__all__ = [
    "CallResult",
    "Image",
    "LogText",
    "ProducedFile",
    "SandboxManager",
    "SandboxSettings",
    "SandboxUnavailable",
    "probe",
]
