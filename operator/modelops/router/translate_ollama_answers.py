"""Answers between Ollama and the canonical OpenAI shape, whole and streamed. Pure functions.

Ollama backend -> OpenAI: tool calls get ids (Ollama's have none), `thinking` becomes
`reasoning_content`, and every choice carries the fields the OpenAI spec requires
(`logprobs`, `message.refusal`). OpenAI backend -> Ollama client: reasoning goes where the
client asked (`think: true`: the `thinking` field; `think: false`: left out; unset: inline
`<think>` as older Ollama did), streamed tool-call fragments are joined into Ollama's whole
tool calls, and durations are measured (time to first token is the prompt evaluation).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Mapping
from typing import Any

from modelops.router.reasoning import ThinkJoiner, split_think
from modelops.router.translate_common import (
    JsonDict,
    ollama_timestamp,
)

# Ollama done_reason -> OpenAI finish_reason (anything else maps to "stop")
DONE_TO_FINISH: Mapping[str, str] = {"stop": "stop", "length": "length", "unload": "stop"}
FINISH_TO_DONE: Mapping[str, str] = {"stop": "stop", "length": "length", "tool_calls": "stop"}


def _usage(prompt_tokens: int, completion_tokens: int) -> JsonDict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_ollama(body: Mapping[str, Any]) -> JsonDict:
    return _usage(_count(body.get("prompt_eval_count")), _count(body.get("eval_count")))


def finish_from_ollama(body: Mapping[str, Any]) -> str:
    return DONE_TO_FINISH.get(str(body.get("done_reason") or "stop"), "stop")


def openai_tool_calls(calls: Any, id_prefix: str, start: int = 0) -> list[JsonDict]:
    out: list[JsonDict] = []
    for position, call in enumerate(calls if isinstance(calls, list) else []):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        arguments = function.get("arguments")
        out.append(
            {
                "id": str(call.get("id") or f"call_{id_prefix}_{start + position}"),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": arguments
                    if isinstance(arguments, str)
                    else json.dumps(arguments if arguments is not None else {}),
                },
            }
        )
    return out


def _message_from_ollama_answer(message: Mapping[str, Any], id_prefix: str) -> JsonDict:
    out: JsonDict = {
        "role": "assistant",
        "content": str(message.get("content") or ""),
        "refusal": None,
    }
    if message.get("thinking"):
        out["reasoning_content"] = str(message["thinking"])
    calls = openai_tool_calls(message.get("tool_calls"), id_prefix)
    if calls:
        out["tool_calls"] = calls
    return out


def ollama_chat_response_to_openai(
    body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    raw_message = body.get("message")
    message = _message_from_ollama_answer(
        raw_message if isinstance(raw_message, Mapping) else {}, request_id[-8:]
    )
    finish = "tool_calls" if message.get("tool_calls") else finish_from_ollama(body)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage_from_ollama(body),
    }


def ollama_generate_response_to_openai(
    body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    text = str(body.get("response") or "")
    if body.get("thinking"):
        text = f"<think>{body['thinking']}</think>{text}"
    return {
        "id": request_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": served,
        "choices": [
            {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_from_ollama(body)}
        ],
        "usage": usage_from_ollama(body),
    }


def base64_floats(vector: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def ollama_embed_response_to_openai(
    body: Mapping[str, Any], served: str, encoding_format: Any = None
) -> JsonDict:
    embeddings = body.get("embeddings")
    if embeddings is None and "embedding" in body:
        embeddings = [body["embedding"]]
    tokens = _count(body.get("prompt_eval_count"))
    vectors = [v for v in embeddings or [] if isinstance(v, list)]
    return {
        "object": "list",
        "model": served,
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": base64_floats(vector) if encoding_format == "base64" else vector,
            }
            for index, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------- canonical -> Ollama client


def done_fields(usage: Any, elapsed_ns: int, first_token_ns: int | None = None) -> JsonDict:
    usage = usage if isinstance(usage, Mapping) else {}
    prompt_ns = first_token_ns if first_token_ns is not None else 0
    return {
        "total_duration": elapsed_ns,
        "load_duration": 0,
        "prompt_eval_count": _count(usage.get("prompt_tokens")),
        "prompt_eval_duration": prompt_ns,
        "eval_count": _count(usage.get("completion_tokens")),
        "eval_duration": max(elapsed_ns - prompt_ns, 0),
    }


def ollama_arguments(arguments: Any) -> Any:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        parsed = None
    # Arguments the model wrote that are not a JSON object are kept, under a key that says so.
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": arguments}


def ollama_tool_calls(calls: Any) -> list[JsonDict]:
    out: list[JsonDict] = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping) and function.get("name"):
            out.append(
                {
                    "function": {
                        "name": str(function["name"]),
                        "arguments": ollama_arguments(function.get("arguments")),
                    }
                }
            )
    return out


def reasoning_for_client(
    reasoning: str | None, content: str, think: Any, inline_tags: bool
) -> tuple[str | None, str]:
    """(thinking, content) as an Ollama client asked for them (see the module docstring)."""
    if inline_tags and reasoning is None and think is not None:
        reasoning, content = split_think(content)
    if think is False or think == "false":
        return None, content
    if think is None:
        return None, ThinkJoiner().feed(reasoning, content) + (
            "</think>" if reasoning and not content else ""
        )
    return reasoning, content


def openai_chat_response_to_ollama(
    body: Mapping[str, Any], served: str, elapsed_ns: int, think: Any = None, inline: bool = True
) -> JsonDict:
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    reasoning = message.get("reasoning_content") or message.get("reasoning") or None
    thinking, content = reasoning_for_client(
        reasoning, str(message.get("content") or ""), think, inline
    )
    out_message: JsonDict = {"role": "assistant", "content": content}
    if thinking:
        out_message["thinking"] = thinking
    calls = ollama_tool_calls(message.get("tool_calls"))
    if calls:
        out_message["tool_calls"] = calls
    return {
        "model": served,
        "created_at": ollama_timestamp(),
        "message": out_message,
        "done": True,
        "done_reason": FINISH_TO_DONE.get(str(choice.get("finish_reason") or "stop"), "stop"),
        **done_fields(body.get("usage"), elapsed_ns),
    }


def openai_completion_response_to_ollama(
    body: Mapping[str, Any], served: str, elapsed_ns: int, think: Any = None
) -> JsonDict:
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    thinking, text = reasoning_for_client(None, str(choice.get("text") or ""), think, True)
    out: JsonDict = {"model": served, "created_at": ollama_timestamp(), "response": text}
    if thinking:
        out["thinking"] = thinking
    out |= {
        "done": True,
        "done_reason": FINISH_TO_DONE.get(str(choice.get("finish_reason") or "stop"), "stop"),
        "context": [],
        **done_fields(body.get("usage"), elapsed_ns),
    }
    return out


def openai_embedding_response_to_ollama(
    body: Mapping[str, Any], served: str, legacy: bool, elapsed_ns: int = 0
) -> JsonDict:
    vectors = [item.get("embedding", []) for item in body.get("data") or []]
    if legacy:
        return {"embedding": vectors[0] if vectors else []}
    usage = body.get("usage") or {}
    return {
        "model": served,
        "embeddings": vectors,
        "total_duration": elapsed_ns,
        "load_duration": 0,
        "prompt_eval_count": _count(usage.get("prompt_tokens")),
    }
