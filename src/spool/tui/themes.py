"""Theme files: spool's bundled `themes/*.toml` and the user's own, as Textual `Theme`s.

A theme file is a TOML table of `Theme` fields plus `[variables]`; spool's semantic variables
(`role-*`, `status-*`) colour message roles and run statuses. A broken file is reported, never
fatal. User themes (in `spool locate themes`) win over bundled ones of the same name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources
from pathlib import Path

from textual.color import Color
from textual.theme import Theme

DEFAULT_THEME = "spool-dark"
COLOUR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
RUN_STATUSES = (
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
)
_THEME_FIELDS = {f.name for f in dataclasses.fields(Theme)}


def bundled_themes_dir() -> Path:
    """The bundled themes: `spool/themes` in a wheel, the repo's `themes/` in a checkout."""
    packaged = resources.files("spool") / "themes"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "themes"


def load_theme_file(path: Path) -> Theme:
    """Parse and check one theme file; raises ValueError with a readable reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    if "name" not in data or "primary" not in data:
        raise ValueError("a theme needs at least 'name' and 'primary'")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ValueError("[variables] must be a table")
    for key in COLOUR_FIELDS:
        if data.get(key) is not None:
            try:
                Color.parse(data[key])
            except Exception as exc:
                raise ValueError(f"{key}: {exc}") from exc
    for key, value in variables.items():
        if key.startswith(("role-", "status-")):
            try:
                Color.parse(value)
            except Exception as exc:
                raise ValueError(f"variables.{key}: {exc}") from exc
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()
    except Exception as exc:
        raise ValueError(str(exc)) from exc
    return theme


def load_themes(user_dir: Path | None) -> tuple[list[Theme], list[str]]:
    """All bundled and user themes, and a message for each file that could not be used."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    dirs = [bundled_themes_dir()]
    if user_dir is not None and user_dir.is_dir():
        dirs.append(user_dir)
    for directory in dirs:
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


def semantic_defaults(theme: Theme) -> dict[str, str]:
    """`role-*` / `status-*` values for themes that do not define them (e.g. Textual's own)."""
    fg = theme.foreground or ("#e0e0e0" if theme.dark else "#202020")
    muted = Color.parse(fg).with_alpha(0.6).hex
    warning = theme.warning or "#e0af68"
    error = theme.error or "#f7768e"
    success = theme.success or "#9ece6a"
    primary = theme.primary
    return {
        "role-user": theme.accent or primary,
        "role-assistant": theme.secondary or primary,
        "role-tool": warning,
        "status-queued": muted,
        "status-in-progress": primary,
        "status-requires-action": warning,
        "status-cancelling": warning,
        "status-cancelled": muted,
        "status-failed": error,
        "status-completed": success,
        "status-incomplete": warning,
        "status-expired": error,
    }
