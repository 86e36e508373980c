"""What the operator scrapes, and what the reconcile reads back: the telemetry's two seams.

`TelemetrySources` lists the scrape targets every round: the routers (their pods, found by
label in the router's namespace through a pod watch, plus any `--router-metrics-url` for a
local or standalone router) and every Ready vLLM pod of a ModelDeployment (from the operator's
own pod index). It also maps a round's changes back to ModelDeployment keys to poke.

`RolloutFigures` answers the reconcile's question "how did both tracks do since the step
began" from the telemetry windows, as the rollout step machine's `Figures`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from modelops.api.engines import ENGINE_FACTS
from modelops.controller.load_samples import load_samples
from modelops.controller.telemetry_loop import pod_source
from modelops.k8s.client import ApiClient
from modelops.k8s.pods import PodInfo, watch_pods
from modelops.policies.autoscaling import LoadSample
from modelops.policies.rollout import Figures
from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Changes, Source, Sources, TrackKey

log = logging.getLogger(__name__)

Key = tuple[str, str]
ENGINE_LABEL = "app.kubernetes.io/name"
ROUTER_LABELS = {"app.kubernetes.io/component": "router", "app.kubernetes.io/part-of": "modelops"}
METRICS_PATH = "/metrics"


class TelemetrySources:
    def __init__(
        self,
        *,
        router_urls: Iterable[str],
        pods_by_owner: Callable[[], Mapping[Key, Iterable[Mapping[str, Any]]]],
        served_names: Mapping[Key, str],
    ) -> None:
        self._static = [Source(url, url) for url in router_urls]
        self._pods_by_owner = pods_by_owner
        self._served_names = served_names
        self._router_pods: dict[str, PodInfo] = {}
        self._pod_owner: dict[str, Key] = {}

    async def watch_router_pods(
        self, client: ApiClient, namespace: str, labels: Mapping[str, str] = ROUTER_LABELS
    ) -> None:
        """Keep the router pods current (runs until cancelled; relists on any error)."""
        async for snapshot in watch_pods(client, namespace=namespace, labels=labels):
            self._router_pods = snapshot

    def __call__(self) -> Sources:
        routers = list(self._static)
        for pod in self._router_pods.values():
            port = next((p for c in pod.containers for p in c.ports), None)
            if pod.ip and not pod.deleting and port is not None:
                host = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
                routers.append(
                    Source(f"{pod.namespace}/{pod.name}", f"http://{host}:{port}{METRICS_PATH}")
                )
        pods = []
        owners: dict[str, Key] = {}
        vllm = ENGINE_FACTS["vllm"]
        for owner, bodies in self._pods_by_owner().items():
            for body in bodies:
                labels = (body.get("metadata") or {}).get("labels") or {}
                if labels.get(ENGINE_LABEL) != "vllm" or vllm.metrics_path is None:
                    continue
                source = pod_source(body, port=vllm.port, path=vllm.metrics_path)
                if source is not None:
                    pods.append(source)
                    owners[source.id] = owner
        self._pod_owner = owners
        return Sources(routers=routers, pods=pods)

    def keys_to_poke(self, changes: Changes) -> set[Key]:
        by_name = {name: key for key, name in self._served_names.items()}
        keys = {by_name[name] for name in changes.models if name in by_name}
        keys |= {self._pod_owner[pod] for pod in changes.pods if pod in self._pod_owner}
        return keys


class ReconcileTelemetry:
    """What the reconcile reads of telemetry (the last rounds; never waits): the rollout's
    analysis window and the autoscaler's load samples."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def rollout_figures(
        self,
        served_name: str,
        *,
        stable_revision: str,
        canary_revision: str,
        since: datetime,
    ) -> Figures | None:
        canary = self._telemetry.window(TrackKey(served_name, "canary", canary_revision), since)
        stable = self._telemetry.window(TrackKey(served_name, "stable", stable_revision), since)
        if canary.until is None:
            return None  # no round has completed yet
        problem = None
        unreadable = {**stable.unreadable_routers, **canary.unreadable_routers}
        if unreadable:
            problem = "; ".join(
                f"router {r} could not be read: {why}" for r, why in unreadable.items()
            )
        # A window that starts later than asked (this process began after the step did) is
        # still good: it holds fewer requests, and minRequests is still required of it.
        load = self._telemetry.model_load(served_name)
        in_flight = load.in_flight_by_track.get(TrackKey(served_name, "stable", stable_revision))
        if in_flight is None and load.in_flight is not None:
            in_flight = 0  # the routers know the model and have nothing on that track
        if not load.complete:
            in_flight = None
        return Figures(
            canary=canary.figures,
            stable=stable.figures,
            stable_in_flight=in_flight,
            problem=problem,
        )

    def load_samples(
        self,
        served_name: str,
        *,
        vllm_pods: Sequence[str],
        ready_replicas: int,
        since: datetime,
    ) -> list[LoadSample]:
        """One sample per scrape round since `since`, for the autoscaler."""
        return load_samples(
            self._telemetry.load_history(served_name, since),
            {pod: self._telemetry.pod_history(pod, since) for pod in vllm_pods},
            ready_replicas,
        )


def run_forever(coroutine_factory: Callable[[], Any], what: str) -> asyncio.Task[None]:
    """A background task that logs and restarts its coroutine if it ever fails."""

    async def loop() -> None:
        while True:
            try:
                await coroutine_factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; restarting it", what)
            await asyncio.sleep(1.0)

    return asyncio.create_task(loop(), name=what)
