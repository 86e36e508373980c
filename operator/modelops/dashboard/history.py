"""The dashboard's own short memory, for the "over time" charts of the Model page.

Nothing else keeps these figures over time without Prometheus, so every collection round
appends one point per model (bounded: `max_points` per model, and models that disappear are
forgotten). `point()` is pure; `History` only stores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from modelops.dashboard.readings import Readings, key_of
from modelops.dashboard.views_models import served_name


def _figures(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {
        k: value.get(k) for k in ("requests", "errors", "errorRate", "p95Seconds", "p95TTFTSeconds")
    }


def point(md: Mapping[str, Any], readings: Readings) -> dict[str, Any]:
    status = md.get("status") if isinstance(md.get("status"), Mapping) else {}
    assert isinstance(status, Mapping)
    canary = status.get("canary") if isinstance(status.get("canary"), Mapping) else None
    analysis = canary.get("analysis") if canary else None
    name = served_name(md)
    return {
        "t": round(readings.now, 3),
        "replicas": status.get("replicas"),
        "readyReplicas": status.get("readyReplicas"),
        "desiredReplicas": status.get("desiredReplicas"),
        "load": readings.load.get(name),
        "canaryWeight": canary.get("weight", 0) if canary else None,
        "canaryPhase": canary.get("phase") if canary else None,
        "analysis": {
            "stable": _figures(analysis.get("stable")),
            "canary": _figures(analysis.get("canary")),
        }
        if isinstance(analysis, Mapping)
        else None,
        "traffic": {
            track: figures.as_json()
            for (model, track), figures in readings.traffic.items()
            if model == name
        },
    }


class History:
    def __init__(self, max_points: int) -> None:
        self.max_points = max(1, max_points)
        self._points: dict[str, deque[dict[str, Any]]] = {}

    def record(self, readings: Readings) -> None:
        """One point per model; skipped while the API is down (the status would be stale)."""
        if readings.api_error is not None:
            return
        present = set()
        for md in readings.model_deployments:
            key = key_of(md)
            present.add(key)
            self._points.setdefault(key, deque(maxlen=self.max_points)).append(point(md, readings))
        for gone in set(self._points) - present:
            del self._points[gone]

    def of(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return list(self._points.get(f"{namespace}/{name}", ()))
