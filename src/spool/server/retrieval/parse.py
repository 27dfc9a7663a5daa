"""Parsing: a file's bytes → its text, chosen by the file name's extension.

Text formats (plain text, Markdown, source code, CSV, JSON, HTML, XML) are decoded as UTF-8
(or UTF-16 with a BOM, else Latin-1 when the bytes hold no NUL); HTML loses its tags, scripts
and styles. PDF goes through `pypdf` (page texts joined by blank lines). docx and pptx are zip
files of XML: their paragraphs are read with the standard library (zipfile + ElementTree), so
no dependency is needed for them. Anything else raises `ParseError("unsupported_file")`; a file
that cannot be read as its type raises `ParseError("invalid_file")`.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "text",
        "md",
        "markdown",
        "rst",
        "csv",
        "tsv",
        "log",
        "tex",
        "org",
        "adoc",
        "xml",
        "yaml",
        "yml",
        "toml",
        "ini",
        "cfg",
        "conf",
        "py",
        "pyi",
        "c",
        "cc",
        "cpp",
        "cxx",
        "h",
        "hpp",
        "cs",
        "java",
        "kt",
        "kts",
        "go",
        "rs",
        "rb",
        "php",
        "js",
        "mjs",
        "cjs",
        "jsx",
        "ts",
        "tsx",
        "css",
        "scss",
        "sh",
        "bash",
        "zsh",
        "ps1",
        "sql",
        "swift",
        "scala",
        "lua",
        "r",
        "pl",
        "pm",
        "hs",
        "ex",
        "exs",
        "erl",
        "clj",
        "dart",
        "vue",
        "svelte",
        "m",
        "mm",
    ]
)
HTML_EXTENSIONS = frozenset({"html", "htm", "xhtml"})
SUPPORTED = TEXT_EXTENSIONS | HTML_EXTENSIONS | {"json", "pdf", "docx", "pptx"}

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"


class ParseError(Exception):
    """Why a file cannot be indexed: `code` is `unsupported_file` or `invalid_file`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # raised in the indexing process
        return (ParseError, (self.code, self.message))


def extension(filename: str) -> str:
    return Path(filename).suffix.lower().lstrip(".")


def parse(data: bytes, filename: str) -> str:
    """The text of a file (raises ParseError)."""
    ext = extension(filename)
    if ext not in SUPPORTED:
        shown = f".{ext}" if ext else "no extension"
        raise ParseError(
            "unsupported_file",
            f"Files with extension [{shown}] are not supported for file search. Supported: "
            "text, Markdown, source code, JSON, HTML, PDF, docx, pptx.",
        )
    if ext == "pdf":
        text = _pdf(data)
    elif ext == "docx":
        text = _docx(data)
    elif ext == "pptx":
        text = _pptx(data)
    else:
        text = decode(data)
        if ext == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise ParseError("invalid_file", f"The file is not valid JSON: {exc}") from None
        elif ext in HTML_EXTENSIONS:
            text = _html(text)
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if not text.strip():
        raise ParseError("invalid_file", "The file contains no text to index.")
    return text


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if b"\x00" in data:
            raise ParseError("invalid_file", "The file is binary, not text.") from None
        return data.decode("latin-1")


class _TextOfHtml(HTMLParser):
    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "section",
            "article",
            "pre",
            "blockquote",
        ]
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template"):
            self.skip = max(self.skip - 1, 0)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _html(text: str) -> str:
    parser = _TextOfHtml()
    parser.feed(text)
    parser.close()
    joined = "".join(parser.parts)
    return re.sub(r"\n\s*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", joined)).strip()


def _pdf(data: bytes) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:  # pragma: no cover - pypdf is a base dependency
        raise ParseError("unsupported_file", "PDF support (pypdf) is not installed.") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ParseError("invalid_file", "The PDF is encrypted.")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError("invalid_file", f"The PDF cannot be read: {exc}") from None


def _zip_xml(data: bytes, names: list[str] | None, pattern: str) -> list[ElementTree.Element]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = names or sorted(
                (n for n in archive.namelist() if re.fullmatch(pattern, n)),
                key=lambda n: int(re.sub(r"\D", "", n) or 0),
            )
            return [ElementTree.fromstring(archive.read(name)) for name in members]
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise ParseError("invalid_file", f"The document cannot be read: {exc}") from None


def _paragraphs(root: ElementTree.Element, ns: str) -> list[str]:
    out = []
    for paragraph in root.iter(f"{ns}p"):
        text = "".join(
            "\t" if node.tag == f"{ns}tab" else (node.text or "")
            for node in paragraph.iter()
            if node.tag in (f"{ns}t", f"{ns}tab")
        )
        out.append(text)
    return out


def _docx(data: bytes) -> str:
    (root,) = _zip_xml(data, ["word/document.xml"], "")
    return "\n".join(_paragraphs(root, _W))


def _pptx(data: bytes) -> str:
    slides = _zip_xml(data, None, r"ppt/slides/slide\d+\.xml")
    if not slides:
        raise ParseError("invalid_file", "The presentation has no slides.")
    return "\n\n".join("\n".join(p for p in _paragraphs(s, _A) if p) for s in slides)
