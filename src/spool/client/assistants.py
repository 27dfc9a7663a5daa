"""Assistants: list, create, update and delete them, and check an assistant form before saving.

Plain data and SDK calls only (no Textual): the TUI's assistant picker and editor call these
functions with the connection's `AsyncOpenAI` client.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from spool.client.connection import describe_error

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
RESPONSE_FORMATS = ("auto", "json_object", "text")
MAX_CODE_FILES = 20  # tool_resources.code_interpreter.file_ids
JSON_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class AssistantError(Exception):
    """An assistants call failed; the message is readable."""


class FormError(ValueError):
    """A form field is invalid: `field` names it (e.g. "tools"), the message says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(slots=True)
class AssistantSpec:
    """The editable fields of an assistant."""

    name: str = ""
    model: str = ""
    description: str = ""
    instructions: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)  # function definitions
    temperature: float | None = None
    top_p: float | None = None
    response_format: str = "auto"  # auto | json_object | text
    other_tools: list[dict[str, Any]] = field(default_factory=list)  # kept as they are
    code_interpreter: bool = False
    code_files: list[str] = field(default_factory=list)  # file ids for code_interpreter
    file_search: dict[str, Any] | None = None  # the file_search tool (its options) when on
    vector_store_id: str | None = None  # the one vector store file_search searches

    def to_params(self) -> dict[str, Any]:
        """Keyword arguments for `beta.assistants.create` / `update`."""
        params: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "instructions": self.instructions,
            "tools": [
                *self.other_tools,
                *([{"type": "code_interpreter"}] if self.code_interpreter else []),
                *([self.file_search] if self.file_search is not None else []),
                *({"type": "function", "function": f} for f in self.tools),
            ],
            "tool_resources": {
                "code_interpreter": {"file_ids": list(self.code_files)},
                "file_search": {
                    "vector_store_ids": [self.vector_store_id] if self.vector_store_id else []
                },
            },
            "response_format": (
                "auto" if self.response_format == "auto" else {"type": self.response_format}
            ),
        }
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        return params

    @classmethod
    def from_assistant(cls, a: Any) -> AssistantSpec:
        """The fields of an SDK `Assistant` object."""
        functions: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        code = False
        search: dict[str, Any] | None = None
        for tool in a.tools or []:
            doc = tool.model_dump(exclude_none=True) if hasattr(tool, "model_dump") else dict(tool)
            if doc.get("type") == "function" and isinstance(doc.get("function"), dict):
                functions.append(doc["function"])
            elif doc.get("type") == "code_interpreter":
                code = True
            elif doc.get("type") == "file_search":
                search = doc
            else:
                others.append(doc)
        resources = getattr(a, "tool_resources", None)
        code_res = getattr(resources, "code_interpreter", None)
        search_res = getattr(resources, "file_search", None)
        store_ids = list(getattr(search_res, "vector_store_ids", None) or [])
        fmt = a.response_format
        if fmt is None or fmt == "auto":
            fmt_name = "auto"
        else:
            fmt_name = getattr(fmt, "type", None) or (
                fmt.get("type") if isinstance(fmt, dict) else None
            )
            fmt_name = fmt_name if fmt_name in RESPONSE_FORMATS else "auto"
        return cls(
            name=a.name or "",
            model=a.model or "",
            description=a.description or "",
            instructions=a.instructions or "",
            tools=functions,
            temperature=a.temperature,
            top_p=a.top_p,
            response_format=fmt_name,
            other_tools=others,
            code_interpreter=code,
            code_files=list(getattr(code_res, "file_ids", None) or []),
            file_search=search,
            vector_store_id=store_ids[0] if store_ids else None,
        )


def tools_to_text(tools: list[dict[str, Any]]) -> str:
    """The function definitions as the editor shows them (pretty JSON, `[]` when none)."""
    return json.dumps(tools, indent=2) if tools else "[]"


def parse_tools(text: str) -> list[dict[str, Any]]:
    """Check the editor's tools field: a JSON array of function definitions; raises FormError.

    Each item is an object with `name` matching ^[a-zA-Z0-9_-]{1,64}$, an optional string
    `description`, and `parameters` a JSON-schema object (`"type": "object"`, `properties` an
    object when present). A `{"type": "function", "function": {...}}` wrapper is accepted too.
    """
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise FormError("tools", f"not valid JSON: {exc.msg} ({where})") from None
    if not isinstance(data, list):
        raise FormError("tools", "must be a JSON array of function definitions: [ {…}, … ]")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(data, 1):
        where = f"function #{i}"
        if isinstance(item, dict) and item.get("type") == "function" and "function" in item:
            item = item["function"]
        if not isinstance(item, dict):
            raise FormError("tools", f"{where}: must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise FormError(
                "tools",
                f"{where}: 'name' must match ^[a-zA-Z0-9_-]{{1,64}}$ (got {json.dumps(name)})",
            )
        where = f"function {name!r}"
        if name in seen:
            raise FormError("tools", f"{where}: defined twice")
        seen.add(name)
        unknown = set(item) - {"name", "description", "parameters", "strict"}
        if unknown:
            raise FormError("tools", f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if "description" in item and not isinstance(item["description"], str):
            raise FormError("tools", f"{where}: 'description' must be a string")
        if "parameters" not in item:
            raise FormError("tools", f"{where}: 'parameters' (a JSON schema object) is missing")
        _check_schema(item["parameters"], where)
        out.append(item)
    return out


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise FormError("tools", f"{where}: 'parameters' must be a JSON schema object")
    kind = schema.get("type")
    if kind != "object":
        raise FormError(
            "tools", f'{where}: \'parameters\' must have "type": "object" (got {json.dumps(kind)})'
        )
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise FormError("tools", f"{where}: 'properties' must be an object")
    for prop, sub in props.items():
        if not isinstance(sub, dict):
            raise FormError("tools", f"{where}: property {prop!r} must be a schema object")
        t = sub.get("type")
        types = t if isinstance(t, list) else [t] if t is not None else []
        bad = [x for x in types if x not in JSON_SCHEMA_TYPES]
        if bad:
            raise FormError("tools", f"{where}: property {prop!r} has unknown type {bad[0]!r}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise FormError("tools", f"{where}: 'required' must be a list of property names")


def parse_number(field_name: str, text: str, low: float, high: float) -> float | None:
    """A number field: blank → None, else a float in [low, high]; raises FormError."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise FormError(field_name, f"must be a number from {low:g} to {high:g}") from None
    if not low <= value <= high:
        raise FormError(field_name, f"must be from {low:g} to {high:g}")
    return value


def build_spec(
    *,
    name: str,
    model: str,
    description: str,
    instructions: str,
    tools: str,
    temperature: str,
    top_p: str,
    response_format: str,
    other_tools: list[dict[str, Any]] | None = None,
    code_interpreter: bool = False,
    code_files: list[str] | None = None,
    file_search: bool = False,
    vector_store: str = "",
    file_search_tool: dict[str, Any] | None = None,
    known_files: set[str] | None = None,
    known_stores: set[str] | None = None,
) -> AssistantSpec:
    """Check the editor's fields (as typed) and build the spec; raises FormError.

    The tools' resources: files for code_interpreter (at most 20, each one the server has when
    `known_files` is given), one vector store for file_search (one of `known_stores` when
    given); resources for a tool that is off are refused rather than silently dropped.
    `file_search_tool` keeps the tool's options (e.g. max_num_results) from the assistant.
    """
    if not model.strip():
        raise FormError("model", "choose or type a model")
    if len(name) > 256:
        raise FormError("name", "at most 256 characters")
    if len(description) > 512:
        raise FormError("description", "at most 512 characters")
    if response_format not in RESPONSE_FORMATS:
        raise FormError("response_format", f"one of {', '.join(RESPONSE_FORMATS)}")
    files = list(dict.fromkeys(code_files or []))
    if files and not code_interpreter:
        raise FormError(
            "code_files", "turn code_interpreter on to give it files (or unselect them)"
        )
    if len(files) > MAX_CODE_FILES:
        raise FormError("code_files", f"at most {MAX_CODE_FILES} files ({len(files)} chosen)")
    gone = [f for f in files if known_files is not None and f not in known_files]
    if gone:
        raise FormError("code_files", f"no such file on the server: {', '.join(gone)}")
    store = vector_store.strip() or None
    if store and not file_search:
        raise FormError("vector_store", "turn file_search on to search this store (or pick none)")
    if store and known_stores is not None and store not in known_stores:
        raise FormError("vector_store", f"no such vector store on the server: {store}")
    search_tool = (file_search_tool or {"type": "file_search"}) if file_search else None
    return AssistantSpec(
        name=name.strip(),
        model=model.strip(),
        description=description.strip(),
        instructions=instructions,
        tools=parse_tools(tools),
        temperature=parse_number("temperature", temperature, 0, 2),
        top_p=parse_number("top_p", top_p, 0, 1),
        response_format=response_format,
        other_tools=list(other_tools or []),
        code_interpreter=code_interpreter,
        code_files=files,
        file_search=search_tool,
        vector_store_id=store,
    )


async def list_assistants(client: Any, *, limit: int = 100) -> list[Any]:
    """Every assistant on the server (newest first), following pagination."""
    out: list[Any] = []
    try:
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": limit}
            if after:
                kwargs["after"] = after
            page = await client.beta.assistants.list(**kwargs)
            out.extend(page.data)
            if not page.data or not getattr(page, "has_more", False):
                return out
            after = page.data[-1].id
    except Exception as exc:
        raise AssistantError(f"Could not list assistants: {describe_error(exc)}") from exc


async def retrieve_assistant(client: Any, assistant_id: str) -> Any:
    """One assistant."""
    try:
        return await client.beta.assistants.retrieve(assistant_id)
    except Exception as exc:
        raise AssistantError(f"Could not load the assistant: {describe_error(exc)}") from exc


async def create_assistant(client: Any, spec: AssistantSpec) -> Any:
    """Create an assistant from `spec`."""
    try:
        return await client.beta.assistants.create(**spec.to_params())
    except Exception as exc:
        raise AssistantError(f"Could not create the assistant: {describe_error(exc)}") from exc


async def update_assistant(client: Any, assistant_id: str, spec: AssistantSpec) -> Any:
    """Save `spec` over an existing assistant."""
    try:
        return await client.beta.assistants.update(assistant_id, **spec.to_params())
    except Exception as exc:
        raise AssistantError(f"Could not save the assistant: {describe_error(exc)}") from exc


async def delete_assistant(client: Any, assistant_id: str) -> None:
    """Delete an assistant (already gone counts as deleted)."""
    import openai

    try:
        await client.beta.assistants.delete(assistant_id)
    except openai.NotFoundError:
        return
    except Exception as exc:
        raise AssistantError(f"Could not delete the assistant: {describe_error(exc)}") from exc


async def default_assistant(
    client: Any, remembered_id: str | None, *, name: str, model: str, instructions: str
) -> tuple[Any, list[Any]]:
    """The assistant to use at start-up, and the assistants seen on the way (to cache).

    The remembered one if it still exists; else the oldest on the first page of the list;
    else a new one with `name`, `model` and `instructions` (the first run of spool).
    """
    import openai

    if remembered_id:
        try:
            found = await client.beta.assistants.retrieve(remembered_id)
            return found, [found]
        except openai.NotFoundError:
            pass
    page = await client.beta.assistants.list(limit=100)
    if page.data:
        return page.data[-1], list(page.data)
    created = await client.beta.assistants.create(name=name, model=model, instructions=instructions)
    return created, [created]
