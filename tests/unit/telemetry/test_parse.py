"""Parsing the router's real exposition and vLLM's text into readings."""

from __future__ import annotations

import math

import pytest

from modelops.api.router_config import parse_router_config
from modelops.api.telemetry import MODEL_LATENCY_BUCKETS
from modelops.router.metrics import RouterMetrics
from modelops.router.sources import static_endpoints
from modelops.router.state import StateRegistry
from modelops.telemetry.parse import LineCache, MetricsFormatError, parse_router, parse_vllm
from modelops.telemetry.types import Series, TrackKey

CONFIG = parse_router_config(
    {
        "models": {
            "m": {
                "engine": "vllm",
                "tracks": [
                    {"name": "stable", "weight": 90, "revision": "r1", "endpoints": ["10.0.0.1:1"]},
                    {"name": "canary", "weight": 10, "revision": "r2", "endpoints": ["10.0.0.2:1"]},
                ],
            }
        }
    }
)
STABLE = TrackKey("m", "stable", "r1")
CANARY = TrackKey("m", "canary", "r2")


def above(value: float) -> float:
    """The smallest bucket bound that counts `value`."""
    return min(b for b in MODEL_LATENCY_BUCKETS if b >= value)


def below(value: float) -> float:
    """The largest bucket bound that does not count `value`."""
    return max(b for b in MODEL_LATENCY_BUCKETS if b < value)


def test_router_exposition_round_trips() -> None:
    snapshot = StateRegistry().build(CONFIG, static_endpoints(CONFIG))
    metrics = RouterMetrics(lambda: snapshot)
    snapshot.models["m"].endpoints[1].outstanding = 2
    metrics.hold_started("m")
    for _ in range(3):
        metrics.record_request("m", "stable", "r1", "ok", 0.02, ttft_seconds=0.01)
    metrics.record_request("m", "canary", "r2", "retried", 0.3)
    reading = parse_router(metrics.exposition().decode())
    assert reading.started_at == metrics.started_at
    assert reading.counters[Series(STABLE, "requests", "ok", math.inf)] == 3
    assert reading.counters[Series(CANARY, "requests", "retried", math.inf)] == 1
    assert reading.counters[Series(STABLE, "latency", "ok", above(0.02))] == 3
    assert reading.counters[Series(STABLE, "latency", "ok", below(0.02))] == 0
    assert reading.counters[Series(STABLE, "ttft", "ok", math.inf)] == 3
    assert reading.counters[Series(CANARY, "latency", "retried", below(0.3))] == 0
    assert reading.counters[Series(CANARY, "latency", "retried", above(0.3))] == 1
    assert reading.in_flight == {STABLE: 0, CANARY: 2}
    assert reading.holding == {"m": 1}


def test_text_without_type_lines_reads_the_same() -> None:
    text = (
        'modelops_router_model_requests_total{model="m",track="stable",revision="r1",'
        'outcome="ok"} 7\n'
        "modelops_router_start_time_seconds 12.5\n"
    )
    reading = parse_router(text)
    assert reading.counters == {Series(STABLE, "requests", "ok", math.inf): 7}
    assert reading.started_at == 12.5


VLLM_TEXT = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="a"} 3.0
vllm:num_requests_running{engine="0",model_name="b"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="a"} 2.0
vllm:num_requests_waiting{engine="0",model_name="b"} 0.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="a"} 0.25
vllm:kv_cache_usage_perc{engine="0",model_name="b"} 0.5
"""


def test_vllm_gauges_are_summed_over_served_models() -> None:
    reading = parse_vllm(VLLM_TEXT)
    assert (reading.running, reading.waiting, reading.kv_cache_usage) == (4, 2, 0.5)


def test_vllm_older_kv_cache_name() -> None:
    text = VLLM_TEXT.replace("kv_cache_usage_perc", "gpu_cache_usage_perc")
    assert parse_vllm(text).kv_cache_usage == 0.5


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_router, "this is { not metrics", "is this a modelops router"),
        (parse_router, "modelops_router_start_time_seconds {\n", "not a Prometheus exposition"),
        (parse_router, VLLM_TEXT, "is this a modelops router"),
        (parse_router, 'modelops_router_model_requests_total{model="m"} 1\n', "without the label"),
        (
            parse_router,
            'modelops_router_model_requests_total{model="m",track="t",revision="r"} 1\n',
            "outcome",
        ),
        (parse_vllm, "some_other_metric 1\n", "is this a vLLM"),
    ],
)
def test_unreadable_text_is_an_error(parse: object, text: str, message: str) -> None:
    with pytest.raises(MetricsFormatError, match=message):
        parse(text)  # type: ignore[operator]


def test_a_line_cache_reads_the_same_as_a_fresh_parse() -> None:
    snapshot = StateRegistry().build(CONFIG, static_endpoints(CONFIG))
    metrics = RouterMetrics(lambda: snapshot)
    cache = LineCache()
    metrics.record_request("m", "stable", "r1", "ok", 0.02)
    first = metrics.exposition().decode()
    assert parse_router(first, cache) == parse_router(first)
    metrics.record_request("m", "stable", "r1", "ok", 3.0, ttft_seconds=0.2)
    metrics.record_request("m", "canary", "r2", "error", 0.1)
    snapshot.models["m"].endpoints[0].outstanding = 5
    second = metrics.exposition().decode()
    assert parse_router(second, cache) == parse_router(second)
    # A text that fails leaves the cache as it was.
    with pytest.raises(MetricsFormatError):
        parse_router(second + "modelops_router_model_requests_total{oops\n", cache)
    assert parse_router(second, cache) == parse_router(second)
