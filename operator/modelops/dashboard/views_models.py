"""The Overview and Model pages' JSON, built from `Readings` (pure).

Objects are read as the raw dicts the API returned, never parsed strictly: one odd object
(a newer CRD version, a half-written status) must cost its row a blank, not the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelops.dashboard.readings import (
    LABEL_MODEL,
    LABEL_REVISION,
    LABEL_SLOT,
    Obj,
    Readings,
    key_of,
    labels_of,
    meta,
    pod_gpus,
    pod_ready,
)

TROUBLE_PHASES = ("Degraded", "Failed")
# Conditions whose True means trouble (the rest mean trouble when False).
BAD_WHEN_TRUE = ("Degraded", "ScalingLimited", "InsufficientGPU")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def served_name(md: Mapping[str, Any]) -> str:
    status, spec = _dict(md.get("status")), _dict(md.get("spec"))
    return str(
        status.get("servedModelName") or spec.get("servedModelName") or meta(md).get("name", "")
    )


def router_model(readings: Readings, name: str) -> Mapping[str, Any] | None:
    """The model as the first router that knows it reports it (replicas agree on config)."""
    for router in readings.routers:
        model = _dict(_dict(router.status).get("models")).get(name)
        if isinstance(model, Mapping):
            return model
    return None


def _rollout(status: Mapping[str, Any]) -> dict[str, Any] | None:
    canary = status.get("canary")
    if not isinstance(canary, Mapping):
        return None
    return {
        "slot": canary.get("slot"),
        "revision": canary.get("revision"),
        "weight": canary.get("weight", 0),
        "step": canary.get("step", 0),
        "phase": canary.get("phase"),
        "stepStartedAt": canary.get("stepStartedAt"),
        "replicas": canary.get("replicas", 0),
    }


def problems(md: Mapping[str, Any], readings: Readings) -> list[str]:
    """What a platform engineer must look at, in words, most important first."""
    status = _dict(md.get("status"))
    found: list[str] = []
    phase = status.get("phase")
    if phase in TROUBLE_PHASES:
        found.append(f"phase {phase}")
    for condition in _list(status.get("conditions")):
        condition = _dict(condition)
        kind, value = condition.get("type"), condition.get("status")
        bad = value == "True" if kind in BAD_WHEN_TRUE else kind == "Ready" and value == "False"
        if bad:
            text = f"{kind}={value} ({condition.get('reason', '')})"
            if condition.get("message"):
                text += f": {condition['message']}"
            found.append(text)
    failed = _dict(status.get("failedRollout"))
    if failed.get("revision"):
        text = f"rollout of {failed['revision']} rolled back ({failed.get('reason', '')})"
        if failed.get("message"):
            text += f": {failed['message']}"
        found.append(text)
    routed = router_model(readings, served_name(md))
    if routed is not None:
        if routed.get("demoted"):
            found.append("demoted by the router (no usable endpoint for the demotion window)")
        elif routed.get("available") is False:
            found.append("the router has no usable endpoint")
    for router in readings.routers:
        for problem in _list(_dict(router.status).get("problems")):
            if served_name(md) in str(problem):
                found.append(f"router config: {problem}")
    return list(dict.fromkeys(found))


def model_row(md: Mapping[str, Any], readings: Readings) -> dict[str, Any]:
    spec, status = _dict(md.get("spec")), _dict(md.get("status"))
    routing, resources = _dict(spec.get("routing")), _dict(spec.get("resources"))
    name = served_name(md)
    routed = router_model(readings, name)
    return {
        "namespace": meta(md).get("namespace", ""),
        "name": meta(md).get("name", ""),
        "engine": spec.get("engine"),
        "model": spec.get("model"),
        "phase": status.get("phase") or "Unknown",
        "replicas": status.get("replicas", 0),
        "readyReplicas": status.get("readyReplicas", 0),
        "desiredReplicas": status.get("desiredReplicas", spec.get("replicas")),
        "gpus": resources.get("gpus", 0),
        "gpuProduct": resources.get("gpuProduct"),
        "load": readings.load.get(name, _dict(status.get("autoscaler")).get("load")),
        "servedName": name,
        "tasks": _list(routing.get("tasks")),
        "fallback": _list(routing.get("fallback")),
        "rollout": _rollout(status),
        "routerAvailable": None if routed is None else bool(routed.get("available")),
        "problems": problems(md, readings),
    }


def sources(readings: Readings) -> dict[str, Any]:
    """Where the data came from and what failed: every page shows this banner."""
    return {
        "api": {
            "ok": readings.api_error is None and readings.objects_at is not None,
            "error": readings.api_error,
            "readAt": readings.objects_at,
        },
        "routers": [
            {"name": r.name, "ok": r.error is None, "error": r.error} for r in readings.routers
        ],
        "generatedAt": readings.now,
    }


def overview(readings: Readings) -> dict[str, Any]:
    rows = [model_row(md, readings) for md in readings.model_deployments]
    rows.sort(key=lambda r: (not r["problems"], r["namespace"], r["name"]))
    return {
        "sources": sources(readings),
        "summary": {
            "models": len(rows),
            "ready": sum(r["phase"] == "Ready" for r in rows),
            "withProblems": sum(bool(r["problems"]) for r in rows),
            "rollouts": sum(r["rollout"] is not None for r in rows),
        },
        "models": rows,
    }


def _events(readings: Readings, md: Mapping[str, Any]) -> list[dict[str, Any]]:
    uid, name = meta(md).get("uid"), meta(md).get("name")
    namespace = meta(md).get("namespace")
    mine = []
    for event in readings.events:
        involved = _dict(event.get("involvedObject"))
        if involved.get("kind") != "ModelDeployment" or involved.get("name") != name:
            continue
        if involved.get("namespace", namespace) != namespace:
            continue
        if uid and involved.get("uid") and involved.get("uid") != uid:
            continue  # an earlier object of the same name
        mine.append(
            {
                "type": event.get("type"),
                "reason": event.get("reason"),
                "message": event.get("message"),
                "count": event.get("count", 1),
                "lastTimestamp": event.get("lastTimestamp")
                or event.get("eventTime")
                or meta(event).get("creationTimestamp"),
            }
        )
    mine.sort(key=lambda e: str(e["lastTimestamp"] or ""), reverse=True)
    return mine


def _slots(md: Mapping[str, Any], pods: Sequence[Obj]) -> list[dict[str, Any]]:
    status = _dict(md.get("status"))
    name, namespace = meta(md).get("name"), meta(md).get("namespace")
    roles: dict[str, tuple[str | None, Mapping[str, Any]]] = {}
    for role_name in ("stable", "canary"):
        declared = _dict(status.get(role_name))
        if declared.get("slot"):
            roles[str(declared["slot"])] = (role_name, declared)
    mine = [
        p
        for p in pods
        if meta(p).get("namespace") == namespace and labels_of(p).get(LABEL_MODEL) == name
    ]
    result = []
    for slot_name in ("blue", "green"):
        slot_pods = [p for p in mine if labels_of(p).get(LABEL_SLOT) == slot_name]
        role, slot = roles.get(slot_name, (None, {}))
        if not slot_pods and role is None:
            continue
        result.append(
            {
                "slot": slot_name,
                "role": role or "idle",
                "revision": slot.get("revision")
                or next((labels_of(p).get(LABEL_REVISION) for p in slot_pods), None),
                "replicas": slot.get("replicas", len(slot_pods)),
                "pods": [_pod_row(p) for p in sorted(slot_pods, key=key_of)],
            }
        )
    return result


def _pod_row(pod: Mapping[str, Any]) -> dict[str, Any]:
    status = _dict(pod.get("status"))
    return {
        "name": meta(pod).get("name"),
        "phase": status.get("phase"),
        "ready": pod_ready(pod),
        "node": _dict(pod.get("spec")).get("nodeName"),
        "ip": status.get("podIP"),
        "gpus": pod_gpus(pod),
        "revision": labels_of(pod).get(LABEL_REVISION),
        "deleting": meta(pod).get("deletionTimestamp") is not None,
    }


def find_model(readings: Readings, namespace: str, name: str) -> Obj | None:
    return next(
        (
            md
            for md in readings.model_deployments
            if meta(md).get("namespace") == namespace and meta(md).get("name") == name
        ),
        None,
    )


def model_page(
    readings: Readings, md: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    row = model_row(md, readings)
    status = _dict(md.get("status"))
    canary = status.get("canary")
    routed = router_model(readings, row["servedName"])
    traffic = {
        track: figures.as_json()
        for (model, track), figures in sorted(readings.traffic.items())
        if model == row["servedName"]
    }
    return {
        "sources": sources(readings),
        "model": row,
        "spec": dict(_dict(md.get("spec"))),
        "observedGeneration": status.get("observedGeneration"),
        "generation": meta(md).get("generation"),
        "conditions": [dict(_dict(c)) for c in _list(status.get("conditions"))],
        "events": _events(readings, md),
        "stable": status.get("stable"),
        "canary": canary if isinstance(canary, Mapping) else None,
        "failedRollout": status.get("failedRollout"),
        "autoscaler": status.get("autoscaler"),
        "slots": _slots(md, readings.pods),
        "routerTracks": _list(_dict(routed).get("tracks")),
        "traffic": traffic,
        "history": list(history),
    }
