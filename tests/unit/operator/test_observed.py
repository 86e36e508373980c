"""modelops.policies.observed: raw API dicts -> the facts status decisions use."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.builders import LABEL_SLOT
from modelops.policies.observed import (
    DeploymentObservation,
    Observed,
    PodObservation,
    observe,
    observe_deployment,
    observe_pod,
)

GPU_MESSAGE = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."


def container(state: Any, restarts: Any = 0, name: str = "server") -> dict[str, Any]:
    return {"name": name, "state": state, "restartCount": restarts}


POD_CASES: list[tuple[str, dict[str, Any], PodObservation]] = [
    ("empty object", {}, PodObservation(name="", slot=None, phase="Pending", ready=False)),
    (
        "null status, labels and lists",
        {
            "metadata": {"name": "p", "labels": None},
            "status": None,
        },
        PodObservation(name="p", slot=None, phase="Pending", ready=False),
    ),
    (
        "null conditions and containerStatuses",
        {"metadata": {"name": "p"}, "status": {"conditions": None, "containerStatuses": None}},
        PodObservation(name="p", slot=None, phase="Pending", ready=False),
    ),
    (
        "running and ready",
        {
            "metadata": {"name": "p", "labels": {LABEL_SLOT: "blue", "other": "x"}},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
                "containerStatuses": [container({"running": {"startedAt": "t"}}, restarts=2)],
            },
        },
        PodObservation(name="p", slot="blue", phase="Running", ready=True, restarts=2),
    ),
    (
        "ready condition False",
        {
            "metadata": {"name": "p"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
        },
        PodObservation(name="p", slot=None, phase="Running", ready=False),
    ),
    (
        "unschedulable with the scheduler's message",
        {
            "metadata": {"name": "p", "labels": {LABEL_SLOT: "green"}},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": GPU_MESSAGE,
                    }
                ],
            },
        },
        PodObservation(
            name="p", slot="green", phase="Pending", ready=False, unschedulable_message=GPU_MESSAGE
        ),
    ),
    (
        "unschedulable without a message",
        {
            "metadata": {"name": "p"},
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                ]
            },
        },
        PodObservation(
            name="p",
            slot=None,
            phase="Pending",
            ready=False,
            unschedulable_message="the scheduler cannot place the pod",
        ),
    ),
    (
        "scheduling gated is not unschedulable",
        {
            "metadata": {"name": "p"},
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ]
            },
        },
        PodObservation(name="p", slot=None, phase="Pending", ready=False),
    ),
    (
        "waiting reasons of every container, restarts summed",
        {
            "metadata": {"name": "p"},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    container({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=5),
                    container({"waiting": {"reason": "ImagePullBackOff"}}, restarts="1", name="b"),
                    container({"terminated": {"exitCode": 1}}, name="c"),
                    container(None, name="d"),
                    {"name": "e"},
                    container({"waiting": {}}, name="f"),
                    container({"waiting": {"message": "no reason"}}, name="g"),
                ],
            },
        },
        PodObservation(
            name="p",
            slot=None,
            phase="Running",
            ready=False,
            waiting_reasons=("CrashLoopBackOff", "ImagePullBackOff", ""),
            restarts=6,
        ),
    ),
    (
        "terminating",
        {"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {}},
        PodObservation(name="p", slot=None, phase="Pending", ready=False, deleting=True),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES]
)
def test_observe_pod(body: dict[str, Any], expected: PodObservation) -> None:
    assert observe_pod(body) == expected


DEPLOYMENT_CASES: list[tuple[str, dict[str, Any], DeploymentObservation]] = [
    ("empty object", {}, DeploymentObservation(name="", slot=None)),
    (
        "null status and labels",
        {"metadata": {"name": "d", "labels": None}, "spec": None, "status": None},
        DeploymentObservation(name="d", slot=None),
    ),
    (
        "complete",
        {
            "metadata": {"name": "d", "generation": 4, "labels": {LABEL_SLOT: "blue"}},
            "spec": {"replicas": 3},
            "status": {
                "observedGeneration": 3,
                "readyReplicas": 2,
                "updatedReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True"},
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
                ],
            },
        },
        DeploymentObservation(
            name="d",
            slot="blue",
            generation=4,
            observed_generation=3,
            replicas=3,
            ready_replicas=2,
            updated_replicas=1,
        ),
    ),
    (
        "progress deadline exceeded",
        {
            "metadata": {"name": "d", "labels": {LABEL_SLOT: "green"}},
            "status": {
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ]
            },
        },
        DeploymentObservation(name="d", slot="green", progress_deadline_exceeded=True),
    ),
    (
        "the reason on another condition type does not count",
        {
            "metadata": {"name": "d"},
            "status": {
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ]
            },
        },
        DeploymentObservation(name="d", slot=None),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in DEPLOYMENT_CASES], ids=[c[0] for c in DEPLOYMENT_CASES]
)
def test_observe_deployment(body: dict[str, Any], expected: DeploymentObservation) -> None:
    assert observe_deployment(body) == expected


def deployment_body(name: str, slot: str | None, generation: int = 1) -> dict[str, Any]:
    labels = {LABEL_SLOT: slot} if slot else {}
    return {"metadata": {"name": name, "labels": labels, "generation": generation}}


def pod_body(name: str, slot: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {LABEL_SLOT: slot} if slot else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def test_observe_keys_deployments_by_slot_and_keeps_every_pod() -> None:
    result = observe(
        (d for d in [deployment_body("x-blue", "blue"), deployment_body("stray", None)]),
        (p for p in [pod_body("a", "blue"), pod_body("b", None), pod_body("c", "green", True)]),
    )
    assert set(result.deployments) == {"blue"}
    assert result.deployments["blue"].name == "x-blue"
    assert [p.name for p in result.pods] == ["a", "b", "c"]


def test_observe_nothing() -> None:
    assert observe([], []) == Observed()


def test_pods_of_excludes_other_slots_and_terminating_pods() -> None:
    result = observe(
        [],
        [
            pod_body("a", "blue"),
            pod_body("b", "blue", deleting=True),
            pod_body("c", "green"),
            pod_body("d", None),
        ],
    )
    assert [p.name for p in result.pods_of("blue")] == ["a"]
    assert [p.name for p in result.pods_of("green")] == ["c"]
