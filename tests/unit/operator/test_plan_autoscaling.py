"""modelops.policies.plan with autoscaling on: the decision lands in status, in the slots'
sizes and in an Event; spec.replicas is ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelops.api import parse_model_deployment
from modelops.api.status import AutoscalerStatus, ModelDeploymentStatus, SlotStatus
from modelops.policies.autoscaling import LoadSample
from modelops.policies.plan import Gathered, Plan, plan

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def planned(in_flight: float, desired: int | None = 1) -> Plan:
    md = parse_model_deployment(
        {
            "metadata": {"name": "m", "namespace": "ai", "uid": "u1", "generation": 3},
            "spec": {
                "engine": "ollama",
                "model": "phi3:mini",
                "replicas": 7,  # ignored: autoscaling is on
                "autoscaling": {"enabled": True, "maxReplicas": 8, "targetInFlight": 4},
            },
        }
    )
    previous = ModelDeploymentStatus(
        stable=SlotStatus(slot="blue", revision="whatever", replicas=1),
        desired_replicas=desired,
        autoscaler=AutoscalerStatus(),
    )
    samples = [
        LoadSample(NOW - timedelta(seconds=5 * back), router_in_flight=in_flight)
        for back in (2, 1, 0)
    ]
    return plan(
        Gathered(
            md=md,
            uid="u1",
            generation=3,
            previous=previous,
            deployments=[],
            pods=[],
            services=[],
            claims=[],
            now=NOW,
            load=samples,
        )
    )


def test_a_scale_up_is_in_status_and_in_an_event() -> None:
    decided = planned(in_flight=12)
    assert decided.status.desired_replicas == 3
    events = [(e.type, e.reason) for e in decided.status_events]
    assert ("Normal", "ScaledUp") in events
    message = next(e.message for e in decided.status_events if e.reason == "ScaledUp")
    assert message.startswith("scale up from 1 to 3")


def test_a_held_count_posts_no_event_and_spec_replicas_is_ignored() -> None:
    decided = planned(in_flight=12, desired=3)
    assert decided.status.desired_replicas == 3
    assert not [e for e in decided.status_events if e.reason.startswith("Scaled")]
