"""An Ollama client's request -> the canonical (OpenAI-shaped) request. Pure functions.

The other direction (canonical -> an Ollama backend) is in translate_to_ollama.py. Every field
either maps (tables below), is a loading hint that has no meaning for the other runtime
(`IGNORED_OPTIONS`, `keep_alive`: documented in docs/router.md), or is refused with a
TranslationError naming it. Ollama-only wishes the answer must honour (`think`, `images` of
/api/generate...) travel in the canonical request under `CLIENT_KEY`, which is never sent to
a backend. Answers: translate_ollama_answers.py and translate_ollama_streams.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelops.router.translate_common import (
    JsonDict,
    TranslationError,
    UpstreamStreamError,
    check_fields,
    is_int_list,
    is_number,
    is_str_list,
    ollama_timestamp,
    require,
)

__all__ = [
    "CLIENT_KEY",
    "JsonDict",
    "TranslationError",
    "UpstreamStreamError",
    "ollama_timestamp",
]

# Client-side wishes carried next to the canonical request (stripped before any backend call).
CLIENT_KEY = "_client"

# (OpenAI request field, Ollama `options` field); top_k, min_p and repetition_penalty are
# vLLM's extra sampling parameters.
OPTION_TABLE: tuple[tuple[str, str], ...] = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("min_p", "min_p"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
    ("repetition_penalty", "repeat_penalty"),
    ("max_tokens", "num_predict"),
    ("stop", "stop"),
)
OPTION_KINDS: Mapping[str, str] = {
    "temperature": "number",
    "top_p": "number",
    "min_p": "number",
    "presence_penalty": "number",
    "frequency_penalty": "number",
    "repeat_penalty": "number",
    "top_k": "integer",
    "seed": "integer",
    "num_predict": "integer",
    "num_ctx": "integer",
    "stop": "array",
}
# How Ollama loads and runs the model; the other runtime's are set by the operator.
IGNORED_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "low_vram",
        "num_thread",
        "use_mmap",
        "use_mlock",
        "numa",
        "num_keep",
        "vocab_only",
        "f16_kv",
        "logits_all",
        "embedding_only",
    }
)
# Sampling options no OpenAI-API runtime has, with the value that means "off".
UNEXPRESSIBLE_OPTIONS: Mapping[str, Any] = {
    "mirostat": 0,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
    "tfs_z": 1.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "penalize_newline": None,
}
IMAGE_MAGIC: tuple[tuple[str, str], ...] = (
    ("iVBOR", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def image_data_url(base64_image: str) -> str:
    mime = next((m for magic, m in IMAGE_MAGIC if base64_image.startswith(magic)), "image/png")
    return f"data:{mime};base64,{base64_image}"


# ---------------------------------------------------------------- Ollama client -> canonical


def _sampling_from_options(options: Any) -> JsonDict:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TranslationError("'options' must be an object", "options")
    for name, kind in OPTION_KINDS.items():
        value = options.get(name)
        if kind == "integer" and is_number(value) and float(value).is_integer():  # type: ignore[arg-type]
            continue  # Ollama decodes JSON numbers as float64 and accepts 5.0 for an integer
        if name == "stop" and value is not None and not is_str_list(value):
            raise TranslationError("option 'stop' must be a list of strings", "options.stop")
        check_fields({name: value}, {name: kind}, "options.")
    for name, off in UNEXPRESSIBLE_OPTIONS.items():
        value = options.get(name)
        if value is not None and value != off:
            raise TranslationError(
                f"option {name!r} has no equivalent on this model's runtime", f"options.{name}"
            )
    out: JsonDict = {}
    for openai_name, ollama_name in OPTION_TABLE:
        value = options.get(ollama_name)
        if value is not None:
            integer = OPTION_KINDS.get(ollama_name) == "integer"
            out[openai_name] = int(value) if integer else value
    if out.get("max_tokens") is not None and out["max_tokens"] < 0:
        del out["max_tokens"]  # Ollama's -1 and -2 mean "until done" / "fill the context"
    if out.get("max_tokens") == 0:
        out["max_tokens"] = 1  # 0 is "generate nothing" in Ollama; OpenAI runtimes need >= 1
    return out


def _common_from_ollama(body: Mapping[str, Any]) -> JsonDict:
    check_fields(body, {"stream": "boolean", "keep_alive": "string or number"})
    out = _sampling_from_options(body.get("options"))
    fmt = body.get("format")
    if fmt == "json":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, Mapping):
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": dict(fmt)},
        }
    elif fmt not in (None, ""):
        raise TranslationError("'format' must be \"json\" or a JSON schema object", "format")
    out["stream"] = body.get("stream") is not False  # Ollama streams unless told not to
    if out["stream"]:
        out["stream_options"] = {"include_usage": True}
    think = body.get("think")
    if think is not None and not isinstance(think, bool | str):
        raise TranslationError("'think' must be a boolean or low/medium/high", "think")
    out[CLIENT_KEY] = {"think": think}
    if body.get("logprobs") or body.get("top_logprobs"):
        out[CLIENT_KEY]["logprobs"] = True  # Ollama's own shape; refused for other runtimes
    return out


def _message_from_ollama(message: Any, index: int, calls_by_name: dict[str, list[str]]) -> JsonDict:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        raise TranslationError(f"'{where}' needs a string 'role'", f"{where}.role")
    check_fields(
        message,
        {"content": "string", "images": "array", "tool_calls": "array", "tool_name": "string"},
        f"{where}.",
    )
    content = message.get("content") or ""
    images = message.get("images") or []
    require(is_str_list(images), f"'{where}.images' must be base64 strings", f"{where}.images")
    role = message["role"]
    out: JsonDict = {"role": role}
    if images:
        parts: list[JsonDict] = [{"type": "text", "text": content}]
        parts += [{"type": "image_url", "image_url": {"url": image_data_url(i)}} for i in images]
        out["content"] = parts
    else:
        out["content"] = content
    calls = message.get("tool_calls") or []
    if calls:
        out["tool_calls"] = []
        for position, call in enumerate(calls):
            function = call.get("function") if isinstance(call, Mapping) else None
            name = function.get("name") if isinstance(function, Mapping) else None
            if not isinstance(name, str) or not name:
                raise TranslationError(
                    f"'{where}.tool_calls[{position}].function.name' is required",
                    f"{where}.tool_calls[{position}].function.name",
                )
            arguments = function.get("arguments") if isinstance(function, Mapping) else None
            if arguments is not None and not isinstance(arguments, Mapping):
                raise TranslationError(
                    f"'{where}.tool_calls[{position}].function.arguments' must be an object",
                    f"{where}.tool_calls[{position}].function.arguments",
                )
            given_id = call.get("id")
            call_id = (
                given_id if isinstance(given_id, str) and given_id else f"call_{index}_{position}"
            )
            calls_by_name.setdefault(name, []).append(call_id)
            out["tool_calls"].append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments or {})},
                }
            )
        if not content:
            out["content"] = None
    if role == "tool":
        name = message.get("tool_name")
        pending = calls_by_name.get(name or "") or []
        given = message.get("tool_call_id")
        out["tool_call_id"] = (
            given
            if isinstance(given, str)
            else (pending.pop(0) if pending else f"call_{name or index}")
        )
    return out


def ollama_chat_to_openai(body: Mapping[str, Any]) -> JsonDict:
    messages = body.get("messages")
    if messages is None:
        messages = []  # Ollama loads the model and answers with done_reason "load"
    if not isinstance(messages, list):
        raise TranslationError("'messages' must be a list", "messages")
    check_fields(body, {"tools": "array"})
    calls_by_name: dict[str, list[str]] = {}
    out: JsonDict = {"model": body.get("model")}
    out["messages"] = [_message_from_ollama(m, i, calls_by_name) for i, m in enumerate(messages)]
    out.update(_common_from_ollama(body))
    if body.get("tools"):
        out["tools"] = body["tools"]
    return out


def ollama_generate_to_openai(body: Mapping[str, Any]) -> JsonDict:
    check_fields(
        body,
        {
            "prompt": "string",
            "suffix": "string",
            "system": "string",
            "template": "string",
            "context": "array",
            "raw": "boolean",
            "images": "array",
        },
    )
    prompt = body.get("prompt") or ""
    system = body.get("system")
    if system and not body.get("raw"):
        prompt = f"{system}\n\n{prompt}"
    out: JsonDict = {"model": body.get("model"), "prompt": prompt}
    if body.get("suffix"):
        out["suffix"] = body["suffix"]
    out.update(_common_from_ollama(body))
    client = out[CLIENT_KEY]
    for name in ("template", "context", "images"):
        if body.get(name):
            client[name] = body[name]
    require(is_int_list(body.get("context") or []), "'context' must be token ids", "context")
    return out


def ollama_embed_to_openai(body: Mapping[str, Any], legacy: bool) -> JsonDict:
    """`/api/embed` takes `input` (string or list); the legacy `/api/embeddings` takes `prompt`."""
    field = "prompt" if legacy else "input"
    value = body.get(field)
    if not (isinstance(value, str) or (not legacy and is_str_list(value))):
        raise TranslationError(f"'{field}' must be a string or a list of strings", field)
    check_fields(body, {"truncate": "boolean", "dimensions": "integer", "options": "object"})
    out: JsonDict = {"model": body.get("model"), "input": value}
    if body.get("dimensions") is not None:
        out["dimensions"] = body["dimensions"]
    return out
