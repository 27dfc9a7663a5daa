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


CONTINUATION = "↪ "  # starts the rest of a code line too long for the width


class LabelledCodeBlock(CodeBlock):
    """A fenced code block with its language on a line above it. A line too long for the width
    continues on the next row, indented like the line and marked `↪` (Rich would wrap it to
    column 0, which reads as wrong indentation)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.console import Group
        from rich.padding import Padding
        from rich.syntax import Syntax

        if self.lexer_name and self.lexer_name != "text":
            yield Text(self.lexer_name, style="dim italic")
        code = str(self.text).rstrip()
        width = options.max_width - 2  # the block's padding, left and right
        syntax = Syntax(code, self.lexer_name, theme=self.theme, word_wrap=False, padding=1)
        if width < 16 or all(len(line) <= width for line in code.split("\n")):
            yield syntax
            return
        background = syntax.get_theme(self.theme).get_background_style()
        rows: list[Text] = []
        for line in syntax.highlight(code).split("\n", allow_blank=True):
            line.rstrip()
            if len(line.plain) <= width:
                rows.append(line)
                continue
            indent = min(len(line.plain) - len(line.plain.lstrip(" ")), width // 2)
            room = max(8, width - indent - len(CONTINUATION))
            rows.append(line[:width])
            rest = line[width:]
            while rest.plain:
                row = Text(" " * indent)
                row.append(CONTINUATION, style="dim")
                row.append_text(rest[:room])
                rows.append(row)
                rest = rest[room:]
        for row in rows:
            row.no_wrap, row.overflow = True, "crop"
        yield Padding(Group(*rows), 1, style=background, expand=True)


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
