"""code_interpreter's streamed `input`: the model's JSON arguments decoded as they grow, split
anywhere (inside escapes, inside surrogate pairs), and the code of finished calls."""

from __future__ import annotations

import json
import time

import pytest

from spool.server.tools.code_interpreter import (
    STREAM_LIMIT,
    CodeInterpreterTool,
    code_of,
    partial_code,
)

CODE = 'print("tab\\there", \'quote"\')\nx = "é ∑ 😀"\n# back\\slash \u2028 end'


def stream(arguments: str, size: int) -> str:
    tool = CodeInterpreterTool()
    so_far, shown = "", []
    for start in range(0, len(arguments), size):
        fragment = arguments[start : start + size]
        so_far += fragment
        delta = tool.arguments_delta(fragment, so_far)
        if delta is not None:
            shown.append(delta["input"])
    return "".join(shown)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64])
@pytest.mark.parametrize("ascii_only", [True, False])
def test_deltas_add_up_to_the_code_however_it_is_split(size: int, ascii_only: bool) -> None:
    arguments = json.dumps({"code": CODE}, ensure_ascii=ascii_only)
    assert stream(arguments, size) == CODE


def test_other_keys_before_the_code_and_spaces() -> None:
    arguments = '{ "note" : "x\\"code\\"", "code" :  "print(1)\\n" }'
    assert stream(arguments, 3) == "print(1)\n"
    assert partial_code('{"code": "abc') == "abc"
    assert partial_code('{"code": "ab\\') == "ab"
    assert partial_code('{"code": "ab\\u00') == "ab"
    assert partial_code('{"code": "\\ud83d') == ""  # half a surrogate pair waits
    assert partial_code('{"co') == ""


def test_finished_calls() -> None:
    assert code_of(json.dumps({"code": "print(2)"})) == "print(2)"
    assert code_of("print(3)") == "print(3)"  # a model that sent the bare code
    assert code_of('"print(4)"') == "print(4)"
    assert code_of('{"source": 1}') == '{"source": 1}'


def test_a_huge_argument_is_not_streamed_past_the_limit_and_stays_cheap() -> None:
    code = "x = 1\n" * (STREAM_LIMIT // 4)
    arguments = json.dumps({"code": code})
    started = time.perf_counter()
    shown = stream(arguments, 4)
    took = time.perf_counter() - started
    assert code.startswith(shown) and len(shown) < len(code)
    assert took < 2, took  # linear: each fragment costs its own characters
