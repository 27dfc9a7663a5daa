"""The binding ids a `[keymap]` in the config file may name: every binding of spool's widgets,
screens and app (each binding has an id, so users can remap keys)."""

from __future__ import annotations

import importlib
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode

import spool.tui.screens
import spool.tui.widgets


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def known_binding_ids() -> set[str]:
    """The ids of every binding declared in `spool.tui` (its screens and widgets imported)."""
    importlib.import_module("spool.tui.app")
    for package in (spool.tui.screens, spool.tui.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    ids: set[str] = set()
    for cls in _subclasses(DOMNode):
        if not cls.__module__.startswith("spool."):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


def unknown_keymap_ids(keymap: dict[str, str]) -> list[str]:
    """The ids of `keymap` that name no binding (sorted)."""
    return sorted(set(keymap) - known_binding_ids())
