"""Ollama requests <-> the canonical (OpenAI-shaped) request. Pure functions.

`ollama_*_to_openai` read an Ollama client's request; `openai_*_to_ollama` write the request for
an Ollama backend. Every field either maps (tables below), is a loading hint that has no
meaning for the other runtime (`IGNORED_OPTIONS`, `keep_alive`: documented in docs/router.md),
or is refused with a TranslationError naming it. Ollama-only wishes the answer must honour
(`think`, `images` of /api/generate...) travel in the canonical request under `CLIENT_KEY`,
which is never sent to a backend. The answers and streams are in translate_ollama_answers.py.
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
    parse_arguments,
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
OPENAI_SAMPLING_KINDS: Mapping[str, str] = {
    "temperature": "number",
    "top_p": "number",
    "top_k": "integer",
    "min_p": "number",
    "seed": "integer",
    "presence_penalty": "number",
    "frequency_penalty": "number",
    "repetition_penalty": "number",
    "max_tokens": "integer",
    "max_completion_tokens": "integer",
    "n": "integer",
    "stop": "string or list of strings",
    "stream": "boolean",
    "stream_options": "object",
    "response_format": "object",
    "tools": "array",
    "logit_bias": "object",
    "suffix": "string",
    "dimensions": "integer",
    "encoding_format": "string",
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


# ---------------------------------------------------------------- canonical -> Ollama backend


def check_openai_request(body: Mapping[str, Any]) -> None:
    """Types of the fields any translation reads (the OpenAI spec's), as a runtime checks them."""
    check_fields(body, OPENAI_SAMPLING_KINDS)


def _options_from_openai(body: Mapping[str, Any]) -> JsonDict:
    options: JsonDict = {}
    if body.get("max_completion_tokens") is not None and body.get("max_tokens") is None:
        options["num_predict"] = body["max_completion_tokens"]
    for openai_name, ollama_name in OPTION_TABLE:
        value = body.get(openai_name)
        if value is not None:
            options[ollama_name] = (
                [value] if ollama_name == "stop" and isinstance(value, str) else value
            )
    return options


def _refuse(body: Mapping[str, Any], name: str, allowed: Any = (None,), why: str = "") -> None:
    value = body.get(name)
    if value not in allowed and value != {} and value != []:
        raise TranslationError(f"'{name}' cannot be served by an Ollama backend{why}", name)


def _format_from_openai(body: Mapping[str, Any]) -> Any:
    response_format = body.get("response_format")
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, Mapping):
            raise TranslationError(
                "'response_format.json_schema' must be an object", "response_format.json_schema"
            )
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise TranslationError(
                "'response_format.json_schema.schema' must be an object",
                "response_format.json_schema.schema",
            )
        return dict(schema) if schema else "json"
    raise TranslationError(f"response_format type {kind!r} is not supported", "response_format")


def _common_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    check_openai_request(body)
    _refuse(body, "n", (None, 1), " (one choice per request)")
    _refuse(body, "logprobs", (None, False, 0))
    _refuse(body, "top_logprobs", (None, 0))
    _refuse(body, "best_of", (None, 1))
    _refuse(body, "logit_bias")
    _refuse(body, "audio")
    _refuse(body, "prediction")
    out: JsonDict = {"model": backend_model, "stream": bool(body.get("stream", False))}
    options = _options_from_openai(body)
    if options:
        out["options"] = options
    fmt = _format_from_openai(body)
    if fmt is not None:
        out["format"] = fmt
    effort = body.get("reasoning_effort")
    if effort is not None:
        out["think"] = effort not in ("none", "minimal")
    return out


def _message_to_ollama(message: Any, index: int, names_by_id: dict[str, str]) -> JsonDict:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        raise TranslationError(f"'{where}' needs a string 'role'", f"{where}.role")
    role = "system" if message["role"] == "developer" else message["role"]
    content = message.get("content")
    out: JsonDict = {"role": role}
    if isinstance(content, list):
        texts: list[str] = []
        images: list[str] = []
        for position, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind in ("text", "refusal"):
                text = part.get(kind)
                require(
                    isinstance(text, str),
                    f"'{where}.content[{position}].{kind}' must be a string",
                    f"{where}.content[{position}].{kind}",
                )
                texts.append(text)
            elif kind == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, Mapping) else None
                if not isinstance(url, str) or not url.startswith("data:"):
                    raise TranslationError(
                        "Ollama backends take images only as data: URLs",
                        f"{where}.content[{position}].image_url.url",
                    )
                images.append(url.partition(",")[2])
            else:
                raise TranslationError(
                    f"content part type {kind!r} cannot be sent to an Ollama backend",
                    f"{where}.content[{position}].type",
                )
        out["content"] = "".join(texts)
        if images:
            out["images"] = images
    elif content is None or isinstance(content, str):
        out["content"] = content or ""
    else:
        raise TranslationError(f"'{where}.content' must be a string or a list", f"{where}.content")
    calls = message.get("tool_calls")
    if calls:
        require(
            isinstance(calls, list), f"'{where}.tool_calls' must be a list", f"{where}.tool_calls"
        )
        out["tool_calls"] = [
            _tool_call_to_ollama(call, f"{where}.tool_calls[{i}]", names_by_id)
            for i, call in enumerate(calls)
        ]
    if role == "tool":
        call_id = message.get("tool_call_id")
        if isinstance(call_id, str) and call_id in names_by_id:
            out["tool_name"] = names_by_id[call_id]
    return out


def _tool_call_to_ollama(call: Any, where: str, names_by_id: dict[str, str]) -> JsonDict:
    if not isinstance(call, Mapping):
        raise TranslationError(f"'{where}' must be an object", where)
    if call.get("type", "function") != "function":
        raise TranslationError(
            f"tool call type {call.get('type')!r} cannot be sent to an Ollama backend",
            f"{where}.type",
        )
    function = call.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str) or not name:
        raise TranslationError(f"'{where}.function.name' is required", f"{where}.function.name")
    assert isinstance(function, Mapping)
    arguments = parse_arguments(function.get("arguments"), f"{where}.function.arguments")
    if isinstance(call.get("id"), str):
        names_by_id[call["id"]] = name
    return {"function": {"name": name, "arguments": arguments}}


def _tools_to_ollama(body: Mapping[str, Any]) -> list[Any] | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if choice == "none":
        return None
    if choice not in (None, "auto"):
        raise TranslationError(
            "Ollama backends choose tools themselves: only tool_choice 'auto' or 'none'",
            "tool_choice",
        )
    for position, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if kind != "function" or not isinstance(function, Mapping):
            raise TranslationError(
                f"tool type {kind!r} cannot be sent to an Ollama backend", f"tools[{position}]"
            )
    return list(tools) or None


def openai_chat_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    out = _common_to_ollama(body, backend_model)
    names_by_id: dict[str, str] = {}
    messages = body.get("messages") or []
    out["messages"] = [_message_to_ollama(m, i, names_by_id) for i, m in enumerate(messages)]
    tools = _tools_to_ollama(body)
    if tools:
        out["tools"] = tools
    return out


def openai_completion_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise TranslationError(
                "Ollama backends take exactly one prompt string (no batches, no token ids)",
                "prompt",
            )
        prompt = prompt[0]
    out = _common_to_ollama(body, backend_model)
    if body.get("max_tokens") is None:
        out.setdefault("options", {})["num_predict"] = 16  # the completions API default
    out["prompt"] = prompt
    out["raw"] = True  # a completion continues the text as given: no chat template
    if body.get("suffix"):
        out["suffix"] = body["suffix"]
    return out


def openai_embedding_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    check_openai_request(body)
    value = body.get("input")
    if not (isinstance(value, str) or is_str_list(value)):
        raise TranslationError("Ollama backends embed strings, not token ids", "input")
    encoding = body.get("encoding_format")
    require(
        encoding in (None, "float", "base64"),
        "'encoding_format' must be float or base64",
        "encoding_format",
    )
    out: JsonDict = {"model": backend_model, "input": value}
    if body.get("dimensions") is not None:
        out["dimensions"] = body["dimensions"]
    return out
