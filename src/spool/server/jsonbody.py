"""Strict JSON for request bodies: what Python's `json` accepts but the API must refuse.

`json.loads` takes `NaN`/`Infinity` (then echoes them as bare tokens no strict parser reads),
integers of any size (5,000 digits raise a plain `ValueError`), lone surrogate escapes (which
later fail to encode as UTF-8) and nesting up to the recursion limit (which later breaks reads).
`parse()` refuses all of them with a 400 in the OpenAI envelope, so nothing stored can poison a
later response.

Limits: integers within int64; nesting at most `MAX_DEPTH` (64) levels, not counting free-form
JSON Schema values (function `parameters`, `json_schema.schema`), which `validation` limits to
`MAX_SCHEMA_DEPTH` levels of JSON (32 levels of schema) on their own.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from spool.server.errors import ApiError

MAX_DEPTH = 64
MAX_SCHEMA_DEPTH = 64  # JSON levels inside a schema value: 32 levels of `properties: {x: …}`
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
FREE_FORM_KEYS = frozenset({"parameters", "schema"})

# A surrogate escape in the JSON text (raw surrogate bytes are invalid UTF-8 and fail decoding).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

_INVALID_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON."
)


class _Refused(ValueError):
    """Raised from inside the decoder hooks; becomes a 400."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise _Refused(f"the integer {text[:24]}… is outside the 64-bit range")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Refused(f"the integer {text} is outside the 64-bit range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:24]} is not finite")
    return value


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


_decoder = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
)


def invalid_json(detail: str | None = None) -> ApiError:
    message = _INVALID_JSON if detail is None else f"{_INVALID_JSON} ({detail})"
    return ApiError(400, message, code="invalid_json")


def parse(raw: bytes) -> Any:
    """Decode a request body strictly; raises `ApiError(400)` for anything refused."""
    try:
        text = raw.decode("utf-8")
        body = _decoder.decode(text)
    except _Refused as exc:
        raise invalid_json(str(exc)) from None
    except RecursionError:
        raise nesting_error("body", MAX_DEPTH) from None
    except (ValueError, UnicodeDecodeError):
        raise invalid_json() from None
    check_depth(body, MAX_DEPTH, "body", skip=FREE_FORM_KEYS)
    if _SURROGATE_ESCAPE.search(raw):
        _check_surrogates(body, "")
    return body


def nesting_error(path: str, limit: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{path}': JSON nested too deeply. Expected at most {limit} levels of nesting.",
        param=None if path == "body" else path,
        code="invalid_value",
    )


def check_depth(value: Any, limit: int, path: str, *, skip: frozenset[str] = frozenset()) -> None:
    """Raise a 400 when `value` nests more than `limit` arrays/objects (iterative, no recursion).

    Values under a key in `skip` are not walked (they are checked where they are validated).
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = (v for k, v in item.items() if k not in skip)
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise nesting_error(path, limit)
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))


def _check_surrogates(value: Any, path: str) -> None:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise _surrogate_error(where)
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else key
                if _SURROGATE.search(key):
                    raise _surrogate_error(where or "body")
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def _surrogate_error(path: str) -> ApiError:
    shown = _SURROGATE.sub("?", path) or "body"
    return ApiError(
        400,
        f"Invalid '{shown}': the string contains a lone surrogate escape (such as '\\ud800'), "
        "which is not valid Unicode.",
        param=shown,
        code="invalid_value",
    )
