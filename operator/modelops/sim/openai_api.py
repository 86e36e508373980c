"""OpenAI-compatible endpoints, shared by both personalities (vLLM serves them natively, Ollama
under /v1). What differs between the two (error bodies, model ownership, context-length
checks) comes in through a `Flavour`."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from modelops.sim.engine import Engine, Generation
from modelops.sim.server import JSON, Request, Response, StreamResponse

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A request the runtime refuses; `kind` is the runtime's error class name."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Flavour:
    owned_by: str
    error_body: Callable[[ApiError], JsonObject]
    unknown_model: Callable[[str], ApiError]
    model_required: bool
    enforce_max_model_len: bool


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value).encode())


def parse_json_object(request: Request) -> JsonObject:
    """The request body as a JSON object, or ApiError(400) shaped like a validation error."""
    if not request.body:
        raise ApiError(400, "Field required: request body is missing")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"JSON decode error: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Input should be a valid dictionary or object")
    return body


def _message_text(messages: list[Any]) -> str:
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise ApiError(400, "each message must be an object with a 'role'")
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "\n".join(parts)


def _positive_int(body: JsonObject, *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ApiError(400, f"{name} must be at least 1, got {value!r}.")
        return value
    return None


def _response_format(body: JsonObject) -> tuple[bool, JsonObject | None]:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return False, None
    kind = fmt.get("type")
    if kind == "json_object":
        return True, None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return True, schema if isinstance(schema, dict) else None
    if kind not in (None, "text"):
        raise ApiError(400, f"unsupported response_format type {kind!r}")
    return False, None


def _prompts(prompt: Any) -> list[str]:
    """`prompt` as vLLM accepts it: a string, token ids, or a batch of either."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, int) for p in prompt):
            return [" ".join(str(p) for p in prompt)]
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompt):
            return [" ".join(str(t) for t in p) for p in prompt]
    raise ApiError(400, "Field required: prompt (a string, token ids, or a list of them)")


def _usage(generation: Generation) -> JsonObject:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        "completion_tokens": generation.completion_tokens,
        "prompt_tokens_details": None,
    }


def _sse(value: JsonObject) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


class OpenAIRoutes:
    def __init__(self, engine: Engine, flavour: Flavour) -> None:
        self.engine = engine
        self.flavour = flavour
        self._created = int(time.time())

    def error(self, error: ApiError) -> Response:
        return json_response(self.flavour.error_body(error), error.status)

    def _model(self, body: JsonObject) -> str:
        name = body.get("model")
        if name is None:
            if self.flavour.model_required:
                raise ApiError(400, "model is required")
            return self.engine.config.models[0]  # vLLM falls back to its first served name
        resolved = self.engine.resolve_model(name)
        if resolved is None:
            raise self.flavour.unknown_model(str(name))
        return resolved

    def _check_context(self, prompt_tokens: int, max_tokens: int | None) -> None:
        if not self.flavour.enforce_max_model_len:
            return
        limit = self.engine.config.max_model_len
        if prompt_tokens >= limit:
            raise ApiError(
                400,
                f"This model's maximum context length is {limit} tokens. However, your "
                f"request has {prompt_tokens} input tokens. Please reduce the length of the "
                "input messages.",
            )
        if max_tokens is not None and prompt_tokens + max_tokens > limit:
            raise ApiError(
                400,
                f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This "
                f"model's maximum context length is {limit} tokens and your request has "
                f"{prompt_tokens} input tokens ({max_tokens} > {limit} - {prompt_tokens}).",
            )

    def _fault(self) -> None:
        if self.engine.should_fail():
            raise ApiError(500, "simulated internal server error", "InternalServerError")

    async def models(self, request: Request) -> Response:
        data = []
        for name in self.engine.config.models:
            entry: JsonObject = {
                "id": name,
                "object": "model",
                "created": self._created,
                "owned_by": self.flavour.owned_by,
            }
            if self.flavour.enforce_max_model_len:
                entry |= {
                    "root": self.engine.config.models[0],
                    "parent": None,
                    "max_model_len": self.engine.config.max_model_len,
                }
            data.append(entry)
        return json_response({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response | StreamResponse:
        try:
            body = parse_json_object(request)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "Field required: messages")
            model = self._model(body)
            max_tokens = _positive_int(body, "max_completion_tokens", "max_tokens")
            json_mode, schema = _response_format(body)
            generation = self.engine.plan(_message_text(messages), max_tokens, json_mode, schema)
            self._check_context(generation.prompt_tokens, max_tokens)
            self._fault()
        except ApiError as error:
            return self.error(error)
        request_id = "chatcmpl-" + os.urandom(16).hex()
        created = int(time.time())
        if body.get("stream") is True:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = self._chat_chunks(request_id, created, model, generation, usage)
            return StreamResponse(chunks)
        await self.engine.complete(generation)
        message = {"role": "assistant", "content": generation.text, "tool_calls": []}
        return json_response(
            {
                "id": request_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                        "stop_reason": None,
                    }
                ],
                "usage": _usage(generation),
                "prompt_logprobs": None,
            }
        )

    async def _chat_chunks(
        self, request_id: str, created: int, model: str, generation: Generation, usage: bool
    ) -> AsyncIterator[bytes]:
        def chunk(delta: JsonObject, finish: str | None) -> bytes:
            value: JsonObject = {
                "id": request_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if usage:
                value["usage"] = None
            return _sse(value)

        yield chunk({"role": "assistant", "content": ""}, None)
        async with aclosing(self.engine.stream(generation)) as tokens:
            async for token in tokens:
                yield chunk({"content": token}, None)
        yield chunk({"content": ""}, generation.finish_reason)
        if usage:
            yield _sse(
                {
                    "id": request_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(generation),
                }
            )
        yield b"data: [DONE]\n\n"

    async def completions(self, request: Request) -> Response | StreamResponse:
        try:
            body = parse_json_object(request)
            prompts = _prompts(body.get("prompt"))
            model = self._model(body)
            max_tokens = _positive_int(body, "max_tokens")
            if max_tokens is None:
                max_tokens = 16  # the OpenAI completions API default, which vLLM follows
            generations = [self.engine.plan(prompt, max_tokens) for prompt in prompts]
            for generation in generations:
                self._check_context(generation.prompt_tokens, max_tokens)
            stream = body.get("stream") is True
            if stream and len(generations) > 1:
                raise ApiError(400, "the simulator streams one prompt per request")
            self._fault()
        except ApiError as error:
            return self.error(error)
        request_id = "cmpl-" + os.urandom(16).hex()
        created = int(time.time())
        if stream:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = self._completion_chunks(request_id, created, model, generations[0], usage)
            return StreamResponse(chunks)
        # A batch of prompts runs in parallel, one scheduler slot each, as in vLLM.
        await asyncio.gather(*(self.engine.complete(g) for g in generations))
        prompt_tokens = sum(g.prompt_tokens for g in generations)
        completion_tokens = sum(g.completion_tokens for g in generations)
        return json_response(
            {
                "id": request_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": index,
                        "text": generation.text,
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                        "stop_reason": None,
                    }
                    for index, generation in enumerate(generations)
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "completion_tokens": completion_tokens,
                    "prompt_tokens_details": None,
                },
            }
        )

    async def _completion_chunks(
        self, request_id: str, created: int, model: str, generation: Generation, usage: bool
    ) -> AsyncIterator[bytes]:
        def chunk(text: str, finish: str | None) -> bytes:
            value: JsonObject = {
                "id": request_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
            }
            if usage:
                value["usage"] = None
            return _sse(value)

        last = len(generation.tokens) - 1
        index = 0
        async with aclosing(self.engine.stream(generation)) as tokens:
            async for token in tokens:
                yield chunk(token, generation.finish_reason if index == last else None)
                index += 1
        if usage:
            yield _sse(
                {
                    "id": request_id,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(generation),
                }
            )
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        try:
            body = parse_json_object(request)
            inputs = body.get("input")
            if isinstance(inputs, str):
                inputs = [inputs]
            if not isinstance(inputs, list) or not inputs:
                raise ApiError(400, "Field required: input")
            texts = [item if isinstance(item, str) else json.dumps(item) for item in inputs]
            model = self._model(body)
            encoding = body.get("encoding_format") or "float"
            if encoding not in ("float", "base64"):
                raise ApiError(400, f"unsupported encoding_format {encoding!r}")
            self._fault()
        except ApiError as error:
            return self.error(error)
        from modelops.sim import textgen

        seed = self.engine.config.seed
        data = []
        for index, text in enumerate(texts):
            vector = textgen.embedding(text, seed)
            data.append(
                {
                    "index": index,
                    "object": "embedding",
                    "embedding": _base64_floats(vector) if encoding == "base64" else vector,
                }
            )
        prompt_tokens = sum(textgen.count_tokens(text) for text in texts)
        return json_response(
            {
                "id": "embd-" + os.urandom(16).hex(),
                "object": "list",
                "created": int(time.time()),
                "model": model,
                "data": data,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "total_tokens": prompt_tokens,
                    "completion_tokens": 0,
                    "prompt_tokens_details": None,
                },
            }
        )


def _base64_floats(vector: list[float]) -> str:
    """The OpenAI SDK asks for base64 by default: little-endian float32, base64-encoded."""
    import base64
    import struct

    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


__all__ = ["JSON", "ApiError", "Flavour", "OpenAIRoutes", "json_response", "parse_json_object"]
