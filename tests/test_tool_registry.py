"""The local tool registry: entry points, `tools.py` in the config dir, calling conventions."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from spool.client.tools import ENTRY_POINT_GROUP, ToolRegistry

TOOLS_PY = '''
import asyncio
import threading
from dataclasses import dataclass
from json import dumps  # imported, not defined here: not a tool

CALLS = []


@dataclass
class Point:  # classes are not tools
    x: int
    y: int


def add(a, b):
    """Add two numbers."""
    return a + b


def greet(name: str = "world") -> str:
    return f"hello {name}"


def where() -> str:
    return threading.current_thread().name


async def slow_double(x):
    await asyncio.sleep(0.01)
    return {"double": x * 2, "point": [x, x]}


def boom(message):
    raise ValueError(message)


def nothing():
    return None


def _private():
    return "hidden"
'''


def write_tools(config_dir: Path, text: str = TOOLS_PY) -> Path:
    path = config_dir / "tools.py"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_dir(isolated_dirs: Path) -> Path:
    return isolated_dirs / "config"


def make_dist(
    root: Path, module: str, source: str, entry_points: dict[str, str], dist: str = "spooltoolsx"
) -> None:
    """A minimal installed distribution on `root` (module + dist-info with entry points)."""
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n", encoding="utf-8")


# --- loading ----------------------------------------------------------------------------------
def test_no_sources_no_tools(config_dir: Path) -> None:
    registry = ToolRegistry.load()
    assert registry.names == []
    assert registry.problems == []
    assert not registry.knows("add")


def test_tools_py_public_functions(config_dir: Path) -> None:
    write_tools(config_dir)
    registry = ToolRegistry.load()  # the config dir comes from SPOOL_CONFIG_DIR
    assert registry.problems == []
    assert registry.names == ["add", "boom", "greet", "nothing", "slow_double", "where"]
    assert registry.knows("add") and not registry.knows("_private")
    assert not registry.knows("dumps") and not registry.knows("Point")
    assert registry.sources["add"] == str(config_dir / "tools.py")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("def broken(:\n    pass\n", "SyntaxError"),
        ("import no_such_module_for_spool_tests\n", "ModuleNotFoundError"),
        ("raise RuntimeError('nope at import')\n", "RuntimeError: nope at import"),
        ("import sys\nsys.exit(3)\n", "SystemExit"),
    ],
)
def test_broken_tools_py_is_reported(config_dir: Path, text: str, expected: str) -> None:
    path = write_tools(config_dir, text)
    registry = ToolRegistry.load()
    assert registry.names == []
    [problem] = registry.problems
    assert str(path) in problem and expected in problem


def test_explicit_config_dir(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_tools(elsewhere, "def only_here():\n    return 1\n")
    assert ToolRegistry.load(elsewhere).names == ["only_here"]
    assert ToolRegistry.load(elsewhere, tools_file=False).names == []


def test_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(
        site,
        "spool_ep_tools_mod",
        "def weather(city):\n    return f'sunny in {city}'\n\nNOT_CALLABLE = 42\n",
        {
            "weather": "spool_ep_tools_mod:weather",
            "add": "spool_ep_tools_mod:weather",
            "missing": "spool_ep_no_such_module:fn",
            "constant": "spool_ep_tools_mod:NOT_CALLABLE",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    registry = ToolRegistry.load()
    assert registry.knows("weather") and registry.knows("add")
    assert registry.sources["weather"] == "entry point weather = spool_ep_tools_mod:weather"
    problems = "\n".join(registry.problems)
    assert len(registry.problems) == 2
    assert "entry point missing" in problems and "ModuleNotFoundError" in problems
    assert "entry point constant" in problems and "not callable" in problems
    # tools.py wins over an entry point of the same name
    write_tools(config_dir, "def add(a, b):\n    return a + b\n")
    registry = ToolRegistry.load()
    assert registry.sources["add"] == str(config_dir / "tools.py")
    assert ToolRegistry.load(entry_points=False).names == ["add"]


async def test_entry_point_tool_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_dist(
        site,
        "spool_ep_tools_mod2",
        "def weather(city):\n    return f'sunny in {city}'\n",
        {"weather": "spool_ep_tools_mod2:weather"},
        dist="spooltoolsy",
    )
    monkeypatch.syspath_prepend(str(site))
    registry = ToolRegistry.load()
    assert await registry.call("weather", '{"city": "Paris"}') == "sunny in Paris"


def test_entry_points_listing_failure_is_reported(
    monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    import importlib.metadata

    def fail(**kwargs: object) -> None:
        raise OSError("metadata unreadable")

    monkeypatch.setattr(importlib.metadata, "entry_points", fail)
    registry = ToolRegistry.load()
    assert registry.names == []
    assert "metadata unreadable" in registry.problems[0]


# --- calling ----------------------------------------------------------------------------------
@pytest.fixture
def registry(config_dir: Path) -> ToolRegistry:
    write_tools(config_dir)
    return ToolRegistry.load(entry_points=False)


async def test_sync_function_runs_in_a_worker_thread(registry: ToolRegistry) -> None:
    assert await registry.call("add", '{"a": 2, "b": 3}') == "5"
    assert await registry.call("where", "{}") != threading.current_thread().name


async def test_str_results_as_is_others_as_json(registry: ToolRegistry) -> None:
    assert await registry.call("greet", '{"name": "spool"}') == "hello spool"
    assert await registry.call("greet", "") == "hello world"  # no arguments at all
    assert await registry.call("nothing", "{}") == "null"
    assert await registry.call("add", '{"a": 0.5, "b": 1}') == "1.5"


async def test_async_function_is_awaited(registry: ToolRegistry) -> None:
    out = await registry.call("slow_double", '{"x": 4}')
    assert json.loads(out) == {"double": 8, "point": [4, 4]}


async def test_exceptions_become_the_output(registry: ToolRegistry) -> None:
    assert await registry.call("boom", '{"message": "bad input"}') == "error: ValueError: bad input"
    out = await registry.call("add", '{"a": 1}')
    assert out.startswith("error: TypeError: ") and "b" in out
    out = await registry.call("add", "{not json")
    assert out.startswith("error: JSONDecodeError: ")
    out = await registry.call("add", "[1, 2]")
    assert out == "error: TypeError: the arguments must be a JSON object, not list"


async def test_unknown_name_raises(registry: ToolRegistry) -> None:
    with pytest.raises(KeyError):
        await registry.call("nope", "{}")


async def test_added_callables_and_odd_results() -> None:
    registry = ToolRegistry()

    class Odd:
        def __str__(self) -> str:
            return "odd!"

    registry.add("odd", lambda: {"value": Odd()})
    registry.add("bytes", lambda: b"raw")

    def circular() -> list[object]:
        items: list[object] = []
        items.append(items)
        return items

    registry.add("circular", circular)
    assert json.loads(await registry.call("odd", "{}")) == {"value": "odd!"}
    assert await registry.call("bytes", "{}") == "\"b'raw'\""
    assert (await registry.call("circular", "{}")).startswith("error: ValueError: ")
    assert registry.knows_all(["odd", "bytes"]) and not registry.knows_all(["odd", "x"])


def test_no_textual_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, spool.client.tools, spool.client.export, spool.client.ask; "
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
