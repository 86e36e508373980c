"""Translation between the OpenAI API (our canonical form) and Ollama's API. Pure functions.

Requests from any client are first turned into OpenAI-shaped dicts; a backend that speaks
Ollama gets them translated here, and its answers come back as OpenAI-shaped dicts that the
client-side adapter shapes for the client. Option names follow `OPTION_TABLE`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modelops.router.reasoning import ThinkJoiner

JsonDict = dict[str, Any]

# (OpenAI request field, Ollama `options` field)
OPTION_TABLE: tuple[tuple[str, str], ...] = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
    ("max_tokens", "num_predict"),
    ("stop", "stop"),
)
# Ollama done_reason -> OpenAI finish_reason (anything else maps to "stop")
DONE_TO_FINISH: Mapping[str, str] = {"stop": "stop", "length": "length", "unload": "stop"}
FINISH_TO_DONE: Mapping[str, str] = {"stop": "stop", "length": "length", "tool_calls": "stop"}


class TranslationError(ValueError):
    """The request cannot be expressed for the other API; becomes a 400."""


def ollama_timestamp(now: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- Ollama client -> canonical


def _openai_sampling_from_ollama(body: Mapping[str, Any]) -> JsonDict:
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise TranslationError("'options' must be an object")
    out: JsonDict = {}
    for openai_name, ollama_name in OPTION_TABLE:
        if options.get(ollama_name) is not None:
            out[openai_name] = options[ollama_name]
    if out.get("max_tokens") is not None and out["max_tokens"] < 0:
        del out["max_tokens"]  # Ollama's -1 means "until done"
    fmt = body.get("format")
    if fmt == "json":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, Mapping):
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": dict(fmt)},
        }
    elif fmt not in (None, ""):
        raise TranslationError("'format' must be \"json\" or a JSON schema object")
    out["stream"] = bool(body.get("stream", True))  # Ollama streams unless told not to
    if out["stream"]:
        out["stream_options"] = {"include_usage": True}
    return out


def _openai_message_from_ollama(message: Any) -> JsonDict:
    if not isinstance(message, Mapping) or "role" not in message:
        raise TranslationError("each message needs a 'role' and 'content'")
    content = message.get("content") or ""
    images = message.get("images") or []
    out: JsonDict = {"role": message["role"]}
    if images:
        parts: list[JsonDict] = [{"type": "text", "text": content}]
        parts += [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}
            for image in images
        ]
        out["content"] = parts
    else:
        out["content"] = content
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": json.dumps(call["function"].get("arguments", {})),
                },
            }
            for index, call in enumerate(message["tool_calls"])
        ]
    return out


def ollama_chat_to_openai(body: Mapping[str, Any]) -> JsonDict:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise TranslationError("'messages' must be a list")
    out: JsonDict = {"model": body.get("model"), "messages": []}
    out["messages"] = [_openai_message_from_ollama(m) for m in messages]
    out.update(_openai_sampling_from_ollama(body))
    if body.get("tools"):
        out["tools"] = body["tools"]
    return out


def ollama_generate_to_openai(body: Mapping[str, Any]) -> JsonDict:
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise TranslationError("'prompt' must be a string")
    system = body.get("system")
    if system:
        prompt = f"{system}\n\n{prompt}"
    out: JsonDict = {"model": body.get("model"), "prompt": prompt}
    out.update(_openai_sampling_from_ollama(body))
    return out


def ollama_embed_to_openai(body: Mapping[str, Any], legacy: bool) -> JsonDict:
    """`/api/embed` takes `input` (string or list); the legacy `/api/embeddings` takes `prompt`."""
    value = body.get("prompt") if legacy else body.get("input")
    if isinstance(value, str) or (
        not legacy and isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        pass
    else:
        field = "prompt" if legacy else "input"
        raise TranslationError(f"'{field}' must be a string or a list of strings")
    return {"model": body.get("model"), "input": value}


# ---------------------------------------------------------------- canonical -> Ollama backend


def _ollama_options_from_openai(body: Mapping[str, Any]) -> JsonDict:
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


def _ollama_format_from_openai(body: Mapping[str, Any]) -> Any:
    response_format = body.get("response_format")
    if not isinstance(response_format, Mapping):
        return None
    if response_format.get("type") == "json_object":
        return "json"
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, Mapping) else "json"
    return None


def _ollama_message_from_openai(message: Any) -> JsonDict:
    if not isinstance(message, Mapping) or "role" not in message:
        raise TranslationError("each message needs a 'role'")
    content = message.get("content")
    out: JsonDict = {"role": message["role"]}
    if isinstance(content, list):
        texts: list[str] = []
        images: list[str] = []
        for part in content:
            if not isinstance(part, Mapping):
                raise TranslationError("content parts must be objects")
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                if not url.startswith("data:"):
                    raise TranslationError("Ollama backends take images only as data: URLs")
                images.append(url.partition(",")[2])
        out["content"] = "".join(texts)
        if images:
            out["images"] = images
    else:
        out["content"] = content or ""
    if message.get("tool_calls"):
        calls = []
        for call in message["tool_calls"]:
            arguments = call.get("function", {}).get("arguments") or "{}"
            calls.append(
                {
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": json.loads(arguments)
                        if isinstance(arguments, str)
                        else arguments,
                    }
                }
            )
        out["tool_calls"] = calls
    return out


def _ollama_common(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    out: JsonDict = {"model": backend_model, "stream": bool(body.get("stream", False))}
    options = _ollama_options_from_openai(body)
    if options:
        out["options"] = options
    fmt = _ollama_format_from_openai(body)
    if fmt is not None:
        out["format"] = fmt
    return out


def openai_chat_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    out = _ollama_common(body, backend_model)
    out["messages"] = [_ollama_message_from_openai(m) for m in body.get("messages") or []]
    if body.get("tools"):
        out["tools"] = body["tools"]
    return out


def openai_completion_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise TranslationError("Ollama backends take exactly one prompt string")
        prompt = prompt[0]
    out = _ollama_common(body, backend_model)
    out["prompt"] = prompt
    return out


def openai_embedding_to_ollama(body: Mapping[str, Any], backend_model: str) -> JsonDict:
    return {"model": backend_model, "input": body.get("input")}


# ---------------------------------------------------------------- Ollama backend -> canonical


def _usage(prompt_tokens: int, completion_tokens: int) -> JsonDict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _usage_from_ollama(body: Mapping[str, Any]) -> JsonDict:
    return _usage(int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0))


def _finish_from_ollama(body: Mapping[str, Any]) -> str:
    return DONE_TO_FINISH.get(str(body.get("done_reason") or "stop"), "stop")


def _openai_message_from_ollama_answer(message: Mapping[str, Any]) -> JsonDict:
    out: JsonDict = {"role": "assistant", "content": message.get("content", "")}
    if message.get("thinking"):
        out["reasoning_content"] = message["thinking"]
    if message.get("tool_calls"):
        out["tool_calls"] = _openai_message_from_ollama(
            {"role": "assistant", "tool_calls": message["tool_calls"]}
        )["tool_calls"]
    return out


def ollama_chat_response_to_openai(
    body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    message = _openai_message_from_ollama_answer(body.get("message") or {})
    finish = "tool_calls" if message.get("tool_calls") else _finish_from_ollama(body)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage_from_ollama(body),
    }


def ollama_generate_response_to_openai(
    body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    text = str(body.get("response", ""))
    if body.get("thinking"):
        text = f"<think>{body['thinking']}</think>{text}"
    return {
        "id": request_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": served,
        "choices": [{"index": 0, "text": text, "finish_reason": _finish_from_ollama(body)}],
        "usage": _usage_from_ollama(body),
    }


def ollama_embed_response_to_openai(body: Mapping[str, Any], served: str) -> JsonDict:
    embeddings = body.get("embeddings")
    if embeddings is None and "embedding" in body:
        embeddings = [body["embedding"]]
    tokens = int(body.get("prompt_eval_count") or 0)
    return {
        "object": "list",
        "model": served,
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(embeddings or [])
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

    def _chunk(self, delta_or_text: JsonDict | str, finish: str | None) -> JsonDict:
        if self.chat:
            choice: JsonDict = {"index": 0, "delta": delta_or_text, "finish_reason": finish}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": delta_or_text, "finish_reason": finish}
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
            message = body.get("message") or {}
            delta: JsonDict = {}
            if not self._sent_role:
                delta["role"] = "assistant"
                self._sent_role = True
            if message.get("thinking"):
                delta["reasoning_content"] = message["thinking"]
            delta["content"] = message.get("content", "")
            if message.get("tool_calls"):
                delta["tool_calls"] = [
                    {"index": i, **call}
                    for i, call in enumerate(
                        _openai_message_from_ollama_answer(message).get("tool_calls", [])
                    )
                ]
                finish = "tool_calls" if finish else None
            chunks.append(self._chunk(delta, finish))
        else:
            text = str(body.get("response", ""))
            if body.get("thinking"):
                text = f"<think>{body['thinking']}</think>{text}"
            chunks.append(self._chunk(text, finish))
        if body.get("done") and self.include_usage:
            usage_chunk = self._chunk({} if self.chat else "", None)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = _usage_from_ollama(body)
            chunks.append(usage_chunk)
        return chunks


class UpstreamStreamError(RuntimeError):
    """The backend reported an error inside a stream."""


# ---------------------------------------------------------------- canonical -> Ollama client


def _ollama_done_fields(usage: Mapping[str, Any] | None, elapsed_ns: int) -> JsonDict:
    usage = usage or {}
    return {
        "total_duration": elapsed_ns,
        "load_duration": 0,
        "prompt_eval_count": int(usage.get("prompt_tokens") or 0),
        "prompt_eval_duration": 0,
        "eval_count": int(usage.get("completion_tokens") or 0),
        "eval_duration": elapsed_ns,
    }


def _ollama_tool_calls(message: Mapping[str, Any]) -> list[JsonDict]:
    calls: list[JsonDict] = _ollama_message_from_openai({"role": "assistant", **message}).get(
        "tool_calls", []
    )
    return calls


def openai_chat_response_to_ollama(
    body: Mapping[str, Any], served: str, elapsed_ns: int
) -> JsonDict:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = ThinkJoiner().feed(message.get("reasoning_content"), message.get("content") or "")
    if message.get("reasoning_content") and not message.get("content"):
        content += "</think>"
    out_message: JsonDict = {"role": "assistant", "content": content}
    if message.get("tool_calls"):
        out_message["tool_calls"] = _ollama_tool_calls(message)
    return {
        "model": served,
        "created_at": ollama_timestamp(),
        "message": out_message,
        "done": True,
        "done_reason": FINISH_TO_DONE.get(str(choice.get("finish_reason") or "stop"), "stop"),
        **_ollama_done_fields(body.get("usage"), elapsed_ns),
    }


def openai_completion_response_to_ollama(
    body: Mapping[str, Any], served: str, elapsed_ns: int
) -> JsonDict:
    choice = (body.get("choices") or [{}])[0]
    return {
        "model": served,
        "created_at": ollama_timestamp(),
        "response": choice.get("text", ""),
        "done": True,
        "done_reason": FINISH_TO_DONE.get(str(choice.get("finish_reason") or "stop"), "stop"),
        "context": [],
        **_ollama_done_fields(body.get("usage"), elapsed_ns),
    }


def openai_embedding_response_to_ollama(
    body: Mapping[str, Any], served: str, legacy: bool
) -> JsonDict:
    vectors = [item.get("embedding", []) for item in body.get("data") or []]
    if legacy:
        return {"embedding": vectors[0] if vectors else []}
    usage = body.get("usage") or {}
    return {
        "model": served,
        "embeddings": vectors,
        "prompt_eval_count": int(usage.get("prompt_tokens") or 0),
    }


class OpenAIStreamToOllama:
    """OpenAI chunk dicts -> Ollama NDJSON objects; reasoning is put back inline as `<think>`."""

    def __init__(self, served: str, chat: bool, started_ns: int) -> None:
        self.served = served
        self.chat = chat
        self.started_ns = started_ns
        self._joiner = ThinkJoiner()
        self._done_reason: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self.finished = False

    def _line(self, text: str, done: bool) -> JsonDict:
        out: JsonDict = {"model": self.served, "created_at": ollama_timestamp()}
        if self.chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        out["done"] = done
        return out

    def translate(self, chunk: Mapping[str, Any]) -> list[JsonDict]:
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, Mapping) else error
            raise UpstreamStreamError(str(message))
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        lines: list[JsonDict] = []
        for choice in chunk.get("choices") or []:
            if self.chat:
                delta = choice.get("delta") or {}
                text = self._joiner.feed(delta.get("reasoning_content"), delta.get("content"))
            else:
                text = str(choice.get("text") or "")
            if text:
                lines.append(self._line(text, done=False))
            if choice.get("finish_reason"):
                self._done_reason = FINISH_TO_DONE.get(str(choice["finish_reason"]), "stop")
        if self._done_reason is not None and self._usage is not None:
            lines.extend(self.finish())
        return lines

    def finish(self, elapsed_ns: int | None = None) -> list[JsonDict]:
        """The closing `done: true` line (once), also when the backend never said why it ended."""
        if self.finished:
            return []
        self.finished = True
        elapsed = elapsed_ns if elapsed_ns is not None else time.monotonic_ns() - self.started_ns
        line = self._line(self._joiner.flush(), done=True)
        line["done_reason"] = self._done_reason or "stop"
        line.update(_ollama_done_fields(self._usage, elapsed))
        return [line]
