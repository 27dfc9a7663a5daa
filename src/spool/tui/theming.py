"""Theme wiring for the app: register spool's bundled and the user's themes, report broken files.

The app starts on `spool-dark` (`DEFAULT_THEME`); the theme saved in the index (or the config
file's `theme`) then wins. Broken theme files are reported once, in one toast, never fatally.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from spool.tui.themes import DEFAULT_THEME, load_themes


def user_themes_dir() -> Path:
    """The user's theme folder (`<config dir>/themes`)."""
    from spool import config

    return config.config_dir() / "themes"


def register_spool_themes(app: App[object]) -> list[str]:
    """Register every bundled and user theme on `app`, select the default; return the problems."""
    try:
        themes, problems = load_themes(user_themes_dir())
    except Exception as exc:  # a theme folder must never stop spool
        return [f"themes could not be read: {exc}"]
    for theme in themes:
        app.register_theme(theme)
    if DEFAULT_THEME in app.available_themes:
        app.theme = DEFAULT_THEME
    return problems


def report_theme_problems(app: App[object], problems: list[str]) -> None:
    """One warning toast listing the theme files that could not be used."""
    if not problems:
        return
    shown = problems[:5]
    more = len(problems) - len(shown)
    text = "\n".join(shown) + (f"\n… and {more} more" if more else "")
    title = "Theme file ignored" if len(problems) == 1 else f"{len(problems)} theme files ignored"
    app.notify(text, title=title, severity="warning", timeout=10)
