"""`ModelDeployment.status`: rebuilt by the operator from what is in the cluster.

Unknown status fields are pruned by the API server (the schema is structural), so everything
the operator writes must be declared here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from modelops.api.wire import WireModel

Phase = Literal["Pending", "Progressing", "Ready", "Degraded", "Failed"]
PHASES: tuple[Phase, ...] = ("Pending", "Progressing", "Ready", "Degraded", "Failed")
ConditionStatus = Literal["True", "False", "Unknown"]

# Condition types the operator maintains (others may appear later; the schema allows any).
READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"

# As in metav1.Condition: CamelCase reasons, so that tools can match on them.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
Slot = Literal["blue", "green"]


class Condition(WireModel):
    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=CONDITION_TYPE_PATTERN,
        description="Ready, Progressing, Degraded, Reconciling, Stalled, Routed, ScalingLimited.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=REASON_PATTERN,
        description="CamelCase reason, e.g. InsufficientGPU or RolledBack.",
    )
    message: str = Field(default="", max_length=32768, description="What happened, in words.")
    last_transition_time: datetime = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the condition describes."
    )


class SlotStatus(WireModel):
    """The Deployment slot currently taking (stable) traffic."""

    slot: Slot = Field(description="The Deployment slot: <name>-blue or <name>-green.")
    revision: str = Field(
        max_length=63, description="Hash of the pod template this slot runs (modelops.io/revision)."
    )
    replicas: int = Field(default=0, ge=0, description="Pods of this slot that exist.")


class TrackFigures(WireModel):
    """One track's traffic over the current analysis window, as the router counted it."""

    requests: int = Field(default=0, ge=0, description="Requests seen by the track.")
    errors: int = Field(
        default=0, ge=0, description="Requests that failed on the track (retried on stable or not)."
    )
    error_rate: float | None = Field(
        default=None, ge=0, le=1, description="errors / requests; empty with no requests."
    )
    p95_seconds: float | None = Field(
        default=None, ge=0, description="95th percentile request latency (failed ones included)."
    )
    p95_ttft_seconds: float | None = Field(
        default=None,
        ge=0,
        alias="p95TTFTSeconds",
        description="95th percentile time to first token of streamed requests.",
    )


class CanaryAnalysis(WireModel):
    """The figures the rollout judges the canary by, over the current step's window."""

    window_start: datetime | None = Field(
        default=None, description="Start of the window (the step's start)."
    )
    stable: TrackFigures = Field(default_factory=TrackFigures)
    canary: TrackFigures = Field(default_factory=TrackFigures)
    missing_requests: int = Field(
        default=0, ge=0, description="Canary requests still needed before the step can be judged."
    )
    message: str = Field(default="", max_length=1024, description="The verdict so far, in words.")


CanaryPhase = Literal[
    "Starting", "SmokeTesting", "Progressing", "Paused", "Promoting", "Draining", "RolledBack"
]


class CanaryStatus(WireModel):
    """The slot running a new revision during a rollout."""

    slot: Slot = Field(description="The slot the new revision runs in.")
    revision: str = Field(max_length=63, description="The new revision (pod template hash).")
    replicas: int = Field(default=0, ge=0, description="Pods of the canary slot that exist.")
    weight: int = Field(
        default=0, ge=0, le=100, description="Percent of traffic the router sends to the canary."
    )
    step: int = Field(default=0, ge=0, description="Index into spec.rollout.steps (0-based).")
    step_started_at: datetime | None = Field(
        default=None, description="When the current step (or phase) began."
    )
    phase: CanaryPhase = Field(default="Starting", description="Where the rollout stands.")
    capacity: Literal["Surge", "Reuse"] = Field(
        default="Surge",
        description="Surge: the canary runs beside all stable replicas. Reuse: stable replicas "
        "make room for it (chosen when GPUs are short, see spec.rollout.capacity).",
    )
    analysis: CanaryAnalysis | None = Field(
        default=None, description="Figures of both tracks over the current window."
    )
    rollout_hash: str = Field(
        default="",
        max_length=63,
        description="Hash of spec.rollout when this rollout started (an edited step list "
        "is noticed).",
    )
    started_at: datetime | None = Field(
        default=None, description="When this rollout began (the progress deadline counts from it)."
    )


class FailedRollout(WireModel):
    """A revision that was rolled back, and why."""

    revision: str = Field(max_length=63, description="The revision that was rolled back.")
    reason: str = Field(
        max_length=64, description="RolledBack, SmokeTestFailed, ProgressDeadlineExceeded, Aborted."
    )
    message: str = Field(default="", max_length=1024, description="The failing figure, in words.")
    at: datetime | None = Field(default=None, description="When it was rolled back.")


class ModelDeploymentStatus(WireModel):
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status describes."
    )
    phase: Phase | None = Field(
        default=None, description="Pending, Progressing, Ready, Degraded or Failed."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Kubernetes-style conditions (kstatus, kubectl wait, GitOps health).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    served_model_name: str | None = Field(
        default=None, description="The effective served name (spec or metadata.name)."
    )
    replicas: int | None = Field(
        default=None, ge=0, description="Pods of this model that exist (scale subresource)."
    )
    ready_replicas: int | None = Field(
        default=None, ge=0, description="Pods of this model that are Ready."
    )
    desired_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas the model should have: spec.replicas, or the autoscaler's count.",
    )
    selector: str | None = Field(
        default=None, description="Label selector of all pods of this model (scale subresource)."
    )
    stable: SlotStatus | None = Field(
        default=None, description="The slot serving the stable revision."
    )
    canary: CanaryStatus | None = Field(
        default=None, description="The rollout in progress, when there is one."
    )
    failed_rollout: FailedRollout | None = Field(
        default=None,
        description="The last rollout that was rolled back; its revision is not retried until "
        "the spec changes again.",
    )
    autoscaler: AutoscalerStatus | None = Field(
        default=None,
        description="The autoscaler's memory and its last look at the load (autoscaling.enabled).",
    )


# ---------------------------------------------------------------------------------------------
# Autoscaling


SCALING_LIMITED = "ScalingLimited"


class AutoscalerStatus(WireModel):
    """What the autoscaler must remember across operator restarts, and what it last saw.

    The load samples of the averaging windows live in the operator's memory (lost on restart,
    which only delays the next scale-down: a short history never removes replicas)."""

    last_scale_time: datetime | None = Field(
        default=None, description="When the autoscaler last changed desiredReplicas."
    )
    idle_since: datetime | None = Field(
        default=None,
        description="Since when nothing has been in flight or held (drives scaleToZeroAfter).",
    )
    recommendation: int | None = Field(
        default=None,
        ge=0,
        description="Replicas the load asked for at the last look, before min/max, the step "
        "limits and GPU capacity.",
    )
    load: float | None = Field(
        default=None,
        ge=0,
        description="In-flight plus held requests over the scale-up window, at the last look.",
    )
    holding: int | None = Field(
        default=None, ge=0, description="Requests the router held for lack of a replica."
    )
    unreadable_pods: int = Field(
        default=0, ge=0, description="Ready pods whose metrics could not be read at the last look."
    )


ModelDeploymentStatus.model_rebuild()
