"""`ChatMarkdown`: Rich's Markdown renderer with chat semantics: a single newline inside a
paragraph is a line break (poems, addresses, lists typed without Markdown), as chat models
and their users expect (CommonMark would join those lines into one); fenced code blocks carry
their language as a label; `code_theme_for` picks syntax colours that suit the app's theme."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Markdown
from rich.text import Text

LIGHT_CODE_THEME = "friendly"
DARK_CODE_THEME = "monokai"
HIGH_CONTRAST_CODE_THEME = "native"


def code_theme_for(theme_name: str, dark: bool) -> str:
    """The Pygments style for code blocks in an app theme."""
    if "contrast" in theme_name:
        return HIGH_CONTRAST_CODE_THEME
    return DARK_CODE_THEME if dark else LIGHT_CODE_THEME


class LabelledCodeBlock(CodeBlock):
    """A fenced code block with its language on a line above it."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.lexer_name and self.lexer_name != "text":
            yield Text(self.lexer_name, style="dim italic")
        yield from super().__rich_console__(console, options)


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt().enable("strikethrough").enable("table")  # as Rich's own parser


class ChatMarkdown(Markdown):
    """Markdown where soft line breaks are hard ones and code blocks say their language."""

    elements = {**Markdown.elements, "fence": LabelledCodeBlock, "code_block": LabelledCodeBlock}

    def __init__(self, markup: str, **kwargs: Any) -> None:
        super().__init__("", **kwargs)  # Rich's own parse of "" costs nothing
        self.markup = markup
        self.parsed = _parser().parse(markup)
        for token in self.parsed:
            for child in token.children or ():
                if child.type == "softbreak":
                    child.type = "hardbreak"
