"""Connecting to an Assistants server: the embedded local server and remote profiles.

* `local` profile: reuse the server of this data dir when `server.json` names a live process that
  answers `GET /models` with our key (`api_key`), else start `python -m spool serve --port 0` on
  127.0.0.1 and stop it on exit (only if we started it).
* remote profiles (config file): `base_url` plus the name of the env var holding the key.

`openai` is imported lazily (in a thread), so the first frame never waits for it. No Textual here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_FILE = "server.json"
KEY_FILE = "api_key"
LOG_FILE = "server.log"
READY_MARK = "listening on "
# The embedded server exits this long after its last client left (spool.server.idle); open
# clients ping it every few seconds. Override with `--idle-exit-s` in the server arguments.
EMBEDDED_IDLE_EXIT_S = 30.0
CLIENT_HEADER = "X-Spool-Client"
GOODBYE_HEADER = "X-Spool-Goodbye"


# Timeouts (seconds). Connecting is quick on any network spool is used on; a request's answer
# may take a while (a run's first byte waits for nothing: runs are created, then streamed); a
# stream's gaps are bounded by the server's keep-alive comments (spool sends one every 15 s).
CONNECT_TIMEOUT_S = 5.0
ANSWER_TIMEOUT_S = 10.0  # the first request of a connection (GET /models), and pings
READ_TIMEOUT_S = 60.0  # any later request's answer, and the longest silence inside a stream
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 10.0


def client_timeout() -> Any:
    """The timeouts (`openai.Timeout`) of every client spool builds."""
    import openai

    return openai.Timeout(
        READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
    )


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
            *([] if "--idle-exit-s" in self.extra_args
              else ["--idle-exit-s", str(EMBEDDED_IDLE_EXIT_S)]),
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
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _early: tuple[EmbeddedServer, concurrent.futures.Future[Any]] | None = field(
        default=None, repr=False
    )

    @property
    def url(self) -> str | None:
        return self.base_url or (self.server.url if self.server else None)

    def prestart(self) -> None:
        """Begin finding or starting the embedded server (local profile) in a thread, at once:
        it starts in its own process while the UI draws. `connect` picks it up. (The SDK
        import is not started here: it would hold the GIL the first frame needs.)"""
        if self._early is not None or self.base_url is not None:
            return
        server = EmbeddedServer(Path(self.data_dir), list(self.server_args))
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool-connect")
        self._early = (server, pool.submit(server.ensure))  # a subprocess: the other core
        pool.shutdown(wait=False)

    async def connect(self) -> Any:
        """Start/reuse the server (local) and build the client; raises ConnectionFailed."""
        openai = await asyncio.to_thread(_import_openai)
        if self.base_url is None:
            if self._early is None:  # reconnecting (or not pre-started)
                self.prestart()
            assert self._early is not None
            (self.server, started), self._early = self._early, None
            url, key = await asyncio.wrap_future(started)
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
        self.client = openai.AsyncOpenAI(
            base_url=url,
            api_key=key or "none",
            max_retries=1,
            timeout=client_timeout(),
            default_headers={CLIENT_HEADER: self.client_id},
        )
        try:
            quick = self.client.with_options(timeout=ANSWER_TIMEOUT_S, max_retries=0)
            page = await quick.models.list()
            self.models = [m.id for m in page.data]
        except openai.APITimeoutError as exc:
            raise ConnectionFailed(
                f"{url} accepted the connection but did not answer within {ANSWER_TIMEOUT_S:.0f} s"
            ) from exc
        except openai.APIConnectionError as exc:
            raise ConnectionFailed(f"cannot reach {url}: {describe_error(exc)}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise ConnectionFailed(
                    f"{url} refused the API key (HTTP {exc.status_code})"
                ) from exc
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
        """Say goodbye to the server and close the client.

        The server is never killed here: an embedded one exits by itself once no client is
        left and no run is executing (spool.server.idle), so runs started from here finish.
        """
        client, self.client = self.client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            quick = client.with_options(timeout=2.0, max_retries=0)
            await quick.models.list(extra_headers={GOODBYE_HEADER: "1"})
        with contextlib.suppress(Exception):
            await client.close()


# The SDK loads its resources on first use (≈ 0.25 s, on the event loop): load them here, in
# the import thread, so the first requests do not stall the UI.
SDK_RESOURCES = (
    "openai.resources.models",
    "openai.resources.beta.beta",
    "openai.resources.beta.assistants",
    "openai.resources.beta.threads.threads",
    "openai.resources.beta.threads.messages",
    "openai.resources.beta.threads.runs.runs",
    "openai.resources.beta.threads.runs.steps",
)


def _import_openai() -> Any:
    import importlib
    import warnings

    import openai

    warnings.filterwarnings("ignore", message="The Assistants API is deprecated")
    for name in SDK_RESOURCES:
        with contextlib.suppress(ImportError):  # another SDK layout: loaded on first use
            importlib.import_module(name)
    return openai


@dataclass(frozen=True)
class Problem:
    """An error in words for the user; `connection` when the server could not be reached or
    went away (reconnecting is the cure), as opposed to an answer that refused the request."""

    text: str
    connection: bool = False
    # the server refused the request itself (a 4xx other than a timeout, conflict or rate
    # limit): sending it again unchanged gets the same answer
    refused: bool = False


def _is_transport_error(exc: BaseException) -> bool:
    """A network error raised inside a stream (the SDK wraps only the request's own)."""
    for name in ("httpx2", "httpx"):  # the SDK's HTTP library (openai 3.x: httpx2)
        module = sys.modules.get(name)
        error = getattr(module, "TransportError", None)
        if isinstance(error, type) and isinstance(exc, error):
            return True
    return False


def describe_problem(exc: BaseException, *, streaming: bool = False) -> Problem:
    """What went wrong, in plain words (SDK, network and stream errors)."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        return Problem(str(exc) or type(exc).__name__)
    if isinstance(exc, openai.APITimeoutError):
        if streaming:
            return Problem(
                "The server stopped sending mid-answer (timed out); the partial reply is kept.",
                connection=True,
            )
        return Problem("The server did not answer in time.", connection=True)
    if isinstance(exc, openai.APIConnectionError) or _is_transport_error(exc):
        if streaming:
            return Problem(
                "The server went away mid-answer; the partial reply is kept.", connection=True
            )
        cause = exc.__cause__ or exc
        detail = str(cause) if str(cause) and str(cause) != "Connection error." else ""
        return Problem("Server unreachable" + (f" ({detail})" if detail else ""), connection=True)
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        refused = 400 <= exc.status_code < 500 and exc.status_code not in (408, 409, 429)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return Problem(f"HTTP {exc.status_code}: {body['message']}", refused=refused)
        if exc.status_code >= 500:
            return Problem(
                f"The server failed (HTTP {exc.status_code}, no API error in the answer).",
                connection=exc.status_code in (502, 503, 504),
            )
        return Problem(f"HTTP {exc.status_code}: {exc.message}", refused=refused)
    if isinstance(exc, ConnectionFailed):
        return Problem(str(exc), connection=True)
    return Problem(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def describe_error(exc: BaseException) -> str:
    """A short human sentence for an exception from the SDK or the network."""
    return describe_problem(exc).text
