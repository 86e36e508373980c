"""The canonical (OpenAI-shaped) request -> an Ollama backend's request. Pure functions.

Fields map by `OPTION_TABLE` (shared with the other direction); what Ollama cannot do (`n` > 1,
log probabilities, `logit_bias`, forced tool choice, non-function tools, audio or file parts,
images by URL) is a TranslationError naming the field. `reasoning_effort` becomes `think`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.router.translate_common import (
    JsonDict,
    TranslationError,
    check_fields,
    is_str_list,
    parse_arguments,
    require,
)
from modelops.router.translate_ollama import OPTION_TABLE

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
