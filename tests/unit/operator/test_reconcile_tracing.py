"""modelops.controller.tracing: a span per reconcile carrying the plan's decisions."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelops.api import parse_model_deployment
from modelops.api.status import CanaryStatus, ModelDeploymentStatus, SlotStatus
from modelops.controller.tracing import ReconcileTracer
from modelops.policies.plan import Gathered, plan

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def a_plan_mid_rollout() -> object:
    md = parse_model_deployment(
        {
            "metadata": {"name": "m", "namespace": "ai", "uid": "u1", "generation": 2},
            "spec": {"engine": "ollama", "model": "phi3:mini", "image": "ollama/ollama:0.7.0"},
        }
    )
    previous = ModelDeploymentStatus(
        stable=SlotStatus(slot="blue", revision="old", replicas=1),
        canary=CanaryStatus(slot="green", revision="x", phase="Starting", started_at=NOW),
    )
    return plan(
        Gathered(
            md=md,
            uid="u1",
            generation=2,
            previous=previous,
            deployments=[],
            pods=[],
            services=[],
            claims=[],
            now=NOW,
        )
    )


def test_one_span_per_reconcile_with_the_decisions() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = ReconcileTracer(provider)
    decided = a_plan_mid_rollout()
    tracer.record(("ai", "m"), decided, time.time_ns())  # type: ignore[arg-type]
    [span] = exporter.get_finished_spans()
    assert span.name == "reconcile"
    attributes = dict(span.attributes or {})
    assert attributes["modelops.namespace"] == "ai"
    assert attributes["modelops.name"] == "m"
    assert attributes["modelops.stable.revision"] == "old"
    assert attributes["modelops.canary.phase"] == "Starting"  # a new revision restarts it
    assert attributes["modelops.rollout_events"] == ("RolloutRestarted",)
    assert attributes["modelops.applies"] >= 1


def test_a_failed_reconcile_is_an_error_span_and_off_means_nothing() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ReconcileTracer(provider).record(("ai", "m"), None, time.time_ns(), error="ApplyError: x")
    [span] = exporter.get_finished_spans()
    assert span.status.description == "ApplyError: x"
    off = ReconcileTracer.from_env({})
    assert not off.enabled
    off.record(("ai", "m"), None, time.time_ns())  # a no-op
