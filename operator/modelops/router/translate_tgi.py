"""Hugging Face TGI client API (`/generate`, `/generate_stream`, `POST /`) <-> canonical OpenAI
completions. Pure functions.

TGI requests name no model: the router takes it from `X-Model`/`X-Task` headers or the config's
`defaultModel`. Shapes follow TGI's OpenAPI document: `details` only when asked for, the stream's
last event carries `generated_text` and `details` (with `input_length`), and `stop_sequence` is
reported only when the backend says a stop string matched (vLLM's `stop_reason`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelops.router.translate_common import (
    JsonDict,
    TranslationError,
    as_object,
    check_fields,
    is_str_list,
    require,
)
from modelops.router.translate_ollama import CLIENT_KEY

# (TGI `parameters` field, OpenAI request field); top_k and repetition_penalty are vLLM's
# extra sampling parameters, truncate its `truncate_prompt_tokens`.
PARAMETER_TABLE: tuple[tuple[str, str], ...] = (
    ("max_new_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
    ("stop", "stop"),
    ("frequency_penalty", "frequency_penalty"),
    ("repetition_penalty", "repetition_penalty"),
    ("truncate", "truncate_prompt_tokens"),
)
PARAMETER_KINDS: Mapping[str, str] = {
    "max_new_tokens": "integer",
    "temperature": "number",
    "top_p": "number",
    "top_k": "integer",
    "seed": "integer",
    "stop": "array",
    "frequency_penalty": "number",
    "repetition_penalty": "number",
    "truncate": "integer",
    "do_sample": "boolean",
    "details": "boolean",
    "decoder_input_details": "boolean",
    "return_full_text": "boolean",
    "watermark": "boolean",
    "best_of": "integer",
    "top_n_tokens": "integer",
    "typical_p": "number",
    "adapter_id": "string",
    "grammar": "object",
}
# Parameters no OpenAI-API runtime can honour, with the value that means "off".
UNEXPRESSIBLE: Mapping[str, tuple[Any, ...]] = {
    "best_of": (None, 1),
    "decoder_input_details": (None, False),
    "watermark": (None, False),
    "top_n_tokens": (None, 0),
    "typical_p": (None, 1, 1.0),
    "adapter_id": (None, ""),
}
FINISH_TO_TGI: Mapping[str, str] = {"stop": "eos_token", "length": "length"}


def _json_schema_format(name: str, schema: Any) -> JsonDict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def _grammar(grammar: Mapping[str, Any]) -> JsonDict:
    kind = grammar.get("type")
    value = grammar.get("value")
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise TranslationError(
                    "grammar value must be a JSON schema", "parameters.grammar.value"
                ) from None
        require(
            isinstance(value, Mapping),
            "grammar value must be a JSON schema object",
            "parameters.grammar.value",
        )
        return {"response_format": _json_schema_format("response", value)}
    if kind == "json_schema":
        schema = value.get("schema") if isinstance(value, Mapping) else None
        require(
            isinstance(schema, Mapping),
            "grammar value needs a 'schema' object",
            "parameters.grammar.value.schema",
        )
        assert isinstance(value, Mapping)
        name = value.get("name")
        return {"response_format": _json_schema_format(str(name or "response"), schema)}
    if kind == "regex":
        require(
            isinstance(value, str),
            "a regex grammar needs a string value",
            "parameters.grammar.value",
        )
        return {"guided_regex": value}  # vLLM's structured output; Ollama backends refuse it
    raise TranslationError(f"grammar type {kind!r} is not supported", "parameters.grammar.type")


def tgi_to_openai(body: Mapping[str, Any], stream: bool) -> JsonDict:
    inputs = body.get("inputs")
    if not isinstance(inputs, str):
        raise TranslationError("'inputs' must be a string", "inputs")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise TranslationError("'parameters' must be an object", "parameters")
    check_fields(parameters, PARAMETER_KINDS, "parameters.")
    if parameters.get("stop") is not None and not is_str_list(parameters["stop"]):
        raise TranslationError("'parameters.stop' must be a list of strings", "parameters.stop")
    for name, allowed in UNEXPRESSIBLE.items():
        if parameters.get(name) not in allowed:
            raise TranslationError(
                f"parameter {name!r} cannot be served by this router's runtimes",
                f"parameters.{name}",
            )
    max_new = parameters.get("max_new_tokens")
    require(
        max_new is None or max_new >= 1,
        "'max_new_tokens' must be at least 1",
        "parameters.max_new_tokens",
    )
    out: JsonDict = {"prompt": inputs, "stream": stream}
    for tgi_name, openai_name in PARAMETER_TABLE:
        if parameters.get(tgi_name) is not None:
            out[openai_name] = parameters[tgi_name]
    if parameters.get("do_sample") is False and "temperature" not in out:
        out["temperature"] = 0.0
    if isinstance(parameters.get("grammar"), Mapping):
        out.update(_grammar(parameters["grammar"]))
    if stream:
        out["stream_options"] = {"include_usage": True}
    out[CLIENT_KEY] = {
        "details": parameters.get("details") is True,
        "return_full_text": parameters.get("return_full_text") is True,
        "inputs": inputs,
        "seed": parameters.get("seed"),
    }
    return out


def _tgi_finish(choice: Mapping[str, Any]) -> str:
    finish = choice.get("finish_reason")
    if finish == "stop" and isinstance(choice.get("stop_reason"), str):
        return "stop_sequence"
    return FINISH_TO_TGI.get(str(finish or "stop"), "eos_token")


def openai_completion_to_tgi(body: Mapping[str, Any], wishes: Mapping[str, Any]) -> JsonDict:
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    usage = body.get("usage") or {}
    text = str(choice.get("text") or "")
    if wishes.get("return_full_text"):
        text = str(wishes.get("inputs") or "") + text
    out: JsonDict = {"generated_text": text}
    if wishes.get("details"):
        out["details"] = {
            "finish_reason": _tgi_finish(choice),
            "generated_tokens": int(usage.get("completion_tokens") or 0),
            "seed": wishes.get("seed"),
            "prefill": [],
            "tokens": [],
        }
    return out


class OpenAIStreamToTgi:
    """OpenAI completion chunks -> TGI stream events; the last carries the whole text."""

    def __init__(self, wishes: Mapping[str, Any]) -> None:
        self.wishes = wishes
        self._texts: list[str] = []
        self._index = 0
        self._finish: str | None = None
        self._tokens: int | None = None
        self._input_length = 0
        self.finished = False

    def _token_event(self, text: str) -> JsonDict:
        self._index += 1
        return {
            "index": self._index,
            "token": {"id": 0, "text": text, "logprob": None, "special": False},
            "generated_text": None,
            "details": None,
        }

    def translate(self, chunk: Mapping[str, Any]) -> list[JsonDict]:
        events: list[JsonDict] = []
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self._tokens = int(usage.get("completion_tokens") or 0)
            self._input_length = int(usage.get("prompt_tokens") or 0)
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, Mapping):
                continue
            delta = as_object(choice.get("delta"))
            text = str(choice.get("text") or delta.get("content") or "")
            if text:
                self._texts.append(text)
                events.append(self._token_event(text))
            if choice.get("finish_reason"):
                self._finish = _tgi_finish(choice)
        if self._finish is not None and self._tokens is not None:
            events.extend(self.finish())
        return events

    def finish(self) -> list[JsonDict]:
        if self.finished:
            return []
        self.finished = True
        last = self._token_event("")
        last["token"]["special"] = True
        text = "".join(self._texts)
        if self.wishes.get("return_full_text"):
            text = str(self.wishes.get("inputs") or "") + text
        last["generated_text"] = text
        if self.wishes.get("details"):
            last["details"] = {
                "finish_reason": self._finish or "eos_token",
                "generated_tokens": self._tokens if self._tokens is not None else len(self._texts),
                "input_length": self._input_length,
                "seed": self.wishes.get("seed"),
            }
        return [last]
