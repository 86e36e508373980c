"""What every translation shares: the error it raises and the type checks of request fields.

Pure. A field of the wrong type is a `TranslationError` naming the field (a 400 in the client's
shape, 422 for TGI), never an exception from deep inside a translation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]


class TranslationError(ValueError):
    """The request is malformed, or cannot be expressed for the other API; becomes a 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UpstreamStreamError(RuntimeError):
    """The backend reported an error inside a stream."""


def ollama_timestamp(now: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(is_int(item) for item in value)


def as_object(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (for reading answers leniently)."""
    return value if isinstance(value, Mapping) else {}


KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "integer": is_int,
    "number": is_number,
    "boolean": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, Mapping),
    "array": lambda value: isinstance(value, list),
    "string or list of strings": lambda value: isinstance(value, str) or is_str_list(value),
    "string or number": lambda value: isinstance(value, str) or is_number(value),
}


def check_fields(body: Mapping[str, Any], kinds: Mapping[str, str], prefix: str = "") -> None:
    """Raises a TranslationError for the first present, non-null field of the wrong kind."""
    for name, kind in kinds.items():
        value = body.get(name)
        if value is not None and not KIND_CHECKS[kind](value):
            where = f"{prefix}{name}"
            raise TranslationError(
                f"'{where}' must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, "
                f"got {type(value).__name__}",
                where,
            )


def require(condition: bool, message: str, param: str | None = None) -> None:
    if not condition:
        raise TranslationError(message, param)


def parse_arguments(arguments: Any, where: str) -> JsonDict:
    """OpenAI tool-call arguments (a JSON text) as the object Ollama wants."""
    import json

    if isinstance(arguments, Mapping):
        return dict(arguments)
    if arguments is None or arguments == "":
        return {}
    if not isinstance(arguments, str):
        raise TranslationError(f"'{where}' must be a JSON object as a string", where)
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise TranslationError(f"'{where}' is not valid JSON", where) from None
    if not isinstance(parsed, dict):
        raise TranslationError(f"'{where}' must encode a JSON object", where)
    return parsed
