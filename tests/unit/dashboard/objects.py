"""Raw API objects (as the API server sends them) for the dashboard's view tests."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def md(
    name: str,
    *,
    namespace: str = "models",
    phase: str = "Ready",
    engine: str = "vllm",
    ready: int = 1,
    desired: int = 1,
    tasks: list[str] | None = None,
    fallback: list[str] | None = None,
    conditions: list[Obj] | None = None,
    canary: Obj | None = None,
    stable_slot: str = "blue",
    uid: str | None = None,
) -> Obj:
    status: Obj = {
        "phase": phase,
        "replicas": ready,
        "readyReplicas": ready,
        "desiredReplicas": desired,
        "servedModelName": name,
        "conditions": conditions
        if conditions is not None
        else [{"type": "Ready", "status": "True", "reason": "Ready", "message": ""}],
        "stable": {"slot": stable_slot, "revision": "rev1", "replicas": ready},
    }
    if canary is not None:
        status["canary"] = canary
    return {
        "apiVersion": "modelops.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}"},
        "spec": {
            "engine": engine,
            "model": f"org/{name}",
            "replicas": desired,
            "resources": {"gpus": 1, "gpuProduct": "NVIDIA-A100-SXM4-40GB"},
            "routing": {"tasks": tasks or [], "fallback": fallback or []},
        },
        "status": status,
    }


def node(name: str, gpus: int, product: str | None, *, ready: bool = True) -> Obj:
    labels = {"nvidia.com/gpu.product": product} if product else {}
    capacity = {"cpu": "64", "nvidia.com/gpu": str(gpus)} if gpus else {"cpu": "8"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(
    name: str,
    *,
    model: str | None,
    gpus: int,
    node_name: str | None,
    namespace: str = "models",
    phase: str = "Running",
    slot: str = "blue",
    revision: str = "rev1",
    ready: bool = True,
    scheduled_message: str | None = None,
    product: str | None = None,
) -> Obj:
    labels = {"modelops.io/slot": slot, "modelops.io/revision": revision}
    if model:
        labels["modelops.io/model"] = model
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if scheduled_message is not None:
        conditions = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": scheduled_message,
            }
        ]
    spec: Obj = {
        "containers": [
            {"name": "server", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
            if gpus
            else {"name": "server"}
        ]
    }
    if node_name:
        spec["nodeName"] = node_name
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
        "status": {"phase": phase, "conditions": conditions, "podIP": "127.0.1.1"},
    }


def event(model: str, reason: str, message: str, when: str, *, uid: str | None = None) -> Obj:
    return {
        "metadata": {"name": f"{model}.{reason}", "namespace": "models"},
        "involvedObject": {
            "kind": "ModelDeployment",
            "name": model,
            "namespace": "models",
            "uid": uid or f"uid-{model}",
        },
        "type": "Warning" if reason.startswith("Failed") else "Normal",
        "reason": reason,
        "message": message,
        "count": 1,
        "lastTimestamp": when,
    }


def router_status(models: dict[str, Obj], *, problems: list[str] | None = None) -> Obj:
    return {
        "ready": True,
        "configLoadedAt": 1.0,
        "lastConfigError": None,
        "problems": problems or [],
        "demotionWindowSeconds": 60,
        "models": models,
        "tasks": {"reasoning": {"chain": ["big", "small"], "serving": "big"}},
    }


def routed(available: bool = True, demoted: bool = False, endpoints: int = 1) -> Obj:
    return {
        "engine": "vllm",
        "backendModel": "x",
        "available": available,
        "demoted": demoted,
        "unhealthyForSeconds": None if available else 12.0,
        "fallback": [],
        "tracks": [
            {
                "name": "stable",
                "weight": 100,
                "endpoints": [
                    {
                        "address": f"127.0.1.{i}:8000",
                        "ready": True,
                        "healthy": available,
                        "outstanding": 0,
                        "consecutiveFailures": 0,
                        "requests": 3,
                        "lastError": None,
                    }
                    for i in range(endpoints)
                ],
            }
        ],
    }
