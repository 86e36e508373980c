"""Publishing the router's config: every ModelDeployment change pokes the publisher, which
rebuilds the config from all of them (debounced) and writes the ConfigMap only when its text
changed. Per-object problems are kept for the reconciles that report them as conditions.

Tracks and weights come from each object's last reconcile plan (`routes`), never from a
re-read of status. Until every live object has been planned once (just after a start), the
publisher writes nothing: the router keeps serving the config it has rather than one
missing the models not planned yet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from modelops.api import InvalidModelDeploymentError, ModelDeployment, parse_model_deployment
from modelops.api.router_config import CONFIGMAP_KEY, RouterConfig
from modelops.builders.router_config import RoutedModel, build_router_plan
from modelops.k8s import writes
from modelops.k8s.client import ApiClient
from modelops.policies.plan import RouteTracks

Key = tuple[str, str]

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.2
# While hundreds of objects change at once, write the ConfigMap at most this often.
MIN_PUBLISH_INTERVAL_SECONDS = 1.0
FLUSH_TIMEOUT_SECONDS = 10.0
RETRY_SECONDS = 2.0
LABELS = {
    "app.kubernetes.io/managed-by": "modelops",
    "app.kubernetes.io/component": "router-config",
}


class RouterConfigPublisher:
    def __init__(
        self,
        client: ApiClient,
        *,
        namespace: str,
        name: str,
        model_deployments: Mapping[Key, Mapping[str, Any]],
        routes: Mapping[Key, RouteTracks | None],
        on_problems_changed: Callable[[Key], None],
        base: RouterConfig | None = None,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.name = name
        self._model_deployments = model_deployments
        self._routes = routes
        self._on_problems_changed = on_problems_changed
        self._base = base
        self._problems: dict[Key, tuple[str, ...]] = {}
        self._parsed: dict[tuple[Key, str], ModelDeployment | None] = {}
        self._published: str | None = None
        self._published_config: RouterConfig | None = None
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def problems(self, key: Key) -> tuple[str, ...] | None:
        """None until the first config was built (then the object's problems, maybe none)."""
        return self._problems.get(key) if self._published is not None else None

    def poke(self) -> None:
        self._idle.clear()
        self._dirty.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until the latest poke is written (used before releasing a finalizer)."""
        self.poke()
        async with asyncio.timeout(FLUSH_TIMEOUT_SECONDS):
            await self._idle.wait()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = -MIN_PUBLISH_INTERVAL_SECONDS
        while True:
            await self._dirty.wait()
            pause = max(DEBOUNCE_SECONDS, last + MIN_PUBLISH_INTERVAL_SECONDS - loop.time())
            await asyncio.sleep(pause)
            self._dirty.clear()
            last = loop.time()
            try:
                await self._publish()
            except asyncio.CancelledError:
                raise
            except writes.ApplyError as error:  # e.g. its namespace does not exist yet
                log.error("cannot write the router config (%s); retrying", error)
                await asyncio.sleep(RETRY_SECONDS)
                self._dirty.set()
                continue
            except Exception:
                log.exception("writing the router config failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                self._dirty.set()
                continue
            if not self._dirty.is_set():
                self._idle.set()

    def _parse(self, key: Key, body: Mapping[str, Any]) -> ModelDeployment | None:
        cache_key = (key, str(body["metadata"].get("resourceVersion", "")))
        if cache_key not in self._parsed:
            try:
                self._parsed[cache_key] = parse_model_deployment(body)
            except InvalidModelDeploymentError:
                self._parsed[cache_key] = None
        return self._parsed[cache_key]

    def _routed_models(self) -> list[RoutedModel] | None:
        """Every live, planned object; None while some live object has no plan yet."""
        models = []
        live_keys = set()
        for key, body in list(self._model_deployments.items()):
            if body["metadata"].get("deletionTimestamp"):
                continue
            if key not in self._routes:
                return None
            route = self._routes[key]
            md = self._parse(key, body)
            if md is None or route is None:
                continue
            live_keys.add((key, str(body["metadata"].get("resourceVersion", ""))))
            created = str(body["metadata"].get("creationTimestamp", ""))
            models.append(RoutedModel(key, created, md, route.tracks, route.canary_alias))
        self._parsed = {k: v for k, v in self._parsed.items() if k in live_keys}
        return models

    async def _publish(self) -> None:
        models = self._routed_models()
        if models is None:
            return  # poked again by the reconcile that plans the missing object
        plan = build_router_plan(models, self._base)
        if plan.config != self._published_config:
            text = plan.config.to_yaml()  # only when something changed: dumping costs
            if text != self._published:
                await writes.apply_config_map(
                    self._client, self.namespace, self.name, {CONFIGMAP_KEY: text}, LABELS
                )
                log.info(
                    "router config written: %d models, %d tasks",
                    len(plan.config.models),
                    len(plan.config.tasks),
                )
            first = self._published is None
            self._published, self._published_config = text, plan.config
            if first:
                for key in plan.problems:
                    self._on_problems_changed(key)
        changed = [k for k, p in plan.problems.items() if self._problems.get(k) != p]
        self._problems = dict(plan.problems)
        for key in changed:
            self._on_problems_changed(key)
