"""The Ollama container: `ollama serve` (the image's default command) plus a model pull.

The model is pulled by a postStart hook: the kubelet keeps the container out of Running (so
no probe passes and the pod is not Ready) until the hook has finished, which is exactly
"pulled before the pod reports ready". The local simulator's launcher recognises the model by
the text `ollama pull <model>` in that command, so that form must stay.
"""

from __future__ import annotations

import shlex
from typing import Any

from modelops.api.engines import ENGINE_FACTS
from modelops.api.spec import ModelDeploymentSpec

FACTS = ENGINE_FACTS["ollama"]
PORT = FACTS.port
CACHE_MOUNT_PATH = "/root/.ollama"
SERVER_WAIT_SECONDS = 120
STARTUP_PERIOD_SECONDS = 5
STARTUP_FAILURE_THRESHOLD = 120
# The pull happens before probes start; this budget covers the server start after it.
STARTUP_BUDGET_SECONDS = STARTUP_PERIOD_SECONDS * STARTUP_FAILURE_THRESHOLD


def pull_command(model: str) -> list[str]:
    # The CRD pattern already excludes shell metacharacters from `model`; quoting is the
    # second line of defence and leaves valid names untouched.
    wait = (
        f"timeout {SERVER_WAIT_SECONDS} sh -c 'until ollama list >/dev/null 2>&1; do sleep 1; done'"
    )
    return ["/bin/sh", "-c", f"{wait} && ollama pull {shlex.quote(model)}"]


def builtin_env(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "OLLAMA_HOST", "value": f"0.0.0.0:{PORT}"}]
    settings = spec.ollama
    if settings is None:
        return env
    if settings.keep_alive is not None:
        env.append({"name": "OLLAMA_KEEP_ALIVE", "value": settings.keep_alive})
    if settings.num_parallel is not None:
        env.append({"name": "OLLAMA_NUM_PARALLEL", "value": str(settings.num_parallel)})
    if settings.max_loaded_models is not None:
        env.append({"name": "OLLAMA_MAX_LOADED_MODELS", "value": str(settings.max_loaded_models)})
    if settings.context_length is not None:
        env.append({"name": "OLLAMA_CONTEXT_LENGTH", "value": str(settings.context_length)})
    return env


def _probe(period: int, failures: int, timeout: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": FACTS.health_path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def build_container(spec: ModelDeploymentSpec, *, served_name: str) -> dict[str, Any]:
    # served_name is the router's concern for Ollama: clients' names are mapped to the tag.
    del served_name
    return {
        "image": spec.effective_image(),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "lifecycle": {"postStart": {"exec": {"command": pull_command(spec.model)}}},
        "startupProbe": _probe(STARTUP_PERIOD_SECONDS, STARTUP_FAILURE_THRESHOLD, 5),
        "readinessProbe": _probe(5, 3, 5),
        "livenessProbe": _probe(15, 4, 10),
    }


def extra_volumes(spec: ModelDeploymentSpec) -> list[dict[str, Any]]:
    return []
