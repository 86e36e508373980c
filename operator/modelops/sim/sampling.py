"""What a request asks of generation, checked as vLLM and Ollama check it, and what it does to
the answer: stop sequences, several choices, log probabilities, tool calls. Pure.

Type errors are `ApiError(400)` naming the field, the way both runtimes refuse them (vLLM's
pydantic validation is answered as 400, Ollama's JSON decoding as 400).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from modelops.sim import textgen


class ApiError(Exception):
    """A request the runtime refuses; `kind` is the runtime's error class name."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "integer": _is_int,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
    "stop": lambda v: (
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v))
    ),
}
# vLLM's request fields with their types (ChatCompletionRequest / CompletionRequest).
OPENAI_FIELD_TYPES: Mapping[str, str] = {
    "model": "string",
    "frequency_penalty": "number",
    "presence_penalty": "number",
    "repetition_penalty": "number",
    "temperature": "number",
    "top_p": "number",
    "min_p": "number",
    "top_k": "integer",
    "seed": "integer",
    "n": "integer",
    "best_of": "integer",
    "max_tokens": "integer",
    "max_completion_tokens": "integer",
    "stream": "boolean",
    "stream_options": "object",
    "echo": "boolean",
    "stop": "stop",
    "logit_bias": "object",
    "response_format": "object",
    "tools": "array",
    "parallel_tool_calls": "boolean",
    "user": "string",
    "suffix": "string",
    "encoding_format": "string",
    "dimensions": "integer",
}
# vLLM's SamplingParams ranges (a ValueError there is a 400).
RANGES: Mapping[str, tuple[float, float]] = {
    "temperature": (0.0, math.inf),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
    "n": (1, 128),
    "top_logprobs": (0, 20),
}


def check_types(body: Mapping[str, Any], types: Mapping[str, str], prefix: str = "") -> None:
    for name, kind in types.items():
        value = body.get(name)
        if value is not None and not CHECKS[kind](value):
            raise ApiError(400, f"{prefix}{name}: Input should be a valid {kind}")


def check_openai(body: Mapping[str, Any]) -> None:
    check_types(body, OPENAI_FIELD_TYPES)
    for name, (low, high) in RANGES.items():
        value = body.get(name)
        if _is_number(value) and not low <= value <= high:
            raise ApiError(400, f"{name} must be in [{low}, {high}], got {value}.")
    top_p = body.get("top_p")
    if _is_number(top_p) and not 0 < top_p <= 1:
        raise ApiError(400, f"top_p must be in (0, 1], got {top_p}.")
    if body.get("suffix"):
        raise ApiError(400, "suffix is not currently supported")
    if body.get("stream") is not True and body.get("stream_options") is not None:
        raise ApiError(400, "Stream options can only be defined when `stream=True`.")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class Sampling:
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    logprobs: int | None = None  # alternatives listed per token; None: no logprobs at all
    json_mode: bool = False
    schema: dict[str, Any] | None = None
    tool: dict[str, Any] | None = field(default=None)  # the function to call, when one is due


def stop_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(s for s in value or () if isinstance(s, str) and s)


def apply_stop(tokens: list[str], stops: tuple[str, ...]) -> tuple[list[str], str | None]:
    """Tokens up to the first stop string (excluded, as both runtimes do) and that string."""
    if not stops:
        return tokens, None
    text = "".join(tokens)
    hits = [(text.find(stop), stop) for stop in stops if stop in text]
    if not hits:
        return tokens, None
    cut, matched = min(hits)
    kept: list[str] = []
    length = 0
    for token in tokens:
        if length + len(token) >= cut:
            if cut > length:
                kept.append(token[: cut - length])
            break
        kept.append(token)
        length += len(token)
    return kept, matched


def token_logprobs(tokens: list[str], alternatives: int, seed: int) -> list[dict[str, Any]]:
    """Deterministic log probabilities in the shape of OpenAI's ChatCompletionTokenLogprob."""
    out = []
    for index, token in enumerate(tokens):
        rng = random.Random(zlib.crc32(token.encode("utf-8", "replace")) ^ index ^ seed)
        logprob = -round(rng.random() * 2, 4)
        top = [
            {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8", "replace"))}
        ]
        for rank in range(1, alternatives):
            other = rng.choice(textgen.WORDS)
            top.append(
                {"token": " " + other, "logprob": logprob - rank, "bytes": list(other.encode())}
            )
        out.append({**top[0], "top_logprobs": top[:alternatives]})
    return out


def completion_logprobs(tokens: list[str], alternatives: int, seed: int) -> dict[str, Any]:
    """The legacy completions `logprobs` object."""
    entries = token_logprobs(tokens, max(alternatives, 1), seed)
    offsets = []
    position = 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": [e["logprob"] for e in entries],
        "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
        "text_offset": offsets,
    }


def due_tool(body: Mapping[str, Any], messages: list[Any]) -> dict[str, Any] | None:
    """The function the simulated model calls: when tools are offered, the conversation does not
    end with a tool's result, and tool_choice allows it (a named choice picks that function)."""
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not tools:
        return None
    functions: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ApiError(400, f"tools.{index}.function: Field required")
        functions.append(dict(function))
    choice = body.get("tool_choice")
    if choice == "none":
        return None
    last = messages[-1] if messages else None
    if isinstance(last, Mapping) and last.get("role") == "tool" and choice != "required":
        return None
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        for function in functions:
            if function["name"] == wanted:
                return function
        raise ApiError(400, f"tool_choice names a function that is not in tools: {wanted!r}")
    return functions[0]


def tool_call(function: Mapping[str, Any], prompt: str, seed: int) -> ToolCall:
    import json

    parameters = function.get("parameters")
    schema = parameters if isinstance(parameters, dict) else {"type": "object"}
    rng = random.Random(zlib.crc32(prompt.encode("utf-8", "replace")) ^ seed)
    arguments = textgen.value_for_schema(schema, rng, depth=0)
    if not isinstance(arguments, dict):
        arguments = {}
    return ToolCall(str(function["name"]), json.dumps(arguments))
