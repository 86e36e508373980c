"""The Ollama personality: Ollama's native /api/* routes plus its OpenAI-compatible /v1/*.

Shapes follow Ollama's REST API: NDJSON streaming by default, a final object with `done`,
`done_reason`, token counts and durations in nanoseconds, and `{"error": "..."}` bodies.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from modelops.sim import sampling, textgen
from modelops.sim.engine import Engine, Generation
from modelops.sim.openai_api import ApiError, Flavour, JsonObject, OpenAIRoutes, json_response
from modelops.sim.routing import Routes
from modelops.sim.server import TEXT, Request, Response, StreamResponse

OLLAMA_VERSION = "0.6.8"
NDJSON = "application/x-ndjson"
FAKE_MODEL_BYTES = 4_920_753_328
ARCHITECTURES = (("qwen", "qwen2"), ("gemma", "gemma3"), ("phi", "phi3"), ("deepseek", "qwen2"))


def ollama_openai_error_body(error: ApiError) -> JsonObject:
    return {"error": {"message": error.message, "type": "api_error", "param": None, "code": None}}


def ollama_openai_unknown_model(name: str) -> ApiError:
    return ApiError(404, f'model "{name}" not found, try pulling it first', "api_error")


OLLAMA_OPENAI_FLAVOUR = Flavour(
    owned_by="library",
    error_body=ollama_openai_error_body,
    unknown_model=ollama_openai_unknown_model,
    model_required=True,
    enforce_max_model_len=False,
)


def timestamp(at: float | None = None) -> str:
    """Ollama's RFC 3339 timestamps (UTC, sub-second precision)."""
    now = time.time() if at is None else at
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def architecture(model: str) -> str:
    lowered = model.lower()
    return next((arch for marker, arch in ARCHITECTURES if marker in lowered), "llama")


def parameter_size(model: str) -> str:
    tag = model.rpartition(":")[2].lower()
    if tag.endswith("b") and tag[:-1].replace(".", "", 1).isdigit():
        return f"{float(tag[:-1]):.1f}B"
    return "8.0B"


def digest(model: str) -> str:
    import hashlib

    return hashlib.sha256(model.encode()).hexdigest()


def details(model: str) -> JsonObject:
    arch = architecture(model)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": arch,
        "families": [arch],
        "parameter_size": parameter_size(model),
        "quantization_level": "Q4_K_M",
    }


def _error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _parse(request: Request) -> JsonObject:
    """Parse like Ollama's gin handlers: 400 with Go's decoder message on bad JSON."""
    if not request.body.strip():
        raise ApiError(400, "missing request body")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        first = request.body.lstrip()[:1].decode("latin-1", "replace")
        raise ApiError(400, f"invalid character '{first}' looking for beginning of value") from None
    if not isinstance(body, dict):
        raise ApiError(400, "json: cannot unmarshal into Go value of type api.Request")
    for name, kind in REQUEST_FIELD_TYPES.items():
        value = body.get(name)
        if value is not None and not sampling.CHECKS[kind](value):
            raise ApiError(
                400, f"json: cannot unmarshal into Go struct field Request.{name} of type {kind}"
            )
    return body


# Go struct field types of Ollama's api.ChatRequest / GenerateRequest / EmbedRequest.
REQUEST_FIELD_TYPES: Mapping[str, str] = {
    "model": "string",
    "prompt": "string",
    "suffix": "string",
    "system": "string",
    "template": "string",
    "stream": "boolean",
    "raw": "boolean",
    "messages": "array",
    "tools": "array",
    "options": "object",
    "context": "array",
    "images": "array",
    "truncate": "boolean",
    "dimensions": "integer",
}
# api.Options field types (FromMap refuses a value of another JSON type).
OPTION_TYPES: Mapping[str, str] = {
    "num_predict": "number",
    "num_ctx": "number",
    "top_k": "number",
    "seed": "number",
    "temperature": "number",
    "top_p": "number",
    "min_p": "number",
    "repeat_penalty": "number",
    "presence_penalty": "number",
    "frequency_penalty": "number",
    "stop": "array",
}


def _options(body: JsonObject) -> JsonObject:
    options = body.get("options") or {}
    for name, kind in OPTION_TYPES.items():
        value = options.get(name)
        if value is not None and not sampling.CHECKS[kind](value):
            raise ApiError(400, f"option {name!r} must be of type {kind}")
    return options


class OllamaRoutes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._modified_at = timestamp()

    def _model(self, body: JsonObject) -> str:
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "model is required")
        resolved = self.engine.resolve_model(name)
        if resolved is None:
            raise ApiError(404, f"model '{name}' not found")
        return resolved

    def _fault(self) -> None:
        if self.engine.should_fail():
            raise ApiError(500, "llama runner process has terminated: simulated failure")

    async def root(self, request: Request) -> Response:
        if self.engine.config.unhealthy:
            return Response(503, b"Ollama is unhealthy (simulated)", TEXT)
        return Response(200, b"Ollama is running", TEXT)

    async def version(self, request: Request) -> Response:
        return json_response({"version": OLLAMA_VERSION})

    def _listing(self, name: str) -> JsonObject:
        return {
            "name": name,
            "model": name,
            "modified_at": self._modified_at,
            "size": FAKE_MODEL_BYTES,
            "digest": digest(name),
            "details": details(name),
        }

    async def tags(self, request: Request) -> Response:
        return json_response({"models": [self._listing(n) for n in self.engine.config.models]})

    async def ps(self, request: Request) -> Response:
        expires = timestamp(time.time() + 300)
        running = []
        for name in self.engine.config.models:
            entry = self._listing(name)
            del entry["modified_at"]
            entry |= {
                "expires_at": expires,
                "size_vram": FAKE_MODEL_BYTES,
                "context_length": self.engine.config.context_length,
            }
            running.append(entry)
        return json_response({"models": running})

    async def show(self, request: Request) -> Response:
        try:
            model = self._model(_parse(request))
        except ApiError as error:
            return _error(error.status, error.message)
        arch = architecture(model)
        capabilities = ["completion"] + (["thinking"] if self.engine.config.reasoning else [])
        return json_response(
            {
                "license": "",
                "modelfile": f"# Modelfile generated by the modelops simulator\nFROM {model}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": details(model),
                "model_info": {
                    "general.architecture": arch,
                    "general.parameter_count": 8_030_261_248,
                    f"{arch}.context_length": self.engine.config.context_length,
                    f"{arch}.embedding_length": 4096,
                },
                "capabilities": capabilities,
                "modified_at": self._modified_at,
            }
        )

    def _plan(self, body: JsonObject, prompt: str) -> Generation:
        options = _options(body)
        limit = options.get("num_predict")
        max_tokens = int(limit) if isinstance(limit, int | float) and limit >= 0 else None
        fmt = body.get("format")
        if fmt not in (None, "", "json") and not isinstance(fmt, dict):
            raise ApiError(400, 'invalid format: expected "json" or a JSON schema')
        schema = fmt if isinstance(fmt, dict) else None
        stop = sampling.stop_list(options.get("stop"))
        json_mode = fmt == "json" or schema is not None
        return self.engine.plan(prompt, max_tokens, json_mode, schema, stop)

    def _think(self, body: JsonObject, text: str) -> tuple[str, str]:
        """(thinking, content): `think: true` separates the reasoning, false drops it."""
        think = body.get("think")
        if think is None or not text.startswith("<think>") or "</think>" not in text:
            return "", text
        thinking, _, content = text[len("<think>") :].partition("</think>")
        return ("" if think is False else thinking.strip()), content.lstrip("\n")

    async def generate(self, request: Request) -> Response | StreamResponse:
        return await self._generate(request, chat=False)

    async def chat(self, request: Request) -> Response | StreamResponse:
        return await self._generate(request, chat=True)

    async def _generate(self, request: Request, chat: bool) -> Response | StreamResponse:
        try:
            body = _parse(request)
            model = self._model(body)
            if chat:
                messages = body.get("messages") or []
                for index, message in enumerate(messages):
                    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                        raise ApiError(400, f"messages[{index}] needs a role")
                    if not isinstance(message.get("content", ""), str):
                        raise ApiError(400, f"messages[{index}].content must be a string")
                prompt = "\n".join(str(m.get("content", "")) for m in messages)
                empty = not messages
            else:
                prompt = str(body.get("prompt") or "")
                empty = not prompt
            generation = self._plan(body, prompt)
            tool = sampling.due_tool(body, messages) if chat else None
            if not empty:
                self._fault()
        except ApiError as error:
            return _error(error.status, error.message)
        key = "message" if chat else "response"
        if empty:  # Ollama loads the model and answers done_reason "load"
            piece: Any = {"role": "assistant", "content": ""} if chat else ""
            return json_response(
                {
                    "model": model,
                    "created_at": timestamp(),
                    key: piece,
                    "done": True,
                    "done_reason": "load",
                }
            )
        calls = None
        if tool is not None:
            call = sampling.tool_call(tool, prompt, self.engine.config.seed)
            calls = [{"function": {"name": call.name, "arguments": json.loads(call.arguments)}}]
        if body.get("stream", True) is not False:
            return StreamResponse(self._chunks(model, key, generation, body, calls), NDJSON)
        started = time.monotonic_ns()
        ttft = await self.engine.complete(generation)
        thinking, text = self._think(body, generation.text)
        final: JsonObject = {"model": model, "created_at": timestamp()}
        if chat:
            final["message"] = {"role": "assistant", "content": "" if calls else text}
            if thinking:
                final["message"]["thinking"] = thinking
            if calls:
                final["message"]["tool_calls"] = calls
        else:
            final["response"] = text
            if thinking:
                final["thinking"] = thinking
        final |= self._final_stats(generation, started, int(ttft * 1e9), chat)
        return json_response(final)

    def _final_stats(
        self, generation: Generation, started_ns: int, ttft_ns: int, chat: bool
    ) -> JsonObject:
        total = max(time.monotonic_ns() - started_ns, 1)
        stats: JsonObject = {
            "done": True,
            "done_reason": generation.finish_reason,
            "total_duration": total,
            "load_duration": 1_000_000,
            "prompt_eval_count": generation.prompt_tokens,
            "prompt_eval_duration": max(ttft_ns, 1),
            "eval_count": generation.completion_tokens,
            "eval_duration": max(total - ttft_ns, 1),
        }
        if not chat:
            stats["context"] = list(range(1, min(generation.prompt_tokens, 8) + 1))
        return stats

    async def _chunks(
        self,
        model: str,
        key: str,
        generation: Generation,
        body: JsonObject,
        calls: list[JsonObject] | None,
    ) -> AsyncIterator[bytes]:
        chat = key == "message"
        started = time.monotonic_ns()
        first_ns = 0
        think = body.get("think")
        in_think = False

        def line(piece: str, thinking: str = "") -> bytes:
            value: JsonObject = {"model": model, "created_at": timestamp()}
            if chat:
                value["message"] = {"role": "assistant", "content": piece}
                if thinking:
                    value["message"]["thinking"] = thinking
            else:
                value["response"] = piece
                if thinking:
                    value["thinking"] = thinking
            value["done"] = False
            return json.dumps(value).encode() + b"\n"

        async with aclosing(self.engine.stream(generation)) as tokens:
            async for token in tokens:
                if not first_ns:
                    first_ns = time.monotonic_ns() - started
                if calls:
                    continue  # a tool call is sent whole, as Ollama does
                if think is not None and token in ("<think>", "</think>"):
                    in_think = token == "<think>"
                    continue
                if in_think:
                    if think is not False:
                        yield line("", token)
                    continue
                yield line(token)
        if calls:
            value = {"model": model, "created_at": timestamp(),
                     "message": {"role": "assistant", "content": "", "tool_calls": calls},
                     "done": False}  # fmt: skip
            yield json.dumps(value).encode() + b"\n"
        final: JsonObject = {
            "model": model,
            "created_at": timestamp(),
            key: {"role": "assistant", "content": ""} if chat else "",
        }
        final |= self._final_stats(generation, started, first_ns, chat)
        yield json.dumps(final).encode() + b"\n"

    async def embed(self, request: Request) -> Response:
        try:
            body = _parse(request)
            model = self._model(body)
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ApiError(400, "invalid input type")
            self._fault()
        except ApiError as error:
            return _error(error.status, error.message)
        started = time.monotonic_ns()
        seed = self.engine.config.seed
        dimensions = body.get("dimensions") or textgen.EMBEDDING_DIMENSIONS
        vectors = [textgen.embedding(text, seed, dimensions) for text in texts]
        return json_response(
            {
                "model": model,
                "embeddings": vectors,
                "total_duration": max(time.monotonic_ns() - started, 1),
                "load_duration": 1_000_000,
                "prompt_eval_count": sum(textgen.count_tokens(text) for text in texts),
            }
        )

    async def embeddings(self, request: Request) -> Response:
        """The legacy single-prompt endpoint."""
        try:
            body = _parse(request)
            self._model(body)
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                raise ApiError(400, "prompt is required")
            self._fault()
        except ApiError as error:
            return _error(error.status, error.message)
        return json_response({"embedding": textgen.embedding(prompt, self.engine.config.seed)})

    async def pull(self, request: Request) -> Response | StreamResponse:
        try:
            body = _parse(request)
            model = self._model(body)
        except ApiError as error:
            if error.status == 404:  # the registry has no such model
                return _error(500, "pull model manifest: file does not exist")
            return _error(error.status, error.message)
        if body.get("stream", True) is False:
            return json_response({"status": "success"})
        return StreamResponse(_pull_progress(model), NDJSON)


async def _pull_progress(model: str) -> AsyncIterator[bytes]:
    layer = "sha256:" + digest(model)
    steps: list[JsonObject] = [{"status": "pulling manifest"}]
    for completed in (0, FAKE_MODEL_BYTES // 2, FAKE_MODEL_BYTES):
        steps.append(
            {
                "status": f"pulling {layer[7:19]}",
                "digest": layer,
                "total": FAKE_MODEL_BYTES,
                "completed": completed,
            }
        )
    steps += [
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    for step in steps:
        yield json.dumps(step).encode() + b"\n"


def ollama_routes(engine: Engine) -> Routes:
    native = OllamaRoutes(engine)
    openai = OpenAIRoutes(engine, OLLAMA_OPENAI_FLAVOUR)
    return {
        ("GET", "/"): native.root,
        ("GET", "/api/version"): native.version,
        ("GET", "/api/tags"): native.tags,
        ("GET", "/api/ps"): native.ps,
        ("POST", "/api/show"): native.show,
        ("POST", "/api/generate"): native.generate,
        ("POST", "/api/chat"): native.chat,
        ("POST", "/api/embed"): native.embed,
        ("POST", "/api/embeddings"): native.embeddings,
        ("POST", "/api/pull"): native.pull,
        ("GET", "/v1/models"): openai.models,
        ("POST", "/v1/chat/completions"): openai.chat,
        ("POST", "/v1/completions"): openai.completions,
        ("POST", "/v1/embeddings"): openai.embeddings,
    }
