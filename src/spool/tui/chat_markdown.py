"""`ChatMarkdown`: Rich's Markdown renderer with chat semantics: a single newline inside a
paragraph is a line break (poems, addresses, lists typed without Markdown), as chat models
and their users expect. CommonMark would join those lines into one."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.markdown import Markdown


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt().enable("strikethrough").enable("table")  # as Rich's own parser


class ChatMarkdown(Markdown):
    """Markdown where soft line breaks are hard ones (else exactly Rich's rendering)."""

    def __init__(self, markup: str, **kwargs: Any) -> None:
        super().__init__("", **kwargs)  # Rich's own parse of "" costs nothing
        self.markup = markup
        self.parsed = _parser().parse(markup)
        for token in self.parsed:
            for child in token.children or ():
                if child.type == "softbreak":
                    child.type = "hardbreak"
