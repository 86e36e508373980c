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
    type: str = Field(min_length=1, max_length=316, pattern=CONDITION_TYPE_PATTERN)
    status: ConditionStatus
    reason: str = Field(min_length=1, max_length=1024, pattern=REASON_PATTERN)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


class SlotStatus(WireModel):
    """The Deployment slot currently taking (stable) traffic."""

    slot: Slot
    revision: str = Field(max_length=63)
    replicas: int = Field(default=0, ge=0)


class CanaryStatus(WireModel):
    """The slot running a new revision during a rollout. Not populated yet."""

    slot: Slot
    revision: str = Field(max_length=63)
    replicas: int = Field(default=0, ge=0)
    weight: int = Field(default=0, ge=0, le=100)
    step: int = Field(default=0, ge=0)


class ModelDeploymentStatus(WireModel):
    observed_generation: int | None = Field(default=None, ge=0)
    phase: Phase | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    served_model_name: str | None = Field(
        default=None, description="The effective served name (spec or metadata.name)."
    )
    replicas: int | None = Field(
        default=None, ge=0, description="Pods of this model that exist (scale subresource)."
    )
    ready_replicas: int | None = Field(default=None, ge=0)
    desired_replicas: int | None = Field(default=None, ge=0)
    selector: str | None = Field(
        default=None, description="Label selector of all pods of this model (scale subresource)."
    )
    stable: SlotStatus | None = None
    canary: CanaryStatus | None = None
