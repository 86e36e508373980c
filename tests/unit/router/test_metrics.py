"""The router's metrics exposition: counters, histograms and state read at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modelops.api.router_config import parse_router_config
from modelops.router.metrics import RouterMetrics
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
