"""Ollama's request parsing and answer pieces: timestamps, model details, type checks, pull
progress. Shared by the native routes in ollama_api.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping

from modelops.sim import sampling
from modelops.sim.openai_api import ApiError, JsonObject, json_response
from modelops.sim.server import Request, Response

FAKE_MODEL_BYTES = 4_920_753_328
ARCHITECTURES = (("qwen", "qwen2"), ("gemma", "gemma3"), ("phi", "phi3"), ("deepseek", "qwen2"))


def timestamp(at: float | None = None) -> str:
    """Ollama's RFC 3339 timestamps (UTC, sub-second precision)."""
    now = time.time() if at is None else at
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def architecture(model: str) -> str:
    lowered = model.lower()
    return next((arch for marker, arch in ARCHITECTURES if marker in lowered), "llama")


def parameter_size(model: str) -> str:
    tag = model.rpartition(":")[2].lower()
    if tag.endswith("b") and tag[:-1].replace(".", "", 1).isdigit():
        return f"{float(tag[:-1]):.1f}B"
    return "8.0B"


def digest(model: str) -> str:
    import hashlib

    return hashlib.sha256(model.encode()).hexdigest()


def details(model: str) -> JsonObject:
    arch = architecture(model)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": arch,
        "families": [arch],
        "parameter_size": parameter_size(model),
        "quantization_level": "Q4_K_M",
    }


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def parse_request(request: Request) -> JsonObject:
    """Parse like Ollama's gin handlers: 400 with Go's decoder message on bad JSON."""
    if not request.body.strip():
        raise ApiError(400, "missing request body")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        first = request.body.lstrip()[:1].decode("latin-1", "replace")
        raise ApiError(400, f"invalid character '{first}' looking for beginning of value") from None
    if not isinstance(body, dict):
        raise ApiError(400, "json: cannot unmarshal into Go value of type api.Request")
    for name, kind in REQUEST_FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not sampling.CHECKS[kind](value):
            raise ApiError(
                400, f"json: cannot unmarshal into Go struct field Request.{name} of type {kind}"
            )
    return body


# Go struct field types of Ollama's api.ChatRequest / GenerateRequest / EmbedRequest.
REQUEST_FIELD_TYPES: Mapping[str, str] = {
    "model": "string",
    "prompt": "string",
    "suffix": "string",
    "system": "string",
    "template": "string",
    "stream": "boolean",
    "raw": "boolean",
    "messages": "array",
    "tools": "array",
    "options": "object",
    "context": "array",
    "images": "array",
    "truncate": "boolean",
    "dimensions": "integer",
}
# api.Options field types (FromMap refuses a value of another JSON type).
OPTION_TYPES: Mapping[str, str] = {
    "num_predict": "number",
    "num_ctx": "number",
    "top_k": "number",
    "seed": "number",
    "temperature": "number",
    "top_p": "number",
    "min_p": "number",
    "repeat_penalty": "number",
    "presence_penalty": "number",
    "frequency_penalty": "number",
    "stop": "array",
}


def checked_options(body: JsonObject) -> JsonObject:
    options = body.get("options") or {}
    for name, kind in OPTION_TYPES.items():
        value = options.get(name)
        if value is not None and not sampling.CHECKS[kind](value):
            raise ApiError(400, f"option {name!r} must be of type {kind}")
    return options


async def pull_progress(model: str) -> AsyncIterator[bytes]:
    layer = "sha256:" + digest(model)
    steps: list[JsonObject] = [{"status": "pulling manifest"}]
    for completed in (0, FAKE_MODEL_BYTES // 2, FAKE_MODEL_BYTES):
        steps.append(
            {
                "status": f"pulling {layer[7:19]}",
                "digest": layer,
                "total": FAKE_MODEL_BYTES,
                "completed": completed,
            }
        )
    steps += [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    for step in steps:
        yield json.dumps(step).encode() + b"\n"
