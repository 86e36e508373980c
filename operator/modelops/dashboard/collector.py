"""The dashboard's one loop of I/O: every interval, read the cluster and the routers, keep
the result as `Readings` and append to the history.

Kubernetes reads go through `modelops.k8s.reads`. Routers are reached at the URLs given, or
found as pods (namespace + label selector) and reached through the API server's pod proxy,
which needs nothing but the user's kubeconfig. Nothing here raises to the web server: an API
server that is down keeps the last objects (marked stale), a router that cannot be reached is
reported as such, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from modelops.dashboard import promtext
from modelops.dashboard.history import History
from modelops.dashboard.readings import Readings, RouterReading, pod_ready
from modelops.k8s import reads
from modelops.k8s.client import ApiClient

log = logging.getLogger(__name__)
HTTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class RouterDiscovery:
    """Routers as pods: those matching `selector` in `namespace`, port `port`."""

    namespace: str
    selector: Mapping[str, str]
    port: int | str


class Collector:
    def __init__(
        self,
        client: ApiClient,
        *,
        namespaces: Sequence[str],
        router_urls: Sequence[str],
        discovery: RouterDiscovery | None,
        interval_seconds: float,
        history_points: int,
    ) -> None:
        self.client = client
        self.namespaces = list(namespaces)
        self.router_urls = [u.rstrip("/") for u in router_urls]
        self.discovery = discovery
        self.interval_seconds = interval_seconds
        self.history = History(history_points)
        self.readings = Readings(now=time.time())
        self._previous: dict[str, tuple[float, promtext.RouterTotals]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS), trust_env=False
        )
        self._task = asyncio.create_task(self._loop(), name="dashboard-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()
        await self.client.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.collect_once()
            except Exception:  # a bug in one round must not stop the dashboard for good
                log.exception("collection round failed")
            await asyncio.sleep(self.interval_seconds)

    async def collect_once(self) -> None:
        now = time.time()
        previous = self.readings
        objects, api_error = None, None
        try:
            objects = await reads.read_cluster(self.client, self.namespaces or None)
        except reads.ReadError as error:
            api_error = str(error)
            log.warning("cannot read the cluster: %s", error)
        routers = await self._read_routers()
        traffic, load = self._traffic(routers, now)
        readings = Readings(
            now=now,
            model_deployments=objects.model_deployments if objects else previous.model_deployments,
            nodes=objects.nodes if objects else previous.nodes,
            pods=objects.pods if objects else previous.pods,
            events=objects.events if objects else previous.events,
            objects_at=now if objects else previous.objects_at,
            api_error=api_error,
            routers=[reading for reading, _ in routers],
            traffic=traffic,
            load=load,
        )
        self.readings = readings
        self.history.record(readings)
        self.rounds += 1

    def _traffic(
        self, routers: list[tuple[RouterReading, float]], now: float
    ) -> tuple[dict[promtext.TrackKey, promtext.TrafficFigures], dict[str, float]]:
        """Windows over the routers seen in this round and the last (a router missing from
        either would look like a counter reset)."""
        current = {r.name: (at, r.totals) for r, at in routers if r.totals is not None}
        both = [name for name in current if name in self._previous]
        traffic: dict[promtext.TrackKey, promtext.TrafficFigures] = {}
        if both:
            seconds = max(current[n][0] - self._previous[n][0] for n in both)
            now_totals = promtext.merge(current[n][1] for n in both)
            before = promtext.merge(self._previous[n][1] for n in both)
            traffic = promtext.window(now_totals, before, seconds)
        merged = promtext.merge(t for _, t in current.values() if t is not None)
        self._previous = {n: (at, t) for n, (at, t) in current.items() if t is not None}
        models = set(merged.in_flight) | set(merged.holding)
        return traffic, {model: merged.load(model) for model in models}

    async def _read_routers(self) -> list[tuple[RouterReading, float]]:
        targets: list[tuple[str, Any]] = [(url, url) for url in self.router_urls]
        readings: list[tuple[RouterReading, float]] = []
        if self.discovery is not None and not self.router_urls:
            try:
                pods = await reads.list_pods(
                    self.client, self.discovery.namespace, self.discovery.selector
                )
            except reads.ReadError as error:
                found = f"cannot list router pods in {self.discovery.namespace}: {error}"
                return [(RouterReading(name="(router pods)", error=found), time.time())]
            for pod in pods:
                if pod_ready(pod) and not pod["metadata"].get("deletionTimestamp"):
                    targets.append((f"pod {pod['metadata']['name']}", pod["metadata"]["name"]))
            if not targets:
                return [
                    (
                        RouterReading(
                            name="(router pods)",
                            error=f"no ready router pod in {self.discovery.namespace} "
                            f"matching {dict(self.discovery.selector)}",
                        ),
                        time.time(),
                    )
                ]
        results = await asyncio.gather(*(self._read_router(n, target) for n, target in targets))
        readings.extend(results)
        return readings

    async def _get(self, target: str, path: str) -> tuple[int, bytes]:
        if target.startswith(("http://", "https://")):
            assert self._http is not None
            async with self._http.get(f"{target}{path}") as response:
                return response.status, await response.read()
        assert self.discovery is not None
        return await reads.pod_proxy_get(
            self.client, self.discovery.namespace, target, self.discovery.port, path
        )

    async def _read_router(self, name: str, target: str) -> tuple[RouterReading, float]:
        try:
            code, body = await self._get(target, "/status")
            if code != 200:
                raise ValueError(f"/status answered {code}: {body[:200]!r}")
            status = json.loads(body)
            at = time.time()
            code, body = await self._get(target, "/metrics")
            if code != 200:
                raise ValueError(f"/metrics answered {code}: {body[:200]!r}")
            totals = promtext.parse(body.decode("utf-8", "replace"))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, reads.ReadError) as error:
            message = str(error) or type(error).__name__
            return RouterReading(name=name, error=f"cannot read the router: {message}"), time.time()
        return RouterReading(name=name, status=status, totals=totals), at
