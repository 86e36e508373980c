"""kopf handlers: thin adapters from watch events to the work queue.

Registered on a registry made per operator (no module-level singletons). Children are held
in kopf indexes, which kopf fills before it calls any other handler, so the first reconcile
after a restart already sees every existing child and changes nothing needlessly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from modelops.api import GROUP, PLURAL, VERSION
from modelops.api.router_config import RouterConfig
from modelops.builders import LABEL_MODEL
from modelops.controller.metrics import MetricsServer, OperatorMetrics, statuses_from_bodies
from modelops.controller.reconcile import Body, Context, Key, reconcile
from modelops.controller.routing import RouterConfigPublisher
from modelops.controller.telemetry_loop import TelemetryLoop
from modelops.controller.telemetry_wiring import ReconcileTelemetry, TelemetrySources, run_forever
from modelops.controller.tracing import ReconcileTracer
from modelops.controller.workqueue import WorkQueue
from modelops.k8s.client import async_client
from modelops.policies.plan import RouteTracks
from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Changes

log = logging.getLogger(__name__)

MANAGED = {"app.kubernetes.io/managed-by": "modelops"}
RESYNC_SECONDS = 60.0
WORKERS = 32


@dataclass
class Runtime:
    """Shared by all handlers. kopf gives each object a shallow copy of the memo, so what
    the handlers set later must live inside an object created at start-up."""

    client: Any
    queue: WorkQueue[Key] | None = None
    publisher: RouterConfigPublisher | None = None
    context: Context | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    model_deployments: Mapping[Key, Body] = field(default_factory=dict)
    metrics: OperatorMetrics | None = None
    metrics_server: MetricsServer | None = None
    telemetry: Telemetry | None = None
    telemetry_loop: TelemetryLoop | None = None


@dataclass(frozen=True)
class OperatorOptions:
    router_config_namespace: str
    router_config_name: str = "modelops-router-config"
    kubeconfig: str | None = None
    router_settings: RouterConfig | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # None: no metrics endpoint
    # Where the routers are: their pods by label in this namespace (None: the router config's
    # namespace), plus fixed /metrics URLs (a local or standalone router).
    router_namespace: str | None = None
    router_metrics_urls: tuple[str, ...] = ()
    telemetry_interval_seconds: float = 1.0


class IndexView(Mapping[Key, Body]):
    """A kopf index of one-object-per-key, seen as a plain mapping."""

    def __init__(self, index: Any) -> None:
        self._index = index

    def __getitem__(self, key: Key) -> Body:
        for body in self._index[key]:
            return body  # type: ignore[no-any-return]
        raise KeyError(key)

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._index.keys()))

    def __len__(self) -> int:
        return len(self._index)


def _slim_pod(body: Body) -> dict[str, Any]:
    """Only what status decisions read: keeps the operator's memory per pod small."""
    meta, status = body["metadata"], body.get("status") or {}
    return {
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "labels", "deletionTimestamp")},
        "status": {k: status.get(k) for k in ("phase", "conditions", "containerStatuses", "podIP")},
    }


def _child(body: Body) -> dict[str, Any]:
    meta = body["metadata"]
    slim_meta = {
        k: meta.get(k)
        for k in ("name", "namespace", "labels", "annotations", "generation", "ownerReferences")
    }
    return {"metadata": slim_meta, "spec": body.get("spec"), "status": body.get("status")}


def _key(body: Body) -> Key:
    meta = body["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _owner(body: Body) -> Key | None:
    meta = body["metadata"]
    model = (meta.get("labels") or {}).get(LABEL_MODEL)
    return (meta.get("namespace", ""), model) if model else None


def register(registry: kopf.OperatorRegistry, options: OperatorOptions) -> None:
    """Attach all handlers to `registry`."""
    md_resource = (GROUP, VERSION, PLURAL)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.posting.level = logging.WARNING  # our own Events say what matters
        settings.watching.server_timeout = 300
        for noisy in ("httpx", "httpx2"):  # a line per API request
            logging.getLogger(noisy).setLevel(logging.WARNING)
        runtime = Runtime(client=async_client(options.kubeconfig))
        runtime.metrics = OperatorMetrics(
            lambda: statuses_from_bodies(runtime.model_deployments.values()),
            queue_depth=lambda: runtime.queue.depth() if runtime.queue is not None else 0,
        )
        if options.metrics_port is not None:
            runtime.metrics_server = MetricsServer(
                runtime.metrics, options.metrics_host, options.metrics_port
            )
            await runtime.metrics_server.start()
        memo.runtime = runtime

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if options.kubeconfig:
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        runtime: Runtime = memo.runtime
        if runtime.queue is not None and runtime.publisher is not None:
            await runtime.queue.stop()
            await runtime.publisher.stop()
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        if runtime.context is not None:
            await runtime.context.smoke.close()
            runtime.context.tracer.shutdown()
        if runtime.metrics_server is not None:
            await runtime.metrics_server.stop()
        if runtime.telemetry_loop is not None:
            await runtime.telemetry_loop.stop()
        if runtime.telemetry is not None:
            await runtime.telemetry.close()
        await runtime.client.close()

    @kopf.index(*md_resource, id="md_index", registry=registry)
    def md_index(body: kopf.Body, **_: Any) -> dict[Key, Body]:
        return {_key(body): body}

    def child_index(slim: Any) -> Any:
        def index(body: kopf.Body, **_: Any) -> dict[Key, Body] | None:
            owner = _owner(body)
            return {owner: slim(body)} if owner else None

        return index

    group_version_plural = {
        "deployments": ("apps", "v1", "deployments"),
        "pods": ("", "v1", "pods"),
        "services": ("", "v1", "services"),
        "claims": ("", "v1", "persistentvolumeclaims"),
    }
    for kind, resource in group_version_plural.items():
        slim = _slim_pod if kind == "pods" else _child
        kopf.index(*resource, labels=MANAGED, id=f"{kind}_index", registry=registry)(
            child_index(slim)
        )

    def start(
        memo: kopf.Memo, indexes: Mapping[str, Any]
    ) -> tuple[WorkQueue[Key], RouterConfigPublisher]:
        """Wire the queue and the publisher once kopf hands us the (filled) indexes."""
        runtime: Runtime = memo.runtime
        if runtime.queue is not None and runtime.publisher is not None:
            return runtime.queue, runtime.publisher
        model_deployments = IndexView(indexes["md_index"])

        def children(key: Key) -> Mapping[str, Iterable[Body]]:
            result: dict[str, list[Body]] = {}
            for kind in group_version_plural:
                index = indexes[f"{kind}_index"]
                result[kind] = list(index[key]) if key in index else []
            return result

        metrics = runtime.metrics
        assert metrics is not None
        queue: WorkQueue[Key] = WorkQueue(
            lambda key: metrics.timed(reconcile(key, context)), workers=WORKERS
        )
        routes: dict[Key, RouteTracks | None] = {}
        served_names: dict[Key, str] = {}
        telemetry = runtime.telemetry = Telemetry()
        sources = TelemetrySources(
            router_urls=options.router_metrics_urls,
            pods_by_owner=lambda: {key: children(key).get("pods", ()) for key in served_names},
            served_names=served_names,
        )
        publisher = RouterConfigPublisher(
            runtime.client,
            namespace=options.router_config_namespace,
            name=options.router_config_name,
            model_deployments=model_deployments,
            routes=routes,
            on_problems_changed=queue.add,
            base=options.router_settings,
        )
        context = Context(
            client=runtime.client,
            model_deployments=model_deployments,
            children=children,
            routing_problems=publisher.problems,
            on_change=publisher.poke,
            routes=routes,
            served_names=served_names,
            telemetry=ReconcileTelemetry(telemetry),
            tracer=ReconcileTracer.from_env(),
        )
        runtime.context = context
        runtime.queue, runtime.publisher = queue, publisher
        runtime.model_deployments = model_deployments
        queue.start()
        publisher.start()
        publisher.poke()

        async def resync() -> None:
            while True:
                for key in list(model_deployments):
                    queue.add(key)
                await asyncio.sleep(RESYNC_SECONDS)

        runtime.tasks.append(asyncio.create_task(resync()))

        def poke(changes: Changes) -> None:
            for key in sources.keys_to_poke(changes):
                queue.add(key)

        runtime.telemetry_loop = TelemetryLoop(
            telemetry, sources, poke, interval_seconds=options.telemetry_interval_seconds
        )
        runtime.telemetry_loop.start()
        router_namespace = options.router_namespace or options.router_config_namespace
        runtime.tasks.append(
            run_forever(
                lambda: sources.watch_router_pods(runtime.client, router_namespace),
                "router pod watch",
            )
        )
        return queue, publisher

    def index_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if k.endswith("_index")}

    @kopf.on.event(*md_resource, id="md_event", registry=registry)
    async def md_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        queue, publisher = start(memo, index_kwargs(kwargs))
        key = _key(body)
        queue.add(key, urgent=key not in kwargs["deployments_index"])
        publisher.poke()

    @kopf.on.delete(*md_resource, id="md_deleted", registry=registry)
    async def md_deleted(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
        """Holds the finalizer until the router no longer routes to this model."""
        _, publisher = start(memo, index_kwargs(kwargs))
        await publisher.flush()
        log.info("ModelDeployment %s/%s removed from the router config", *_key(body))

    async def child_event(memo: kopf.Memo, body: kopf.Body, **kwargs: Any) -> None:
        queue, _ = start(memo, index_kwargs(kwargs))
        owner = _owner(body)
        if owner is not None:
            queue.add(owner)

    for kind, resource in group_version_plural.items():
        kopf.on.event(*resource, labels=MANAGED, id=f"{kind}_event", registry=registry)(child_event)
