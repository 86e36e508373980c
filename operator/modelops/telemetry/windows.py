"""Scrape rounds -> a short history of cumulative totals -> windows and current load. Pure.

Each round hands in what every listed router and vLLM pod said (or why it could not be read).
Router counters become increases per source (counters.py, resets and restarts handled), summed
over all router replicas into one cumulative total per track that only grows and that starts at
0 when the history starts: values a router already had before that (operator restart) are a
baseline, not traffic. A router first read later counts its values as traffic only if it
started after the history did (its start-time gauge), since then all of it happened inside it.

Loads (router in-flight and holding per model, vLLM gauges per pod) are kept per round for a
shorter while (`load_retention_seconds`), for the autoscaler's windows.

Per track, the history keeps one entry per round in which the track's totals changed; a window
since t is the newest totals minus the totals of the last entry at or before t. Entries older
than the retention are dropped, except the newest of them, the baseline for later windows.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelops.api import telemetry as names
from modelops.api.status import TrackFigures
from modelops.telemetry.counters import SourceCounters
from modelops.telemetry.quantile import histogram_quantile
from modelops.telemetry.types import (
    Changes,
    ModelLoad,
    PodLoad,
    PodReading,
    RouterReading,
    Series,
    TrackKey,
    Window,
)

QUANTILE = 0.95
DEFAULT_RETENTION_SECONDS = 900.0
# A router not listed for this long is forgotten; listed again later, it is a new source (and
# counts what it has if it started after the history began). Unreadable but listed is kept.
DEFAULT_FORGET_AFTER_SECONDS = 600.0
# Long enough for a scale-down stabilization window (HPA's default is 300 s).
DEFAULT_LOAD_RETENTION_SECONDS = 600.0

Unreadable = str  # why a source could not be read


@dataclass(frozen=True)
class TrackTotals:
    """One track's cumulative totals since the history began, over all routers."""

    requests: float = 0.0
    errors: float = 0.0
    latency: Mapping[float, float] = field(default_factory=dict)  # le -> count, all outcomes
    ttft: Mapping[float, float] = field(default_factory=dict)


ZERO = TrackTotals()


class _TrackHistory:
    __slots__ = ("times", "totals")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.totals: list[TrackTotals] = []

    def at(self, moment: float) -> TrackTotals:
        index = bisect.bisect_right(self.times, moment) - 1
        return self.totals[index] if index >= 0 else ZERO

    def prune(self, cutoff: float) -> None:
        index = bisect.bisect_right(self.times, cutoff) - 1
        if index > 0:
            del self.times[:index]
            del self.totals[:index]


def _totals(values: Mapping[tuple[str, str, float], float]) -> TrackTotals:
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
    return TrackTotals(requests, errors, latency, ttft)


def _quantile(end: Mapping[float, float], base: Mapping[float, float]) -> float | None:
    return histogram_quantile(
        QUANTILE, [(bound, count - base.get(bound, 0.0)) for bound, count in end.items()]
    )


def figures_between(base: TrackTotals, end: TrackTotals) -> TrackFigures:
    requests = max(0, round(end.requests - base.requests))
    errors = min(requests, max(0, round(end.errors - base.errors)))
    return TrackFigures(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        p95_seconds=_quantile(end.latency, base.latency),
        p95_ttft_seconds=_quantile(end.ttft, base.ttft),
    )


class TelemetryState:
    """Everything the scrape rounds taught us. Fed by `ingest`, read by the queries."""

    def __init__(
        self,
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        forget_after_seconds: float = DEFAULT_FORGET_AFTER_SECONDS,
        load_retention_seconds: float = DEFAULT_LOAD_RETENTION_SECONDS,
    ) -> None:
        if min(retention_seconds, forget_after_seconds, load_retention_seconds) <= 0:
            raise ValueError("retention and forget-after durations must be positive")
        self.retention_seconds = retention_seconds
        self.load_retention_seconds = load_retention_seconds
        self.forget_after_seconds = forget_after_seconds
        self.history_start: float | None = None
        self.horizon: float | None = None  # no window starts before this
        self.last_round: float | None = None
        self._sources: dict[str, SourceCounters] = {}
        self._values: dict[TrackKey, dict[tuple[str, str, float], float]] = {}
        self._history: dict[TrackKey, _TrackHistory] = {}
        self._unreadable_routers: dict[str, Unreadable] = {}
        self._loads: dict[str, ModelLoad] = {}
        self._pods: dict[str, PodLoad] = {}
        self._load_history: dict[str, deque[ModelLoad]] = {}
        self._pod_history: dict[str, deque[PodLoad]] = {}

    # ------------------------------------------------------------------ feeding

    def ingest(
        self,
        at: float,
        routers: Mapping[str, RouterReading | Unreadable],
        pods: Mapping[str, PodReading | Unreadable] | None = None,
    ) -> Changes:
        """One scrape round that started at `at`: every listed source, read or not."""
        if self.last_round is not None:
            at = max(at, self.last_round)  # a wall clock stepping back must not reorder rounds
        if self.history_start is None:
            self.history_start = self.horizon = at
        changed_tracks = self._ingest_counters(at, routers)
        previous_unreadable = self._unreadable_routers
        self._unreadable_routers = {
            source: why for source, why in routers.items() if isinstance(why, str)
        }
        changed_models = {track.model for track in changed_tracks}
        changed_models |= self._ingest_loads(at, routers)
        if previous_unreadable != self._unreadable_routers:
            changed_models |= set(self._loads) | {track.model for track in self._values}
        self.last_round = at
        self._prune(at)
        return Changes(frozenset(changed_models), self._ingest_pods(at, pods or {}))

    def _ingest_counters(
        self, at: float, routers: Mapping[str, RouterReading | Unreadable]
    ) -> set[TrackKey]:
        increases: dict[Series, float] = {}
        for source, reading in routers.items():
            counters = self._sources.get(source)
            if counters is not None:
                counters.last_listed = at  # unreadable but listed: still the same router
            if isinstance(reading, str):
                continue
            if counters is None:
                assert self.history_start is not None
                started = reading.started_at
                counts_initial = started is not None and started >= self.history_start
                counters = SourceCounters(reading, counts_initial=counts_initial, at=at)
                self._sources[source] = counters
                found = dict(counters.initial)
            else:
                found = counters.update(reading, at)
            for series, increase in found.items():
                increases[series] = increases.get(series, 0.0) + increase
        for source in [
            s for s, c in self._sources.items() if at - c.last_listed > self.forget_after_seconds
        ]:
            del self._sources[source]
        changed: set[TrackKey] = set()
        for series, increase in increases.items():
            values = self._values.setdefault(series.track, {})
            key = (series.family, series.outcome, series.le)
            values[key] = values.get(key, 0.0) + increase
            if increase > 0:
                changed.add(series.track)
        for track in changed:
            history = self._history.setdefault(track, _TrackHistory())
            history.times.append(at)
            history.totals.append(_totals(self._values[track]))
        return changed

    def _ingest_loads(
        self, at: float, routers: Mapping[str, RouterReading | Unreadable]
    ) -> set[str]:
        by_track: dict[str, dict[TrackKey, float]] = {}
        holding: dict[str, float] = {}
        known: dict[str, int] = {}
        for reading in routers.values():
            if isinstance(reading, str):
                continue
            for track, value in reading.in_flight.items():
                tracks = by_track.setdefault(track.model, {})
                tracks[track] = tracks.get(track, 0.0) + value
            for model, value in reading.holding.items():
                holding[model] = holding.get(model, 0.0) + value
            for model in {track.model for track in reading.in_flight} | set(reading.holding):
                known[model] = known.get(model, 0) + 1
        unreadable = dict(self._unreadable_routers)
        loads = {}
        for model, routers_read in known.items():
            counts = {track: round(value) for track, value in by_track.get(model, {}).items()}
            loads[model] = ModelLoad(
                model=model,
                in_flight=sum(counts.values()),
                holding=round(holding.get(model, 0.0)),
                in_flight_by_track=counts,
                routers_read=routers_read,
                unreadable_routers=unreadable,
                at=at,
            )
        changed = {
            model
            for model in set(loads) | set(self._loads)
            if _load_figures(loads.get(model)) != _load_figures(self._loads.get(model))
        }
        self._loads = loads
        for model in set(loads) | set(self._load_history):
            load = loads.get(model) or ModelLoad(model, None, None, {}, 0, unreadable, at)
            self._load_history.setdefault(model, deque()).append(load)
        return changed

    def _ingest_pods(
        self, at: float, pods: Mapping[str, PodReading | Unreadable]
    ) -> frozenset[str]:
        loads: dict[str, PodLoad] = {}
        for source, reading in pods.items():
            if isinstance(reading, str):
                loads[source] = PodLoad(source, at, error=reading)
            else:
                loads[source] = PodLoad(
                    source, at, reading.running, reading.waiting, reading.kv_cache_usage
                )
        changed = frozenset(
            source
            for source in set(loads) | set(self._pods)
            if _pod_figures(loads.get(source)) != _pod_figures(self._pods.get(source))
        )
        self._pods = loads
        for source, load in loads.items():
            self._pod_history.setdefault(source, deque()).append(load)
        return changed

    def _prune(self, at: float) -> None:
        assert self.history_start is not None
        load_cutoff = at - self.load_retention_seconds
        for histories in (self._load_history, self._pod_history):
            for name in list(histories):
                entries = histories[name]
                while entries and (entries[0].at or 0.0) < load_cutoff:
                    entries.popleft()
                if not entries:
                    del histories[name]
        cutoff = at - self.retention_seconds
        if cutoff <= self.history_start:
            return
        self.horizon = cutoff
        for track in [track for track in self._values if track not in self._history]:
            del self._values[track]  # all zeros (only baselines so far): nothing to keep
        for track in list(self._history):
            history = self._history[track]
            if history.times[-1] <= cutoff:
                # Unchanged since before the horizon: every window in reach reads 0 for it.
                del self._history[track]
                del self._values[track]
            else:
                history.prune(cutoff)

    # ------------------------------------------------------------------ queries

    def window(self, key: TrackKey, since: float) -> Window:
        """The track's figures from `since` (or the horizon, if later) to the last round."""
        unreadable = dict(self._unreadable_routers)
        if self.last_round is None or self.horizon is None:
            return Window(key, since, since, None, TrackFigures(), unreadable)
        start = max(since, self.horizon)
        history = self._history.get(key)
        if history is None:
            figures = TrackFigures()
        else:
            figures = figures_between(history.at(start), history.totals[-1])
        return Window(key, since, start, self.last_round, figures, unreadable)

    def model_load(self, model: str) -> ModelLoad:
        load = self._loads.get(model)
        if load is None:
            return ModelLoad(model, None, None, {}, 0, dict(self._unreadable_routers))
        return load

    def pod_load(self, source: str) -> PodLoad:
        load = self._pods.get(source)
        if load is None:
            return PodLoad(source, None, error="not listed in the last round")
        return load

    def load_history(self, model: str, since: float) -> list[ModelLoad]:
        """The model's load in every retained round from `since` on, oldest first; rounds in
        which no readable router knew the model have `in_flight=None`."""
        entries = self._load_history.get(model, ())
        return [load for load in entries if load.at is not None and load.at >= since]

    def pod_history(self, source: str, since: float) -> list[PodLoad]:
        """The pod's gauges in every retained round it was listed in from `since` on (an
        unreadable round has `error` set and no values)."""
        return [load for load in self._pod_history.get(source, ()) if (load.at or 0.0) >= since]

    @property
    def unreadable_routers(self) -> Mapping[str, str]:
        return dict(self._unreadable_routers)

    @property
    def unreadable_pods(self) -> Mapping[str, str]:
        return {source: load.error for source, load in self._pods.items() if load.error}

    def tracks(self, model: str | None = None) -> list[TrackKey]:
        """Tracks with counts in the retained history (optionally of one model)."""
        return [track for track in self._history if model is None or track.model == model]


def _load_figures(load: ModelLoad | None) -> object:
    return None if load is None else (load.in_flight, load.holding, dict(load.in_flight_by_track))


def _pod_figures(load: PodLoad | None) -> object:
    if load is None:
        return None
    return (load.running, load.waiting, load.kv_cache_usage, load.error)
