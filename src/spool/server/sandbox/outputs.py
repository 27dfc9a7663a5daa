"""The typed results of one call: logs (stdout, stderr, results and tracebacks, in order),
images (PNG bytes from display data, e.g. matplotlib's `plt.show()`), and the files the code
wrote in `/mnt/data`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class LogText:
    """A piece of the call's logs, as the user would see it."""

    text: str


@dataclass(slots=True)
class Image:
    """A PNG the code displayed."""

    png: bytes


@dataclass(slots=True)
class ProducedFile:
    """A regular file in /mnt/data that is new or changed after the call."""

    name: str
    data: bytes


CallEvent = LogText | Image


@dataclass(slots=True)
class CallResult:
    """Everything one call produced. `status` is "ok", "error" (the code raised), "timeout"
    (interrupted at the wall-clock limit) or "died" (the session ended; a new one starts next)."""

    status: str = "ok"
    logs: str = ""
    images: list[bytes] = field(default_factory=list)
    files: list[ProducedFile] = field(default_factory=list)
    new_session: bool = False  # this call started a fresh session
    dropped_chars: int = 0  # logs beyond the per-call limit (counted, not kept)


class LogBuffer:
    """Collects a call's logs up to a limit; the rest is counted and reported once."""

    def __init__(self, limit_chars: int) -> None:
        self.limit = limit_chars
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> str:
        """Keep what fits; returns the part kept (what to stream)."""
        room = self.limit - self.size
        if room <= 0:
            self.dropped += len(text)
            return ""
        if len(text) > room:
            self.dropped += len(text) - room
            text = text[:room]
        self.parts.append(text)
        self.size += len(text)
        return text

    def note(self, text: str) -> str:
        """A line from the server itself (always kept)."""
        self.parts.append(text)
        self.size += len(text)
        return text

    def text(self) -> str:
        return "".join(self.parts)
