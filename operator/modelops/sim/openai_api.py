"""OpenAI-compatible endpoints, shared by both personalities (vLLM serves them natively, Ollama
under /v1). What differs between the two (error bodies, model ownership, context-length
checks) comes in through a `Flavour`."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelops.sim import sampling, textgen
from modelops.sim.engine import Engine, Generation
from modelops.sim.openai_chunks import chat_chunks, completion_chunks
from modelops.sim.sampling import ApiError, Sampling, ToolCall
from modelops.sim.server import JSON, Request, Response, StreamResponse

JsonObject = dict[str, Any]


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
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"messages.{index}: each message must be an object with a 'role'")
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise ApiError(400, f"messages.{index}.content: parts need a 'type'")
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
        elif content is not None:
            raise ApiError(400, f"messages.{index}.content: Input should be a valid string")
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


def _usage(generations: list[Generation], choices_per_prompt: int = 1) -> JsonObject:
    # vLLM counts each prompt once, and the completion tokens of every choice.
    prompt_tokens = sum(g.prompt_tokens for g in generations[::choices_per_prompt])
    completion_tokens = sum(g.completion_tokens for g in generations)
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
        "prompt_tokens_details": None,
    }


def _chat_choice(
    index: int, generation: Generation, wanted: Sampling, call: ToolCall | None, seed: int
) -> JsonObject:
    message: JsonObject = {"role": "assistant", "content": generation.text, "refusal": None}
    finish = generation.finish_reason
    if call is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": f"chatcmpl-tool-{index}{os.urandom(6).hex()}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
        finish = "tool_calls"
    else:
        message["tool_calls"] = []
    logprobs = None
    if wanted.logprobs is not None and call is None:
        entries = sampling.token_logprobs(generation.tokens, wanted.logprobs, seed)
        logprobs = {"content": entries, "refusal": None}
    return {
        "index": index,
        "message": message,
        "logprobs": logprobs,
        "finish_reason": finish,
        "stop_reason": generation.stop_reason,
    }


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

    def _sampling(
        self, body: JsonObject, messages: list[Any] | None, default_max: int | None
    ) -> Sampling:
        sampling.check_openai(body)
        max_tokens = _positive_int(body, "max_completion_tokens", "max_tokens")
        json_mode, schema = _response_format(body)
        logprobs: int | None = None
        if messages is not None and body.get("logprobs") is True:
            logprobs = int(body.get("top_logprobs") or 0)
        elif messages is None and sampling._is_int(body.get("logprobs")):
            logprobs = int(body["logprobs"])
        tool = sampling.due_tool(body, messages) if messages is not None else None
        return Sampling(
            max_tokens=max_tokens if max_tokens is not None else default_max,
            stop=sampling.stop_list(body.get("stop")),
            n=int(body.get("n") or 1),
            logprobs=logprobs,
            json_mode=json_mode,
            schema=schema,
            tool=tool,
        )

    def _generations(self, prompt: str, wanted: Sampling) -> list[Generation]:
        return [
            self.engine.plan(
                prompt, wanted.max_tokens, wanted.json_mode, wanted.schema, wanted.stop, variant
            )
            for variant in range(wanted.n)
        ]

    async def chat(self, request: Request) -> Response | StreamResponse:
        try:
            body = parse_json_object(request)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise ApiError(400, "Field required: messages")
            model = self._model(body)
            prompt = _message_text(messages)
            wanted = self._sampling(body, messages, None)
            generations = self._generations(prompt, wanted)
            self._check_context(generations[0].prompt_tokens, wanted.max_tokens)
            self._fault()
        except ApiError as error:
            return self.error(error)
        seed = self.engine.config.seed
        call = sampling.tool_call(wanted.tool, prompt, seed) if wanted.tool else None
        request_id = "chatcmpl-" + os.urandom(16).hex()
        created = int(time.time())
        head = {"id": request_id, "created": created, "model": model}
        if body.get("stream") is True:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = chat_chunks(self.engine, head, generations, wanted, call, usage)
            return StreamResponse(chunks)
        await asyncio.gather(*(self.engine.complete(g) for g in generations))
        choices = [
            _chat_choice(index, generation, wanted, call, seed)
            for index, generation in enumerate(generations)
        ]
        return json_response(
            {
                "id": request_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": _usage(generations),
                "prompt_logprobs": None,
            }
        )

    async def completions(self, request: Request) -> Response | StreamResponse:
        try:
            body = parse_json_object(request)
            prompts = _prompts(body.get("prompt"))
            model = self._model(body)
            # 16: the OpenAI completions API default, which vLLM follows
            wanted = self._sampling(body, None, 16)
            generations = [g for prompt in prompts for g in self._generations(prompt, wanted)]
            for generation in generations:
                self._check_context(generation.prompt_tokens, wanted.max_tokens)
            stream = body.get("stream") is True
            if stream and len(generations) > 1:
                raise ApiError(400, "the simulator streams one prompt and one choice per request")
            self._fault()
        except ApiError as error:
            return self.error(error)
        request_id = "cmpl-" + os.urandom(16).hex()
        created = int(time.time())
        head = {"id": request_id, "created": created, "model": model}
        echo = prompts[0] if body.get("echo") is True and len(prompts) == 1 else ""
        if stream:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            return StreamResponse(
                completion_chunks(self.engine, head, generations[0], wanted, usage, echo)
            )
        # A batch of prompts runs in parallel, one scheduler slot each, as in vLLM.
        await asyncio.gather(*(self.engine.complete(g) for g in generations))
        seed = self.engine.config.seed
        return json_response(
            {
                "id": request_id,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": index,
                        "text": echo + generation.text,
                        "logprobs": sampling.completion_logprobs(
                            generation.tokens, wanted.logprobs, seed
                        )
                        if wanted.logprobs is not None
                        else None,
                        "finish_reason": generation.finish_reason,
                        "stop_reason": generation.stop_reason,
                    }
                    for index, generation in enumerate(generations)
                ],
                "usage": _usage(generations, wanted.n),
            }
        )

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
            sampling.check_types(body, sampling.OPENAI_FIELD_TYPES)
            dimensions = body.get("dimensions")
            if dimensions is not None and not 1 <= dimensions <= textgen.EMBEDDING_DIMENSIONS:
                raise ApiError(400, f"dimensions must be in [1, {textgen.EMBEDDING_DIMENSIONS}]")
            encoding = body.get("encoding_format") or "float"
            if encoding not in ("float", "base64"):
                raise ApiError(400, f"unsupported encoding_format {encoding!r}")
            self._fault()
        except ApiError as error:
            return self.error(error)
        seed = self.engine.config.seed
        data = []
        for index, text in enumerate(texts):
            vector = textgen.embedding(text, seed, dimensions or textgen.EMBEDDING_DIMENSIONS)
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
