"""Search `filters` on file attributes: comparison (`eq ne gt gte lt lte in nin`) and compound
(`and`, `or`) filters, validated with OpenAI's wording and applied to a file's attributes."""

from __future__ import annotations

from typing import Any

from spool.server.errors import bad_request
from spool.server.validation import enum

COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
MAX_DEPTH = 8


def check(value: Any, path: str, depth: int = 0) -> None:
    """A 400 naming the parameter when `value` is not a valid filter."""
    if not isinstance(value, dict):
        raise bad_request(
            f"Invalid type for '{path}': expected an object.", param=path, code="invalid_type"
        )
    if depth > MAX_DEPTH:
        raise bad_request(f"Invalid '{path}': filters nested too deeply.", param=path)
    kind = value.get("type")
    if kind in ("and", "or"):
        if set(value) - {"type", "filters"}:
            extra = sorted(set(value) - {"type", "filters"})[0]
            raise bad_request(f"Unknown parameter: '{path}.{extra}'.", param=f"{path}.{extra}")
        filters = value.get("filters")
        if not isinstance(filters, list):
            raise bad_request(
                f"Missing or invalid '{path}.filters': expected an array of filters.",
                param=f"{path}.filters",
            )
        for i, item in enumerate(filters):
            check(item, f"{path}.filters[{i}]", depth + 1)
        return
    enum(*COMPARISONS, "and", "or")(kind, f"{path}.type")
    for key in ("key", "value"):
        if key not in value:
            raise bad_request(
                f"Missing required parameter: '{path}.{key}'.",
                param=f"{path}.{key}",
                code="missing_required_parameter",
            )
    if set(value) - {"type", "key", "value"}:
        extra = sorted(set(value) - {"type", "key", "value"})[0]
        raise bad_request(f"Unknown parameter: '{path}.{extra}'.", param=f"{path}.{extra}")
    if not isinstance(value["key"], str):
        raise bad_request(f"Invalid type for '{path}.key': expected a string.", param=path)
    item = value["value"]
    scalar = (str, int, float, bool)
    if kind in ("in", "nin"):
        if not isinstance(item, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in item
        ):
            raise bad_request(
                f"Invalid '{path}.value': '{kind}' expects an array of strings or numbers.",
                param=f"{path}.value",
            )
    elif not isinstance(item, scalar):
        raise bad_request(
            f"Invalid type for '{path}.value': expected a string, number or boolean.",
            param=f"{path}.value",
        )


def matches(attributes: dict[str, Any] | None, value: dict[str, Any]) -> bool:
    """Whether a file's attributes pass a (validated) filter."""
    attributes = attributes or {}
    kind = value["type"]
    if kind == "and":
        return all(matches(attributes, f) for f in value["filters"])
    if kind == "or":
        return any(matches(attributes, f) for f in value["filters"])
    if value["key"] not in attributes:
        return kind in ("ne", "nin")
    have = attributes[value["key"]]
    want = value["value"]
    if kind == "eq":
        return have == want
    if kind == "ne":
        return have != want
    if kind == "in":
        return have in want
    if kind == "nin":
        return have not in want
    numeric = (int, float)
    if isinstance(have, bool) or isinstance(want, bool):
        return False
    if not (isinstance(have, numeric) and isinstance(want, numeric)) and not (
        isinstance(have, str) and isinstance(want, str)
    ):
        return False
    return {
        "gt": have > want,
        "gte": have >= want,
        "lt": have < want,
        "lte": have <= want,
    }[kind]
