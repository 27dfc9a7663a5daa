"""Files attached to a message: choosing their tools, uploading them, the message's content and
`attachments`, the run's tools, file names and sizes (cached), and a thread's files. No Textual.

* `for_path(path)`: a pending attachment with the tools its type suggests (data and code →
  code_interpreter, documents → file_search, images → an `image_file` part uploaded for
  `vision`, also given to code_interpreter).
* `pasted_paths(text)`: the files a paste names (terminals paste a dropped file's path, sometimes
  quoted, backslash-escaped or as a `file://` URL), or [] when the text is not only file paths.
* `upload_missing(client, attachments, progress)`: uploads what has no file id yet (a retry
  uploads only what is missing); raises `UploadError` naming the file.
* `message_parts(text, attachments)` / `run_tools(tools, attachments)`: what the post and the run
  need.
* `FileNames`: file id → (name, size) via `files.retrieve`, cached per connection.
* `thread_files(client, thread_id)`: the files of a thread (message attachments, image parts and
  the thread's `tool_resources`), for the files panel.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from spool.client.view_model import Attachment

SEARCH = "file_search"
CODE = "code_interpreter"
TOOL_LABELS = {SEARCH: "search", CODE: "code"}
IMAGE_TYPES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
# Documents the server's file_search can read (reference/tools-notes.md §3; server retrieval).
SEARCH_TYPES = frozenset(
    {".pdf", ".md", ".markdown", ".txt", ".rst", ".docx", ".pptx", ".html", ".htm", ".tex"}
    | {".c", ".cpp", ".h", ".cs", ".go", ".java", ".js", ".ts", ".rb", ".rs", ".php", ".sh"}
    | {".css", ".yaml", ".yml", ".toml"}
)
# Data and code the sandbox works on (everything not listed goes to code_interpreter too).
CODE_TYPES = frozenset({".csv", ".tsv", ".xlsx", ".xls", ".py", ".json", ".jsonl", ".xml", ".zip"})
MAX_PASTED_PATHS = 20
Progress = Callable[[str, int, int], None]  # (file name, bytes sent, total)


def default_tools(path: Path) -> tuple[str, ...]:
    """The tools a file is for by default, by its type."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_TYPES or suffix in CODE_TYPES:
        return (CODE,)
    if suffix in SEARCH_TYPES:
        return (SEARCH,)
    return (CODE,)


def for_path(path: Path) -> Attachment:
    """A pending attachment of a local file (raises OSError when it cannot be read)."""
    path = path.expanduser()
    stat = path.stat()
    if not path.is_file():
        raise IsADirectoryError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{path} cannot be read")
    return Attachment(
        name=path.name,
        size=stat.st_size,
        tools=default_tools(path),
        image=path.suffix.lower() in IMAGE_TYPES,
        path=str(path.resolve()),
    )


def toggle_tool(attachment: Attachment, tool: str) -> str | None:
    """Switch `tool` on or off for a pending attachment; a reason when refused (a file that is
    not an image needs at least one tool)."""
    tools = list(attachment.tools)
    if tool in tools:
        tools.remove(tool)
        if not tools and not attachment.image:
            return f"{attachment.name} needs a tool: search, code or both."
    else:
        tools.append(tool)
    attachment.tools = tuple(t for t in (SEARCH, CODE) if t in tools)
    return None


def tools_label(attachment: Attachment) -> str:
    """ "search", "code", "search+code", with "image" first for an image part."""
    parts = (["image"] if attachment.image else []) + [
        TOOL_LABELS.get(t, t) for t in attachment.tools
    ]
    return "+".join(parts) or "file"


# --- pasted paths ----------------------------------------------------------------------------
def _one_path(token: str) -> Path | None:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        token = token[1:-1]
    if token.startswith("file://"):
        url = urlparse(token)
        if url.netloc not in ("", "localhost"):
            return None
        token = unquote(url.path)
    if not token or "\0" in token:
        return None
    path = Path(token).expanduser()
    if not path.is_absolute() and not token.startswith(("./", "../", "~")):
        return None  # a bare word is text, not a path
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def pasted_paths(text: str) -> list[Path]:
    """The existing files a pasted text names, when it names only files; else [].

    One path per line, or several on a line as the shell would split them (quotes, backslash-
    escaped spaces); `file://` URLs (percent-encoded) too.
    """
    text = text.strip()
    if not text or len(text) > 64 * 1024:
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    paths: list[Path] = []
    for line in lines:
        whole = _one_path(line)  # a path with spaces, pasted as it is
        if whole is not None:
            paths.append(whole)
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            return []
        for token in tokens:
            path = _one_path(token)
            if path is None:
                return []
            paths.append(path)
    unique = list(dict.fromkeys(paths))
    return unique if len(unique) <= MAX_PASTED_PATHS else []


# --- upload ------------------------------------------------------------------------------------
class AttachmentError(Exception):
    """A message's attachments could not be made ready (the message stays unsent)."""

    def __init__(
        self, message: str, *, connection_lost: bool = False, refused: bool = True
    ) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost
        self.refused = refused  # trying again unchanged will not help (a local file, a 4xx)


class UploadError(AttachmentError):
    """An attachment could not be uploaded (`name` says which, the message why)."""

    def __init__(
        self, name: str, reason: str, *, connection_lost: bool = False, refused: bool = True
    ) -> None:
        super().__init__(
            f"upload of {name} failed: {reason}", connection_lost=connection_lost, refused=refused
        )
        self.name = name


async def upload_missing(
    client: Any,
    attachments: Iterable[Attachment],
    progress: Progress | None = None,
    on_uploaded: Callable[[Attachment], None] | None = None,
) -> None:
    """Upload every attachment that has no file id yet, one after the other (images with
    purpose `vision`, others `assistants`); `on_uploaded` after each (to persist its id)."""
    from spool.client.connection import describe_problem
    from spool.client.files import upload

    for attachment in attachments:
        if attachment.file_id:
            continue
        if not attachment.path:
            raise UploadError(attachment.name, "the local file is not known")
        path = Path(attachment.path)
        name = attachment.name

        def step(sent: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, sent, total)

        try:
            if not path.is_file():
                raise UploadError(name, f"{path} is gone")
            purpose = "vision" if attachment.image else "assistants"
            file = await upload(client, path, purpose=purpose, progress=step)
        except UploadError:
            raise
        except OSError as exc:
            raise UploadError(name, exc.strerror or str(exc)) from exc
        except Exception as exc:
            problem = describe_problem(exc)
            raise UploadError(
                name, problem.text, connection_lost=problem.connection, refused=problem.refused
            ) from exc
        attachment.file_id = str(file.id)
        attachment.size = int(file.bytes or attachment.size or 0)
        if on_uploaded is not None:
            on_uploaded(attachment)


async def forget_missing(client: Any, attachments: Iterable[Attachment]) -> list[str]:
    """Attachments whose file is gone from the server (a post refused them) lose their file id
    when their local file is known, so the next try uploads them again; returns their names
    (those without a local file stay as they are)."""
    import openai

    gone = []
    for attachment in attachments:
        if not attachment.file_id or not attachment.path:
            continue
        try:
            await client.files.retrieve(attachment.file_id)
        except openai.NotFoundError:
            attachment.file_id = None
            gone.append(attachment.name)
    return gone


# --- the post and the run ----------------------------------------------------------------------
def message_parts(
    text: str, attachments: list[Attachment]
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """The message's `content` (text, then an `image_file` part per image) and `attachments`
    (a file with its tools), for uploaded attachments."""
    images = [a for a in attachments if a.image and a.file_id]
    content: str | list[dict[str, Any]] = text
    if images:
        content = [{"type": "text", "text": text}] + [
            {"type": "image_file", "image_file": {"file_id": a.file_id}} for a in images
        ]
    listed = [
        {"file_id": a.file_id, "tools": [{"type": t} for t in a.tools]}
        for a in attachments
        if a.file_id and a.tools
    ]
    return content, listed


def needed_tools(attachments: Iterable[Attachment]) -> set[str]:
    """The server-side tools the attachments are for."""
    return {t for a in attachments for t in a.tools}


def run_tools(tools: Iterable[Any], needed: set[str]) -> list[dict[str, Any]] | None:
    """The run's tools: `tools` (SDK objects or dicts) plus those of `needed` it lacks; None
    when nothing is missing (the run keeps the assistant's own)."""
    out = [t.model_dump(exclude_unset=True) if hasattr(t, "model_dump") else dict(t) for t in tools]
    have = {t.get("type") for t in out}
    missing = [t for t in (SEARCH, CODE) if t in needed and t not in have]
    if not missing:
        return None
    return out + [{"type": t} for t in missing]


async def tools_for_run(
    client: Any, assistant_id: str, needed: set[str], offered: list[Any] | None = None
) -> list[dict[str, Any]] | None:
    """The run's tools for attachments that need `needed`: the tools the run is `offered` (the
    run options' own), else the assistant's, plus what they lack; None when nothing lacks.
    Raises `AttachmentError` when the assistant cannot be read."""
    if not needed:
        return None
    if offered is None:
        from spool.client.connection import describe_problem

        try:
            assistant = await client.beta.assistants.retrieve(assistant_id)
        except Exception as exc:
            problem = describe_problem(exc)
            raise AttachmentError(
                f"cannot read the assistant's tools: {problem.text}",
                connection_lost=problem.connection,
                refused=problem.refused,
            ) from exc
        offered = list(assistant.tools or [])
    return run_tools(offered, needed)


# --- a posted message's attachments ------------------------------------------------------------
def from_message(message: Any) -> list[Attachment]:
    """The attachments and `image_file` parts of an SDK `Message` (names not known yet), in
    the order they were attached (images that are only parts come after)."""
    out: dict[str, Attachment] = {}
    for attachment in getattr(message, "attachments", None) or []:
        file_id = attachment.file_id
        if not file_id:
            continue
        tools = tuple(t for t in (SEARCH, CODE) if any(x.type == t for x in attachment.tools or []))
        out[file_id] = Attachment(name=file_id, file_id=file_id, tools=tools)
    for part in getattr(message, "content", None) or []:
        if getattr(part, "type", None) == "image_file":
            file_id = part.image_file.file_id
            known = out.setdefault(file_id, Attachment(name=file_id, file_id=file_id))
            known.image = True
    return list(out.values())


@dataclass
class FileNames:
    """File id → (name, size), from `files.retrieve`, cached (one per connection)."""

    client: Any
    known: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    async def lookup(self, file_ids: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """Names and sizes of these files (missing ones: "(deleted file)")."""
        file_ids = list(file_ids)
        wanted = [i for i in dict.fromkeys(file_ids) if i not in self.known]
        if wanted:
            results = await asyncio.gather(
                *(self.client.files.retrieve(i) for i in wanted), return_exceptions=True
            )
            for file_id, result in zip(wanted, results, strict=True):
                if isinstance(result, BaseException):
                    import openai

                    if isinstance(result, openai.NotFoundError):
                        self.known[file_id] = ("(deleted file)", None)
                    continue  # not cached: asked again next time
                self.known[file_id] = (str(result.filename), int(result.bytes or 0))
        return {i: self.known[i] for i in file_ids if i in self.known}

    def remember(self, attachment: Attachment) -> None:
        """A file this client uploaded: its name and size are known."""
        if attachment.file_id:
            self.known[attachment.file_id] = (attachment.name, attachment.size)

    async def name(self, attachments: list[Attachment]) -> None:
        """Fill in the names and sizes of posted attachments."""
        found = await self.lookup(a.file_id for a in attachments if a.file_id)
        for a in attachments:
            if a.file_id in found:
                a.name, a.size = found[a.file_id]


# --- a thread's files --------------------------------------------------------------------------
@dataclass
class ThreadFile:
    """A file of a thread: where it is used, and whether it can be detached from the thread."""

    file_id: str
    name: str = ""
    size: int | None = None
    uses: list[str] = field(default_factory=list)  # "user message (search)", …
    store_ids: list[str] = field(default_factory=list)  # the thread's stores holding it
    code_resource: bool = False  # in the thread's tool_resources.code_interpreter.file_ids

    @property
    def detachable(self) -> bool:
        """Whether the thread's tool_resources hold it (a message's attachments cannot change)."""
        return bool(self.store_ids) or self.code_resource


async def thread_files(client: Any, thread_id: str, names: FileNames) -> list[ThreadFile]:
    """Every file of the thread: its messages' attachments and image parts, the files of its
    vector store and of its code_interpreter resources."""
    threads = client.beta.threads
    thread = await threads.retrieve(thread_id)
    files: dict[str, ThreadFile] = {}

    def entry(file_id: str) -> ThreadFile:
        return files.setdefault(file_id, ThreadFile(file_id))

    async for message in threads.messages.list(thread_id, limit=100, order="asc"):
        for a in from_message(message):
            assert a.file_id is not None
            what = tools_label(a)
            use = f"{message.role} message ({what})"
            if use not in entry(a.file_id).uses:
                entry(a.file_id).uses.append(use)
    resources = thread.tool_resources
    code = getattr(resources, "code_interpreter", None) if resources else None
    for file_id in (code.file_ids or []) if code else []:
        entry(file_id).code_resource = True
        entry(file_id).uses.append("thread code files")
    search = getattr(resources, "file_search", None) if resources else None
    for store_id in (search.vector_store_ids or []) if search else []:
        async for vs_file in client.vector_stores.files.list(store_id, limit=100):
            e = entry(vs_file.id)
            e.store_ids.append(store_id)
            e.uses.append(f"the thread's vector store ({vs_file.status})")
    found = await names.lookup(files)
    for file_id, f in files.items():
        f.name, f.size = found.get(file_id, (file_id, None))
    return list(files.values())


async def detach(client: Any, thread_id: str, f: ThreadFile) -> None:
    """Take the file out of the thread's vector store(s) and code_interpreter files (the file
    itself stays on the server, and in the messages that attached it)."""
    for store_id in f.store_ids:
        await client.vector_stores.files.delete(f.file_id, vector_store_id=store_id)
    if f.code_resource:
        thread = await client.beta.threads.retrieve(thread_id)
        code = thread.tool_resources.code_interpreter
        kept = [i for i in (code.file_ids or []) if i != f.file_id]
        await client.beta.threads.update(
            thread_id, tool_resources={"code_interpreter": {"file_ids": kept}}
        )


def safe_name(name: str) -> str:
    """A file name for saving locally: no directories, nothing hidden or empty."""
    name = re.sub(r"[\x00-\x1f/\\]", "_", Path(name).name).strip()
    return name.lstrip(".") or "download"


async def download(client: Any, f: ThreadFile, folder: Path) -> Path:
    """Save the file's content into `folder` (a new name if the file exists); returns the path."""
    folder = folder.expanduser()
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder")
    response = await client.files.content(f.file_id)
    data = response.read() if hasattr(response, "read") else response.content
    if asyncio.iscoroutine(data):
        data = await data
    base = Path(safe_name(f.name or f.file_id))
    target = folder / base
    n = 1
    while target.exists():
        target = folder / f"{base.stem} ({n}){base.suffix}"
        n += 1
    await asyncio.to_thread(target.write_bytes, data)
    return target
