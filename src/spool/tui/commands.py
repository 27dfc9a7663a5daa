"""The command palette provider: every spool action, searchable by name (ctrl+p)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from spool.tui.app import SpoolApp


class SpoolCommands(Provider):
    """Lists the actions of `spool.tui.app.ACTIONS` (with their current keys)."""

    def _commands(self) -> list[tuple[str, str, str]]:
        from spool.tui.app import ACTIONS
        from spool.tui.media_actions import MEDIA_PALETTE
        from spool.tui.workflows import PALETTE

        app: SpoolApp = self.app  # type: ignore[assignment]
        out = []
        for binding_id, action, desc in ACTIONS:
            if action == "command_palette":
                continue
            keys = app._keys_for(binding_id)
            out.append((desc, action, f"{keys}  ·  {binding_id}"))
        out.append(("Reconnect", "reconnect", "Retry the connection to the server"))
        out.extend(PALETTE)  # export / import / copy (spool.tui.workflows)
        out.extend(MEDIA_PALETTE)  # images, code steps (spool.tui.media_actions)
        return out

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)

    async def discover(self) -> Hits:
        for name, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(name), partial(self._run, action), help=help_text
                )
