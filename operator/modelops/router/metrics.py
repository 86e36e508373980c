"""Prometheus metrics of one router app (its own CollectorRegistry, never the global one).

Counters, histograms and the in-flight gauge are updated on the request path; their label
children are cached per endpoint so a request costs a few dict lookups. Health and demotion
gauges are computed at scrape time from the current snapshot by a custom collector, so they
are never stale. Single event loop: updates cannot interleave mid-operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelops.router.state import EndpointState, Snapshot

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
PREFIX = "modelops_router"


@dataclass
class EndpointChildren:
    in_flight: Any
    requests: dict[str, Any] = field(default_factory=dict)


class _StateCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        healthy = GaugeMetricFamily(
            f"{PREFIX}_endpoint_healthy",
            "1 when the endpoint is ready and passes health checks",
            labels=["model", "track", "endpoint"],
        )
        available = GaugeMetricFamily(
            f"{PREFIX}_model_available", "1 when the model has a usable endpoint", labels=["model"]
        )
        demoted = GaugeMetricFamily(
            f"{PREFIX}_model_demoted",
            "1 when the model had no usable endpoint for the demotion window",
            labels=["model"],
        )
        if snapshot is not None:
            now = time.monotonic()
            for model in snapshot.models.values():
                available.add_metric([model.name], 1.0 if model.has_usable else 0.0)
                demoted.add_metric(
                    [model.name], 1.0 if snapshot.is_demoted(model.name, now) else 0.0
                )
                for endpoint in model.endpoints:
                    healthy.add_metric(
                        [model.name, endpoint.track, endpoint.address],
                        1.0 if endpoint.usable else 0.0,
                    )
        yield healthy
        yield available
        yield demoted


class RouterMetrics:
    def __init__(self, snapshot: Callable[[], Snapshot | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        endpoint_labels = ["model", "track", "endpoint"]
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Upstream attempts by endpoint and HTTP status (or 'error' without one)",
            [*endpoint_labels, "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Failed requests as answered to clients, by model and reason",
            ["model", "track", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from request to the last byte of the answer",
            ["model", "track"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "Time from request to the first streamed chunk (streaming requests)",
            ["model", "track"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            f"{PREFIX}_tokens",
            "Tokens reported by the backend",
            ["model", "track", "kind"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_in_flight_requests",
            "Requests being served by the endpoint right now",
            endpoint_labels,
            registry=self.registry,
        )
        self.client_requests = Counter(
            f"{PREFIX}_client_requests",
            "Requests received, by client API and status answered",
            ["api", "code"],
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
        self.registry.register(_StateCollector(snapshot))
        # `labels()` takes a lock and builds tuples: cache the children used on every request.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Counter | Histogram | Gauge, *labels: str) -> Any:
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            self._children[key] = found
        return found

    def children(self, endpoint: EndpointState) -> EndpointChildren:
        cached = endpoint.metric_children
        if cached is None:
            cached = EndpointChildren(
                in_flight=self.in_flight.labels(endpoint.model, endpoint.track, endpoint.address)
            )
            endpoint.metric_children = cached
        assert isinstance(cached, EndpointChildren)
        return cached

    def count_attempt(self, endpoint: EndpointState, code: str) -> None:
        children = self.children(endpoint)
        counter = children.requests.get(code)
        if counter is None:
            counter = self.requests.labels(endpoint.model, endpoint.track, endpoint.address, code)
            children.requests[code] = counter
        counter.inc()

    def count_tokens(self, model: str, track: str, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if isinstance(prompt, int) and prompt > 0:
            self.child(self.tokens, model, track, "prompt").inc(prompt)
        if isinstance(completion, int) and completion > 0:
            self.child(self.tokens, model, track, "completion").inc(completion)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
