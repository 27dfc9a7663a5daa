"""Human times: "time ago" strings (the clock is injected, so snapshots are stable) and
durations in tenths of a second (the status bar, code steps and the run inspector agree)."""

from __future__ import annotations


def time_ago(then: float, now: float) -> str:
    """`now`-relative age of `then` (epoch seconds): "just now", "5m", "3h", "2d", "4w", "1y"."""
    seconds = max(0.0, now - then)
    if seconds < 45:
        return "just now"
    minutes = seconds / 60
    if minutes < 60:
        return f"{max(1, round(minutes))}m ago"
    hours = minutes / 60
    if hours < 24:
        return f"{round(hours)}h ago"
    days = hours / 24
    if days < 14:
        return f"{round(days)}d ago"
    if days < 365:
        return f"{round(days / 7)}w ago"
    return f"{round(days / 365)}y ago"


def format_duration(seconds: float | None, none: str = "—") -> str:
    """`0.4 s`, `12.3 s`, `2 min 05 s` (`none` for None)."""
    if seconds is None:
        return none
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"
