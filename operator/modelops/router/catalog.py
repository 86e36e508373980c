"""Bodies of the listing and status endpoints (/v1/models, /api/tags, /api/ps, /api/show,
/info, /status). Pure: they read a snapshot."""

from __future__ import annotations

from typing import Any

from modelops.router.state import Snapshot
from modelops.router.translate_common import ollama_timestamp

# The Ollama API version whose shapes the router reproduces (clients may check it).
OLLAMA_COMPAT_VERSION = "0.6.8"
EPOCH = "2024-01-01T00:00:00Z"


# Ollama's model_info names keys after the architecture; the router knows only the engine.
ARCHITECTURE = "llama"


def openai_model(snapshot: Snapshot, name: str) -> dict[str, Any]:
    """One `/v1/models` entry; `max_model_len` as vLLM reports it, when the window is known."""
    entry: dict[str, Any] = {
        "id": name,
        "object": "model",
        "created": int(snapshot.created),
        "owned_by": "modelops",
    }
    window = snapshot.models[name].route.context_length
    if window is not None:
        entry["max_model_len"] = window
    return entry


def openai_models(snapshot: Snapshot, names: list[str]) -> dict[str, Any]:
    return {"object": "list", "data": [openai_model(snapshot, name) for name in names]}


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
                **_context(snapshot, name),
            }
            for name in names
            if snapshot.models[name].has_usable
        ]
    }


def _context(snapshot: Snapshot, name: str) -> dict[str, Any]:
    window = snapshot.models[name].route.context_length
    return {} if window is None else {"context_length": window}


def ollama_show(snapshot: Snapshot, name: str) -> dict[str, Any]:
    model = snapshot.models[name]
    capabilities = ["completion", "tools"]
    if model.route.reasoning:
        capabilities.append("thinking")
    window = model.route.context_length
    model_info: dict[str, Any] = {
        "general.architecture": ARCHITECTURE,
        "modelops.backend_model": model.backend_model,
        "modelops.engine": model.route.engine,
    }
    parameters = ""
    if window is not None:
        model_info[f"{ARCHITECTURE}.context_length"] = window
        parameters = f"num_ctx {window}"
    return {
        "license": "",
        "modelfile": f"# served by modelops\nFROM {model.backend_model}\n",
        "parameters": parameters,
        "template": "",
        "details": _details(snapshot, name),
        "model_info": model_info,
        "capabilities": capabilities,
        "modified_at": EPOCH,
    }


def tgi_info(snapshot: Snapshot, name: str | None) -> dict[str, Any]:
    """TGI's `Info` with every required field; token limits from the model's window."""
    model = snapshot.models.get(name) if name else None
    window = model.route.context_length if model is not None else None
    return {
        "model_id": name or "",
        "model_sha": None,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": 128,
        "max_best_of": 1,
        "max_stop_sequences": 4,
        "max_input_tokens": (window - 1) if window else 0,
        "max_total_tokens": window or 0,
        "validation_workers": 1,
        "max_client_batch_size": 1,
        "router": "modelops",
        "version": "0.1.0",
        "sha": None,
        "docker_label": None,
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
