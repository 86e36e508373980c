"""The routers' `/metrics` as the dashboard uses them: per (model, track) totals, and the
figures of a window between two scrapes (requests/s, error rate, p95 latency, p95 TTFT).

Pure. The series are those of `modelops.api.telemetry` (per model, track, revision and
outcome). Until a router emits them, its older per-endpoint series (`modelops_router_requests`
by HTTP code, latency by model and track) are read instead, so the pages work with either.
Several routers are summed, as the operator's telemetry does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from modelops.api import telemetry as t

TrackKey = tuple[str, str]  # (model served name, track)

LEGACY_REQUESTS = f"{t.ROUTER_PREFIX}_requests_total"
LEGACY_LATENCY = f"{t.ROUTER_PREFIX}_request_duration_seconds"
LEGACY_TTFT = f"{t.ROUTER_PREFIX}_time_to_first_token_seconds"
LEGACY_IN_FLIGHT = f"{t.ROUTER_PREFIX}_in_flight_requests"


class MetricsError(ValueError):
    """A /metrics body that is not the Prometheus text format."""


@dataclass
class Histogram:
    """Cumulative bucket counts by upper bound (`inf` included)."""

    buckets: dict[float, float] = field(default_factory=dict)

    def add(self, other: Histogram) -> None:
        for bound, count in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0.0) + count

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, 0.0)


@dataclass
class TrackTotals:
    """Cumulative counters of one (model, track), summed over revisions and routers."""

    ok: float = 0.0
    failed: float = 0.0
    revisions: set[str] = field(default_factory=set)
    latency: Histogram = field(default_factory=Histogram)
    ttft: Histogram = field(default_factory=Histogram)

    @property
    def requests(self) -> float:
        return self.ok + self.failed


@dataclass
class RouterTotals:
    tracks: dict[TrackKey, TrackTotals] = field(default_factory=dict)
    in_flight: dict[str, float] = field(default_factory=dict)
    holding: dict[str, float] = field(default_factory=dict)

    def track(self, key: TrackKey) -> TrackTotals:
        found = self.tracks.get(key)
        if found is None:
            found = self.tracks[key] = TrackTotals()
        return found

    def load(self, model: str) -> float:
        return self.in_flight.get(model, 0.0) + self.holding.get(model, 0.0)


def _bound(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf") else float(text)


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    try:
        return [
            (sample.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]
    except (ValueError, IndexError, TypeError) as error:
        raise MetricsError(f"not the Prometheus text format: {error}") from error


def _track_key(labels: Mapping[str, str]) -> TrackKey:
    return (labels.get(t.LABEL_MODEL, ""), labels.get(t.LABEL_TRACK, "stable"))


def parse(text: str) -> RouterTotals:
    """One router's exposition, reduced to what the pages show."""
    samples = _samples(text)
    names = {name for name, _, _ in samples}
    current = f"{t.ROUTER_MODEL_REQUESTS}_total" in names
    latency = t.ROUTER_MODEL_LATENCY if current else LEGACY_LATENCY
    ttft = t.ROUTER_MODEL_TTFT if current else LEGACY_TTFT
    totals = RouterTotals()
    legacy_in_flight: dict[str, float] = {}
    for name, labels, value in samples:
        key = _track_key(labels)
        model = key[0]
        if current and name == f"{t.ROUTER_MODEL_REQUESTS}_total":
            entry = totals.track(key)
            if labels.get(t.LABEL_REVISION):
                entry.revisions.add(labels[t.LABEL_REVISION])
            if labels.get(t.LABEL_OUTCOME) in t.FAILED_OUTCOMES:
                entry.failed += value
            else:
                entry.ok += value
        elif not current and name == LEGACY_REQUESTS:
            entry = totals.track(key)
            if labels.get("code", "").startswith("2"):
                entry.ok += value
            else:
                entry.failed += value
        elif name in (f"{latency}_bucket", f"{ttft}_bucket"):
            entry = totals.track(key)
            histogram = entry.latency if name.startswith(latency + "_") else entry.ttft
            bound = _bound(labels.get("le", "+Inf"))
            histogram.buckets[bound] = histogram.buckets.get(bound, 0.0) + value
        elif name == t.ROUTER_MODEL_IN_FLIGHT:
            totals.in_flight[model] = totals.in_flight.get(model, 0.0) + value
        elif name == t.ROUTER_MODEL_HOLDING:
            totals.holding[model] = totals.holding.get(model, 0.0) + value
        elif name == LEGACY_IN_FLIGHT:
            legacy_in_flight[model] = legacy_in_flight.get(model, 0.0) + value
    if t.ROUTER_MODEL_IN_FLIGHT not in names:
        totals.in_flight = legacy_in_flight
    return totals


def merge(routers: Iterable[RouterTotals]) -> RouterTotals:
    """The sum over router replicas (each counts only the requests it served)."""
    merged = RouterTotals()
    for router in routers:
        for key, entry in router.tracks.items():
            target = merged.track(key)
            target.ok += entry.ok
            target.failed += entry.failed
            target.revisions |= entry.revisions
            target.latency.add(entry.latency)
            target.ttft.add(entry.ttft)
        for model, value in router.in_flight.items():
            merged.in_flight[model] = merged.in_flight.get(model, 0.0) + value
        for model, value in router.holding.items():
            merged.holding[model] = merged.holding.get(model, 0.0) + value
    return merged


# -- windows -------------------------------------------------------------------------------


def _delta(now: float, before: float) -> float:
    """A counter's increase; a counter that went down was reset (a router restarted)."""
    return now if now < before else now - before


def histogram_delta(now: Histogram, before: Histogram | None) -> Histogram:
    if before is None or now.count < before.count:
        return Histogram(dict(now.buckets))
    return Histogram(
        {bound: max(0.0, c - before.buckets.get(bound, 0.0)) for bound, c in now.buckets.items()}
    )


def quantile(q: float, histogram: Histogram) -> float | None:
    """As PromQL's histogram_quantile: linear inside the bucket; None without observations."""
    total = histogram.count
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in sorted(histogram.buckets):
        count = histogram.buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound  # above the highest finite bound: report that bound
            width = count - previous_count
            if width <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / width
        previous_bound, previous_count = bound, count
    return previous_bound


@dataclass(frozen=True)
class TrafficFigures:
    requests_per_second: float
    error_rate: float | None
    p95_seconds: float | None
    p95_ttft_seconds: float | None
    requests: float

    def as_json(self) -> dict[str, float | None]:
        return {
            "requestsPerSecond": round(self.requests_per_second, 3),
            "errorRate": None if self.error_rate is None else round(self.error_rate, 4),
            "p95Seconds": None if self.p95_seconds is None else round(self.p95_seconds, 4),
            "p95TTFTSeconds": None
            if self.p95_ttft_seconds is None
            else round(self.p95_ttft_seconds, 4),
            "requests": self.requests,
        }


def window(
    now: RouterTotals, before: RouterTotals, seconds: float
) -> dict[TrackKey, TrafficFigures]:
    """Figures per (model, track) between two scrapes `seconds` apart (a track that is new
    since `before` counts from zero)."""
    result: dict[TrackKey, TrafficFigures] = {}
    for key, entry in now.tracks.items():
        old = before.tracks.get(key)
        if old is None:
            ok, failed = entry.ok, entry.failed
        else:
            ok, failed = _delta(entry.ok, old.ok), _delta(entry.failed, old.failed)
        requests = ok + failed
        result[key] = TrafficFigures(
            requests_per_second=requests / seconds if seconds > 0 else 0.0,
            error_rate=failed / requests if requests > 0 else None,
            p95_seconds=quantile(
                0.95, histogram_delta(entry.latency, old.latency if old else None)
            ),
            p95_ttft_seconds=quantile(0.95, histogram_delta(entry.ttft, old.ttft if old else None)),
            requests=requests,
        )
    return result
