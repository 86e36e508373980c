"""Router /metrics to per-track windows: the shared telemetry names, the older per-endpoint
series, several routers summed, counter resets, and quantiles as PromQL computes them."""

from __future__ import annotations

import math

import pytest

from modelops.api import telemetry as t
from modelops.dashboard import promtext


def exposition(ok: int, failed: int, fast: int, slow: int, *, revision: str = "r1") -> str:
    labels = f'model="big",track="canary",revision="{revision}"'
    return f"""\
# TYPE {t.ROUTER_MODEL_REQUESTS} counter
{t.ROUTER_MODEL_REQUESTS}_total{{{labels},outcome="ok"}} {ok}
{t.ROUTER_MODEL_REQUESTS}_total{{{labels},outcome="retried"}} {failed}
# TYPE {t.ROUTER_MODEL_LATENCY} histogram
{t.ROUTER_MODEL_LATENCY}_bucket{{{labels},outcome="ok",le="0.1"}} {fast}
{t.ROUTER_MODEL_LATENCY}_bucket{{{labels},outcome="ok",le="1.0"}} {fast + slow}
{t.ROUTER_MODEL_LATENCY}_bucket{{{labels},outcome="ok",le="+Inf"}} {fast + slow}
{t.ROUTER_MODEL_LATENCY}_sum{{{labels},outcome="ok"}} 1
{t.ROUTER_MODEL_LATENCY}_count{{{labels},outcome="ok"}} {fast + slow}
# TYPE {t.ROUTER_MODEL_IN_FLIGHT} gauge
{t.ROUTER_MODEL_IN_FLIGHT}{{model="big"}} 2
# TYPE {t.ROUTER_MODEL_HOLDING} gauge
{t.ROUTER_MODEL_HOLDING}{{model="big"}} 1
"""


def test_shared_series_become_track_totals_and_a_window() -> None:
    before = promtext.parse(exposition(ok=10, failed=0, fast=10, slow=0))
    after = promtext.parse(exposition(ok=28, failed=2, fast=10, slow=20))
    entry = after.tracks[("big", "canary")]
    assert (entry.ok, entry.failed, entry.revisions) == (28, 2, {"r1"})
    assert after.load("big") == 3
    figures = promtext.window(after, before, 10.0)[("big", "canary")]
    assert figures.requests == 20
    assert figures.requests_per_second == 2.0
    assert figures.error_rate == pytest.approx(0.1)
    # 20 new observations, all in (0.1, 1.0]: p95 = 0.1 + 0.9 * 19/20
    assert figures.p95_seconds == pytest.approx(0.1 + 0.9 * 0.95)
    assert figures.p95_ttft_seconds is None


def test_a_counter_reset_counts_from_zero_not_negative() -> None:
    before = promtext.parse(exposition(ok=100, failed=5, fast=100, slow=5))
    restarted = promtext.parse(exposition(ok=4, failed=1, fast=5, slow=0))
    figures = promtext.window(restarted, before, 5.0)[("big", "canary")]
    assert figures.requests == 5
    assert figures.error_rate == pytest.approx(0.2)
    assert figures.p95_seconds is not None
    assert 0 < figures.p95_seconds <= 0.1


def test_several_routers_are_summed() -> None:
    merged = promtext.merge(
        [
            promtext.parse(exposition(ok=1, failed=0, fast=1, slow=0)),
            promtext.parse(exposition(ok=2, failed=1, fast=0, slow=3, revision="r2")),
        ]
    )
    entry = merged.tracks[("big", "canary")]
    assert (entry.ok, entry.failed, entry.revisions) == (3, 1, {"r1", "r2"})
    assert entry.latency.count == 4
    assert merged.load("big") == 6


LEGACY = """\
# TYPE modelops_router_requests counter
modelops_router_requests_total{model="small",track="stable",endpoint="127.0.1.1:8000",code="200"} 8
modelops_router_requests_total{model="small",track="stable",endpoint="127.0.1.2:8000",code="200"} 1
modelops_router_requests_total{model="small",track="stable",endpoint="127.0.1.2:8000",code="503"} 1
# TYPE modelops_router_request_duration_seconds histogram
modelops_router_request_duration_seconds_bucket{model="small",track="stable",le="0.5"} 10
modelops_router_request_duration_seconds_bucket{model="small",track="stable",le="+Inf"} 10
# TYPE modelops_router_in_flight_requests gauge
modelops_router_in_flight_requests{model="small",track="stable",endpoint="127.0.1.1:8000"} 1
modelops_router_in_flight_requests{model="small",track="stable",endpoint="127.0.1.2:8000"} 2
"""


def test_the_older_per_endpoint_series_are_read_when_the_shared_ones_are_absent() -> None:
    totals = promtext.parse(LEGACY)
    entry = totals.tracks[("small", "stable")]
    assert (entry.ok, entry.failed) == (9, 1)
    assert entry.latency.count == 10
    assert totals.load("small") == 3


def test_quantile_matches_histogram_quantile() -> None:
    histogram = promtext.Histogram({0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0})
    assert promtext.quantile(0.5, histogram) == pytest.approx(0.1)
    assert promtext.quantile(0.95, histogram) == pytest.approx(0.75)
    assert promtext.quantile(0.95, promtext.Histogram()) is None
    above = promtext.Histogram({0.1: 0.0, math.inf: 3.0})
    assert promtext.quantile(0.95, above) == 0.1


def test_bad_text_is_a_clear_error() -> None:
    with pytest.raises(promtext.MetricsError, match="Prometheus text format"):
        promtext.parse("this is {not metrics")
