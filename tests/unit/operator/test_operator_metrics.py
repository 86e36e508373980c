"""The operator's metrics: reconcile counts and timing, queue depth, and per-model series read
from the statuses the operator wrote."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelops.controller.metrics import OperatorMetrics, statuses_from_bodies

NOW = "2026-01-01T12:00:00Z"


def body(namespace: str, name: str, status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "status": status}


STATUSES = [
    body(
        "ai",
        "qwen",
        {
            "phase": "Progressing",
            "servedModelName": "qwen-large",
            "replicas": 4,
            "readyReplicas": 3,
            "desiredReplicas": 4,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "AllReplicasReady",
                    "lastTransitionTime": NOW,
                },
                {
                    "type": "ScalingLimited",
                    "status": "True",
                    "reason": "InsufficientCapacity",
                    "message": "0/3 nodes are available",
                    "lastTransitionTime": NOW,
                },
            ],
            "autoscaler": {"load": 27.5, "holding": 2, "recommendation": 5},
            "stable": {"slot": "blue", "revision": "abc", "replicas": 3},
            "canary": {
                "slot": "green",
                "revision": "def",
                "replicas": 1,
                "weight": 10,
                "step": 1,
                "phase": "Progressing",
                "analysis": {
                    "stable": {"requests": 90, "errors": 1, "errorRate": 0.011, "p95Seconds": 1.5},
                    "canary": {
                        "requests": 10,
                        "errors": 0,
                        "errorRate": 0.0,
                        "p95Seconds": 1.2,
                        "p95TTFTSeconds": 0.3,
                    },
                    "missingRequests": 10,
                },
            },
        },
    ),
    body("ai", "idle", {"phase": "Ready", "desiredReplicas": 0, "readyReplicas": 0}),
    body("ai", "new", None),  # no status yet: left out
    body("ai", "odd", {"phase": "Sleeping"}),  # unreadable: left out, the scrape still works
]


def samples(metrics: OperatorMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def labels(name: str = "qwen", model: str = "qwen-large", **extra: str) -> frozenset[Any]:
    return frozenset({("namespace", "ai"), ("name", name), ("model", model), *extra.items()})


def test_statuses_from_bodies_skips_what_it_cannot_read() -> None:
    assert [m.name for m in statuses_from_bodies(STATUSES)] == ["qwen", "idle"]


def test_per_model_series_come_from_status() -> None:
    metrics = OperatorMetrics(lambda: statuses_from_bodies(STATUSES), queue_depth=lambda: 3)
    found = samples(metrics)
    assert found[("modelops_operator_workqueue_depth", frozenset())] == 3
    assert found[("modelops_model_phase", labels(phase="Progressing"))] == 1
    assert found[("modelops_model_phase", labels(phase="Ready"))] == 0
    assert found[("modelops_model_phase", labels("idle", "idle", phase="Ready"))] == 1
    limited = labels(type="ScalingLimited", status="True")
    assert found[("modelops_model_condition", limited)] == 1
    assert found[("modelops_model_desired_replicas", labels())] == 4
    assert found[("modelops_model_ready_replicas", labels())] == 3
    assert found[("modelops_model_existing_replicas", labels())] == 4
    assert found[("modelops_model_desired_replicas", labels("idle", "idle"))] == 0
    assert found[("modelops_model_load", labels())] == 27.5
    assert found[("modelops_model_holding_requests", labels())] == 2
    assert found[("modelops_model_autoscaler_recommendation", labels())] == 5
    assert found[("modelops_model_rollout_step", labels())] == 1
    assert found[("modelops_model_canary_weight", labels())] == 10
    assert found[("modelops_model_canary_replicas", labels())] == 1
    assert found[("modelops_model_canary_phase", labels(phase="Progressing"))] == 1
    assert found[("modelops_model_analysis_requests", labels(track="canary"))] == 10
    assert found[("modelops_model_analysis_errors", labels(track="stable"))] == 1
    assert found[("modelops_model_analysis_error_rate", labels(track="stable"))] == 0.011
    assert found[("modelops_model_analysis_p95_seconds", labels(track="canary"))] == 1.2
    assert found[("modelops_model_analysis_p95_ttft_seconds", labels(track="canary"))] == 0.3
    assert ("modelops_model_analysis_p95_ttft_seconds", labels(track="stable")) not in found
    assert found[("modelops_model_analysis_missing_requests", labels())] == 10
    # A model without a rollout or an autoscaler has no such series (not a misleading 0).
    assert ("modelops_model_canary_weight", labels("idle", "idle")) not in found
    assert ("modelops_model_load", labels("idle", "idle")) not in found


async def test_reconciles_are_counted_timed_and_errors_typed() -> None:
    metrics = OperatorMetrics(lambda: [])

    async def works() -> float:
        return 5.0

    async def fails() -> float:
        raise LookupError("gone")

    assert await metrics.timed(works()) == 5.0
    with pytest.raises(LookupError):
        await metrics.timed(fails())
    found = samples(metrics)
    assert found[("modelops_operator_reconciles_total", frozenset({("result", "ok")}))] == 1
    assert found[("modelops_operator_reconciles_total", frozenset({("result", "error")}))] == 1
    errors = frozenset({("error", "LookupError")})
    assert found[("modelops_operator_reconcile_errors_total", errors)] == 1
    assert found[("modelops_operator_reconcile_duration_seconds_count", frozenset())] == 2
