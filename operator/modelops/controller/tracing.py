"""One OpenTelemetry span per reconcile, with the plan's decisions as attributes.

Off unless the environment switches tracing on (`modelops.otel`). The span covers the whole
reconcile (gather, plan, execute) and says what was decided: the phase, the rollout's phase,
step and weight, the replica count, the writes, and when the object is looked at again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from modelops.otel import otlp_provider
from modelops.policies.plan import Plan

DEFAULT_SERVICE = "modelops-operator"


def plan_attributes(namespace: str, name: str, plan: Plan) -> dict[str, Any]:
    """The decisions of a plan, as span attributes (pure)."""
    status = plan.status
    attributes: dict[str, Any] = {
        "modelops.namespace": namespace,
        "modelops.name": name,
        "modelops.phase": status.phase or "",
        "modelops.desired_replicas": status.desired_replicas or 0,
        "modelops.applies": len(plan.applies),
        "modelops.scales": len(plan.scales),
        "modelops.events": len(plan.rollout_events) + len(plan.status_events),
        "modelops.stable.slot": plan.decision.stable.slot,
        "modelops.stable.revision": plan.decision.stable.revision,
    }
    if plan.recheck_after is not None:
        attributes["modelops.recheck_after_seconds"] = plan.recheck_after
    canary = status.canary
    if canary is not None:
        attributes.update(
            {
                "modelops.canary.revision": canary.revision,
                "modelops.canary.phase": canary.phase,
                "modelops.canary.step": canary.step,
                "modelops.canary.weight": canary.weight,
            }
        )
    if status.failed_rollout is not None:
        attributes["modelops.failed_rollout.reason"] = status.failed_rollout.reason
    for event in plan.rollout_events:
        attributes.setdefault("modelops.rollout_events", [])
        attributes["modelops.rollout_events"].append(event.reason)
    return attributes


class ReconcileTracer:
    def __init__(self, provider: Any | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("modelops.operator") if provider is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReconcileTracer:
        return cls(otlp_provider(os.environ if environ is None else environ, DEFAULT_SERVICE))

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def record(
        self, key: tuple[str, str], plan: Plan | None, started_ns: int, error: str | None = None
    ) -> None:
        """The span of one reconcile that began at `started_ns` (time.time_ns) and ends now."""
        if self._tracer is None:
            return
        namespace, name = key
        attributes = (
            plan_attributes(namespace, name, plan)
            if plan is not None
            else {"modelops.namespace": namespace, "modelops.name": name}
        )
        span = self._tracer.start_span("reconcile", start_time=started_ns, attributes=attributes)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=time.time_ns())

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()
