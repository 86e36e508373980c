"""Deciding a ModelDeployment's status from what is in the cluster (pure).

Conditions follow kstatus conventions, so `kubectl wait --for=condition=Ready`, Argo CD and
Flux read them without custom health scripts:

* Ready: all desired replicas of the stable slot are ready (or scaled to zero).
* Progressing: the workload is moving towards the spec (rolling out, waiting for pods).
* Degraded: something will not fix itself (crash loop, image pull, deadline exceeded).

Reasons explain the first thing a user must know, e.g. InsufficientGPU with the
scheduler's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from modelops.api.conditions import find_condition, make_condition, set_condition
from modelops.api.status import (
    DEGRADED,
    PROGRESSING,
    READY,
    Condition,
    ConditionStatus,
    ModelDeploymentStatus,
    Phase,
    SlotStatus,
)
from modelops.policies.observed import FAILING_WAIT_REASONS, Observed, PodObservation
from modelops.policies.rollout import FAILURE_REASONS

GPU_RESOURCE = "nvidia.com/gpu"
RECONCILING = "Reconciling"
# Ready=False reasons that are trouble (a Warning Event), not progress.
TROUBLE_REASONS = ("InsufficientGPU", "Unschedulable", "ApplyFailed", "InvalidSpec")
STALLED = "Stalled"
# A started pod may miss a few probes (a slow request, a GC pause) before it counts as trouble.
READINESS_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Assessment:
    """The three conditions' (status, reason, message) before timestamps are applied."""

    ready: tuple[str, str, str]
    progressing: tuple[str, str, str]
    degraded: tuple[str, str, str]
    phase: Phase


def failing_readiness(pod: PodObservation, now: datetime) -> bool:
    """Started (past any startup probe) yet not Ready for longer than the grace period."""
    if pod.phase != "Running" or pod.ready or not pod.started or pod.not_ready_since is None:
        return False
    try:
        since = datetime.fromisoformat(pod.not_ready_since.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (now - since).total_seconds() >= READINESS_GRACE_SECONDS


def assess(
    observed: Observed, *, slot: str, desired: int, now: datetime | None = None
) -> Assessment:
    deployment = observed.deployments.get(slot)
    pods = observed.pods_of(slot)
    ready_pods = sum(p.ready for p in pods)
    unschedulable = [p for p in pods if p.unschedulable_message]
    failing = sorted({r for p in pods for r in p.waiting_reasons if r in FAILING_WAIT_REASONS})
    unready = [p for p in pods if now is not None and failing_readiness(p, now)]

    if failing:
        degraded = ("True", failing[0], f"pods of slot {slot} are in {', '.join(failing)}")
    elif unready:
        names = ", ".join(sorted(p.name for p in unready))
        degraded = (
            "True",
            "ReadinessProbeFailing",
            f"running but failing their readiness probe for over "
            f"{READINESS_GRACE_SECONDS:.0f}s: {names}",
        )
    elif deployment is not None and deployment.progress_deadline_exceeded:
        degraded = (
            "True",
            "ProgressDeadlineExceeded",
            f"deployment {deployment.name} did not become available in time",
        )
    else:
        degraded = ("False", "AsExpected", "")

    if deployment is None:
        ready = ("False", "Creating", f"creating the workload of slot {slot}")
        progressing = ("True", "Creating", ready[2])
    elif unschedulable:
        message = unschedulable[0].unschedulable_message or ""
        reason = "InsufficientGPU" if f"Insufficient {GPU_RESOURCE}" in message else "Unschedulable"
        ready = ("False", reason, message)
        progressing = (
            "True",
            "WaitingForCapacity",
            f"{len(unschedulable)} pod(s) cannot be scheduled: {message}",
        )
    elif desired == 0:
        done = not pods
        ready = ("True", "ScaledToZero", "scaled to zero replicas")
        progressing = (
            "False" if done else "True",
            "ScaledToZero" if done else "ScalingDown",
            "no replicas requested",
        )
    else:
        rolled_out = (
            deployment.observed_generation >= deployment.generation
            and deployment.updated_replicas >= desired
        )
        if ready_pods >= desired and rolled_out:
            ready = ("True", "AllReplicasReady", f"{ready_pods}/{desired} replicas ready")
            progressing = ("False", "RolloutComplete", f"revision running on slot {slot}")
        else:
            ready = ("False", "WaitingForReplicas", f"{ready_pods}/{desired} replicas ready")
            progressing = ("True", "RollingOut", f"{ready_pods}/{desired} replicas ready")

    phase: Phase
    if degraded[0] == "True":
        phase = "Degraded"
    elif ready[0] == "True" and progressing[0] == "False":
        phase = "Ready"
    elif ready_pods == 0 and (unschedulable or deployment is None):
        phase = "Pending"
    else:
        phase = "Progressing"
    return Assessment(ready, progressing, degraded, phase)


def with_rollout(
    assessment: Assessment,
    progressing: tuple[str, str, str] | None,
    degraded: tuple[str, str, str] | None,
    in_progress: bool,
) -> Assessment:
    if progressing is None and degraded is None:
        return assessment
    new_degraded = assessment.degraded
    if degraded is not None and assessment.degraded[0] != "True":
        new_degraded = degraded  # the stable slot's own trouble is told first
    new_progressing = progressing if progressing is not None else assessment.progressing
    if assessment.progressing[0] == "True" and not in_progress:
        new_progressing = assessment.progressing  # stable pods still coming up: say that
    phase: Phase
    if new_degraded[0] == "True":
        phase = "Degraded"
    elif in_progress:
        phase = "Progressing" if assessment.ready[0] == "True" else assessment.phase
    else:
        phase = assessment.phase
    return Assessment(assessment.ready, new_progressing, new_degraded, phase)


def kstatus_conditions(assessment: Assessment) -> list[tuple[str, tuple[str, str, str]]]:
    """kstatus (Flux, kpt, cli-utils) reads only these two "abnormal-true" types on custom
    resources; mirroring our conditions makes `wait: true` wait for Ready without CEL."""
    working = assessment.phase in ("Pending", "Progressing")
    told = assessment.progressing if assessment.progressing[0] == "True" else assessment.ready
    reason, message = (told[1], told[2]) if working else ("Reconciled", "")
    stalled = (
        assessment.degraded if assessment.degraded[0] == "True" else ("False", "AsExpected", "")
    )
    return [
        (RECONCILING, ("True" if working else "False", reason, message)),
        (STALLED, stalled),
    ]


def derive_status(
    observed: Observed,
    *,
    slot: str,
    revision: str,
    desired: int,
    generation: int,
    served_name: str,
    selector: str,
    previous: ModelDeploymentStatus | None,
    now: datetime,
    progressing: tuple[str, str, str] | None = None,
    degraded: tuple[str, str, str] | None = None,
    in_progress: bool = False,
) -> ModelDeploymentStatus:
    """The whole status; lastTransitionTime moves only when a condition's status changes.

    A rollout overrides Progressing (while it runs, or after it failed) and Degraded (after
    a rollback); the stable slot alone decides Ready, since it serves the users."""
    assessment = with_rollout(
        assess(observed, slot=slot, desired=desired, now=now), progressing, degraded, in_progress
    )
    conditions: list[Condition] = list(previous.conditions) if previous else []
    for type_, (status, reason, message) in (
        (READY, assessment.ready),
        (PROGRESSING, assessment.progressing),
        (DEGRADED, assessment.degraded),
        *kstatus_conditions(assessment),
    ):
        new = make_condition(
            type_,
            cast(ConditionStatus, status),
            reason,
            message,
            now=now,
            observed_generation=generation,
        )
        conditions = set_condition(conditions, new, now)
    live = [p for p in observed.pods if not p.deleting]
    slot_pods = observed.pods_of(slot)
    return ModelDeploymentStatus(
        observed_generation=generation,
        phase=assessment.phase,
        conditions=conditions,
        served_model_name=served_name,
        replicas=len(live),
        ready_replicas=sum(p.ready for p in live),
        desired_replicas=desired,
        selector=selector,
        stable=SlotStatus(slot=slot, revision=revision, replicas=len(slot_pods)),
    )


@dataclass(frozen=True)
class Transition:
    type: str  # Normal | Warning
    reason: str
    message: str


def transitions(
    previous: ModelDeploymentStatus | None, current: ModelDeploymentStatus
) -> list[Transition]:
    """Events worth posting: Ready or Degraded flipping, and any trouble appearing.

    Reason-only changes (Creating -> WaitingForReplicas) and Progressing stay quiet: the
    status shows them, and an Event per step would flood `kubectl describe` at scale.
    """
    events = []
    for condition in current.conditions:
        before = find_condition(previous.conditions, condition.type) if previous else None
        if condition.type in (PROGRESSING, RECONCILING, STALLED):
            continue  # Progressing is told by Ready; the kstatus two mirror Ready/Degraded
        if condition.type == DEGRADED and (
            condition.reason in FAILURE_REASONS
            or (before is not None and before.reason in FAILURE_REASONS)
        ):
            continue  # the rollout posts its own Event for these, with the figures
        bad = (
            (condition.type == DEGRADED and condition.status == "True")
            or (
                condition.type == READY
                and condition.status == "False"
                and condition.reason in TROUBLE_REASONS
            )
            or (condition.status == "False" and condition.reason == "RoutingConflict")
        )
        if before is None and not bad:
            continue  # a new object: only trouble is worth an Event
        if (
            before is not None
            and before.status == condition.status
            and (not bad or before.reason == condition.reason)
        ):
            continue
        text = condition.message or condition.reason
        events.append(
            Transition(
                "Warning" if bad else "Normal",
                condition.reason,
                f"{condition.type}={condition.status}: {text}",
            )
        )
    return events
