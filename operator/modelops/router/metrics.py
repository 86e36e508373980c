"""Prometheus metrics of one router app (its own CollectorRegistry, never the global one).

Two families of request series: per endpoint attempt (`requests`, `request_duration_seconds`,
... by model and track) for operators watching the router, and per request as the client saw
it (`model_requests`, `model_request_duration_seconds`, `model_time_to_first_token_seconds`,
by model, track, revision and outcome; names in `modelops.api.telemetry`) for the operator's
rollout analysis and autoscaler. The router's start time is exported so that a reader can tell
a restart (every counter back to zero) from a quiet period.

The per-request series (requests, latency and TTFT histograms, tokens, in-flight, client
requests) are plain counters owned by the app and exposed by a custom collector at scrape
time: the router runs on one event loop, so an update is a dict operation that nothing can
interleave with, and the request path pays no lock per update (prometheus_client's metric
objects take one on every inc/observe). In-flight counts are read from each endpoint's
`outstanding` counter, the same number the balancer uses, so the two cannot disagree. Health
and demotion gauges are computed from the current snapshot at scrape time too. Rare events
(errors, fallbacks, reloads) use ordinary prometheus_client counters.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from modelops.api import telemetry as names
from modelops.router.state import EndpointState, Snapshot

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Holds last up to the router's hold limit (default 300 s).
HOLD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
PREFIX = names.ROUTER_PREFIX
ENDPOINT_LABELS = ["model", "track", "endpoint"]
MODEL_LABELS = [names.LABEL_MODEL, names.LABEL_TRACK, names.LABEL_REVISION]
RequestKey = tuple[str, str, str, str]  # model, track, revision, outcome
# Series of a revision the config no longer routes to are dropped this long after it stopped
# (every rollout brings a new revision; without this they would pile up for the process's life).
RETIRE_AFTER_SECONDS = 900.0


class LoopHistogram:
    """A histogram for one label set, updated from one event loop only."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last slot: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = 0
        result = []
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            result.append((repr(float(bound)), float(cumulative)))
        result.append(("+Inf", float(cumulative + self.counts[-1])))
        return result


class RouterMetrics(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self._snapshot = snapshot
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str], LoopHistogram] = {}
        self.ttft: dict[tuple[str, str], LoopHistogram] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}
        self.client_requests: dict[tuple[str, str], int] = {}
        self.started_at = time.time()
        self.model_requests: dict[RequestKey, int] = {}
        self.model_latency: dict[RequestKey, LoopHistogram] = {}
        self.model_ttft: dict[RequestKey, LoopHistogram] = {}
        self.holding: dict[str, int] = {}
        self.hold_durations: dict[tuple[str, str], LoopHistogram] = {}
        self._unrouted_since: dict[tuple[str, str, str], float] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Failed requests as answered to clients, by model and reason",
            ["model", "track", "reason"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            f"{PREFIX}_fallbacks",
            "Requests served by another model than the first choice",
            ["requested", "served"],
            registry=self.registry,
        )
        self.config_reloads = Counter(
            f"{PREFIX}_config_reloads",
            "Config updates by result",
            ["result"],
            registry=self.registry,
        )
        self.registry.register(self)

    # ---------------------------------------------------------------- request path

    def count_attempt(self, endpoint: EndpointState, code: str) -> None:
        key = (endpoint.model, endpoint.track, endpoint.address, code)
        self.requests[key] = self.requests.get(key, 0) + 1

    def observe_latency(self, model: str, track: str, seconds: float) -> None:
        histogram = self.latency.get((model, track))
        if histogram is None:
            histogram = self.latency[(model, track)] = LoopHistogram()
        histogram.observe(seconds)

    def observe_ttft(self, model: str, track: str, seconds: float) -> None:
        histogram = self.ttft.get((model, track))
        if histogram is None:
            histogram = self.ttft[(model, track)] = LoopHistogram()
        histogram.observe(seconds)

    def count_tokens(self, model: str, track: str, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for kind, field in (("prompt", "prompt_tokens"), ("completion", "completion_tokens")):
            value = usage.get(field)
            if isinstance(value, int) and value > 0:
                key = (model, track, kind)
                self.tokens[key] = self.tokens.get(key, 0) + value

    def count_client_request(self, api: str, status: int) -> None:
        key = (api, str(status))
        self.client_requests[key] = self.client_requests.get(key, 0) + 1

    def record_request(
        self,
        model: str,
        track: str,
        revision: str,
        outcome: str,
        seconds: float,
        ttft_seconds: float | None = None,
    ) -> None:
        """One request's part on one track, once it is over.

        `outcome` is one of `modelops.api.telemetry.OUTCOMES`; `seconds` runs from the
        request's arrival to its end (failed requests too); `ttft_seconds` is set when a stream
        sent its first chunk. A request retried on stable is recorded twice: `retried` on the
        canary track, then its final outcome on stable.
        """
        if outcome not in names.OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {names.OUTCOMES}")
        key = (model, track, revision, outcome)
        self.model_requests[key] = self.model_requests.get(key, 0) + 1
        _observe(self.model_latency, key, seconds, names.MODEL_LATENCY_BUCKETS)
        if ttft_seconds is not None:
            _observe(self.model_ttft, key, ttft_seconds, names.MODEL_LATENCY_BUCKETS)

    def hold_started(self, model: str) -> None:
        """A request for `model` starts waiting for an endpoint (the holding gauge goes up)."""
        self.holding[model] = self.holding.get(model, 0) + 1

    def hold_finished(self, model: str, seconds: float, outcome: str) -> None:
        """The hold that `hold_started(model)` began is over after `seconds`.

        `outcome` is one of `modelops.api.telemetry.HOLD_OUTCOMES`.
        """
        if outcome not in names.HOLD_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {names.HOLD_OUTCOMES}")
        left = self.holding.get(model, 0) - 1
        if left > 0:
            self.holding[model] = left
        else:
            self.holding.pop(model, None)
        _observe(self.hold_durations, (model, outcome), seconds, HOLD_BUCKETS)

    # ---------------------------------------------------------------- scrape

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_requests",
            "Upstream attempts by endpoint and HTTP status ('error', 'timeout' without one)",
            labels=[*ENDPOINT_LABELS, "code"],
        )
        for request_labels, value in self.requests.items():
            requests.add_metric(list(request_labels), value)
        yield requests
        for name, doc, histograms in (
            ("request_duration_seconds", "Time from request to the last byte", self.latency),
            (
                "time_to_first_token_seconds",
                "Time from request to the first streamed chunk (streaming requests)",
                self.ttft,
            ),
        ):
            family = HistogramMetricFamily(f"{PREFIX}_{name}", doc, labels=["model", "track"])
            for histogram_labels, histogram in histograms.items():
                family.add_metric(list(histogram_labels), histogram.buckets(), histogram.total)
            yield family
        tokens = CounterMetricFamily(
            f"{PREFIX}_tokens", "Tokens reported by the backend", labels=["model", "track", "kind"]
        )
        for token_labels, value in self.tokens.items():
            tokens.add_metric(list(token_labels), value)
        yield tokens
        client = CounterMetricFamily(
            f"{PREFIX}_client_requests",
            "Requests received, by client API and status answered",
            labels=["api", "code"],
        )
        for client_labels, value in self.client_requests.items():
            client.add_metric(list(client_labels), value)
        yield client
        yield from self._model_series()
        yield from self._state()

    def retire_unrouted(self, now: float | None = None) -> None:
        """Drop the per-request series of revisions unrouted for RETIRE_AFTER_SECONDS."""
        snapshot = self._snapshot()
        if snapshot is None:
            return
        now = time.monotonic() if now is None else now
        routed = {
            (model.name, track.name, track.revision)
            for model in snapshot.models.values()
            for track in model.tracks
        }
        unrouted = {key[:3] for key in self.model_requests} - routed
        self._unrouted_since = {track: self._unrouted_since.get(track, now) for track in unrouted}
        retired = {
            t for t, since in self._unrouted_since.items() if now - since >= RETIRE_AFTER_SECONDS
        }
        if not retired:
            return
        for series in (self.model_requests, self.model_latency, self.model_ttft):
            for key in [key for key in series if key[:3] in retired]:
                del series[key]
        for track in retired:
            del self._unrouted_since[track]

    def _model_series(self) -> Iterator[Metric]:
        self.retire_unrouted()
        labels = [*MODEL_LABELS, names.LABEL_OUTCOME]
        requests = CounterMetricFamily(
            names.ROUTER_MODEL_REQUESTS,
            "Requests as the client saw them, by model, track, revision and outcome",
            labels=labels,
        )
        for key, value in self.model_requests.items():
            requests.add_metric(list(key), value)
        yield requests
        for name, doc, histograms in (
            (
                names.ROUTER_MODEL_LATENCY,
                "Time from a request's arrival to its end, failed requests included",
                self.model_latency,
            ),
            (
                names.ROUTER_MODEL_TTFT,
                "Time from a request's arrival to its first streamed chunk",
                self.model_ttft,
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=labels)
            for key, histogram in histograms.items():
                family.add_metric(list(key), histogram.buckets(), histogram.total)
            yield family
        holds = HistogramMetricFamily(
            names.ROUTER_MODEL_HOLD_DURATION,
            "How long requests were held for lack of an endpoint, by outcome",
            labels=[names.LABEL_MODEL, names.LABEL_OUTCOME],
        )
        for hold_labels, histogram in self.hold_durations.items():
            holds.add_metric(list(hold_labels), histogram.buckets(), histogram.total)
        yield holds
        started = GaugeMetricFamily(
            names.ROUTER_START_TIME, "When this router process started (Unix seconds)"
        )
        started.add_metric([], self.started_at)
        yield started

    def _state(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        in_flight = GaugeMetricFamily(
            f"{PREFIX}_in_flight_requests",
            "Requests being served by the endpoint right now",
            labels=ENDPOINT_LABELS,
        )
        healthy = GaugeMetricFamily(
            f"{PREFIX}_endpoint_healthy",
            "1 when the endpoint is ready and passes health checks",
            labels=ENDPOINT_LABELS,
        )
        available = GaugeMetricFamily(
            f"{PREFIX}_model_available", "1 when the model has a usable endpoint", labels=["model"]
        )
        demoted = GaugeMetricFamily(
            f"{PREFIX}_model_demoted",
            "1 when the model had no usable endpoint for the demotion window",
            labels=["model"],
        )
        # Every routed model and track gets a sample, 0 included: a reader can tell "no load"
        # from "this router does not know the model".
        model_in_flight = GaugeMetricFamily(
            names.ROUTER_MODEL_IN_FLIGHT,
            "Requests being served right now, by model, track and revision",
            labels=MODEL_LABELS,
        )
        holding = GaugeMetricFamily(
            names.ROUTER_MODEL_HOLDING,
            "Requests waiting for an endpoint of the model right now",
            labels=[names.LABEL_MODEL],
        )
        held = dict(self.holding)
        if snapshot is not None:
            now = time.monotonic()
            for model in snapshot.models.values():
                available.add_metric([model.name], 1.0 if model.has_usable else 0.0)
                is_demoted = snapshot.is_demoted(model.name, now)
                demoted.add_metric([model.name], 1.0 if is_demoted else 0.0)
                for endpoint in model.endpoints:
                    labels = [model.name, endpoint.track, endpoint.address]
                    in_flight.add_metric(labels, float(endpoint.outstanding))
                    healthy.add_metric(labels, 1.0 if endpoint.usable else 0.0)
                for track in model.tracks:
                    outstanding = sum(endpoint.outstanding for endpoint in track.endpoints)
                    model_in_flight.add_metric(
                        [model.name, track.name, track.revision], float(outstanding)
                    )
                holding.add_metric([model.name], float(held.pop(model.name, 0)))
        for name, count in held.items():  # held for a model the config no longer lists
            holding.add_metric([name], float(count))
        yield in_flight
        yield healthy
        yield available
        yield demoted
        yield model_in_flight
        yield holding

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _observe(
    histograms: dict[Any, LoopHistogram], key: Any, value: float, bounds: tuple[float, ...]
) -> None:
    histogram = histograms.get(key)
    if histogram is None:
        histogram = histograms[key] = LoopHistogram(bounds)
    histogram.observe(value)
