"""What the operator sees of a ModelDeployment's children, reduced to the facts decisions use.

Built from raw API objects (dicts) by pure functions, so status decisions can be tested with
plain tables and no cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelops.builders import LABEL_REVISION, LABEL_SLOT

# Container waiting reasons that mean "this will not get better by itself".
FAILING_WAIT_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class PodObservation:
    name: str
    slot: str | None
    phase: str
    ready: bool
    deleting: bool = False
    unschedulable_message: str | None = None  # the scheduler's message when it cannot place it
    waiting_reasons: tuple[str, ...] = ()
    restarts: int = 0
    started: bool = False  # every container passed its startup probe (or has none)
    not_ready_since: str | None = None  # RFC 3339, while Ready is False
    revision: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class DeploymentObservation:
    name: str
    slot: str | None
    generation: int = 0
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    updated_replicas: int = 0
    progress_deadline_exceeded: bool = False
    revision: str | None = None


@dataclass(frozen=True)
class Observed:
    deployments: Mapping[str, DeploymentObservation] = field(default_factory=dict)  # by slot
    pods: tuple[PodObservation, ...] = ()

    def pods_of(self, slot: str) -> list[PodObservation]:
        return [p for p in self.pods if p.slot == slot and not p.deleting]


def observe_pod(body: Mapping[str, Any]) -> PodObservation:
    meta = body.get("metadata", {})
    status = body.get("status", {}) or {}
    conditions = {c.get("type"): c for c in status.get("conditions", []) or []}
    scheduled = conditions.get("PodScheduled", {})
    unschedulable = None
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        unschedulable = scheduled.get("message") or "the scheduler cannot place the pod"
    containers = status.get("containerStatuses", []) or []
    waiting = tuple(
        c["state"]["waiting"].get("reason", "")
        for c in containers
        if (c.get("state") or {}).get("waiting")
    )
    return PodObservation(
        name=meta.get("name", ""),
        slot=(meta.get("labels") or {}).get(LABEL_SLOT),
        phase=status.get("phase", "Pending"),
        ready=conditions.get("Ready", {}).get("status") == "True",
        deleting=meta.get("deletionTimestamp") is not None,
        unschedulable_message=unschedulable,
        waiting_reasons=waiting,
        restarts=sum(int(c.get("restartCount", 0)) for c in containers),
        started=bool(containers) and all(c.get("started") for c in containers),
        not_ready_since=(
            conditions.get("Ready", {}).get("lastTransitionTime")
            if conditions.get("Ready", {}).get("status") == "False"
            else None
        ),
        revision=(meta.get("labels") or {}).get(LABEL_REVISION),
        ip=status.get("podIP"),
    )


def observe_deployment(body: Mapping[str, Any]) -> DeploymentObservation:
    meta = body.get("metadata", {})
    status = body.get("status", {}) or {}
    conditions = {c.get("type"): c for c in status.get("conditions", []) or []}
    progressing = conditions.get("Progressing", {})
    return DeploymentObservation(
        name=meta.get("name", ""),
        slot=(meta.get("labels") or {}).get(LABEL_SLOT),
        generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int((body.get("spec") or {}).get("replicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        progress_deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        revision=(meta.get("labels") or {}).get(LABEL_REVISION),
    )


def observe(
    deployments: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> Observed:
    by_slot = {}
    for body in deployments:
        observation = observe_deployment(body)
        if observation.slot:
            by_slot[observation.slot] = observation
    return Observed(by_slot, tuple(observe_pod(p) for p in pods))
