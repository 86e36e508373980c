"""Stream framing: SSE (OpenAI, TGI) and NDJSON (Ollama) decoders and encoders. Pure.

Decoders take raw byte chunks as they arrive from the backend and return complete event
payloads; nothing waits for more data than one event needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelops.router.reasoning import ThinkSplitter

SSE_DONE = b"[DONE]"


class SseDecoder:
    """Returns the `data:` payload of each complete event (`[DONE]` included)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        payloads: list[bytes] = []
        while True:
            index = self._buffer.find(b"\n")
            if index < 0:
                return payloads
            line = self._buffer[:index].rstrip(b"\r")
            self._buffer = self._buffer[index + 1 :]
            if line.startswith(b"data:"):
                payloads.append(line[5:].strip())


class NdjsonDecoder:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        if b"\n" not in self._buffer:
            return []
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line for line in lines if line.strip()]

    def flush(self) -> list[bytes]:
        rest, self._buffer = self._buffer, b""
        return [rest] if rest.strip() else []


def dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows the escape "\ud800", UTF-8 cannot hold it): keep it as
        # the escape it came in as, and let the runtime judge the text.
        return json.dumps(obj, separators=(",", ":")).encode()


def sse_event(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def ndjson_line(obj: Any) -> bytes:
    return dumps(obj) + b"\n"


SSE_DONE_EVENT = b"data: [DONE]\n\n"


class ChunkReasoningSplitter:
    """Moves `<think>` text in OpenAI chat chunks' `delta.content` to `delta.reasoning_content`."""

    def __init__(self) -> None:
        self._splitter = ThinkSplitter()

    def apply(self, chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            content = delta.get("content")
            if content:
                reasoning, text = self._splitter.feed(content)
                if choice.get("finish_reason"):
                    tail_reasoning, tail_text = self._splitter.flush()
                    reasoning += tail_reasoning
                    text += tail_text
                delta["content"] = text
                if reasoning:
                    delta["reasoning_content"] = delta.get("reasoning_content", "") + reasoning
        return chunk


def rename_model(obj: Mapping[str, Any], served: str) -> dict[str, Any]:
    out = dict(obj)
    if "model" in out:
        out["model"] = served
    return out
