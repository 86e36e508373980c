"""The router's metrics exposition: counters, histograms and state read at scrape time."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelops.api.router_config import parse_router_config
from modelops.api.telemetry import MODEL_LATENCY_BUCKETS
from modelops.router.metrics import RETIRE_AFTER_SECONDS, RouterMetrics
from modelops.router.sources import static_endpoints
from modelops.router.state import StateRegistry

CONFIG = parse_router_config(
    {"models": {"m": {"engine": "vllm", "tracks": [{"endpoints": ["127.0.0.1:1", "127.0.0.1:2"]}]}}}
)


def _samples(metrics: RouterMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_exposition() -> None:
    snapshot = StateRegistry().build(CONFIG, static_endpoints(CONFIG))
    metrics = RouterMetrics(lambda: snapshot)
    first, second = snapshot.models["m"].endpoints
    first.outstanding = 3
    second.healthy = False
    for _ in range(2):
        metrics.count_attempt(first, "200")
    metrics.observe_latency("m", "stable", 0.02)
    metrics.observe_latency("m", "stable", 500.0)
    metrics.observe_ttft("m", "stable", 0.001)
    metrics.count_tokens("m", "stable", {"prompt_tokens": 4, "completion_tokens": 8})
    metrics.count_client_request("openai", 200)
    metrics.errors.labels("m", "stable", "timeout").inc()
    samples = _samples(metrics)
    endpoint = {("model", "m"), ("track", "stable"), ("endpoint", "127.0.0.1:1")}
    other = {("model", "m"), ("track", "stable"), ("endpoint", "127.0.0.1:2")}
    labels = {("model", "m"), ("track", "stable")}
    assert samples[("modelops_router_requests_total", frozenset({*endpoint, ("code", "200")}))] == 2
    assert samples[("modelops_router_in_flight_requests", frozenset(endpoint))] == 3
    assert samples[("modelops_router_endpoint_healthy", frozenset(other))] == 0
    duration = "modelops_router_request_duration_seconds"
    assert samples[(f"{duration}_bucket", frozenset({*labels, ("le", "0.025")}))] == 1
    assert samples[(f"{duration}_bucket", frozenset({*labels, ("le", "120.0")}))] == 1
    assert samples[(f"{duration}_bucket", frozenset({*labels, ("le", "+Inf")}))] == 2
    assert samples[(f"{duration}_count", frozenset(labels))] == 2
    assert samples[(f"{duration}_sum", frozenset(labels))] == 500.02
    assert samples[("modelops_router_time_to_first_token_seconds_count", frozenset(labels))] == 1
    kind = ("kind", "completion")
    assert samples[("modelops_router_tokens_total", frozenset({*labels, kind}))] == 8
    client = frozenset({("api", "openai"), ("code", "200")})
    assert samples[("modelops_router_client_requests_total", client)] == 1
    assert samples[("modelops_router_model_available", frozenset({("model", "m")}))] == 1
    assert samples[("modelops_router_model_demoted", frozenset({("model", "m")}))] == 0


TRACKS = parse_router_config(
    {
        "models": {
            "m": {
                "engine": "vllm",
                "tracks": [
                    {
                        "name": "stable",
                        "weight": 90,
                        "revision": "r1",
                        "endpoints": ["127.0.0.1:1"],
                    },
                    {
                        "name": "canary",
                        "weight": 10,
                        "revision": "r2",
                        "endpoints": ["127.0.0.1:2", "127.0.0.1:3"],
                    },
                ],
            },
            "idle": {"engine": "ollama", "tracks": [{"endpoints": ["127.0.0.1:4"]}]},
        }
    }
)


def bound(value: float) -> str:
    """The label of the smallest bucket of the per-model histograms that counts `value`."""
    return repr(min(b for b in MODEL_LATENCY_BUCKETS if b >= value))


def test_per_request_series_carry_track_revision_and_outcome() -> None:
    snapshot = StateRegistry().build(TRACKS, static_endpoints(TRACKS))
    metrics = RouterMetrics(lambda: snapshot)
    metrics.record_request("m", "stable", "r1", "ok", 0.02)
    metrics.record_request("m", "stable", "r1", "ok", 0.3, ttft_seconds=0.04)
    metrics.record_request("m", "canary", "r2", "retried", 7.0)
    metrics.record_request("m", "canary", "r2", "error", 0.2, ttft_seconds=0.1)
    samples = _samples(metrics)

    def labels(track: str, revision: str, outcome: str, **extra: str) -> frozenset[tuple[str, str]]:
        base = {"model": "m", "track": track, "revision": revision, "outcome": outcome}
        return frozenset({**base, **extra}.items())

    requests = "modelops_router_model_requests_total"
    assert samples[(requests, labels("stable", "r1", "ok"))] == 2
    assert samples[(requests, labels("canary", "r2", "retried"))] == 1
    assert samples[(requests, labels("canary", "r2", "error"))] == 1
    latency = "modelops_router_model_request_duration_seconds"
    assert samples[(f"{latency}_bucket", labels("stable", "r1", "ok", le=bound(0.02)))] == 1
    assert samples[(f"{latency}_bucket", labels("stable", "r1", "ok", le=bound(0.3)))] == 2
    assert samples[(f"{latency}_count", labels("canary", "r2", "retried"))] == 1
    assert samples[(f"{latency}_sum", labels("canary", "r2", "retried"))] == 7.0
    ttft = "modelops_router_model_time_to_first_token_seconds"
    assert samples[(f"{ttft}_count", labels("stable", "r1", "ok"))] == 1
    assert samples[(f"{ttft}_count", labels("canary", "r2", "error"))] == 1
    assert (f"{ttft}_count", labels("canary", "r2", "retried")) not in samples


def test_in_flight_per_track_sums_the_endpoints_outstanding_counters() -> None:
    snapshot = StateRegistry().build(TRACKS, static_endpoints(TRACKS))
    metrics = RouterMetrics(lambda: snapshot)
    stable, first, second = snapshot.models["m"].endpoints
    stable.outstanding, first.outstanding, second.outstanding = 4, 1, 2
    samples = _samples(metrics)
    name = "modelops_router_model_in_flight_requests"
    track = {("model", "m"), ("track", "stable"), ("revision", "r1")}
    assert samples[(name, frozenset(track))] == 4
    assert (
        samples[(name, frozenset({("model", "m"), ("track", "canary"), ("revision", "r2")}))] == 3
    )
    # An idle model is exposed as 0, so that a reader can tell it from an unknown one.
    idle = {("model", "idle"), ("track", "stable"), ("revision", "")}
    assert samples[(name, frozenset(idle))] == 0


def test_holding_gauge_per_model_and_hold_durations_per_outcome() -> None:
    snapshot = StateRegistry().build(TRACKS, static_endpoints(TRACKS))
    metrics = RouterMetrics(lambda: snapshot)
    for _ in range(3):
        metrics.hold_started("idle")
    metrics.hold_started("gone")  # a model the config stopped listing while requests waited
    metrics.hold_finished("idle", 1.5, "served")
    samples = _samples(metrics)
    holding = "modelops_router_model_holding_requests"
    assert samples[(holding, frozenset({("model", "idle")}))] == 2
    assert samples[(holding, frozenset({("model", "m")}))] == 0
    assert samples[(holding, frozenset({("model", "gone")}))] == 1
    durations = "modelops_router_model_hold_duration_seconds"
    served = {("model", "idle"), ("outcome", "served")}
    assert samples[(f"{durations}_bucket", frozenset({*served, ("le", "1.0")}))] == 0
    assert samples[(f"{durations}_bucket", frozenset({*served, ("le", "2.5")}))] == 1
    assert samples[(f"{durations}_bucket", frozenset({*served, ("le", "600.0")}))] == 1
    metrics.hold_finished("idle", 2.0, "expired")
    metrics.hold_finished("idle", 2.0, "gone")
    assert _samples(metrics)[(holding, frozenset({("model", "idle")}))] == 0


def test_start_time_is_exported() -> None:
    metrics = RouterMetrics(lambda: None)
    samples = _samples(metrics)
    assert samples[("modelops_router_start_time_seconds", frozenset())] == metrics.started_at


def test_unknown_outcomes_are_refused() -> None:
    metrics = RouterMetrics(lambda: None)
    with pytest.raises(ValueError, match="unknown outcome"):
        metrics.record_request("m", "stable", "r1", "timeout", 1.0)
    with pytest.raises(ValueError, match="unknown outcome"):
        metrics.hold_finished("m", 1.0, "ok")


def test_series_of_unrouted_revisions_are_retired_after_a_delay() -> None:
    snapshot = StateRegistry().build(TRACKS, static_endpoints(TRACKS))
    metrics = RouterMetrics(lambda: snapshot)
    metrics.record_request("m", "stable", "r0", "ok", 0.1)  # the revision before the rollout
    metrics.record_request("m", "stable", "r1", "ok", 0.1)
    metrics.record_request("m", "canary", "r2", "error", 0.1)
    metrics.retire_unrouted(now=100.0)
    metrics.retire_unrouted(now=100.0 + RETIRE_AFTER_SECONDS - 1)
    assert ("m", "stable", "r0", "ok") in metrics.model_requests
    metrics.retire_unrouted(now=100.0 + RETIRE_AFTER_SECONDS)
    assert set(metrics.model_requests) == {
        ("m", "stable", "r1", "ok"),
        ("m", "canary", "r2", "error"),
    }
    assert set(metrics.model_latency) == set(metrics.model_requests)


def test_a_revision_routed_again_is_not_retired() -> None:
    snapshot = StateRegistry().build(TRACKS, static_endpoints(TRACKS))
    current = [snapshot]
    metrics = RouterMetrics(lambda: current[0])
    metrics.record_request("m", "canary", "r2", "ok", 0.1)
    without_canary = parse_router_config(
        {
            "models": {
                "m": {
                    "engine": "vllm",
                    "tracks": [{"revision": "r1", "endpoints": ["127.0.0.1:1"]}],
                }
            }
        }
    )
    current[0] = StateRegistry().build(without_canary, static_endpoints(without_canary))
    metrics.retire_unrouted(now=0.0)
    current[0] = snapshot  # a new rollout of the same revision
    metrics.retire_unrouted(now=RETIRE_AFTER_SECONDS / 2)
    current[0] = StateRegistry().build(without_canary, static_endpoints(without_canary))
    metrics.retire_unrouted(now=RETIRE_AFTER_SECONDS)
    assert ("m", "canary", "r2", "ok") in metrics.model_requests


def test_holding_gauge_and_hold_durations() -> None:
    snapshot = StateRegistry().build(CONFIG, static_endpoints(CONFIG))
    metrics = RouterMetrics(lambda: snapshot)
    assert (
        _samples(metrics)[("modelops_router_model_holding_requests", frozenset({("model", "m")}))]
        == 0
    )
    for _ in range(3):
        metrics.hold_started("m")
    metrics.hold_finished("m", 0.3, "served")
    metrics.hold_finished("m", 300.0, "expired")
    samples = _samples(metrics)
    assert samples[("modelops_router_model_holding_requests", frozenset({("model", "m")}))] == 1
    served = frozenset({("model", "m"), ("outcome", "served")})
    assert samples[("modelops_router_model_hold_duration_seconds_count", served)] == 1
    assert samples[("modelops_router_model_hold_duration_seconds_sum", served)] == 0.3
    expired = frozenset({("model", "m"), ("outcome", "expired"), ("le", "+Inf")})
    assert samples[("modelops_router_model_hold_duration_seconds_bucket", expired)] == 1
