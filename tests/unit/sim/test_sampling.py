"""The simulator's sampling rules: stop strings, bounded schema values, refused types. Pure."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelops.sim import textgen
from modelops.sim.sampling import ApiError, apply_stop, check_openai, due_tool


@pytest.mark.parametrize(
    ("tokens", "stops", "kept", "matched"),
    [
        (["Hello", " wor", "ld", "."], ("wor",), ["Hello", " "], "wor"),
        (["Hello", " world"], ("zzz",), ["Hello", " world"], None),
        (["ab", "cd"], ("d", "b"), ["a"], "b"),  # the earliest match wins
        (["ab"], (), ["ab"], None),
    ],
)
def test_apply_stop(
    tokens: list[str], stops: tuple[str, ...], kept: list[str], matched: str | None
) -> None:
    assert apply_stop(tokens, stops) == (kept, matched)


def test_schema_values_stay_small_for_any_schema() -> None:
    wide = {"type": "object", "properties": {f"p{i}": {"$ref": "x"} for i in range(50)}}
    for _ in range(6):
        wide = {"type": "object", "properties": {f"p{i}": wide for i in range(50)}}
    value = textgen.value_for_schema(wide, random.Random(1), 0)
    assert len(str(value)) < 10_000
    huge = {"type": "array", "minItems": 10**12, "items": {"type": "integer", "minimum": "x"}}
    assert isinstance(textgen.value_for_schema(huge, random.Random(1), 0), str | list)
    assert textgen.value_for_schema({"properties": [1, 2]}, random.Random(1), 0)


@pytest.mark.parametrize(
    "body",
    [
        {"temperature": "hot"},
        {"temperature": -1},
        {"top_p": 0},
        {"n": 0},
        {"stop": [1]},
        {"suffix": "x"},
        {"stream_options": {"include_usage": True}},
        {"max_tokens": True},
    ],
)
def test_vllm_refusals(body: dict[str, Any]) -> None:
    with pytest.raises(ApiError):
        check_openai(body)


def test_due_tool() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    user = [{"role": "user", "content": "x"}]
    assert due_tool({"tools": tools}, user) == {"name": "f"}
    assert due_tool({"tools": tools, "tool_choice": "none"}, user) is None
    assert due_tool({"tools": tools}, [*user, {"role": "tool", "content": "r"}]) is None
    with pytest.raises(ApiError):
        due_tool({"tools": [{"type": "function"}]}, user)
