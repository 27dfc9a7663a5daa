"""Private files: the data dir holds every conversation, so it is 0700 and the server's files
in it are 0600. Modes left wider by an older spool are narrowed on start, with a note."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# Files in the data dir that the server writes or reads (the client's index.json included: it
# lives in the same dir and holds thread titles).
KNOWN_FILES = ("spool.db", "spool.db-wal", "spool.db-shm", "server.json", "api_key", "index.json")


def _narrow(path: Path, mode: int) -> str | None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if current & ~mode & 0o777:
        os.chmod(path, mode)
        return f"{path} was mode {current:04o}, now {mode:04o} (private)"
    return None


def private_file(path: Path, *, create: bool = True) -> str | None:
    """Make `path` 0600 (creating it empty when asked); a note when an existing mode was fixed."""
    if create:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    return _narrow(path, FILE_MODE)


def private_data_dir(data_dir: Path) -> list[str]:
    """Create the data dir 0700 (or narrow it) and narrow the known files in it; the notes."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    notes = [_narrow(data_dir, DIR_MODE)]
    notes += [_narrow(data_dir / name, FILE_MODE) for name in KNOWN_FILES]
    return [n for n in notes if n]
