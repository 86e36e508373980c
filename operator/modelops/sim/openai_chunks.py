"""The SSE streams of the OpenAI endpoints, shaped as vLLM sends them: a role chunk first,
one chunk per token and choice, tool calls as a head chunk (id, name) and argument pieces,
the finish chunk, then the usage chunk when asked and `[DONE]`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from modelops.sim import sampling
from modelops.sim.engine import Engine, Generation
from modelops.sim.sampling import Sampling, ToolCall

JsonObject = dict[str, Any]


def _sse(value: JsonObject) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


def _usage(generations: list[Generation]) -> JsonObject:
    prompt = generations[0].prompt_tokens if generations else 0
    completion = sum(g.completion_tokens for g in generations)
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": None,
    }


async def chat_chunks(
    engine: Engine,
    head: JsonObject,
    generations: list[Generation],
    wanted: Sampling,
    call: ToolCall | None,
    usage: bool,
) -> AsyncIterator[bytes]:
    def chunk(index: int, delta: JsonObject, finish: str | None, logprobs: Any = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        value: JsonObject = {**head, "object": "chat.completion.chunk", "choices": [choice]}
        if usage:
            value["usage"] = None
        return _sse(value)

    seed = engine.config.seed
    for index in range(len(generations)):
        yield chunk(index, {"role": "assistant", "content": ""}, None)
    for index, generation in enumerate(generations):
        if call is not None:
            pieces = [call.arguments[i : i + 8] for i in range(0, len(call.arguments), 8)]
            head_call = {
                "index": 0,
                "id": f"chatcmpl-tool-{index}{seed}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield chunk(index, {"tool_calls": [head_call]}, None)
            for piece in pieces:
                yield chunk(
                    index, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None
                )
            yield chunk(index, {"content": ""}, "tool_calls")
            continue
        async with aclosing(engine.stream(generation)) as tokens:
            position = 0
            async for token in tokens:
                logprobs = None
                if wanted.logprobs is not None:
                    entry = sampling.token_logprobs([token], wanted.logprobs, seed ^ position)
                    logprobs = {"content": entry, "refusal": None}
                yield chunk(index, {"content": token}, None, logprobs)
                position += 1
        yield chunk(index, {"content": ""}, generation.finish_reason)
    if usage:
        yield _sse(
            {**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage(generations)}
        )
    yield b"data: [DONE]\n\n"


async def completion_chunks(
    engine: Engine,
    head: JsonObject,
    generation: Generation,
    wanted: Sampling,
    usage: bool,
    echo: str = "",
) -> AsyncIterator[bytes]:
    def chunk(text: str, finish: str | None, logprobs: Any = None) -> bytes:
        choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = generation.stop_reason
        value: JsonObject = {**head, "object": "text_completion", "choices": [choice]}
        if usage:
            value["usage"] = None
        return _sse(value)

    seed = engine.config.seed
    if echo:
        yield chunk(echo, None)
    last = len(generation.tokens) - 1
    index = 0
    async with aclosing(engine.stream(generation)) as tokens:
        async for token in tokens:
            logprobs = None
            if wanted.logprobs is not None:
                logprobs = sampling.completion_logprobs([token], wanted.logprobs, seed ^ index)
            yield chunk(token, generation.finish_reason if index == last else None, logprobs)
            index += 1
    if last < 0:
        yield chunk("", generation.finish_reason)
    if usage:
        yield _sse(
            {**head, "object": "text_completion", "choices": [], "usage": _usage([generation])}
        )
    yield b"data: [DONE]\n\n"
