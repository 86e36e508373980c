"""Watching Pods, as plain snapshots that callers can reconcile against.

Consumers (the simulator launcher, the router's endpoint discovery) want level-triggered
input: "these are the pods now". `watch_pods` lists, then watches from the list's
resourceVersion, and yields the whole current set after every change. Any watch error
(expired resourceVersion, API restart, dropped connection) leads to a fresh list after a
short backoff, so a consumer that reconciles each snapshot never misses a deletion.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

log = logging.getLogger(__name__)

RELIST_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    readiness_probe: Mapping[str, Any] | None = None
    startup_probe: Mapping[str, Any] | None = None
    liveness_probe: Mapping[str, Any] | None = None
    post_start: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    uid: str
    ip: str | None
    phase: str
    ready: bool
    node_name: str | None
    deleting: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[ContainerInfo, ...] = ()


def _container_info(container: Any) -> ContainerInfo:
    def as_dict(obj: Any) -> Mapping[str, Any] | None:
        return obj.to_dict() if obj is not None else None

    lifecycle = container.lifecycle
    post_start = lifecycle.postStart if lifecycle is not None else None
    return ContainerInfo(
        name=container.name,
        image=container.image or "",
        command=tuple(container.command or ()),
        args=tuple(container.args or ()),
        env={e.name: e.value for e in container.env or () if e.value is not None},
        ports=tuple(p.containerPort for p in container.ports or ()),
        readiness_probe=as_dict(container.readinessProbe),
        startup_probe=as_dict(container.startupProbe),
        liveness_probe=as_dict(container.livenessProbe),
        post_start=as_dict(post_start),
    )


def pod_info(pod: Pod) -> PodInfo:
    """Flatten a Pod into the fields our consumers use."""
    meta = pod.metadata
    status = pod.status
    spec = pod.spec
    assert meta is not None
    assert spec is not None
    conditions = (status.conditions if status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(
        name=meta.name or "",
        namespace=meta.namespace or "",
        uid=meta.uid or "",
        ip=(status.podIP if status else None) or None,
        phase=(status.phase if status else None) or "Pending",
        ready=ready,
        node_name=spec.nodeName,
        deleting=meta.deletionTimestamp is not None,
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        containers=tuple(_container_info(c) for c in spec.containers),
    )


async def watch_pods(
    client: AsyncClient,
    *,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> AsyncIterator[dict[str, PodInfo]]:
    """Yield every pod matching the filter (keyed by uid) after each change, forever.

    `namespace=None` watches all namespaces. The first snapshot comes right after the
    initial list (possibly empty), so consumers can reconcile at start-up.
    """
    scope = "*" if namespace is None else namespace
    failures = 0
    while True:
        try:
            pods: dict[str, PodInfo] = {}
            listing = client.list(Pod, namespace=scope, labels=dict(labels or {}))
            async for pod in listing:
                info = pod_info(pod)
                pods[info.uid] = info
            yield dict(pods)
            failures = 0
            version = listing.resourceVersion
            async for event, pod in client.watch(
                Pod, namespace=scope, labels=dict(labels or {}), resource_version=version
            ):
                info = pod_info(pod)
                if event == "DELETED":
                    pods.pop(info.uid, None)
                else:
                    pods[info.uid] = info
                yield dict(pods)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure: start over from a fresh list
            delay = RELIST_BACKOFF_SECONDS[min(failures, len(RELIST_BACKOFF_SECONDS) - 1)]
            failures += 1
            log.warning("pod watch failed (%s); listing again in %.1fs", error, delay)
            await asyncio.sleep(delay)
