"""One plan per reconcile (pure): everything the executor writes, decided before any write.

`plan(gathered)` composes the policies: what is observed of both slots, the rollout step
machine, the status conditions, the drift check, and the router tracks. The executor then
applies the manifests, scales the slots that only change size, posts the Events and patches
the status, in that order, and never decides anything after a write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelops.api.conditions import make_condition, remove_condition, set_condition
from modelops.api.resource import ModelDeployment
from modelops.api.spec import Rollout
from modelops.api.status import SCALING_LIMITED, ModelDeploymentStatus
from modelops.api.wire import GROUP
from modelops.builders import (
    SLOTS,
    build_children,
    deployment_name,
    model_selector,
    revision,
    selector_string,
)
from modelops.builders.router_config import SlotTrack
from modelops.policies.analysis import Figures
from modelops.policies.autoscaling import LoadSample, autoscale
from modelops.policies.drift import plan_applies
from modelops.policies.observed import FAILING_WAIT_REASONS, Observed, observe
from modelops.policies.rollout import (
    Commands,
    RolloutDecision,
    RolloutEvent,
    RolloutInputs,
    SlotView,
    SmokeVerdict,
    decide,
)
from modelops.policies.status import Transition, derive_status, transitions

Body = Mapping[str, Any]
ANNOTATION_PROMOTE = f"{GROUP}/rollout-promote"
ANNOTATION_ABORT = f"{GROUP}/rollout-abort"
ANNOTATION_PAUSED = f"{GROUP}/rollout-paused"
NOT_READY_RECHECK_SECONDS = 15.0
ROUTED = "Routed"


@dataclass(frozen=True)
class Gathered:
    """Everything observed for one ModelDeployment, before any decision."""

    md: ModelDeployment
    uid: str
    generation: int
    previous: ModelDeploymentStatus | None  # our own last write (never a stale cache)
    deployments: Sequence[Body]
    pods: Sequence[Body]
    services: Sequence[Body]
    claims: Sequence[Body]
    now: datetime
    figures: Figures | None = None
    smoke: SmokeVerdict | None = None
    routing_problems: tuple[str, ...] | None = None  # None: the router config is not built yet
    load: Sequence[LoadSample] = ()  # the autoscaler's samples, oldest first


@dataclass(frozen=True)
class PlannedEvent:
    type: str
    reason: str
    message: str
    key: str | None = None  # a rollout transition: posted once, whatever happens after


@dataclass(frozen=True)
class RouteTracks:
    """What the router config needs of this model: its tracks and the `-canary` alias."""

    tracks: tuple[SlotTrack, ...]
    canary_alias: SlotTrack | None = None


@dataclass(frozen=True)
class Plan:
    applies: tuple[Mapping[str, Any], ...]
    scales: tuple[tuple[str, int], ...]  # (Deployment name, replicas) for size-only changes
    status: ModelDeploymentStatus
    rollout_events: tuple[PlannedEvent, ...]  # posted before the status write
    status_events: tuple[PlannedEvent, ...]  # posted after it (they describe it)
    route: RouteTracks
    recheck_after: float | None
    decision: RolloutDecision


def commands(md: ModelDeployment, canary_revision: str | None) -> Commands:
    """Annotations name the canary revision they mean, so a leftover one never acts on the
    next rollout; `rollout-paused` is a switch."""
    annotations = md.metadata.annotations
    return Commands(
        promote=canary_revision is not None
        and annotations.get(ANNOTATION_PROMOTE) == canary_revision,
        abort=canary_revision is not None and annotations.get(ANNOTATION_ABORT) == canary_revision,
        paused=annotations.get(ANNOTATION_PAUSED, "").lower() == "true",
    )


def slot_views(observed: Observed) -> dict[str, SlotView]:
    views: dict[str, SlotView] = {}
    for slot in SLOTS:
        deployment = observed.deployments.get(slot)
        pods = observed.pods_of(slot)
        by_revision: dict[str, int] = {}
        for pod in pods:
            if pod.ready and pod.revision:
                by_revision[pod.revision] = by_revision.get(pod.revision, 0) + 1
        unschedulable = next(
            (p.unschedulable_message for p in pods if p.unschedulable_message), None
        )
        failing = sorted({r for p in pods for r in p.waiting_reasons if r in FAILING_WAIT_REASONS})
        views[slot] = SlotView(
            exists=deployment is not None,
            revision=deployment.revision if deployment is not None else None,
            replicas=deployment.replicas if deployment is not None else 0,
            pods=len(pods),
            ready=sum(p.ready for p in pods),
            unschedulable=unschedulable,
            failing=tuple(failing),
            ready_by_revision=by_revision,
        )
    return views


def plan(gathered: Gathered) -> Plan:
    md = gathered.md
    namespace, name = md.namespace, md.name
    previous = gathered.previous
    observed = observe(gathered.deployments, gathered.pods)
    desired_revision = revision(md.spec, name=name)
    rollout = md.spec.rollout or Rollout()
    scaling = autoscale(
        md.spec, previous, gathered.load, observed.pods, gathered.now, gathered.generation
    )
    total = scaling.desired_replicas if scaling is not None else md.spec.replicas
    canary = previous.canary if previous else None
    decision = decide(
        RolloutInputs(
            desired_revision=desired_revision,
            rollout=rollout,
            total=total,
            stable=previous.stable if previous else None,
            canary=canary,
            failed=previous.failed_rollout if previous else None,
            slots=slot_views(observed),
            now=gathered.now,
            figures=gathered.figures,
            smoke=gathered.smoke,
            commands=commands(md, canary.revision if canary else None),
            split=scaling is not None,
        )
    )

    # Children: the slot running the spec's revision is rendered whole; the other slot keeps
    # the template it has (an older revision) and is only sized.
    live = _live_by_kind_name(gathered)
    wanted: list[Mapping[str, Any]] = []
    template_slot = decision.template_slot
    children = build_children(
        md,
        namespace=namespace,
        name=name,
        uid=gathered.uid,
        slot=template_slot or decision.stable.slot,
        replicas=decision.replicas.get(template_slot, 0) if template_slot else 0,
    )
    if children.pvc is not None:
        wanted.append(children.pvc)
    if template_slot is not None:
        wanted.append(children.deployment)
    wanted.append(children.service)
    scales = []
    for slot in SLOTS:
        if slot == template_slot:
            continue
        deployment = observed.deployments.get(slot)
        replicas = decision.replicas.get(slot, 0)
        if deployment is not None and deployment.replicas != replicas:
            scales.append((deployment_name(name, slot), replicas))

    stable_target = decision.replicas.get(decision.stable.slot, 0)
    status = derive_status(
        observed,
        slot=decision.stable.slot,
        revision=decision.stable.revision,
        desired=stable_target,
        generation=gathered.generation,
        served_name=md.served_name,
        selector=selector_string(model_selector(name)),
        previous=previous,
        now=gathered.now,
        progressing=decision.progressing,
        degraded=decision.degraded,
        in_progress=decision.in_progress,
    )
    status = status.model_copy(
        update={
            "desired_replicas": total,
            "canary": _with_replicas(decision, observed),
            "failed_rollout": decision.failed,
            "autoscaler": scaling.memory if scaling is not None else None,
            "conditions": (
                set_condition(status.conditions, scaling.condition, gathered.now)
                if scaling is not None
                else remove_condition(status.conditions, SCALING_LIMITED)
            ),
        }
    )
    status = _with_routed(status, md, gathered.routing_problems, gathered.now)
    rollout_events = tuple(_planned(event) for event in decision.events)
    status_events = tuple(_from_transition(t) for t in transitions(previous, status))
    if scaling is not None and scaling.changed:
        # As HPA's SuccessfulRescale: why the count moved, posted with the status that says so.
        up = scaling.desired_replicas > scaling.previous_replicas
        status_events += (
            PlannedEvent("Normal", "ScaledUp" if up else "ScaledDown", scaling.reason),
        )
    recheck = decision.recheck_after
    if status.phase != "Ready" and recheck is None:
        recheck = NOT_READY_RECHECK_SECONDS
    if scaling is not None:
        recheck = scaling.requeue_after if recheck is None else min(recheck, scaling.requeue_after)
    return Plan(
        applies=tuple(plan_applies(wanted, live)),
        scales=tuple(scales),
        status=status,
        rollout_events=rollout_events,
        status_events=status_events,
        route=RouteTracks(decision.tracks, decision.canary_alias),
        recheck_after=recheck,
        decision=decision,
    )


def _with_replicas(decision: RolloutDecision, observed: Observed) -> Any:
    if decision.canary is None:
        return None
    pods = len(observed.pods_of(decision.canary.slot))
    return decision.canary.model_copy(update={"replicas": pods})


def _with_routed(
    status: ModelDeploymentStatus,
    md: ModelDeployment,
    problems: tuple[str, ...] | None,
    now: datetime,
) -> ModelDeploymentStatus:
    if problems is None:
        return status
    generation = status.observed_generation
    if problems:
        routed = make_condition(
            ROUTED,
            "False",
            "RoutingConflict",
            "; ".join(problems),
            now=now,
            observed_generation=generation,
        )
    else:
        routed = make_condition(
            ROUTED,
            "True",
            "InRouterConfig",
            f"served as {md.served_name!r} by the router",
            now=now,
            observed_generation=generation,
        )
    return status.model_copy(update={"conditions": set_condition(status.conditions, routed, now)})


def _live_by_kind_name(gathered: Gathered) -> dict[tuple[str, str], Body]:
    live: dict[tuple[str, str], Body] = {}
    for kind, items in (
        ("Deployment", gathered.deployments),
        ("Service", gathered.services),
        ("PersistentVolumeClaim", gathered.claims),
    ):
        for item in items:
            live[(kind, item["metadata"]["name"])] = item
    return live


def _planned(event: RolloutEvent) -> PlannedEvent:
    return PlannedEvent(event.type, event.reason, event.message, event.key)


def _from_transition(transition: Transition) -> PlannedEvent:
    return PlannedEvent(transition.type, transition.reason, transition.message)
