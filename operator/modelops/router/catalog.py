"""Bodies of the listing and status endpoints (/v1/models, /api/tags, /api/ps, /api/show,
/info, /status). Pure: they read a snapshot."""

from __future__ import annotations

from typing import Any

from modelops.router.state import Snapshot
from modelops.router.translate_ollama import ollama_timestamp

# The Ollama API version whose shapes the router reproduces (clients may check it).
OLLAMA_COMPAT_VERSION = "0.6.8"
EPOCH = "2024-01-01T00:00:00Z"


def openai_models(snapshot: Snapshot, names: list[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "modelops"} for name in names
        ],
    }


def _details(snapshot: Snapshot, name: str) -> dict[str, Any]:
    route = snapshot.models[name].route
    return {
        "parent_model": "",
        "format": "gguf" if route.engine == "ollama" else "safetensors",
        "family": route.engine,
        "families": [route.engine],
        "parameter_size": "",
        "quantization_level": "",
    }


def ollama_tags(snapshot: Snapshot, names: list[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "modified_at": EPOCH,
                "size": 0,
                "digest": "",
                "details": _details(snapshot, name),
            }
            for name in names
        ]
    }


def ollama_ps(snapshot: Snapshot, names: list[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "size": 0,
                "digest": "",
                "details": _details(snapshot, name),
                "expires_at": ollama_timestamp(snapshot.created + 86400),
                "size_vram": 0,
            }
            for name in names
            if snapshot.models[name].has_usable
        ]
    }


def ollama_show(snapshot: Snapshot, name: str) -> dict[str, Any]:
    model = snapshot.models[name]
    capabilities = ["completion"]
    if model.route.reasoning:
        capabilities.append("thinking")
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": _details(snapshot, name),
        "model_info": {"modelops.backend_model": model.backend_model},
        "capabilities": capabilities,
        "modified_at": EPOCH,
    }


def tgi_info(snapshot: Snapshot, name: str | None) -> dict[str, Any]:
    return {
        "model_id": name or "",
        "model_sha": None,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": 0,
        "max_input_tokens": 0,
        "max_total_tokens": 0,
        "router": "modelops",
        "version": "modelops",
        "models": list(snapshot.models),
    }


def status_document(
    snapshot: Snapshot | None,
    last_config_error: str | None,
    config_loaded_at: float | None,
    now: float,
) -> dict[str, Any]:
    if snapshot is None:
        return {"ready": False, "lastConfigError": last_config_error, "models": {}, "tasks": {}}
    models: dict[str, Any] = {}
    for name, model in snapshot.models.items():
        since = model.health.unhealthy_since
        models[name] = {
            "engine": model.route.engine,
            "backendModel": model.backend_model,
            "available": model.has_usable,
            "demoted": snapshot.is_demoted(name, now),
            "unhealthyForSeconds": None if since is None else round(now - since, 3),
            "fallback": list(model.route.fallback),
            "tracks": [
                {
                    "name": track.name,
                    "weight": track.weight,
                    "endpoints": [endpoint.as_status() for endpoint in track.endpoints],
                }
                for track in model.tracks
            ],
        }
    tasks: dict[str, Any] = {}
    for task, chain in snapshot.config.tasks.items():
        serving = next(
            (m for m in chain if m in snapshot.models and snapshot.models[m].has_usable), None
        )
        tasks[task] = {"chain": list(chain), "serving": serving}
    return {
        "ready": True,
        "configLoadedAt": config_loaded_at,
        "lastConfigError": last_config_error,
        "problems": list(snapshot.problems),
        "demotionWindowSeconds": snapshot.config.demotion_window_seconds,
        "models": models,
        "tasks": tasks,
    }
