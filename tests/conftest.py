"""Shared fixtures: isolated dirs for every test, real `spool serve` processes on loopback,
real `openai` SDK clients, and JSON-Schema validation against the official spec subset."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ["TEXTUAL_ANIMATIONS"] = "none"  # before Textual is imported anywhere
os.environ.pop("TEXTUAL_THEME", None)
os.environ.pop("NO_COLOR", None)

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"
if not REFERENCE_DIR.exists():  # CI: shared/ beside the clone
    REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
NORMALIZED_SPEC = REFERENCE_DIR / "openapi" / "assistants-v2.normalized.yaml"
if not NORMALIZED_SPEC.is_file():  # a fresh clone: the verbatim copy in tests/walkthroughs/
    NORMALIZED_SPEC = Path(__file__).parent / "walkthroughs" / "openapi" / NORMALIZED_SPEC.name

# The PostgreSQL tests' server (CI: .ci/run starts one with tests/postgres_server.py); each
# server fixture on PostgreSQL gets a database of its own, dropped after it.
DATABASE_URL = os.environ.get("SPOOL_TEST_DATABASE_URL")
NO_DATABASE = (
    "PostgreSQL tests need SPOOL_TEST_DATABASE_URL: export SPOOL_TEST_DATABASE_URL=$("
    ".venv/bin/python tests/postgres_server.py start /tmp/spool-pg) (as .ci/run does)"
)
BACKENDS = ["sqlite", "postgresql"]


def backend_param(name: str) -> Any:
    """A pytest param for a backend (PostgreSQL skipped without SPOOL_TEST_DATABASE_URL)."""
    marks = [pytest.mark.skip(reason=NO_DATABASE)] if name != "sqlite" and not DATABASE_URL else []
    return pytest.param(name, marks=marks, id=name)


BACKEND_PARAMS = [backend_param(b) for b in BACKENDS]


class FreshDatabase:
    """A new, empty PostgreSQL database on the test server; `drop()` removes it."""

    def __init__(self) -> None:
        import secrets
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        assert DATABASE_URL, NO_DATABASE
        self.name = "spool_test_" + secrets.token_hex(6)
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        parts = urlsplit(DATABASE_URL)
        self.url = urlunsplit(parts._replace(path="/" + self.name))

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def database_args(backend: str, cleanups: list[Any]) -> list[str]:
    """`--database` for a server on this backend (nothing for SQLite, the default)."""
    if backend == "sqlite":
        return []
    fresh = FreshDatabase()
    cleanups.append(fresh.drop)
    return ["--database", fresh.url]


TEST_MODELS_TOML = """
default_model = "echo"

[models.gpt-4]
alias = "echo"

[models.gpt-4o]
alias = "echo"

[models.gpt-4-turbo]
alias = "echo"

[models.gpt-4o-mini]
alias = "echo"
"""


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data and config dirs (nothing touches the user's)."""
    data = tmp_path / "data"
    conf = tmp_path / "config"
    data.mkdir()
    conf.mkdir()
    monkeypatch.setenv("SPOOL_DATA_DIR", str(data))
    monkeypatch.setenv("SPOOL_CONFIG_DIR", str(conf))
    monkeypatch.delenv("SPOOL_CONFIG", raising=False)
    monkeypatch.delenv("SPOOL_API_KEY", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@dataclass
class ServerProcess:
    """A `spool serve` subprocess on 127.0.0.1 and what is needed to talk to it."""

    base_url: str
    api_key: str
    data_dir: Path
    config_path: Path
    process: subprocess.Popen[str]
    args: list[str]
    output: list[str] = field(default_factory=list)

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def client(self, **kwargs: Any):  # -> openai.OpenAI
        import openai

        kwargs.setdefault("_strict_response_validation", True)
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, **kwargs)

    def async_client(self, **kwargs: Any):  # -> openai.AsyncOpenAI
        import openai

        kwargs.setdefault("_strict_response_validation", True)
        kwargs.setdefault("max_retries", 0)
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, **kwargs)

    @property
    def database_url(self) -> str | None:
        """The server's `--database` (None: spool.db in its data dir)."""
        return self.args[self.args.index("--database") + 1] if "--database" in self.args else None

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (`?` placeholders) on the server's database, committed; its rows."""
        if self.database_url is None:
            import sqlite3

            with sqlite3.connect(self.data_dir / "spool.db") as db:
                return db.execute(statement, params).fetchall()
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def kill(self) -> None:
        """Kill -9 (a crash), not a clean stop."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if os.environ.get("SPOOL_TEST_SERVER_LOG"):  # debugging: show what the server said
            sys.stderr.write("".join(self.output))
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def launch_server(
    data_dir: Path,
    *,
    config_toml: str = TEST_MODELS_TOML,
    echo_delay_ms: int = 0,
    run_expiry_s: int = 600,
    api_key: str = "sk-test-key",
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """Start `python -m spool serve --port 0` and wait for its "listening on" line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "test-config.toml"
    config_path.write_text(config_toml, encoding="utf-8")
    args = [
        sys.executable, "-m", "spool", "serve",
        "--host", "127.0.0.1", "--port", "0",
        "--api-key", api_key,
        "--data-dir", str(data_dir),
        "--config", str(config_path),
        "--echo-delay-ms", str(echo_delay_ms),
        "--run-expiry-s", str(run_expiry_s),
        *(extra_args or []),
    ]  # fmt: skip
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    deadline = time.monotonic() + timeout
    base_url = None
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "listening on " in line:
            base_url = line.split("listening on ", 1)[1].strip()
            break
    if base_url is None:
        proc.kill()
        raise RuntimeError("spool serve did not start:\n" + "".join(output))
    server = ServerProcess(base_url, api_key, data_dir, config_path, proc, args, output)

    def drain() -> None:  # keep reading so the pipe never fills up
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return server


@pytest.fixture(scope="session", params=[backend_param(b) for b in (*BACKENDS, "replicas")])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One shared echo server per backend for the whole session (tests create their own
    objects): every test using it runs on SQLite, on PostgreSQL, and on three replicas sharing
    one PostgreSQL behind a round-robin proxy (each request to the next replica)."""
    cleanups: list[Any] = []
    if request.param == "replicas":
        yield from _replicas_server(tmp_path_factory, cleanups)
        return
    args = database_args(request.param, cleanups)
    proc = launch_server(tmp_path_factory.mktemp(f"server-data-{request.param}"), extra_args=args)
    yield proc
    proc.stop()
    for cleanup in cleanups:
        cleanup()


def _replicas_server(
    tmp_path_factory: pytest.TempPathFactory, cleanups: list[Any]
) -> Iterator[ServerProcess]:
    """Three replicas on one fresh PostgreSQL database behind `RoundRobinProxy`; the
    ServerProcess is the first replica's, with the proxy's URL."""
    import dataclasses

    from replica_proxy import RoundRobinProxy

    dirs = [tmp_path_factory.mktemp(f"server-data-replica-{i}") for i in range(3)]
    blobs = dirs[0] / "files"  # one blobs directory for all three, where a test looks for it
    args = [*database_args("postgresql", cleanups), "--blobs", str(blobs)]
    replicas = [launch_server(d, extra_args=args) for d in dirs]
    proxy = RoundRobinProxy([r.root_url for r in replicas]).start()
    yield dataclasses.replace(replicas[0], base_url=proxy.url + "/v1")
    proxy.stop()
    for replica in replicas:
        replica.stop()
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of `start_server`'s servers: SQLite unless a test parametrises it
    (`@pytest.mark.parametrize("backend", BACKEND_PARAMS, indirect=True)`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def start_server(tmp_path: Path, backend: str) -> Iterator[Any]:
    """A factory for servers with their own options; all are stopped after the test. On the
    PostgreSQL backend every server of the test shares one fresh database (a restart with the
    same data dir finds its data, as on SQLite)."""
    started: list[ServerProcess] = []
    cleanups: list[Any] = []
    database: list[str] = []

    def start(**kwargs: Any) -> ServerProcess:
        data_dir = kwargs.pop("data_dir", None) or tmp_path / f"server-{len(started)}"
        if backend != "sqlite":
            database[:] = database or database_args(backend, cleanups)
            kwargs["extra_args"] = [*database, *(kwargs.get("extra_args") or [])]
        proc = launch_server(Path(data_dir), **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def client(server: ServerProcess):
    """A strict `openai.OpenAI` client for the shared server."""
    with server.client() as c:
        yield c


@pytest.fixture
async def aclient(server: ServerProcess):
    """A strict `openai.AsyncOpenAI` client for the shared server."""
    async with server.async_client() as c:
        yield c


class SpecValidator:
    """Validates REST bodies and stream events against the normalized official spec subset."""

    def __init__(self, spec_path: Path) -> None:
        import yaml
        from jsonschema import Draft202012Validator

        with spec_path.open(encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        self._components = spec["components"]
        self._validators: dict[str, Any] = {}
        self._cls = Draft202012Validator

    def validator(self, schema_name: str) -> Any:
        if schema_name not in self._validators:
            root = {"$ref": f"#/components/schemas/{schema_name}", "components": self._components}
            self._validators[schema_name] = self._cls(root)
        return self._validators[schema_name]

    def validate(self, obj: Any, schema_name: str) -> None:
        """Raise jsonschema.ValidationError when `obj` does not match the named schema."""
        if schema_name.startswith("List") and isinstance(obj, dict) and not obj.get("data"):
            # Empty lists carry null first_id/last_id (the API did that; the spec says string).
            obj = {
                **obj,
                "first_id": obj.get("first_id") or "",
                "last_id": obj.get("last_id") or "",
            }
        self.validator(schema_name).validate(obj)

    def validate_event(self, event: str, data: Any) -> None:
        """Validate one streamed event as an `AssistantStreamEvent`."""
        self.validator("AssistantStreamEvent").validate({"event": event, "data": data})


@pytest.fixture(scope="session")
def spec() -> SpecValidator:
    return SpecValidator(NORMALIZED_SPEC)


@pytest.fixture(scope="session")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A shared echo server with a 20 ms delay between deltas (cancel/disconnect tests)."""
    proc = launch_server(tmp_path_factory.mktemp("slow-server-data"), echo_delay_ms=20)
    yield proc
    proc.stop()


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Any]:
    """A plain `httpx2.Client` on the shared server's /v1 (bearer key and beta header set)."""
    from server_helpers import raw_http

    with raw_http(server) as http:
        yield http
