"""Deterministic "model output": tokens, token counts, JSON answers and embeddings.

The same (prompt, seed) always yields the same answer, so tests and benchmarks can compare
runs. Token counting is a cheap approximation (about four characters per token), good enough
for usage accounting and context-length checks.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from typing import Any

WORDS = (
    "the", "model", "answers", "with", "simulated", "text", "that", "looks", "like", "an",
    "inference", "runtime", "would", "produce", "tokens", "at", "a", "steady", "rate", "so",
    "routers", "autoscalers", "and", "canary", "analysis", "see", "realistic", "load",
    "latency", "queueing", "streaming", "usage", "counts", "metrics", "without", "accelerator",
)  # fmt: skip

THINK_WORDS = ("let", "me", "think", "about", "the", "question", "step", "by", "step", "first")

MIN_ANSWER_TOKENS = 8
MAX_ANSWER_TOKENS = 32
EMBEDDING_DIMENSIONS = 32


def count_tokens(text: str) -> int:
    """Approximate token count: about four characters per token, at least one."""
    return max(1, (len(text) + 3) // 4)


def _rng(prompt: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(prompt.encode("utf-8", "replace")) ^ (seed * 0x9E3779B1))


def answer_tokens(prompt: str, seed: int, reasoning: bool = False) -> list[str]:
    """The full natural answer for a prompt, as tokens (before any max_tokens cut)."""
    rng = _rng(prompt, seed)
    length = rng.randint(MIN_ANSWER_TOKENS, MAX_ANSWER_TOKENS)
    words = [rng.choice(WORDS) for _ in range(length)]
    words[0] = words[0].capitalize()
    tokens = [words[0]] + [" " + word for word in words[1:]]
    tokens[-1] += "."
    if reasoning:
        think = ["<think>", *(" " + word for word in THINK_WORDS), "</think>", "\n\n"]
        tokens = think + tokens
    return tokens


def json_tokens(prompt: str, seed: int, schema: dict[str, Any] | None) -> list[str]:
    """A valid JSON document as tokens: an object satisfying `schema` when given."""
    rng = _rng(prompt, seed)
    value = value_for_schema(schema, rng, depth=0) if schema else {"answer": _phrase(rng)}
    text = json.dumps(value)
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def _phrase(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))


MAX_ARRAY_ITEMS = 4
# Values built for one schema at most: a client's schema (or a fuzzer's) may nest wide objects
# eight levels deep, and the answer must stay small and quick.
MAX_SCHEMA_NODES = 256


class _Budget(Exception):
    pass


def value_for_schema(schema: Any, rng: random.Random, depth: int) -> Any:
    """A value satisfying simple JSON schemas: types, properties, required, items, enum.

    Any schema is taken (clients send odd ones): what cannot be read, or would be too big,
    gives a phrase."""
    budget = [MAX_SCHEMA_NODES]
    try:
        return _value_for_schema(schema, rng, depth, budget)
    except (AttributeError, TypeError, ValueError, OverflowError, RecursionError, _Budget):
        return _phrase(rng)


def _value_for_schema(schema: Any, rng: random.Random, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Budget
    if not isinstance(schema, dict) or depth > 8:
        return _phrase(rng)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _value_for_schema(options[0], rng, depth + 1, budget)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: _value_for_schema(sub, rng, depth + 1, budget)
            for name, sub in properties.items()
            if isinstance(name, str)
        }
    if kind == "array":
        count = min(max(int(schema.get("minItems", 1)), 1), MAX_ARRAY_ITEMS)
        return [
            _value_for_schema(schema.get("items"), rng, depth + 1, budget) for _ in range(count)
        ]
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        return max(low, min(rng.randint(0, 100), int(schema.get("maximum", 100))))
    if kind == "number":
        floor = float(schema.get("minimum", 0.0))
        return max(floor, min(round(rng.random() * 100, 2), float(schema.get("maximum", 100.0))))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _phrase(rng)


def embedding(text: str, seed: int, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector that depends only on (text, seed)."""
    rng = _rng(text, seed)
    vector = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]
