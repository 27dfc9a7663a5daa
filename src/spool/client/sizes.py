"""File sizes in words, one way everywhere (attachments, images, files panel, vector stores)."""

from __future__ import annotations


def human_size(size: int | None) -> str:
    """Bytes as "812 B", "12.3 kB", "4.1 MB" (SI units); "?" when unknown."""
    if size is None:
        return "?"
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{size} B"  # pragma: no cover
