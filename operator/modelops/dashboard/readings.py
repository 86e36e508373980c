"""What one collection round saw: the raw inputs of every page, as plain data.

The collector fills a `Readings`; the view functions (pure) turn it into each page's JSON.
Objects are the API's JSON dicts; when the API server cannot be reached the last objects
seen are kept, with the error and the time they were read, so a page can say it is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelops.api.spec import GPU_PRODUCT_LABEL, GPU_RESOURCE
from modelops.dashboard.promtext import RouterTotals, TrackKey, TrafficFigures

Obj = dict[str, Any]
LABEL_MODEL = "modelops.io/model"
LABEL_SLOT = "modelops.io/slot"
LABEL_REVISION = "modelops.io/revision"
__all__ = ["GPU_PRODUCT_LABEL", "GPU_RESOURCE", "Obj", "Readings", "RouterReading"]


@dataclass(frozen=True)
class RouterReading:
    """One router replica (a URL, or a pod reached through the API server's proxy)."""

    name: str
    status: Mapping[str, Any] | None = None
    totals: RouterTotals | None = None
    error: str | None = None


@dataclass(frozen=True)
class Readings:
    now: float
    model_deployments: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    objects_at: float | None = None  # when the objects above were read (None: never)
    api_error: str | None = None  # the last read failed (the objects are older)
    routers: list[RouterReading] = field(default_factory=list)
    traffic: Mapping[TrackKey, TrafficFigures] = field(default_factory=dict)
    load: Mapping[str, float] = field(default_factory=dict)  # served name -> in flight + held


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> str:
    return f"{meta(obj).get('namespace', '')}/{meta(obj).get('name', '')}"


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    value = meta(obj).get("labels")
    return value if isinstance(value, Mapping) else {}


def _as_int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def pod_gpus(pod: Mapping[str, Any]) -> int:
    """GPUs a pod requests: per container, requests or else limits (extended resources must
    set them equal), summed; init containers count by their maximum, as the scheduler does."""

    def of(container: Mapping[str, Any]) -> int:
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            value = (resources.get(part) or {}).get(GPU_RESOURCE)
            if value is not None:
                return _as_int(value)
        return 0

    spec = pod.get("spec") or {}
    running = sum(of(c) for c in spec.get("containers") or [])
    init = max((of(c) for c in spec.get("initContainers") or []), default=0)
    return max(running, init)


def pod_holds_resources(pod: Mapping[str, Any]) -> bool:
    """Bound and not finished: what the scheduler counts against a node."""
    phase = (pod.get("status") or {}).get("phase")
    return bool((pod.get("spec") or {}).get("nodeName")) and phase not in ("Succeeded", "Failed")


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
