"""The GPUs and Router pages' JSON, built from `Readings` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelops.dashboard.readings import (
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    LABEL_MODEL,
    Readings,
    labels_of,
    meta,
    pod_gpus,
    pod_holds_resources,
)
from modelops.dashboard.views_models import sources

NO_PRODUCT = "(no product label)"


def _quantity(value: Any) -> int:
    try:
        return int(str(value or 0))
    except ValueError:
        return 0


def _node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scheduling_message(pod: Mapping[str, Any]) -> str:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "")
    return "not scheduled yet"


def gpus(readings: Readings) -> dict[str, Any]:
    """Per node: product, capacity, allocatable, who holds how many, what is free; per product
    the totals; and pods that wait for GPUs, with the scheduler's words."""
    holders: dict[str, list[dict[str, Any]]] = {}
    waiting = []
    for pod in readings.pods:
        count = pod_gpus(pod)
        if count <= 0:
            continue
        row = {
            "namespace": meta(pod).get("namespace"),
            "name": meta(pod).get("name"),
            "model": labels_of(pod).get(LABEL_MODEL),
            "gpus": count,
        }
        if pod_holds_resources(pod):
            holders.setdefault(str(pod["spec"]["nodeName"]), []).append(row)
        elif (
            not (pod.get("spec") or {}).get("nodeName")
            and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
        ):
            selector = (pod.get("spec") or {}).get("nodeSelector") or {}
            waiting.append(
                {
                    **row,
                    "gpuProduct": selector.get(GPU_PRODUCT_LABEL),
                    "message": _scheduling_message(pod),
                    "since": meta(pod).get("creationTimestamp"),
                }
            )
    nodes = []
    products: dict[str, dict[str, Any]] = {}
    for node in sorted(readings.nodes, key=lambda n: str(meta(n).get("name"))):
        status = node.get("status") or {}
        capacity = _quantity((status.get("capacity") or {}).get(GPU_RESOURCE))
        allocatable = _quantity((status.get("allocatable") or {}).get(GPU_RESOURCE))
        name = str(meta(node).get("name"))
        held = sorted(holders.get(name, []), key=lambda r: (str(r["namespace"]), str(r["name"])))
        if capacity == 0 and not held:
            continue  # a CPU node: not a GPU page's business
        used = sum(r["gpus"] for r in held)
        product = labels_of(node).get(GPU_PRODUCT_LABEL) or NO_PRODUCT
        ready = _node_ready(node)
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        nodes.append(
            {
                "name": name,
                "product": product,
                "capacity": capacity,
                "allocatable": allocatable,
                "used": used,
                "free": max(0, allocatable - used) if ready and not unschedulable else 0,
                "ready": ready,
                "unschedulable": unschedulable,
                "pods": held,
            }
        )
        total = products.setdefault(
            product,
            {"product": product, "nodes": 0, "capacity": 0, "allocatable": 0, "used": 0, "free": 0},
        )
        total["nodes"] += 1
        for field in ("capacity", "allocatable", "used", "free"):
            total[field] += nodes[-1][field]
    waiting.sort(key=lambda r: (str(r["namespace"]), str(r["name"])))
    return {
        "sources": sources(readings),
        "nodes": nodes,
        "products": sorted(products.values(), key=lambda p: str(p["product"])),
        "waiting": waiting,
        "totals": {
            field: sum(p[field] for p in products.values())
            for field in ("capacity", "allocatable", "used", "free")
        },
    }


def _fallback_serving(chain: list[str], models: Mapping[str, Any]) -> str | None:
    """The model a task's request really reaches when no model of its chain is usable:
    the first usable model along each chain member's fallbacks (as the router walks them)."""
    seen: set[str] = set()
    queue = list(chain)
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        model = models.get(name) or {}
        if model.get("available") and not model.get("demoted") and name not in chain:
            return name
        queue.extend(model.get("fallback") or [])
    return None


def _tasks(status: Mapping[str, Any]) -> dict[str, Any]:
    models = status.get("models") or {}
    result = {}
    for task, entry in (status.get("tasks") or {}).items():
        chain = list(entry.get("chain") or [])
        serving = entry.get("serving")
        result[task] = {
            "chain": chain,
            "serving": serving,
            "fallbackServing": None if serving else _fallback_serving(chain, models),
        }
    return result


def router(readings: Readings) -> dict[str, Any]:
    """Every router replica's view: endpoints and health, demotions, config problems."""
    replicas = []
    for reading in readings.routers:
        status = dict(reading.status or {})
        models = []
        for name, model in sorted((status.get("models") or {}).items()):
            tracks = model.get("tracks") or []
            endpoints = [e for t in tracks for e in t.get("endpoints") or []]
            models.append(
                {
                    "name": name,
                    "engine": model.get("engine"),
                    "available": bool(model.get("available")),
                    "demoted": bool(model.get("demoted")),
                    "unhealthyForSeconds": model.get("unhealthyForSeconds"),
                    "fallback": model.get("fallback") or [],
                    "endpoints": len(endpoints),
                    "usableEndpoints": sum(
                        bool(e.get("ready") and e.get("healthy")) for e in endpoints
                    ),
                    "tracks": tracks,
                }
            )
        models.sort(key=lambda m: (m["available"] and not m["demoted"], m["name"]))
        replicas.append(
            {
                "name": reading.name,
                "reachable": reading.error is None,
                "error": reading.error,
                "ready": status.get("ready"),
                "configLoadedAt": status.get("configLoadedAt"),
                "lastConfigError": status.get("lastConfigError"),
                "problems": status.get("problems") or [],
                "demotionWindowSeconds": status.get("demotionWindowSeconds"),
                "models": models,
                "tasks": _tasks(status),
            }
        )
    return {"sources": sources(readings), "routers": replicas}
