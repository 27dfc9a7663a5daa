"""The local tool registry: Python functions that answer an assistant's function calls.

Two sources, loaded by `ToolRegistry.load()`:

* Python entry points of the group `spool.tools`: each loads a callable, named after the entry
  point (`[project.entry-points."spool.tools"] weather = "mypkg.tools:get_weather"`);
* `tools.py` in the config dir (`spool locate config` names the file beside it): every public
  top-level function defined in that file is a tool named after the function. It wins over an
  entry point of the same name.

A broken source is never fatal: it becomes a line in `ToolRegistry.problems`. Calls run sync
functions in a worker thread and await async ones; whatever the function returns or raises
becomes the output string the model sees. No Textual here.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "spool.tools"
TOOLS_FILE = "tools.py"
_MODULE_NAME = "spool_user_tools"


@dataclass
class ToolRegistry:
    """Named local functions (`functions`), where each came from, and what failed to load."""

    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        config_dir: Path | None = None,
        *,
        entry_points: bool = True,
        tools_file: bool = True,
    ) -> ToolRegistry:
        """Load the entry points of `spool.tools` and `<config dir>/tools.py` (never raises)."""
        registry = cls()
        if entry_points:
            registry._load_entry_points()
        if tools_file:
            if config_dir is None:
                from spool.config import config_dir as default_config_dir

                try:
                    config_dir = default_config_dir()
                except Exception as exc:  # platformdirs trouble: report, go on
                    registry.problems.append(f"cannot locate the config dir: {exc}")
                    return registry
            registry.load_file(Path(config_dir) / TOOLS_FILE)
        return registry

    # --- loading ------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        try:
            eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        except Exception as exc:
            self.problems.append(f"cannot list the {ENTRY_POINT_GROUP} entry points: {exc}")
            return
        for ep in eps:
            where = f"entry point {ep.name} = {ep.value}"
            try:
                fn = ep.load()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.problems.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            if not callable(fn):
                self.problems.append(f"{where}: not callable ({type(fn).__name__})")
                continue
            self.add(ep.name, fn, source=where)

    def load_file(self, path: Path) -> None:
        """Add every public function defined in the Python file `path` (missing file: no-op)."""
        if not path.is_file():
            return
        name = f"{_MODULE_NAME}_{len(self.sources)}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError("not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look their module up
            try:
                spec.loader.exec_module(module)
            finally:
                sys.modules.pop(name, None)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.problems.append(f"{path}: {type(exc).__name__}: {exc}")
            return
        for attr, value in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(value):
                continue
            if value.__module__ != module.__name__:
                continue  # imported into the file, not defined there
            self.add(attr, value, source=str(path))

    def add(self, name: str, fn: Callable[..., Any], *, source: str = "") -> None:
        """Register (or replace) the tool `name`."""
        self.functions[name] = fn
        self.sources[name] = source

    # --- queries ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The tool names, sorted."""
        return sorted(self.functions)

    def knows(self, name: str) -> bool:
        """Whether a function of this name is registered."""
        return name in self.functions

    def knows_all(self, names: list[str]) -> bool:
        """Whether every one of `names` is registered."""
        return all(self.knows(n) for n in names)

    # --- calling ------------------------------------------------------------------------------
    async def call(self, name: str, arguments_json: str) -> str:
        """Call the tool with the JSON object `arguments_json` as keyword arguments.

        Returns the output for the model: a str result as is, anything else as JSON; a bad
        argument string or an exception of the function becomes `error: <Type>: <message>`.
        Raises KeyError only for an unknown name (check `knows` first).
        """
        fn = self.functions[name]
        try:
            arguments = json.loads(arguments_json) if arguments_json.strip() else {}
            if not isinstance(arguments, dict):
                raise TypeError(
                    f"the arguments must be a JSON object, not {type(arguments).__name__}"
                )
            if inspect.iscoroutinefunction(fn):
                result = await fn(**arguments)
            else:
                result = await asyncio.to_thread(fn, **arguments)
                if inspect.isawaitable(result):  # a sync callable that returned a coroutine
                    result = await result
        except Exception as exc:
            return error_output(exc)
        return output_text(result)


def error_output(exc: BaseException) -> str:
    """The output string the model sees for a failed call."""
    return f"error: {type(exc).__name__}: {exc}"


def output_text(result: Any) -> str:
    """A tool result as the output string: str as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError) as exc:  # circular structures and the like
        return error_output(exc)
