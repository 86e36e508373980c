"""Writes the operator makes: server-side apply of children, status patches, Events."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Event
from lightkube.types import PatchType

from modelops.k8s.client import FIELD_MANAGER

log = logging.getLogger(__name__)

ModelDeploymentResource = create_namespaced_resource(
    "modelops.io", "v1alpha1", "ModelDeployment", "modeldeployments"
)


class ConflictError(RuntimeError):
    """The object changed or went away under us; try again later."""


class ApplyError(RuntimeError):
    """The API server refused a child (quota, admission, validation, a full IP range...)."""


async def apply(client: AsyncClient, manifest: Mapping[str, Any]) -> None:
    """Server-side apply with our field manager, taking ownership of our fields."""
    try:
        await client.apply(
            codecs.from_dict(dict(manifest)), field_manager=FIELD_MANAGER, force=True
        )
    except ApiError as error:
        what = f"{manifest['kind']} {manifest['metadata']['name']}"
        raise ApplyError(f"{what}: {error.status.message or error}") from error


async def scale_deployment(client: AsyncClient, namespace: str, name: str, replicas: int) -> None:
    """Change only spec.replicas (the slot keeps the pod template it runs)."""
    try:
        await client.patch(
            Deployment,
            name,
            {"spec": {"replicas": replicas}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
            field_manager=FIELD_MANAGER,
        )
    except ApiError as error:
        if error.status.code == 404:
            return  # gone: the next reconcile sees that
        raise ApplyError(f"Deployment {name}: {error.status.message or error}") from error


async def patch_model_deployment_status(
    client: AsyncClient, namespace: str, name: str, status: Mapping[str, Any]
) -> str:
    """Merge-patch the status; return the object's new resourceVersion."""
    try:
        updated = await client.patch(
            ModelDeploymentResource.Status,
            name,
            {"status": dict(status)},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
    except ApiError as error:
        if error.status.code == 404:
            raise ConflictError(f"{namespace}/{name} is gone") from error
        raise
    return str(updated.metadata.resourceVersion if updated.metadata else "")


async def post_event(
    client: AsyncClient,
    involved: Mapping[str, Any],
    *,
    type_: str,
    reason: str,
    message: str,
    name: str | None = None,
) -> None:
    """A core/v1 Event on the object (what `kubectl describe` shows). Best effort.

    With a `name`, posting the same Event twice (a crash between it and the status write that
    follows) is a no-op: AlreadyExists is success."""
    meta = involved["metadata"]
    now = datetime.datetime.now(datetime.UTC)
    naming = ObjectMeta(name=name) if name else ObjectMeta(generateName=f"{meta['name']}.")
    naming.namespace = meta["namespace"]
    event = Event(
        metadata=naming,
        involvedObject=ObjectReference(
            apiVersion=involved["apiVersion"],
            kind=involved["kind"],
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid"),
            resourceVersion=meta.get("resourceVersion"),
        ),
        type=type_,
        reason=reason,
        message=message[:1024],
        source=EventSource(component=FIELD_MANAGER),
        firstTimestamp=now,
        lastTimestamp=now,
        count=1,
        reportingComponent=FIELD_MANAGER,
        reportingInstance=FIELD_MANAGER,
    )
    try:
        await client.create(event)
    except ApiError as error:  # events are advisory; never fail a reconcile on them
        if error.status.code == 409:
            return
        log.warning("could not post event %s on %s: %s", reason, meta["name"], error)


async def apply_config_map(
    client: AsyncClient,
    namespace: str,
    name: str,
    data: Mapping[str, str],
    labels: Mapping[str, str],
) -> None:
    config_map = ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=dict(labels)), data=dict(data)
    )
    try:
        await client.apply(config_map, field_manager=FIELD_MANAGER, force=True)
    except ApiError as error:
        raise ApplyError(
            f"ConfigMap {namespace}/{name}: {error.status.message or error}"
        ) from error


async def read_config_map(client: AsyncClient, namespace: str, name: str) -> dict[str, str] | None:
    try:
        config_map = await client.get(ConfigMap, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise
    return dict(config_map.data or {})
