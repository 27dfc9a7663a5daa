"""Small helpers shared by the engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from spool.server.engines.base import ChatMessage, EngineEvent


def user(text: str) -> list[ChatMessage]:
    """A one-message conversation from the user."""
    return [ChatMessage(role="user", content=text)]


async def collect(events: AsyncIterator[EngineEvent]) -> list[EngineEvent]:
    """Everything an engine stream yields."""
    return [event async for event in events]
