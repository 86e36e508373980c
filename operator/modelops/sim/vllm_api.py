"""The vLLM personality: vLLM's OpenAI server routes, /health, /version and /metrics."""

from __future__ import annotations

from modelops.sim.engine import Engine
from modelops.sim.openai_api import ApiError, Flavour, JsonObject, OpenAIRoutes, json_response
from modelops.sim.routing import Routes
from modelops.sim.server import Request, Response

VLLM_VERSION = "0.10.0"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def vllm_error_body(error: ApiError) -> JsonObject:
    # vLLM >= 0.10 wraps its ErrorResponse in {"error": ...}, as the OpenAI API does.
    return {
        "error": {"message": error.message, "type": error.kind, "param": None, "code": error.status}
    }


def vllm_unknown_model(name: str) -> ApiError:
    return ApiError(404, f"The model `{name}` does not exist.", "NotFoundError")


VLLM_FLAVOUR = Flavour(
    owned_by="vllm",
    error_body=vllm_error_body,
    unknown_model=vllm_unknown_model,
    model_required=False,
    enforce_max_model_len=True,
)


def vllm_routes(engine: Engine) -> Routes:
    openai = OpenAIRoutes(engine, VLLM_FLAVOUR)

    async def health(request: Request) -> Response:
        # vLLM answers 200 with an empty body; a dead engine gives 503.
        return Response(503 if engine.config.unhealthy else 200, b"")

    async def version(request: Request) -> Response:
        return json_response({"version": VLLM_VERSION})

    async def metrics(request: Request) -> Response:
        slots = engine.slots
        text = engine.metrics.render(slots.running, slots.waiting, engine.kv_cache_usage)
        return Response(200, text.encode(), PROMETHEUS_TEXT)

    return {
        ("GET", "/health"): health,
        ("GET", "/version"): version,
        ("GET", "/metrics"): metrics,
        ("GET", "/v1/models"): openai.models,
        ("POST", "/v1/chat/completions"): openai.chat,
        ("POST", "/v1/completions"): openai.completions,
        ("POST", "/v1/embeddings"): openai.embeddings,
    }
