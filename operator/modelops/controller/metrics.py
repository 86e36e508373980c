"""The operator's Prometheus metrics, on a port of its own (`modelops operator --metrics-port`).

Two kinds of series:

* the operator itself: reconciles (count by result, duration, errors by exception type) and
  the work queue's depth;
* per ModelDeployment (labels `namespace`, `name`, `model` = served name): phase, conditions,
  replicas (desired, ready, existing), the autoscaler's load, held requests and
  recommendation, and during a rollout the canary's step, weight, replicas and the analysis
  figures of both tracks.

The per-model series are read at scrape time from the statuses the operator last wrote (a
callable returning them, e.g. from the kopf index), never from a second bookkeeping, so a
scrape says exactly what `kubectl get md -o yaml` says. The server runs on the operator's event
loop (aiohttp, which kopf already uses), so the index is never read from another thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError

from modelops.api.status import PHASES, ModelDeploymentStatus, TrackFigures

log = logging.getLogger(__name__)

T = TypeVar("T")
OPERATOR_PREFIX = "modelops_operator"
MODEL_PREFIX = "modelops_model"
MODEL_LABELS = ["namespace", "name", "model"]
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ModelStatus:
    namespace: str
    name: str
    status: ModelDeploymentStatus


StatusSource = Callable[[], Iterable[ModelStatus]]


def statuses_from_bodies(bodies: Iterable[Mapping[str, Any]]) -> list[ModelStatus]:
    """ModelDeployment bodies (as the API serves them) to their parsed statuses.

    A body without a status yet, or with one this version cannot read, is left out (and logged
    at debug level): a scrape must never fail because of one object."""
    result = []
    for body in bodies:
        metadata = body.get("metadata") or {}
        raw = body.get("status")
        if not isinstance(raw, Mapping) or not raw:
            continue
        try:
            status = ModelDeploymentStatus.model_validate(_plain(raw))
        except ValidationError as error:
            log.debug(
                "status of %s/%s not readable: %s",
                metadata.get("namespace"),
                metadata.get("name"),
                error,
            )
            continue
        result.append(ModelStatus(metadata.get("namespace", ""), metadata.get("name", ""), status))
    return result


def _plain(value: Any) -> Any:
    # kopf hands over Mapping views, not dicts.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class OperatorMetrics(Collector):
    """One operator's metrics, in its own CollectorRegistry (never the global one)."""

    def __init__(self, statuses: StatusSource, queue_depth: Callable[[], int] = lambda: 0) -> None:
        self._statuses = statuses
        self._queue_depth = queue_depth
        self.registry = CollectorRegistry(auto_describe=False)
        self.reconciles = Counter(
            f"{OPERATOR_PREFIX}_reconciles",
            "Reconciles run, by result (ok, error)",
            ["result"],
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            f"{OPERATOR_PREFIX}_reconcile_errors",
            "Reconciles that raised, by exception type",
            ["error"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            f"{OPERATOR_PREFIX}_reconcile_duration_seconds",
            "Time one reconcile took",
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    async def timed(self, work: Awaitable[T]) -> T:
        """Awaits one reconcile, counting and timing it (the exception, if any, goes on)."""
        started = time.perf_counter()
        try:
            result = await work
        except Exception as error:
            self.reconciles.labels("error").inc()
            self.reconcile_errors.labels(type(error).__name__).inc()
            raise
        finally:
            self.reconcile_duration.observe(time.perf_counter() - started)
        self.reconciles.labels("ok").inc()
        return result

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ scrape

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            f"{OPERATOR_PREFIX}_workqueue_depth", "Keys waiting in the work queue for a worker"
        )
        depth.add_metric([], float(self._queue_depth()))
        yield depth
        yield from _model_families(list(self._statuses()))


def _gauge(name: str, doc: str, extra: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{MODEL_PREFIX}_{name}", doc, labels=[*MODEL_LABELS, *extra])


def _model_families(models: list[ModelStatus]) -> Iterator[Metric]:
    phase = _gauge("phase", "1 for the model's current phase, 0 for the others", ["phase"])
    condition = _gauge("condition", "1 when the condition has this status", ["type", "status"])
    replicas = {
        key: _gauge(f"{key}_replicas", doc)
        for key, doc in (
            ("desired", "Replicas asked for (the autoscaler's decision, or spec.replicas)"),
            ("ready", "Replicas ready"),
            ("existing", "Pods of the model that exist"),
        )
    }
    load = _gauge("load", "In-flight plus held requests, as the autoscaler last saw them")
    holding = _gauge("holding_requests", "Requests the router held, as the autoscaler saw them")
    recommendation = _gauge(
        "autoscaler_recommendation", "Replicas the load asked for, before bounds and capacity"
    )
    step = _gauge("rollout_step", "Index of the canary's current step (0-based)")
    weight = _gauge("canary_weight", "Percent of traffic sent to the canary")
    canary_replicas = _gauge("canary_replicas", "Pods of the canary slot")
    canary_phase = _gauge("canary_phase", "1 for the rollout's current phase", ["phase"])
    analysis = {
        key: _gauge(f"analysis_{key}", doc, ["track"])
        for key, doc in (
            ("requests", "Requests seen by the track in the analysis window"),
            ("errors", "Failed requests of the track in the analysis window"),
            ("error_rate", "errors / requests of the track in the analysis window"),
            ("p95_seconds", "95th percentile latency of the track in the analysis window"),
            ("p95_ttft_seconds", "95th percentile time to first token in the analysis window"),
        )
    }
    missing = _gauge("analysis_missing_requests", "Canary requests still needed to judge the step")

    for model in models:
        status = model.status
        labels = [model.namespace, model.name, status.served_model_name or model.name]
        if status.phase is not None:
            for name in PHASES:
                phase.add_metric([*labels, name], 1.0 if name == status.phase else 0.0)
        for found in status.conditions:
            condition.add_metric([*labels, found.type, found.status], 1.0)
        for key, value in (
            ("desired", status.desired_replicas),
            ("ready", status.ready_replicas),
            ("existing", status.replicas),
        ):
            if value is not None:
                replicas[key].add_metric(labels, float(value))
        autoscaler = status.autoscaler
        if autoscaler is not None:
            for family, number in (
                (load, autoscaler.load),
                (holding, autoscaler.holding),
                (recommendation, autoscaler.recommendation),
            ):
                if number is not None:
                    family.add_metric(labels, float(number))
        canary = status.canary
        if canary is None:
            continue
        step.add_metric(labels, float(canary.step))
        weight.add_metric(labels, float(canary.weight))
        canary_replicas.add_metric(labels, float(canary.replicas))
        canary_phase.add_metric([*labels, canary.phase], 1.0)
        if canary.analysis is not None:
            missing.add_metric(labels, float(canary.analysis.missing_requests))
            for track, figures in (
                ("stable", canary.analysis.stable),
                ("canary", canary.analysis.canary),
            ):
                for key, number in _figures(figures):
                    if number is not None:
                        analysis[key].add_metric([*labels, track], float(number))

    yield phase
    yield condition
    yield from replicas.values()
    yield load
    yield holding
    yield recommendation
    yield step
    yield weight
    yield canary_replicas
    yield canary_phase
    yield from analysis.values()
    yield missing


def _figures(figures: TrackFigures) -> list[tuple[str, float | int | None]]:
    return [
        ("requests", figures.requests),
        ("errors", figures.errors),
        ("error_rate", figures.error_rate),
        ("p95_seconds", figures.p95_seconds),
        ("p95_ttft_seconds", figures.p95_ttft_seconds),
    ]


class MetricsServer:
    """`/metrics` (and `/healthz`) on `host:port`, on the running event loop."""

    def __init__(self, metrics: OperatorMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("operator metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")
