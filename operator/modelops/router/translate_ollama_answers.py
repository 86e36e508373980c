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

from modelops.router.reasoning import ThinkJoiner, ThinkSplitter, split_think
from modelops.router.translate_common import (
    JsonDict,
    UpstreamStreamError,
    as_object,
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


def _usage_from_ollama(body: Mapping[str, Any]) -> JsonDict:
    return _usage(_count(body.get("prompt_eval_count")), _count(body.get("eval_count")))


def _finish_from_ollama(body: Mapping[str, Any]) -> str:
    return DONE_TO_FINISH.get(str(body.get("done_reason") or "stop"), "stop")


def _openai_tool_calls(calls: Any, id_prefix: str, start: int = 0) -> list[JsonDict]:
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
    calls = _openai_tool_calls(message.get("tool_calls"), id_prefix)
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
    finish = "tool_calls" if message.get("tool_calls") else _finish_from_ollama(body)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage_from_ollama(body),
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
            {"index": 0, "text": text, "logprobs": None, "finish_reason": _finish_from_ollama(body)}
        ],
        "usage": _usage_from_ollama(body),
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


class OllamaStreamToOpenAI:
    """Ollama NDJSON stream objects -> OpenAI chunk dicts (chat or completion)."""

    def __init__(self, served: str, request_id: str, chat: bool, include_usage: bool) -> None:
        self.served = served
        self.request_id = request_id
        self.chat = chat
        self.include_usage = include_usage
        self.created = int(time.time())
        self._sent_role = False
        self._tool_calls = 0

    def _chunk(self, delta_or_text: JsonDict | str, finish: str | None) -> JsonDict:
        if self.chat:
            choice: JsonDict = {
                "index": 0,
                "delta": delta_or_text,
                "logprobs": None,
                "finish_reason": finish,
            }
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": delta_or_text, "logprobs": None, "finish_reason": finish}
            kind = "text_completion"
        return {
            "id": self.request_id,
            "object": kind,
            "created": self.created,
            "model": self.served,
            "choices": [choice],
        }

    def translate(self, body: Mapping[str, Any]) -> list[JsonDict]:
        if body.get("error"):
            raise UpstreamStreamError(str(body["error"]))
        finish = _finish_from_ollama(body) if body.get("done") else None
        chunks: list[JsonDict] = []
        if self.chat:
            raw_message = body.get("message")
            message = raw_message if isinstance(raw_message, Mapping) else {}
            delta: JsonDict = {}
            if not self._sent_role:
                delta["role"] = "assistant"
                self._sent_role = True
            if message.get("thinking"):
                delta["reasoning_content"] = str(message["thinking"])
            delta["content"] = str(message.get("content") or "")
            calls = _openai_tool_calls(
                message.get("tool_calls"), self.request_id[-8:], self._tool_calls
            )
            if calls:
                delta["tool_calls"] = [
                    {"index": self._tool_calls + i, **call} for i, call in enumerate(calls)
                ]
                self._tool_calls += len(calls)
            if finish and self._tool_calls:
                finish = "tool_calls"
            chunks.append(self._chunk(delta, finish))
        else:
            text = str(body.get("response") or "")
            if body.get("thinking"):
                text = f"<think>{body['thinking']}</think>{text}"
            chunks.append(self._chunk(text, finish))
        if body.get("done") and self.include_usage:
            usage_chunk = self._chunk({} if self.chat else "", None)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage_from_ollama(body)
            chunks.append(usage_chunk)
        return chunks


# ---------------------------------------------------------------- canonical -> Ollama client


def _done_fields(usage: Any, elapsed_ns: int, first_token_ns: int | None = None) -> JsonDict:
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


def _ollama_arguments(arguments: Any) -> Any:
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
                        "arguments": _ollama_arguments(function.get("arguments")),
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
        **_done_fields(body.get("usage"), elapsed_ns),
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
        **_done_fields(body.get("usage"), elapsed_ns),
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


class OpenAIStreamToOllama:
    """OpenAI chunk dicts -> Ollama NDJSON objects, reasoning placed as the client asked."""

    def __init__(self, served: str, chat: bool, started_ns: int, think: Any = None) -> None:
        self.served = served
        self.chat = chat
        self.started_ns = started_ns
        self.think = think
        self._joiner = ThinkJoiner()
        self._splitter = ThinkSplitter()
        self._done_reason: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._first_token_ns: int | None = None
        self._calls: dict[int, JsonDict] = {}
        self.finished = False

    def _line(self, text: str, done: bool, thinking: str = "") -> JsonDict:
        out: JsonDict = {"model": self.served, "created_at": ollama_timestamp()}
        if self.chat:
            out["message"] = {"role": "assistant", "content": text}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = text
            if thinking:
                out["thinking"] = thinking
        out["done"] = done
        return out

    def _pieces(self, reasoning: Any, content: Any) -> tuple[str, str]:
        reasoning = str(reasoning) if reasoning else ""
        content = str(content) if content else ""
        if self.think is None:
            return "", self._joiner.feed(reasoning, content)
        split_reasoning, content = self._splitter.feed(content)
        reasoning += split_reasoning
        return ("" if self.think is False else reasoning), content

    def _collect_calls(self, deltas: Any) -> None:
        for delta in deltas if isinstance(deltas, list) else []:
            if not isinstance(delta, Mapping):
                continue
            index = delta.get("index")
            if not isinstance(index, int):
                index = len(self._calls)
            call = self._calls.setdefault(index, {"name": "", "arguments": ""})
            function = as_object(delta.get("function"))
            if function.get("name"):
                call["name"] += str(function["name"])
            arguments = function.get("arguments")
            if arguments:
                call["arguments"] += (
                    arguments if isinstance(arguments, str) else json.dumps(arguments)
                )

    def translate(self, chunk: Mapping[str, Any]) -> list[JsonDict]:
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, Mapping) else error
            raise UpstreamStreamError(str(message))
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        lines: list[JsonDict] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, Mapping):
                continue
            if self.chat:
                delta = as_object(choice.get("delta"))
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                thinking, text = self._pieces(reasoning, delta.get("content"))
                self._collect_calls(delta.get("tool_calls"))
            else:
                thinking, text = self._pieces(None, choice.get("text"))
            if text or thinking:
                if self._first_token_ns is None:
                    self._first_token_ns = time.monotonic_ns() - self.started_ns
                lines.append(self._line(text, False, thinking))
            if choice.get("finish_reason"):
                self._done_reason = FINISH_TO_DONE.get(str(choice["finish_reason"]), "stop")
                lines.extend(self._tool_call_line())
        if self._done_reason is not None and self._usage is not None:
            lines.extend(self.finish())
        return lines

    def _tool_call_line(self) -> list[JsonDict]:
        if not self._calls:
            return []
        calls = [
            {"function": {"name": c["name"], "arguments": _ollama_arguments(c["arguments"])}}
            for _, c in sorted(self._calls.items())
        ]
        self._calls = {}
        line = self._line("", False)
        line["message"]["tool_calls"] = calls
        return [line]

    def finish(self, elapsed_ns: int | None = None) -> list[JsonDict]:
        """The closing `done: true` line (once), also when the backend never said why it ended."""
        if self.finished:
            return []
        self.finished = True
        lines = self._tool_call_line()
        elapsed = elapsed_ns if elapsed_ns is not None else time.monotonic_ns() - self.started_ns
        if self.think is None:
            tail_thinking, tail = "", self._joiner.flush()
        else:
            tail_thinking, tail = self._splitter.flush()
        line = self._line(tail, done=True, thinking="" if self.think is False else tail_thinking)
        line["done_reason"] = self._done_reason or "stop"
        line.update(_done_fields(self._usage, elapsed, self._first_token_ns))
        return [*lines, line]
