"""One track's cumulative totals through time, kept small. Pure.

With ~60-bucket latency and TTFT histograms, a busy track adds one entry per scrape round; as
dicts of floats that cost ~7.6 KB per entry, so 100 busy tracks over 15 minutes took ~700 MB.
Entries hold their bucket counts in arrays of doubles aligned to one shared bounds tuple
(~1.2 KB), and entries older than FULL_RESOLUTION_SECONDS are thinned to one per
THINNED_STEP_SECONDS, except those that are the base of a window someone asked for (a
"pin", e.g. a rollout step's start), so those windows stay exact.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelops.api import telemetry as names
from modelops.api.status import TrackFigures
from modelops.telemetry.quantile import histogram_quantile

QUANTILE = 0.95
FULL_RESOLUTION_SECONDS = 120.0
THINNED_STEP_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative bucket counts, aligned to `bounds` (ascending, +Inf last)."""

    bounds: tuple[float, ...]
    counts: array[float]

    def delta_since(self, base: Histogram) -> list[tuple[float, float]]:
        if base.bounds is self.bounds or base.bounds == self.bounds:
            return [
                (b, c - o) for b, c, o in zip(self.bounds, self.counts, base.counts, strict=True)
            ]
        old = dict(zip(base.bounds, base.counts, strict=True))
        return [(b, c - old.get(b, 0.0)) for b, c in zip(self.bounds, self.counts, strict=True)]


EMPTY = Histogram((), array("d"))


@dataclass(frozen=True, slots=True)
class TrackTotals:
    """One track's cumulative totals since the history began, over all routers."""

    requests: float = 0.0
    errors: float = 0.0
    latency: Histogram = EMPTY  # all outcomes
    ttft: Histogram = EMPTY


ZERO = TrackTotals()


def _histogram(buckets: Mapping[float, float], previous: Histogram) -> Histogram:
    bounds = tuple(sorted(buckets))
    if bounds == previous.bounds:
        bounds = previous.bounds  # one tuple shared by all of the track's entries
    return Histogram(bounds, array("d", (buckets[bound] for bound in bounds)))


def totals_from(
    values: Mapping[tuple[str, str, float], float], previous: TrackTotals
) -> TrackTotals:
    """Totals from (family, outcome, le) -> cumulative value, summed over outcomes."""
    requests = errors = 0.0
    latency: dict[float, float] = {}
    ttft: dict[float, float] = {}
    for (family, outcome, bound), value in values.items():
        if family == "requests":
            requests += value
            if outcome in names.FAILED_OUTCOMES:
                errors += value
        else:
            buckets = latency if family == "latency" else ttft
            buckets[bound] = buckets.get(bound, 0.0) + value
    return TrackTotals(
        requests, errors, _histogram(latency, previous.latency), _histogram(ttft, previous.ttft)
    )


def figures_between(base: TrackTotals, end: TrackTotals) -> TrackFigures:
    requests = max(0, round(end.requests - base.requests))
    errors = min(requests, max(0, round(end.errors - base.errors)))
    return TrackFigures(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        p95_seconds=histogram_quantile(QUANTILE, end.latency.delta_since(base.latency)),
        p95_ttft_seconds=histogram_quantile(QUANTILE, end.ttft.delta_since(base.ttft)),
    )


class TrackHistory:
    """Entries (time, totals), appended when the totals changed; oldest first."""

    __slots__ = ("thinned_until", "times", "totals")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.totals: list[TrackTotals] = []
        self.thinned_until = float("-inf")  # entries before this time are thinned already

    @property
    def latest(self) -> TrackTotals:
        return self.totals[-1] if self.totals else ZERO

    def append(self, at: float, totals: TrackTotals) -> None:
        self.times.append(at)
        self.totals.append(totals)

    def at(self, moment: float) -> TrackTotals:
        """The totals as of `moment`: those of the last entry at or before it."""
        index = bisect.bisect_right(self.times, moment) - 1
        return self.totals[index] if index >= 0 else ZERO

    def compact(self, now: float, cutoff: float, pins: Sequence[float]) -> None:
        """Drop what is older than `cutoff` (keeping the newest such entry, the base of later
        windows), and thin entries older than FULL_RESOLUTION_SECONDS. `pins`: sorted times
        whose base entry must stay."""
        index = bisect.bisect_right(self.times, cutoff) - 1
        if index > 0:
            del self.times[:index]
            del self.totals[:index]
        limit = now - FULL_RESOLUTION_SECONDS
        start = bisect.bisect_left(self.times, self.thinned_until)
        end = bisect.bisect_left(self.times, limit)
        if end - start < 2 or end >= len(self.times):
            return
        keep_times, keep_totals = [], []
        for i in range(start, end):
            here, after = self.times[i], self.times[i + 1]
            slot_ends = here // THINNED_STEP_SECONDS != after // THINNED_STEP_SECONDS
            pin = bisect.bisect_left(pins, here)
            pinned = pin < len(pins) and pins[pin] < after
            if slot_ends or pinned:
                keep_times.append(here)
                keep_totals.append(self.totals[i])
        self.times[start:end] = keep_times
        self.totals[start:end] = keep_totals
        self.thinned_until = limit
