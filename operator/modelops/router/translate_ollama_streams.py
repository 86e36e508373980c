"""Streams between Ollama's NDJSON and OpenAI's chunks, both ways. Pure, one object per stream.

`OllamaStreamToOpenAI` gives Ollama's tool calls ids and ends a stream that called tools with
`finish_reason: tool_calls`; `OpenAIStreamToOllama` joins streamed tool-call fragments into the
whole calls Ollama sends, places reasoning as the client asked and measures the durations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from modelops.router.reasoning import ThinkJoiner, ThinkSplitter
from modelops.router.translate_common import (
    JsonDict,
    UpstreamStreamError,
    as_object,
    ollama_timestamp,
)
from modelops.router.translate_ollama_answers import (
    FINISH_TO_DONE,
    done_fields,
    finish_from_ollama,
    ollama_arguments,
    openai_tool_calls,
    usage_from_ollama,
)


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
        finish = finish_from_ollama(body) if body.get("done") else None
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
            calls = openai_tool_calls(
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
            usage_chunk["usage"] = usage_from_ollama(body)
            chunks.append(usage_chunk)
        return chunks


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
            {"function": {"name": c["name"], "arguments": ollama_arguments(c["arguments"])}}
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
        line.update(done_fields(self._usage, elapsed, self._first_token_ns))
        return [*lines, line]
