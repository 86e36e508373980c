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
from modelops.router import translate_tgi as tgi
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
from modelops.router.translate_ollama import JsonDict, TranslationError

Kind = Literal["chat", "completion", "embedding"]


@dataclass(frozen=True)
class Operation:
    client_api: ClientApi
    kind: Kind
    legacy_embedding: bool = False  # Ollama /api/embeddings
    tgi_stream: bool = False  # TGI /generate_stream


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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise TranslationError(message)


def client_to_canonical(op: Operation, body: Mapping[str, Any]) -> JsonDict:
    """The request as an OpenAI-shaped dict; raises TranslationError (-> 400) when malformed."""
    model = body.get("model")
    _require(model is None or isinstance(model, str), "'model' must be a string")
    if op.client_api == "openai":
        if op.kind == "chat":
            messages = body.get("messages")
            _require(
                isinstance(messages, list) and bool(messages), "'messages' must be a non-empty list"
            )
        elif op.kind == "completion":
            prompt = body.get("prompt")
            _require(isinstance(prompt, str | list), "'prompt' must be a string or a list")
        else:
            _require(
                isinstance(body.get("input"), str | list), "'input' must be a string or a list"
            )
        _require(
            body.get("max_tokens") is None or isinstance(body.get("max_tokens"), int),
            "'max_tokens' must be an integer",
        )
        return dict(body)
    if op.client_api == "ollama":
        if op.kind == "chat":
            return ol.ollama_chat_to_openai(body)
        if op.kind == "completion":
            return ol.ollama_generate_to_openai(body)
        return ol.ollama_embed_to_openai(body, legacy=op.legacy_embedding)
    canonical = tgi.tgi_to_openai(body, stream=op.tgi_stream)
    if model is not None:
        canonical["model"] = model
    return canonical


def canonical_to_backend(
    op: Operation, canonical: Mapping[str, Any], backend_api: str, backend_model: str
) -> tuple[str, JsonDict]:
    """(path, body) for the backend."""
    if backend_api == "ollama":
        if op.kind == "chat":
            return OLLAMA_PATHS["chat"], ol.openai_chat_to_ollama(canonical, backend_model)
        if op.kind == "completion":
            return OLLAMA_PATHS["completion"], ol.openai_completion_to_ollama(
                canonical, backend_model
            )
        return OLLAMA_PATHS["embedding"], ol.openai_embedding_to_ollama(canonical, backend_model)
    body = dict(canonical)
    body["model"] = backend_model
    if op.kind == "embedding":
        body.pop("stream", None)
        body.pop("stream_options", None)
    return OPENAI_PATHS[op.kind], body


def backend_to_canonical(
    op: Operation, backend_api: str, body: Mapping[str, Any], served: str, request_id: str
) -> JsonDict:
    if backend_api == "openai":
        out = dict(body)
        out["model"] = served
        return out
    if op.kind == "chat":
        return ol.ollama_chat_response_to_openai(body, served, request_id)
    if op.kind == "completion":
        return ol.ollama_generate_response_to_openai(body, served, request_id)
    return ol.ollama_embed_response_to_openai(body, served)


def canonical_to_client(
    op: Operation,
    canonical: JsonDict,
    served: str,
    split_reasoning: bool,
    elapsed_ns: int,
    stop: Any = None,
) -> JsonDict:
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
        return canonical
    if op.client_api == "ollama":
        if op.kind == "chat":
            return ol.openai_chat_response_to_ollama(canonical, served, elapsed_ns)
        if op.kind == "completion":
            return ol.openai_completion_response_to_ollama(canonical, served, elapsed_ns)
        return ol.openai_embedding_response_to_ollama(canonical, served, op.legacy_embedding)
    return tgi.openai_completion_to_tgi(canonical, stop)


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
        stop: Any = None,
    ) -> None:
        self.op = op
        self.backend_api = backend_api
        self.served = served
        self.usage: Any = None
        self.ended = False
        self._direct = same_api(op, backend_api)
        self._to_openai = (
            ol.OllamaStreamToOpenAI(served, request_id, op.kind == "chat", include_usage)
            if backend_api == "ollama"
            else None
        )
        self._splitter = ChunkReasoningSplitter() if split_reasoning and op.kind == "chat" else None
        self._to_ollama = (
            ol.OpenAIStreamToOllama(served, op.kind == "chat", time.monotonic_ns())
            if op.client_api == "ollama"
            else None
        )
        self._to_tgi = tgi.OpenAIStreamToTgi(stop) if op.client_api == "tgi" else None

    @property
    def media_type(self) -> bytes:
        return b"application/x-ndjson" if self.op.client_api == "ollama" else b"text/event-stream"

    def feed(self, payload: bytes) -> bytes:
        if payload == SSE_DONE:
            return self.finish()
        obj = _loads(payload)
        if self._direct and self.op.client_api == "ollama":
            if obj.get("error"):
                raise ol.UpstreamStreamError(str(obj["error"]))
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
                    raise ol.UpstreamStreamError(
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
        raise ol.UpstreamStreamError("backend sent a stream chunk that is not JSON") from None
    if not isinstance(obj, dict):
        raise ol.UpstreamStreamError("backend sent a stream chunk that is not an object")
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
