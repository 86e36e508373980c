"""Hugging Face TGI client API (`/generate`, `/generate_stream`) <-> canonical OpenAI completions.

Pure functions. TGI requests name no model: the router takes it from `X-Model`/`X-Task` headers
or the config's `defaultModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.router.translate_ollama import JsonDict, TranslationError

# (TGI `parameters` field, OpenAI request field)
PARAMETER_TABLE: tuple[tuple[str, str], ...] = (
    ("max_new_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
    ("stop", "stop"),
    ("frequency_penalty", "frequency_penalty"),
)
FINISH_TO_TGI: Mapping[str, str] = {"stop": "eos_token", "length": "length"}


def tgi_to_openai(body: Mapping[str, Any], stream: bool) -> JsonDict:
    inputs = body.get("inputs")
    if not isinstance(inputs, str):
        raise TranslationError("'inputs' must be a string")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise TranslationError("'parameters' must be an object")
    out: JsonDict = {"prompt": inputs, "stream": stream}
    for tgi_name, openai_name in PARAMETER_TABLE:
        if parameters.get(tgi_name) is not None:
            out[openai_name] = parameters[tgi_name]
    if parameters.get("do_sample") is False and "temperature" not in out:
        out["temperature"] = 0.0
    grammar = parameters.get("grammar")
    if isinstance(grammar, Mapping) and grammar.get("type") == "json":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": grammar.get("value") or {}},
        }
    if stream:
        out["stream_options"] = {"include_usage": True}
    return out


def _tgi_finish(finish_reason: Any, stop: Any) -> str:
    if finish_reason == "stop" and stop:
        return "stop_sequence"
    return FINISH_TO_TGI.get(str(finish_reason or "stop"), "eos_token")


def openai_completion_to_tgi(body: Mapping[str, Any], stop: Any = None) -> JsonDict:
    choice = (body.get("choices") or [{}])[0]
    usage = body.get("usage") or {}
    return {
        "generated_text": choice.get("text", ""),
        "details": {
            "finish_reason": _tgi_finish(choice.get("finish_reason"), stop),
            "generated_tokens": int(usage.get("completion_tokens") or 0),
            "seed": None,
            "prefill": [],
            "tokens": [],
        },
    }


class OpenAIStreamToTgi:
    """OpenAI completion chunks -> TGI stream events; the last carries the whole text."""

    def __init__(self, stop: Any = None) -> None:
        self.stop = stop
        self._texts: list[str] = []
        self._index = 0
        self._finish: str | None = None
        self._tokens: int | None = None
        self.finished = False

    def _token_event(self, text: str) -> JsonDict:
        self._index += 1
        return {
            "index": self._index,
            "token": {"id": 0, "text": text, "logprob": 0.0, "special": False},
            "generated_text": None,
            "details": None,
        }

    def translate(self, chunk: Mapping[str, Any]) -> list[JsonDict]:
        events: list[JsonDict] = []
        usage = chunk.get("usage")
        if usage:
            self._tokens = int(usage.get("completion_tokens") or 0)
        for choice in chunk.get("choices") or []:
            text = str(choice.get("text") or (choice.get("delta") or {}).get("content") or "")
            if text:
                self._texts.append(text)
                events.append(self._token_event(text))
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
        if self._finish is not None and self._tokens is not None:
            events.extend(self.finish())
        return events

    def finish(self) -> list[JsonDict]:
        if self.finished:
            return []
        self.finished = True
        last = self._token_event("")
        last["token"]["special"] = True
        last["generated_text"] = "".join(self._texts)
        last["details"] = {
            "finish_reason": _tgi_finish(self._finish, self.stop),
            "generated_tokens": self._tokens if self._tokens is not None else len(self._texts),
            "seed": None,
        }
        return [last]
