"""Human "time ago" strings (the clock is injected, so snapshots are stable)."""

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
