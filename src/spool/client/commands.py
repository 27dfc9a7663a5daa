"""What every one-shot command (`spool ask`, `files`, `stores`, `threads`, `export`) shares: the
error that stops it with a message and an exit code, and a connection for a profile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spool.client.connection import Connection, ConnectionFailed


class CommandError(Exception):
    """A reason a command stops: printed as `spool <cmd>: <message>`, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def connection_for(profile: str, data_dir: Path, config: Any = None) -> Connection:
    """A (not yet connected) `Connection` for a profile of the config file."""
    if config is None:
        from spool.config import load_config

        config = load_config()
    spec = config.profiles.get(profile)
    if spec is None:
        known = ", ".join(sorted(config.profiles))
        raise CommandError(f"unknown profile {profile!r} (known: {known})", code=2)
    return Connection(
        profile=profile, data_dir=data_dir, base_url=spec.base_url, api_key_env=spec.api_key_env
    )


async def with_client(profile: str, data_dir: Path, work: Callable[[Any], Any]) -> Any:
    """Connect like `spool ask` (the embedded server or a profile), await `work(client)`."""
    connection = connection_for(profile, data_dir)
    try:
        try:
            client = await connection.connect()
        except ConnectionFailed as exc:
            raise CommandError(f"cannot connect: {exc}") from exc
        return await work(client)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())
