"""Connecting to an Assistants server: the embedded local server and remote profiles.

* `local` profile: reuse the server of this data dir when `server.json` names a live process that
  answers `GET /models` with our key (`api_key`), else start `python -m spool serve --port 0` on
  127.0.0.1 and stop it on exit (only if we started it).
* remote profiles (config file): `base_url` plus the name of the env var holding the key.

`openai` is imported lazily (in a thread), so the first frame never waits for it. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_FILE = "server.json"
KEY_FILE = "api_key"
LOG_FILE = "server.log"
READY_MARK = "listening on "


class ConnectionFailed(Exception):
    """The server could not be started or reached (the message says why)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _models_ok(url: str, key: str, timeout: float = 2.0) -> bool:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        url.rstrip("/") + "/models", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class EmbeddedServer:
    """The local `spool serve` of one data dir (started by us, or found running)."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    start_timeout: float = 60.0
    url: str | None = None
    api_key: str | None = None
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def started_by_us(self) -> bool:
        return self.process is not None

    def find_running(self) -> bool:
        """Reuse a live server of this data dir (server.json + api_key + GET /models)."""
        try:
            info = json.loads((self.data_dir / SERVER_FILE).read_text(encoding="utf-8"))
            key = (self.data_dir / KEY_FILE).read_text(encoding="utf-8").strip()
            pid, url = int(info["pid"]), str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not _pid_alive(pid) or not _models_ok(url, key):
            return False
        self.url, self.api_key = url, key
        return True

    def start(self) -> None:
        """Start `python -m spool serve` and wait for its "listening on" line (blocking)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable, "-m", "spool", "serve",
            "--host", "127.0.0.1", "--port", "0",
            "--data-dir", str(self.data_dir),
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SPOOL_API_KEY", None)  # the server generates a key and stores it in api_key
        log = open(self.data_dir / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
                start_new_session=True,  # ctrl+c in the terminal must not kill it under us
            )
        finally:
            log.close()
        assert proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        url = None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if READY_MARK in line:
                url = line.split(READY_MARK, 1)[1].strip()
                break
        if url is None:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(5)
            tail = "".join(self.output[-5:]).strip()
            log_tail = ""
            with contextlib.suppress(OSError):
                log_tail = (self.data_dir / LOG_FILE).read_text(encoding="utf-8")[-600:]
            raise ConnectionFailed(
                f"the embedded server did not start: {tail or log_tail or 'no output'}"
            )
        self.process = proc
        self.url = url
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()
        key_path = self.data_dir / KEY_FILE
        for _ in range(100):
            with contextlib.suppress(OSError):
                key = key_path.read_text(encoding="utf-8").strip()
                if key:
                    self.api_key = key
                    return
            time.sleep(0.05)
        raise ConnectionFailed(f"the embedded server wrote no key to {key_path}")

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                self.output.append(line)
                del self.output[:-50]

    def ensure(self) -> tuple[str, str]:
        """Reuse or start the server; returns (url, key). Blocking: call it in a thread."""
        if not self.find_running():
            self.start()
        assert self.url and self.api_key
        return self.url, self.api_key

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if we started it (blocking)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Connection:
    """One profile's AsyncOpenAI client (built by `connect()`)."""

    profile: str = "local"
    data_dir: Path = field(default_factory=Path.cwd)
    base_url: str | None = None  # None: embedded server
    api_key_env: str | None = None
    server_args: list[str] = field(default_factory=list)
    client: Any = None  # openai.AsyncOpenAI once connected
    server: EmbeddedServer | None = None
    models: list[str] = field(default_factory=list)

    @property
    def url(self) -> str | None:
        return self.base_url or (self.server.url if self.server else None)

    async def connect(self) -> Any:
        """Start/reuse the server (local) and build the client; raises ConnectionFailed."""
        openai = await asyncio.to_thread(_import_openai)
        if self.base_url is None:
            self.server = EmbeddedServer(Path(self.data_dir), list(self.server_args))
            url, key = await asyncio.to_thread(self.server.ensure)
        else:
            url = self.base_url
            key = os.environ.get(self.api_key_env or "", "") if self.api_key_env else ""
            if self.api_key_env and not key:
                raise ConnectionFailed(
                    f"profile {self.profile!r}: the environment variable {self.api_key_env} "
                    "holding its API key is not set"
                )
        if self.client is not None:  # reconnecting
            with contextlib.suppress(Exception):
                await self.client.close()
        self.client = openai.AsyncOpenAI(base_url=url, api_key=key or "none", max_retries=1)
        try:
            page = await self.client.models.list()
            self.models = [m.id for m in page.data]
        except openai.APIConnectionError as exc:
            raise ConnectionFailed(f"cannot reach {url}: {exc}") from exc
        except openai.APIStatusError:
            self.models = []  # a remote server without /models is fine
        return self.client

    def default_model(self, requested: str | None = None) -> str:
        """`--model`, else "smollm2" when the server lists it, else "echo" (or the first)."""
        if requested:
            return requested
        if "smollm2" in self.models:
            return "smollm2"
        if "echo" in self.models or not self.models:
            return "echo"
        return self.models[0]

    async def close(self) -> None:
        """Close the client and stop the server if we started it."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


def _import_openai() -> Any:
    import warnings

    import openai

    warnings.filterwarnings("ignore", message="The Assistants API is deprecated")
    return openai


def describe_error(exc: BaseException) -> str:
    """A short human sentence for an exception from the SDK or the network."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        return str(exc) or type(exc).__name__
    if isinstance(exc, openai.APIConnectionError):
        return "Server unreachable: " + (str(exc) or "connection error")
    if isinstance(exc, openai.APIStatusError):
        msg = exc.message
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            msg = body["message"]
        return f"HTTP {exc.status_code}: {msg}"
    if isinstance(exc, ConnectionFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
