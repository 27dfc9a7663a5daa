"""`spool serve`: key handling, the listening socket, uvicorn, and the `server.json` handshake.

The embedded-server contract (the TUI relies on it): with no key given, a key is generated and
kept in `<data dir>/api_key` (mode 0600); once listening, `<data dir>/server.json` holds
`{"pid", "url"}` and stdout says `spool serve: listening on http://HOST:PORT/v1`. The file is
removed on a clean exit.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spool.config import load_config
from spool.server.private import private_data_dir

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class ServeError(Exception):
    """A reason `spool serve` refuses to start (printed, exit code 2)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _say(message: str) -> None:
    print(f"spool serve: {message}", flush=True)


def load_or_create_key(data_dir: Path) -> tuple[str, Path, bool]:
    """The stored key of this data dir (created 0600 when missing). Returns (key, path, new)."""
    path = data_dir / "api_key"
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key, path, False
    except FileNotFoundError:
        pass
    key = "sk-spool-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    return key, path, True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose listener
    # says so, and uvicorn writes headers and body separately (Nagle + delayed ACK = +40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _code_interpreter(config_path: Path | None, data_dir: Path) -> Callable[[], None]:
    """Set up code_interpreter's sandboxes; say at start whether they can run, and how to fix
    it when not (the probe runs bwrap once, in a thread). Returns what ends them at exit."""
    from spool.server.sandbox import settings as sandbox_settings
    from spool.server.sandbox.probe import NONE_WARNING
    from spool.server.tools import code_interpreter

    problems: list[str] = []
    settings = sandbox_settings.load(config_path, problems)
    for problem in problems:
        _say(f"config problem (ignored): {problem}")
    manager = code_interpreter.configure(settings, hidden=[data_dir, Path.home()])
    if settings.sandbox == "none":
        _say(f"WARNING: {NONE_WARNING}")

    def check() -> None:
        problem = manager.problem()
        if problem:
            _say(f"code_interpreter is unavailable: {problem}")

    threading.Thread(target=check, name="sandbox-probe", daemon=True).start()
    return manager.kill_all_now


def _check_database(url: str | None, data_dir: Path) -> None:
    """Open (and migrate) the database once before serving: a database that cannot be used
    (unreachable, newer schema, …) is one clear line and exit status 2, not a traceback."""
    import asyncio

    from spool.server.storage import open_database

    async def probe() -> None:
        db = await open_database(url, data_dir)
        await db.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        where = "the database" if url else str(data_dir / "spool.db")
        raise ServeError(f"cannot use {where}: {exc}") from exc


def serve_forever(
    *,
    host: str,
    port: int,
    api_key: str | None,
    data_dir: Path,
    config_path: Path | None,
    echo_delay_ms: int = 0,
    run_expiry_s: int = 600,
    idle_exit_s: float | None = None,
    database_url: str | None = None,
    blobs_dir: Path | None = None,
    lease: tuple[float, float, float] = (2.0, 10.0, 600.0),
) -> None:
    """Run the server until interrupted (or, with `idle_exit_s`, until unused: server/idle.py)."""
    if not is_loopback(host) and not api_key:
        raise ServeError(
            f"refusing to listen on {host} (not a loopback address) without an explicit key: "
            "pass --api-key KEY or set SPOOL_API_KEY"
        )
    if run_expiry_s < 1:
        raise ServeError("--run-expiry-s must be at least 1")
    from spool.server.coordination import LeaseSettings

    lease_settings = LeaseSettings(*lease)
    problem = lease_settings.problem()
    if problem:
        raise ServeError(f"--lease-renew-s/--lease-expire-s/--event-retention-s: {problem}")
    os.umask(0o077)  # everything the server creates is private (the data dir holds every chat)
    try:
        notes = private_data_dir(data_dir)
    except OSError as exc:
        raise ServeError(f"cannot create the data dir {data_dir}: {exc}") from exc
    for note in notes:
        _say(f"fixed permissions: {note}")
    config = load_config(config_path)
    for problem in config.problems:
        _say(f"config problem (ignored): {problem}")
    database_url = database_url or config.server_database  # the flag wins over [server]
    if blobs_dir is None and config.server_blobs:
        blobs_dir = Path(config.server_blobs).expanduser()
    from spool.server.storage import check_url

    problem = check_url(database_url)
    if problem:
        raise ServeError(f"--database: {problem}")
    _check_database(database_url, data_dir)
    if config_path and not config_path.exists():
        _say(f"config file {config_path} does not exist; using defaults")
    if api_key is None:
        api_key, key_path, created = load_or_create_key(data_dir)
        _say(f"{'generated an' if created else 'using the'} API key stored in {key_path}")
    stop_sandboxes = _code_interpreter(config.path, data_dir)

    import uvicorn

    from spool.server.app import ServerSettings, create_app
    from spool.server.connections import GuardedH11Protocol

    logging.basicConfig(level=logging.INFO, format="spool serve: %(message)s", stream=sys.stdout)
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{actual_port}/v1"
    handshake = data_dir / "server.json"

    def on_ready(state: object) -> None:
        router = state.router  # type: ignore[attr-defined]
        source = (
            "config"
            if config.default_model
            else (
                "local model installed" if router.local_available else "local extra not installed"
            )
        )
        _say(f"default model {router.default_model} ({source})")
        _say(f"models: {', '.join(m['id'] for m in router.models())}")
        tmp = handshake.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "url": url}))
        os.replace(tmp, handshake)
        _say(f"listening on {url}")
        if idle_exit_s is not None:
            # Embedded: the client that started us reads stdout only up to this line and may
            # be gone long before we exit; what we print from now on goes to the log (stderr).
            sys.stdout.flush()
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    settings = ServerSettings(
        data_dir=data_dir,
        api_key=api_key,
        config=config,
        echo_delay_ms=echo_delay_ms,
        run_expiry_s=run_expiry_s,
        database_url=database_url,
        blobs_dir=blobs_dir,
        lease=lease_settings,
    )

    def on_stop() -> None:
        # In the lifespan: uvicorn re-raises SIGTERM after serving, so a `finally` is too late.
        stop_sandboxes()
        try:
            if json.loads(handshake.read_text(encoding="utf-8")).get("pid") == os.getpid():
                handshake.unlink()
        except (OSError, ValueError):
            pass

    app = create_app(settings, on_ready=on_ready, on_stop=on_stop)
    asgi: Any = app
    stop: list[uvicorn.Server] = []
    if idle_exit_s is not None:
        from spool.server.idle import IdleExit

        def executing() -> bool:
            runs = app.state.spool.runs
            return any(a.task is not None and not a.task.done() for a in runs.active.values())

        def on_idle() -> None:
            for s in stop:
                s.should_exit = True

        asgi = IdleExit(app, idle_s=idle_exit_s, busy=executing, on_idle=on_idle)
    server = uvicorn.Server(
        uvicorn.Config(
            asgi,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
            server_header=False,
            http=GuardedH11Protocol,  # header deadline + connection cap (server/connections.py)
        )
    )
    stop.append(server)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # ctrl+c: uvicorn has shut down cleanly and re-raises it; that is a normal stop
    finally:
        sock.close()
    _say("stopped")
