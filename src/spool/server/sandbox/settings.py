"""The sandbox's limits and options, from the config file's `[code_interpreter]` table.

```toml
[code_interpreter]
sandbox = "bubblewrap"      # or "none": run code unsandboxed (unsafe; warned about at start)
timeout_s = 60              # wall-clock limit of one call (interrupted, then restarted)
idle_timeout_s = 1200       # a session unused this long is ended
memory_mb = 1024            # address space of the kernel
max_processes = 128         # processes and threads of the session
max_file_mb = 256           # size of any one file the code writes
data_mb = 512               # /mnt/data (a size-limited tmpfs)
tmp_mb = 256                # /tmp (likewise)
max_output_kb = 1024        # logs kept per call (the rest is counted, not kept)
max_sessions = 16           # sessions alive at once (the least recently used idle one ends)
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

MODES = ("bubblewrap", "none")


@dataclass(slots=True)
class SandboxSettings:
    """Limits of every session; `sandbox = "none"` runs kernels without isolation."""

    sandbox: str = "bubblewrap"
    timeout_s: float = 60.0
    idle_timeout_s: float = 1200.0
    memory_mb: int = 1024
    max_processes: int = 128
    max_file_mb: int = 256
    data_mb: int = 512
    tmp_mb: int = 256
    max_output_kb: int = 1024
    max_sessions: int = 16
    start_timeout_s: float = 30.0
    interrupt_grace_s: float = 3.0

    @classmethod
    def from_table(cls, raw: Any, problems: list[str]) -> SandboxSettings:
        """Parse `[code_interpreter]`; wrong entries are reported in `problems` and ignored."""
        settings = cls()
        if raw is None:
            return settings
        if not isinstance(raw, dict):
            problems.append("[code_interpreter] must be a table")
            return settings
        known = {f.name: f for f in fields(cls)}
        for key, value in raw.items():
            field = known.get(key)
            if field is None:
                problems.append(f"[code_interpreter] unknown key: {key}")
                continue
            default = getattr(settings, key)
            if isinstance(default, str):
                if value not in MODES:
                    problems.append(f"[code_interpreter] sandbox must be one of {', '.join(MODES)}")
                    continue
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                problems.append(f"[code_interpreter] {key} must be a positive number")
                continue
            elif isinstance(default, int):
                value = int(value)
            else:
                value = float(value)
            setattr(settings, key, value)
        return settings


def load(path: Path | None, problems: list[str]) -> SandboxSettings:
    """The `[code_interpreter]` table of the config file at `path` (defaults when absent)."""
    if path is None:
        return SandboxSettings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return SandboxSettings()  # the config loader reports these already
    return SandboxSettings.from_table(raw.get("code_interpreter"), problems)
