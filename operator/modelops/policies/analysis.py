"""Judging a canary (pure): its figures against `spec.rollout.analysis` and the stable's.

The figures come from the router's own counts per track and revision over the step's window
(summed over every router replica by the telemetry package)."""

from __future__ import annotations

from dataclasses import dataclass

from modelops.api.spec import RolloutAnalysis
from modelops.api.status import TrackFigures

# Below this difference a latency ratio means nothing (10 ms vs 20 ms is 2x and no user
# notices); LLM latencies that matter are far above it.
LATENCY_RATIO_FLOOR_SECONDS = 0.05


@dataclass(frozen=True)
class Figures:
    """Both tracks over the window since the step started, summed over every router."""

    canary: TrackFigures
    stable: TrackFigures
    stable_in_flight: int | None = None  # requests on the stable track right now
    problem: str | None = None  # the window is incomplete (a router could not be read)


EMPTY_FIGURES = Figures(canary=TrackFigures(), stable=TrackFigures())


def judge(figures: Figures, analysis: RolloutAnalysis) -> list[str]:
    """Failed checks, in words with the figure (e.g. 'error rate 0.31 > 0.05 over 64
    requests'). Call only once the canary has minRequests."""
    canary, stable = figures.canary, figures.stable
    over = f"over {canary.requests} requests"
    failures = []
    if canary.error_rate is not None and canary.error_rate > analysis.max_error_rate:
        failures.append(
            f"error rate {canary.error_rate:.2f} > {analysis.max_error_rate:.2f} {over}"
        )
    if canary.p95_seconds is not None and canary.p95_seconds > analysis.max_p95_seconds:
        failures.append(
            f"p95 latency {canary.p95_seconds:.3g}s > {analysis.max_p95_seconds:g}s {over}"
        )
    ttft_limit = analysis.max_ttft_seconds
    if (
        ttft_limit is not None
        and canary.p95_ttft_seconds is not None
        and canary.p95_ttft_seconds > ttft_limit
    ):
        failures.append(
            f"p95 time to first token {canary.p95_ttft_seconds:.2f}s > {ttft_limit:g}s {over}"
        )
    ratio_limit = analysis.max_latency_ratio
    if (
        ratio_limit is not None
        and canary.p95_seconds is not None
        and stable.p95_seconds is not None
        and stable.p95_seconds > 0
        and stable.requests >= max(1, analysis.min_requests)
        and canary.p95_seconds - stable.p95_seconds > LATENCY_RATIO_FLOOR_SECONDS
    ):
        ratio = canary.p95_seconds / stable.p95_seconds
        if ratio > ratio_limit:
            failures.append(
                f"p95 latency {canary.p95_seconds:.3g}s is {ratio:.1f}x the stable's "
                f"{stable.p95_seconds:.3g}s (> {ratio_limit:g}x) {over}"
            )
    return failures


def figures_text(figures: TrackFigures, verdict: str) -> str:
    rate = f"{figures.error_rate:.2f}" if figures.error_rate is not None else "-"
    p95 = f"{figures.p95_seconds:.3g}s" if figures.p95_seconds is not None else "-"
    return f"{verdict}: {figures.requests} requests, error rate {rate}, p95 {p95}"
