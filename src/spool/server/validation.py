"""Request-body validation for the Assistants v2 endpoints, with OpenAI's error wording.

Each schema is a small tree of `Field` checkers built from the official spec's request objects
(`additionalProperties: false` everywhere, so unknown parameters are rejected). `validate(body,
SCHEMA)` returns the body unchanged or raises `ApiError(400)` naming the offending parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from spool.server.errors import ApiError
from spool.server.jsonbody import MAX_SCHEMA_DEPTH, check_depth

Check = Callable[[Any, str], None]

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a decimal",
    dict: "an object",
    list: "an array",
}


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _fail(path: str, message: str, code: str) -> ApiError:
    return ApiError(400, message, param=path, code=code)


def _type_error(path: str, expected: str, value: Any) -> ApiError:
    return _fail(
        path,
        f"Invalid type for '{path}': expected {expected}, but got {_got(value)} instead.",
        "invalid_type",
    )


def string(
    max_len: int | None = None, pattern: str | None = None, min_len: int | None = None
) -> Check:
    regex = re.compile(pattern) if pattern else None

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _type_error(path, "a string", value)
        if max_len is not None and len(value) > max_len:
            raise _fail(
                path,
                f"Invalid '{path}': string too long. Expected a string with maximum length "
                f"{max_len}, but got a string with length {len(value)} instead.",
                "string_above_max_length",
            )
        if min_len is not None and len(value) < min_len:
            raise _fail(
                path,
                f"Invalid '{path}': string too short. Expected a string with minimum length "
                f"{min_len}, but got a string with length {len(value)} instead.",
                "string_below_min_length",
            )
        if regex and not regex.fullmatch(value):
            raise _fail(
                path,
                f"Invalid '{path}': string does not match pattern. Expected a string that "
                f"matches the pattern '{pattern}'.",
                "invalid_value",
            )

    return check


def number(minimum: float | None = None, maximum: float | None = None, integer: bool = False):
    kind = "integer" if integer else "decimal"

    def check(value: Any, path: str) -> None:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise _type_error(path, f"an {kind}" if integer else "a decimal", value)
        if minimum is not None and value < minimum:
            raise _fail(
                path,
                f"Invalid '{path}': {kind} below minimum value. Expected a value >= "
                f"{minimum:g}, but got {value} instead.",
                f"{kind}_below_min_value",
            )
        if maximum is not None and value > maximum:
            raise _fail(
                path,
                f"Invalid '{path}': {kind} above maximum value. Expected a value <= "
                f"{maximum:g}, but got {value} instead.",
                f"{kind}_above_max_value",
            )

    return check


def boolean() -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise _type_error(path, "a boolean", value)

    return check


def enum(*values: Any) -> Check:
    def check(value: Any, path: str) -> None:
        if value not in values or isinstance(value, bool) != isinstance(values[0], bool):
            listed = ", ".join(f"'{v}'" for v in values[:-1])
            supported = f"{listed} and '{values[-1]}'" if listed else f"'{values[-1]}'"
            raise _fail(
                path,
                f"Invalid value: '{value}'. Supported values are: {supported}.",
                "invalid_value",
            )

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)

    return check


def array(items: Check, max_items: int | None = None, min_items: int | None = None) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _type_error(path, "an array", value)
        if max_items is not None and len(value) > max_items:
            raise _fail(
                path,
                f"Invalid '{path}': array too long. Expected an array with maximum length "
                f"{max_items}, but got an array with length {len(value)} instead.",
                "array_above_max_length",
            )
        if min_items is not None and len(value) < min_items:
            raise _fail(
                path,
                f"Invalid '{path}': empty array. Expected an array with minimum length "
                f"{min_items}, but got an empty array instead."
                if not value
                else f"Invalid '{path}': array too short. Expected an array with minimum "
                f"length {min_items}, but got an array with length {len(value)} instead.",
                "empty_array" if not value else "array_below_min_length",
            )
        for i, item in enumerate(value):
            items(item, f"{path}[{i}]")

    return check


def obj(
    required: dict[str, Check] | None = None,
    optional: dict[str, Check] | None = None,
    *,
    additional: bool = False,
) -> Check:
    required = required or {}
    optional = optional or {}

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path or "body", "an object", value)
        prefix = f"{path}." if path else ""
        for key in required:
            if key not in value:
                raise _fail(
                    f"{prefix}{key}",
                    f"Missing required parameter: '{prefix}{key}'.",
                    "missing_required_parameter",
                )
        for key, item in value.items():
            checker = required.get(key) or optional.get(key)
            if checker is None:
                if additional:
                    continue
                raise _fail(
                    f"{prefix}{key}", f"Unknown parameter: '{prefix}{key}'.", "unknown_parameter"
                )
            checker(item, f"{prefix}{key}")

    return check


def one_of(*options: tuple[Callable[[Any], bool], Check], expected: str) -> Check:
    """Pick the first option whose predicate matches the value, else a type error."""

    def check(value: Any, path: str) -> None:
        for predicate, inner in options:
            if predicate(value):
                inner(value, path)
                return
        raise _type_error(path, expected, value)

    return check


def tagged(tags: dict[str, Check], *, key: str = "type") -> Check:
    """An object discriminated by `type` (tools, content parts, formats …)."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path, "an object", value)
        prefix = f"{path}." if path else ""
        if key not in value:
            raise _fail(
                f"{prefix}{key}",
                f"Missing required parameter: '{prefix}{key}'.",
                "missing_required_parameter",
            )
        tag = value[key]
        if not isinstance(tag, str) or tag not in tags:  # (a dict or list tag is unhashable)
            enum(*tags)(tag, f"{prefix}{key}")
        tags[tag](value, path)

    return check


def metadata() -> Check:
    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _type_error(path, "an object", value)
        if len(value) > 16:
            raise _fail(
                path,
                f"Invalid '{path}': too many properties. Expected an object with at most 16 "
                f"properties, but got an object with {len(value)} properties instead.",
                "object_above_max_properties",
            )
        for key, item in value.items():
            if len(key) > 64:
                raise _fail(
                    f"{path}.{key}",
                    f"Invalid '{path}': metadata key too long. Expected keys of at most 64 "
                    f"characters, but got a key with length {len(key)} instead.",
                    "invalid_value",
                )
            string(max_len=512)(item, f"{path}.{key}")

    return check


# --- shared pieces of the spec ------------------------------------------------------------


def schema_object() -> Check:
    """A free-form JSON Schema object (function `parameters`, `json_schema.schema`).

    Limited to `MAX_SCHEMA_DEPTH` (64) levels of JSON, i.e. 32 levels of nested schemas.
    """
    any_object = obj(additional=True)

    def check(value: Any, path: str) -> None:
        any_object(value, path)
        check_depth(value, MAX_SCHEMA_DEPTH, path)

    return check


JSON_OBJECT = schema_object()

FUNCTION = obj(
    {"name": string(max_len=64, pattern=r"[a-zA-Z0-9_-]+")},
    {
        "description": string(),
        "parameters": JSON_OBJECT,
        "strict": nullable(boolean()),
    },
)

RANKING_OPTIONS = obj(
    {"score_threshold": number(0, 1)},
    {"ranker": enum("auto", "default_2024_08_21")},
)

TOOL = tagged(
    {
        "code_interpreter": obj({"type": enum("code_interpreter")}),
        "file_search": obj(
            {"type": enum("file_search")},
            {
                "file_search": obj(
                    optional={
                        "max_num_results": number(1, 50, integer=True),
                        "ranking_options": RANKING_OPTIONS,
                    }
                )
            },
        ),
        "function": obj({"type": enum("function"), "function": FUNCTION}),
    }
)

CHUNKING = tagged(
    {
        "auto": obj({"type": enum("auto")}),
        "static": obj(
            {
                "type": enum("static"),
                "static": obj(
                    {
                        "max_chunk_size_tokens": number(100, 4096, integer=True),
                        "chunk_overlap_tokens": number(0, integer=True),
                    }
                ),
            }
        ),
    }
)

VECTOR_STORE_HELPER = obj(
    optional={
        "file_ids": array(string(), max_items=10000),
        "chunking_strategy": CHUNKING,
        "metadata": metadata(),
    }
)


def tool_resources(*, allow_vector_store_helper: bool) -> Check:
    file_search: dict[str, Check] = {"vector_store_ids": array(string(), max_items=1)}
    if allow_vector_store_helper:
        file_search["vector_stores"] = array(VECTOR_STORE_HELPER, max_items=1)
    return nullable(
        obj(
            optional={
                "code_interpreter": obj(optional={"file_ids": array(string(), max_items=20)}),
                "file_search": obj(optional=file_search),
            }
        )
    )


RESPONSE_FORMAT = nullable(
    one_of(
        (lambda v: isinstance(v, str), enum("auto")),
        (
            lambda v: isinstance(v, dict),
            tagged(
                {
                    "text": obj({"type": enum("text")}),
                    "json_object": obj({"type": enum("json_object")}),
                    "json_schema": obj(
                        {
                            "type": enum("json_schema"),
                            "json_schema": obj(
                                {"name": string(max_len=64, pattern=r"[a-zA-Z0-9_-]+")},
                                {
                                    "description": string(),
                                    "schema": JSON_OBJECT,
                                    "strict": nullable(boolean()),
                                },
                            ),
                        }
                    ),
                }
            ),
        ),
        expected="'auto' or an object",
    )
)

IMAGE_DETAIL = enum("auto", "low", "high")
CONTENT_PART = tagged(
    {
        "text": obj({"type": enum("text"), "text": string()}),
        "image_file": obj(
            {
                "type": enum("image_file"),
                "image_file": obj({"file_id": string()}, {"detail": IMAGE_DETAIL}),
            }
        ),
        "image_url": obj(
            {
                "type": enum("image_url"),
                "image_url": obj({"url": string()}, {"detail": IMAGE_DETAIL}),
            }
        ),
    }
)

ATTACHMENT_TOOL = tagged(
    {
        "code_interpreter": obj({"type": enum("code_interpreter")}),
        "file_search": obj({"type": enum("file_search")}),
    }
)

# Per-object limits. OpenAI's: message content at most 256,000 characters. spool's own (so one
# request stays cheap; OpenAI's values are not in the spec): 32 attachments and 32 content parts
# per message, 1,000 messages per create-thread / additional_messages, 128 tool outputs.
MAX_MESSAGE_CHARS = 256_000
MAX_ATTACHMENTS = 32
MAX_CONTENT_PARTS = 32
MAX_MESSAGES_PER_REQUEST = 1000
MAX_TOOL_OUTPUTS = 128


def _check_content_length(value: str | list[dict[str, Any]], path: str) -> None:
    """The text of a message (a string, or the sum of its text parts) within the limit."""
    if isinstance(value, str):
        size = len(value)
    else:
        size = sum(len(p["text"]) for p in value if p.get("type") == "text")
    if size > MAX_MESSAGE_CHARS:
        raise _fail(
            path,
            f"Invalid '{path}': string too long. Expected a string with maximum length "
            f"{MAX_MESSAGE_CHARS}, but got a string with length {size} instead.",
            "string_above_max_length",
        )


def _message_content() -> Check:
    shape = one_of(
        (lambda v: isinstance(v, str), string()),
        (
            lambda v: isinstance(v, list),
            array(CONTENT_PART, min_items=1, max_items=MAX_CONTENT_PARTS),
        ),
        expected="a string or an array of content parts",
    )

    def check(value: Any, path: str) -> None:
        shape(value, path)
        _check_content_length(value, path)

    return check


CREATE_MESSAGE = obj(
    {
        "role": enum("user", "assistant"),
        "content": _message_content(),
    },
    {
        "attachments": nullable(
            array(
                obj(optional={"file_id": string(), "tools": array(ATTACHMENT_TOOL, max_items=2)}),
                max_items=MAX_ATTACHMENTS,
            )
        ),
        "metadata": metadata(),
    },
)

TRUNCATION = nullable(
    obj(
        {"type": enum("auto", "last_messages")},
        {"last_messages": nullable(number(1, integer=True))},
    )
)

TOOL_CHOICE = nullable(
    one_of(
        (lambda v: isinstance(v, str), enum("none", "auto", "required")),
        (
            lambda v: isinstance(v, dict),
            tagged(
                {
                    "function": obj(
                        {"type": enum("function"), "function": obj({"name": string()})}
                    ),
                    "code_interpreter": obj({"type": enum("code_interpreter")}),
                    "file_search": obj({"type": enum("file_search")}),
                }
            ),
        ),
        expected="a string or an object",
    )
)

REASONING_EFFORT = nullable(enum("none", "minimal", "low", "medium", "high", "xhigh", "max"))

_ASSISTANT_FIELDS: dict[str, Check] = {
    "model": string(min_len=1),
    "name": nullable(string(max_len=256)),
    "description": nullable(string(max_len=512)),
    "instructions": nullable(string(max_len=256000)),
    "reasoning_effort": REASONING_EFFORT,
    "tools": array(TOOL, max_items=128),
    "metadata": metadata(),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "response_format": RESPONSE_FORMAT,
}

CREATE_ASSISTANT = obj(
    {"model": _ASSISTANT_FIELDS["model"]},
    {
        **{k: v for k, v in _ASSISTANT_FIELDS.items() if k != "model"},
        "tool_resources": tool_resources(allow_vector_store_helper=True),
    },
)

MODIFY_ASSISTANT = obj(
    optional={
        **_ASSISTANT_FIELDS,
        "tool_resources": tool_resources(allow_vector_store_helper=False),
    }
)

CREATE_THREAD = obj(
    optional={
        "messages": array(CREATE_MESSAGE, max_items=MAX_MESSAGES_PER_REQUEST),
        "tool_resources": tool_resources(allow_vector_store_helper=True),
        "metadata": metadata(),
    }
)

MODIFY_THREAD = obj(
    optional={
        "tool_resources": tool_resources(allow_vector_store_helper=False),
        "metadata": metadata(),
    }
)

MODIFY_METADATA = obj(optional={"metadata": metadata()})

_RUN_FIELDS: dict[str, Check] = {
    "assistant_id": string(min_len=1),
    "model": nullable(string(min_len=1)),
    "instructions": nullable(string()),
    "tools": nullable(array(TOOL, max_items=20)),
    "metadata": metadata(),
    "temperature": nullable(number(0, 2)),
    "top_p": nullable(number(0, 1)),
    "stream": nullable(boolean()),
    "max_prompt_tokens": nullable(number(256, integer=True)),
    "max_completion_tokens": nullable(number(256, integer=True)),
    "truncation_strategy": TRUNCATION,
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": boolean(),
    "response_format": RESPONSE_FORMAT,
}

CREATE_RUN = obj(
    {"assistant_id": _RUN_FIELDS["assistant_id"]},
    {
        **{k: v for k, v in _RUN_FIELDS.items() if k != "assistant_id"},
        "reasoning_effort": REASONING_EFFORT,
        "additional_instructions": nullable(string()),
        "additional_messages": nullable(array(CREATE_MESSAGE, max_items=MAX_MESSAGES_PER_REQUEST)),
    },
)

CREATE_THREAD_AND_RUN = obj(
    {"assistant_id": _RUN_FIELDS["assistant_id"]},
    {
        **{k: v for k, v in _RUN_FIELDS.items() if k != "assistant_id"},
        "thread": CREATE_THREAD,
        "tool_resources": tool_resources(allow_vector_store_helper=False),
    },
)

SUBMIT_TOOL_OUTPUTS = obj(
    {
        "tool_outputs": array(
            obj(optional={"tool_call_id": string(), "output": string()}),
            max_items=MAX_TOOL_OUTPUTS,
        )
    },
    {"stream": nullable(boolean())},
)


def validate(body: Any, schema: Check) -> dict[str, Any]:
    """Check a parsed JSON body against a request schema; return it as a dict."""
    schema(body, "")
    return body
