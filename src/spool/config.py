"""Settings: the TOML config file, environment variables and XDG paths.

The config file (`spool locate config`) holds profiles, the server's model table, the default
model, the keymap, MCP servers (`[mcp.NAME]`, parsed in `_parse_mcp`) and whether local tools
ask before they run (`[tools] ask`), and file_search's embedding model (`[retrieval]
embedding_model`, a `[models]` entry). A broken file never stops spool: `Config.problems` lists what was wrong and
the defaults are used for the rest.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "spool"


def config_dir() -> Path:
    """The directory of config.toml, user themes and tools.py (`SPOOL_CONFIG_DIR` overrides)."""
    env = os.environ.get("SPOOL_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: explicit argument, else `SPOOL_DATA_DIR`, else the XDG data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("SPOOL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_file() -> Path:
    """The config file (`SPOOL_CONFIG` overrides the path of the file itself)."""
    env = os.environ.get("SPOOL_CONFIG")
    if env:
        return Path(env).expanduser()
    return config_dir() / "config.toml"


@dataclass(slots=True)
class ModelSpec:
    """One entry of the server's model table.

    engine: "echo", "llama" or "openai"; `alias` makes the entry another name for a model.
    """

    name: str
    engine: str = ""
    alias: str | None = None
    path: str | None = None  # llama: the GGUF file
    base_url: str | None = None  # openai: the upstream chat-completions base URL
    api_key_env: str | None = None  # openai: env var holding the upstream key
    upstream_model: str | None = None  # openai/llama: the name sent upstream
    timeout: float = 120.0  # openai: seconds per upstream request
    n_ctx: int = 2048  # llama: context window
    n_threads: int | None = None  # llama


@dataclass(slots=True)
class Profile:
    """A connection profile: `local` (embedded server) or a remote Assistants-compatible URL."""

    name: str
    base_url: str | None = None  # None: the embedded local server
    api_key_env: str | None = None


MCP_KEYS = {"command", "args", "env", "cwd", "url", "headers", "ask", "timeout", "tools"}


@dataclass(slots=True)
class McpServerSpec:
    """One `[mcp.NAME]` entry: a Model Context Protocol server whose tools runs may use.

    stdio: `command` (+ `args`, `env`, `cwd`) is started as a subprocess; streamable HTTP: `url`
    (+ `headers`). `ask`: ask before each tool runs (default); `timeout`: seconds per call;
    `tools`: offer only these of its tools (default: all).
    """

    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ask: bool = True
    timeout: float = 30.0
    tools: list[str] | None = None  # None: every tool the server lists

    @property
    def where(self) -> str:
        """A short description: the command line or the URL."""
        if self.url:
            return self.url
        return " ".join([self.command or "", *self.args]).strip()


class UnknownProfile(ValueError):
    """A profile name that neither spool nor the config file defines."""

    def __init__(self, name: str, known: list[str], path: Path | None) -> None:
        where = f"; add [profiles.{name}] to {path}" if path is not None else ""
        super().__init__(f"unknown profile {name!r} (known: {', '.join(known)}){where}")
        self.name = name
        self.known = known


BELL_CHOICES = ("requires_action", "always", "never")
# how the TUI draws images (spool.tui.widgets.image_view): auto asks only terminals known for
# Kitty graphics or Sixel, ask asks any terminal (e.g. xterm -ti vt340), halfcell, none
IMAGE_CHOICES = ("auto", "ask", "halfcell", "none")


@dataclass(slots=True)
class Config:
    """The parsed config file, with defaults and the list of problems found in it."""

    models: dict[str, ModelSpec] = field(default_factory=dict)
    default_model: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    bell: str = "requires_action"  # when a run ends on another thread: always | never
    sidebar_width: int = 34  # columns of the thread list
    footer: bool = True  # the line of main keys at the bottom
    images: str = "auto"  # auto | ask | halfcell | none (see IMAGE_CHOICES)
    mcp: dict[str, McpServerSpec] = field(default_factory=dict)
    tools_ask: bool = False  # [tools] ask: local tools (tools.py) ask before they run
    server_database: str | None = None  # [server] database: spool serve's --database default
    server_blobs: str | None = None  # [server] blobs: spool serve's --blobs default
    embedding_model: str | None = None  # [retrieval] embedding_model: a [models] entry (dense)
    path: Path | None = None
    problems: list[str] = field(default_factory=list)

    def profile(self, name: str) -> Profile:
        """The profile called `name`; UnknownProfile (listing the known ones) otherwise."""
        spec = self.profiles.get(name)
        if spec is None:
            raise UnknownProfile(name, sorted(self.profiles), self.path)
        return spec


_MODEL_KEYS = {f for f in ModelSpec.__slots__ if f != "name"}  # type: ignore[attr-defined]


def _tables(raw: Any, section: str, what: str, problems: list[str]) -> Iterator[tuple[str, dict]]:
    """The `[section.NAME]` tables of `raw`; anything else is a problem (and skipped)."""
    if not isinstance(raw, dict):
        problems.append(f"[{section}] must be a table of {what}")
        return
    for name, entry in raw.items():
        if isinstance(entry, dict):
            yield name, entry
        else:
            problems.append(f"[{section}.{name}] must be a table")


def _parse_models(raw: Any, problems: list[str]) -> dict[str, ModelSpec]:
    models: dict[str, ModelSpec] = {}
    for name, entry in _tables(raw, "models", "model names", problems):
        unknown = set(entry) - _MODEL_KEYS
        if unknown:
            problems.append(f"[models.{name}] unknown keys: {', '.join(sorted(unknown))}")
        spec = ModelSpec(name=name, **{k: v for k, v in entry.items() if k in _MODEL_KEYS})
        if spec.alias is None and spec.engine not in ("echo", "llama", "openai"):
            problems.append(
                f"[models.{name}] engine must be 'echo', 'llama' or 'openai' (or give alias = ...)"
            )
            continue
        models[name] = spec
    return models


def _parse_profiles(raw: Any, problems: list[str]) -> dict[str, Profile]:
    profiles: dict[str, Profile] = {}
    for name, entry in _tables(raw, "profiles", "profile names", problems):
        profiles[name] = Profile(
            name=name, base_url=entry.get("base_url"), api_key_env=entry.get("api_key_env")
        )
    return profiles


def _str_table(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _mcp_entry(name: str, entry: dict[str, Any]) -> tuple[McpServerSpec | None, list[str]]:
    """One `[mcp.NAME]` table as a spec (None when unusable) and the problems found in it."""
    where = f"[mcp.{name}]"
    problems: list[str] = []
    unknown = set(entry) - MCP_KEYS
    if unknown:
        problems.append(f"{where} unknown keys: {', '.join(sorted(unknown))}")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        return None, [*problems, f"{where} needs either command = ... (stdio) or url = ... (HTTP)"]
    if command is not None and (not isinstance(command, str) or not command.strip()):
        return None, [*problems, f"{where} command must be a non-empty string"]
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        return None, [*problems, f"{where} url must start with http:// or https://"]
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None, [*problems, f"{where} args must be a list of strings"]
    for key in ("env", "headers"):
        if not _str_table(entry.get(key, {})):
            return None, [*problems, f"{where} {key} must be a table of strings"]
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        return None, [*problems, f"{where} cwd must be a string"]
    tools = entry.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)
    ):
        return None, [*problems, f"{where} tools must be a list of tool names"]
    ask = entry.get("ask", True)
    if not isinstance(ask, bool):
        problems.append(f"{where} ask must be true or false (asking)")
        ask = True
    timeout = entry.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problems.append(f"{where} timeout must be a positive number of seconds (using 30)")
        timeout = 30.0
    spec = McpServerSpec(
        name=name,
        command=command,
        args=list(args),
        env=dict(entry.get("env", {})),
        cwd=cwd,
        url=url,
        headers=dict(entry.get("headers", {})),
        ask=ask,
        timeout=float(timeout),
        tools=list(tools) if tools is not None else None,
    )
    return spec, problems


def _parse_mcp(raw: Any, problems: list[str]) -> dict[str, McpServerSpec]:
    """The `[mcp]` tables; every broken entry is a problem (and left out), never fatal."""
    servers: dict[str, McpServerSpec] = {}
    for name, entry in _tables(raw, "mcp", "server names", problems):
        spec, found = _mcp_entry(name, entry)
        problems.extend(found)
        if spec is not None:
            servers[name] = spec
    return servers


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives defaults, a broken one gives `problems`."""
    path = path or config_file()
    config = Config(path=path)
    config.profiles["local"] = Profile(name="local")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return config
    except OSError as exc:
        config.problems.append(f"cannot read {path}: {exc}")
        return config
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        config.problems.append(f"{path}: {exc}")
        return config
    if "models" in raw:
        config.models = _parse_models(raw["models"], config.problems)
    if "profiles" in raw:
        config.profiles.update(_parse_profiles(raw["profiles"], config.problems))
    default_model = raw.get("default_model")
    if default_model is not None and not isinstance(default_model, str):
        config.problems.append("default_model must be a string")
    else:
        config.default_model = default_model
    keymap = raw.get("keymap", {})
    if isinstance(keymap, dict) and all(isinstance(v, str) for v in keymap.values()):
        config.keymap = dict(keymap)
    else:
        config.problems.append("[keymap] must map binding ids to key strings")
    theme = raw.get("theme")
    if isinstance(theme, str):
        config.theme = theme
    bell = raw.get("bell", config.bell)
    if bell in BELL_CHOICES:
        config.bell = bell
    else:
        config.problems.append(f"bell must be one of {', '.join(BELL_CHOICES)} (got {bell!r})")
    footer = raw.get("footer", config.footer)
    if isinstance(footer, bool):
        config.footer = footer
    else:
        config.problems.append(f"footer must be true or false (got {footer!r})")
    images = raw.get("images", config.images)
    if images in IMAGE_CHOICES:
        config.images = images
    else:
        config.problems.append(f"images must be one of {', '.join(IMAGE_CHOICES)} (got {images!r})")
    width = raw.get("sidebar_width", config.sidebar_width)
    if isinstance(width, int) and not isinstance(width, bool) and 16 <= width <= 80:
        config.sidebar_width = width
    else:
        config.problems.append(f"sidebar_width must be a number of columns, 16–80 (got {width!r})")
    if "mcp" in raw:
        config.mcp = _parse_mcp(raw["mcp"], config.problems)
    tools = raw.get("tools", {})
    if isinstance(tools, dict) and isinstance(tools.get("ask", False), bool):
        config.tools_ask = bool(tools.get("ask", False))
    else:
        config.problems.append("[tools] ask must be true or false")
    server = raw.get("server", {})
    if not isinstance(server, dict):
        config.problems.append("[server] must be a table")
        server = {}
    for key in ("database", "blobs"):
        value = server.get(key)
        if value is not None and not isinstance(value, str):
            config.problems.append(f"[server] {key} must be a string (got {value!r})")
        elif value:
            setattr(config, f"server_{key}", value)
    _parse_retrieval(raw.get("retrieval", {}), config)
    return config


def _parse_retrieval(raw: Any, config: Config) -> None:
    """`[retrieval] embedding_model`: the `[models]` entry that embeds file_search chunks."""
    if not isinstance(raw, dict):
        config.problems.append("[retrieval] must be a table")
        return
    unknown = set(raw) - {"embedding_model"}
    if unknown:
        config.problems.append(f"[retrieval] unknown keys: {', '.join(sorted(unknown))}")
    name = raw.get("embedding_model")
    if name is None:
        return
    if not isinstance(name, str) or name not in config.models:
        config.problems.append(
            f"[retrieval] embedding_model must name a [models] entry (got {name!r}); "
            "file_search stays keyword-only"
        )
        return
    config.embedding_model = name
