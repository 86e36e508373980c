"""Which translation applies where: client API x backend API x operation. Pure.

The canonical form is OpenAI's. `client_to_canonical` and `canonical_to_backend` shape the
request; `backend_to_canonical` and `canonical_to_client` shape a complete answer; `StreamPlan`
does the same chunk by chunk. When client and backend speak the same API and no rename or
reasoning rewrite is needed, the proxy forwards bytes untouched (`passthrough`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from modelops.router import translate_ollama as ol
from modelops.router import translate_ollama_answers as ola
from modelops.router import translate_ollama_streams as ols
from modelops.router import translate_tgi as tgi
from modelops.router import translate_to_ollama as tol
from modelops.router.errors import ClientApi
from modelops.router.reasoning import split_think
from modelops.router.streams import (
    SSE_DONE,
    SSE_DONE_EVENT,
    ChunkReasoningSplitter,
    dumps,
    ndjson_line,
    sse_event,
)
from modelops.router.translate_common import (
    JsonDict,
    TranslationError,
    UpstreamStreamError,
    check_fields,
)

Kind = Literal["chat", "completion", "embedding"]
CLIENT_KEY = ol.CLIENT_KEY


@dataclass(frozen=True)
class Operation:
    client_api: ClientApi
    kind: Kind
    legacy_embedding: bool = False  # Ollama /api/embeddings
    tgi_stream: bool = False  # TGI /generate_stream
    tgi_compat: bool = False  # TGI POST /: `stream` in the body, a list when not streaming


OPENAI_PATHS: Mapping[str, str] = {
    "chat": "/v1/chat/completions",
    "completion": "/v1/completions",
    "embedding": "/v1/embeddings",
}
OLLAMA_PATHS: Mapping[str, str] = {
    "chat": "/api/chat",
    "completion": "/api/generate",
    "embedding": "/api/embed",
}
# The fields the router itself reads from an OpenAI request, checked before anything else
# (a passthrough leaves the rest to the runtime, which checks them as it always does).
OPENAI_ROUTER_FIELDS: Mapping[str, str] = {
    "model": "string",
    "stream": "boolean",
    "stream_options": "object",
    "max_tokens": "integer",
    "max_completion_tokens": "integer",
}


def _require(condition: bool, message: str, param: str | None = None) -> None:
    if not condition:
        raise TranslationError(message, param)


def client_to_canonical(op: Operation, body: Mapping[str, Any]) -> JsonDict:
    """The request as an OpenAI-shaped dict; raises TranslationError (-> 400) when malformed."""
    model = body.get("model")
    _require(model is None or isinstance(model, str), "'model' must be a string", "model")
    if op.client_api == "openai":
        check_fields(body, OPENAI_ROUTER_FIELDS)
        if op.kind == "chat":
            messages = body.get("messages")
            _require(
                isinstance(messages, list) and bool(messages),
                "'messages' must be a non-empty list",
                "messages",
            )
        elif op.kind == "completion":
            prompt = body.get("prompt")
            _require(
                isinstance(prompt, str | list), "'prompt' must be a string or a list", "prompt"
            )
        else:
            _require(
                isinstance(body.get("input"), str | list),
                "'input' must be a string or a list",
                "input",
            )
        canonical = dict(body)
        canonical.pop(CLIENT_KEY, None)
        return canonical
    if op.client_api == "ollama":
        if op.kind == "chat":
            return ol.ollama_chat_to_openai(body)
        if op.kind == "completion":
            return ol.ollama_generate_to_openai(body)
        return ol.ollama_embed_to_openai(body, legacy=op.legacy_embedding)
    stream = op.tgi_stream
    if op.tgi_compat:
        _require(
            body.get("stream") is None or isinstance(body.get("stream"), bool),
            "'stream' must be a boolean",
            "stream",
        )
        stream = body.get("stream") is True
    canonical = tgi.tgi_to_openai(body, stream=stream)
    if model is not None:
        canonical["model"] = model
    return canonical


def with_model(raw_body: bytes, backend_model: str) -> bytes:
    """The client's own request for a backend of the same API that knows the model by another
    name: every field kept, only `model` replaced."""
    import json

    body = json.loads(raw_body)
    body["model"] = backend_model
    return dumps(body)


def _client_wishes(canonical: Mapping[str, Any]) -> Mapping[str, Any]:
    wishes = canonical.get(CLIENT_KEY)
    return wishes if isinstance(wishes, Mapping) else {}


def canonical_to_backend(
    op: Operation, canonical: Mapping[str, Any], backend_api: str, backend_model: str
) -> tuple[str, JsonDict]:
    """(path, body) for the backend."""
    if backend_api == "ollama":
        if canonical.get("guided_regex") is not None:
            raise TranslationError(
                "regex grammars cannot be served by an Ollama backend", "parameters.grammar"
            )
        if op.kind == "chat":
            body = tol.openai_chat_to_ollama(canonical, backend_model)
        elif op.kind == "completion":
            body = tol.openai_completion_to_ollama(canonical, backend_model)
        else:
            return OLLAMA_PATHS["embedding"], tol.openai_embedding_to_ollama(
                canonical, backend_model
            )
        think = _client_wishes(canonical).get("think")
        if think is not None:
            body["think"] = think
        return OLLAMA_PATHS[op.kind], body
    wishes = _client_wishes(canonical)
    for name in ("template", "context", "images", "logprobs"):
        if wishes.get(name):
            raise TranslationError(
                f"'{name}' cannot be sent to this model's runtime (an OpenAI-API server)", name
            )
    body = {key: value for key, value in canonical.items() if key != CLIENT_KEY}
    body["model"] = backend_model
    if op.kind == "embedding":
        body.pop("stream", None)
        body.pop("stream_options", None)
    return OPENAI_PATHS[op.kind], body


def backend_to_canonical(
    op: Operation, backend_api: str, body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    if not isinstance(body, Mapping):
        raise UpstreamStreamError("the backend answered with JSON that is not an object")
    if backend_api == "openai":
        out = dict(body)
        out["model"] = served
        return out
    if op.kind == "chat":
        return ola.ollama_chat_response_to_openai(body, served, request_id)
    if op.kind == "completion":
        return ola.ollama_generate_response_to_openai(body, served, request_id)
    return ola.ollama_embed_response_to_openai(body, served)


def canonical_to_client(
    op: Operation,
    canonical: JsonDict,
    served: str,
    split_reasoning: bool,
    elapsed_ns: int,
    request: Mapping[str, Any] | None = None,
) -> Any:
    request = request or {}
    wishes = _client_wishes(request)
    if op.client_api == "openai":
        if split_reasoning and op.kind == "chat":
            for choice in canonical.get("choices") or []:
                message = choice.get("message") or {}
                content = message.get("content")
                if isinstance(content, str) and not message.get("reasoning_content"):
                    reasoning, text = split_think(content)
                    if reasoning is not None:
                        message["reasoning_content"] = reasoning
                        message["content"] = text
        if op.kind == "embedding" and request.get("encoding_format") == "base64":
            for item in canonical.get("data") or []:
                if isinstance(item, dict) and isinstance(item.get("embedding"), list):
                    item["embedding"] = ola.base64_floats(item["embedding"])
        return canonical
    if op.client_api == "ollama":
        think = wishes.get("think")
        if op.kind == "chat":
            return ola.openai_chat_response_to_ollama(canonical, served, elapsed_ns, think)
        if op.kind == "completion":
            return ola.openai_completion_response_to_ollama(canonical, served, elapsed_ns, think)
        return ola.openai_embedding_response_to_ollama(
            canonical, served, op.legacy_embedding, elapsed_ns
        )
    answer = tgi.openai_completion_to_tgi(canonical, wishes)
    return [answer] if op.tgi_compat else answer


def same_api(op: Operation, backend_api: str) -> bool:
    return op.client_api == backend_api


class StreamPlan:
    """Turns backend stream payloads (one SSE data or NDJSON line each) into client bytes."""

    def __init__(
        self,
        op: Operation,
        backend_api: str,
        served: str,
        request_id: str,
        split_reasoning: bool,
        include_usage: bool,
        request: Mapping[str, Any] | None = None,
    ) -> None:
        self.op = op
        self.backend_api = backend_api
        self.served = served
        self.usage: Any = None
        self.ended = False
        self._direct = same_api(op, backend_api)
        wishes = _client_wishes(request or {})
        self._to_openai = (
            ols.OllamaStreamToOpenAI(served, request_id, op.kind == "chat", include_usage)
            if backend_api == "ollama"
            else None
        )
        self._splitter = ChunkReasoningSplitter() if split_reasoning and op.kind == "chat" else None
        self._to_ollama = (
            ols.OpenAIStreamToOllama(
                served, op.kind == "chat", time.monotonic_ns(), wishes.get("think")
            )
            if op.client_api == "ollama"
            else None
        )
        self._to_tgi = tgi.OpenAIStreamToTgi(wishes) if op.client_api == "tgi" else None

    @property
    def media_type(self) -> bytes:
        return b"application/x-ndjson" if self.op.client_api == "ollama" else b"text/event-stream"

    def feed(self, payload: bytes) -> bytes:
        if payload == SSE_DONE:
            return self.finish()
        obj = _loads(payload)
        if self._direct and self.op.client_api == "ollama":
            if obj.get("error"):
                raise UpstreamStreamError(str(obj["error"]))
            obj["model"] = self.served
            if obj.get("done"):
                self.ended = True
                self.usage = {
                    "prompt_tokens": obj.get("prompt_eval_count"),
                    "completion_tokens": obj.get("eval_count"),
                }
            return ndjson_line(obj)
        chunks = self._to_openai.translate(obj) if self._to_openai else [obj]
        out: list[bytes] = []
        for chunk in chunks:
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            if self._to_ollama is not None:
                out += [ndjson_line(line) for line in self._to_ollama.translate(chunk)]
            elif self._to_tgi is not None:
                out += [sse_event(event) for event in self._to_tgi.translate(chunk)]
            else:
                if isinstance(chunk.get("error"), Mapping | str):
                    error = chunk["error"]
                    raise UpstreamStreamError(
                        str(error.get("message") if isinstance(error, Mapping) else error)
                    )
                if "model" in chunk:
                    chunk["model"] = self.served
                if self._splitter is not None:
                    chunk = self._splitter.apply(chunk)
                out.append(sse_event(chunk))
        if self.backend_api == "ollama" and obj.get("done"):
            out.append(self.finish())
        return b"".join(out)

    def finish(self) -> bytes:
        """Closing bytes once the backend is done (idempotent)."""
        if self.ended:
            return b""
        self.ended = True
        if self._to_ollama is not None:
            return b"".join(ndjson_line(line) for line in self._to_ollama.finish())
        if self._to_tgi is not None:
            return b"".join(sse_event(event) for event in self._to_tgi.finish())
        if self.op.client_api == "openai":
            return SSE_DONE_EVENT
        return b""


def _loads(payload: bytes) -> JsonDict:
    import json

    try:
        obj = json.loads(payload)
    except ValueError:
        raise UpstreamStreamError("backend sent a stream chunk that is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamStreamError("backend sent a stream chunk that is not an object")
    return obj


def upstream_error_message(body: bytes) -> str:
    """The human message inside a backend's error body, whatever its API."""
    import json

    try:
        obj = json.loads(body)
    except ValueError:
        return body[:300].decode(errors="replace").strip() or "backend error"
    if isinstance(obj, Mapping):
        error = obj.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if obj.get("message"):
            return str(obj["message"])
    return dumps(obj)[:300].decode(errors="replace")
