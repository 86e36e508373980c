"""Read-only views of the cluster for `modelops dashboard`: plain dicts, as the API sends them.

The dashboard runs with the user's kubeconfig and RBAC, so everything here is a `list` or a
`get` (and the API server's pod proxy, to reach routers without a port-forward). Objects are
returned as JSON-shaped dicts so that the dashboard's pure view functions need no client
types; failures come back as `ReadError` with the API server's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2 as httpx  # the HTTP client lightkube is built on
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Event, Node, Pod

from modelops.k8s.writes import ModelDeploymentResource

Obj = dict[str, Any]
PROXY_TIMEOUT_SECONDS = 5.0


class ReadError(RuntimeError):
    """The API server could not be reached or refused a read (the message says which)."""


@dataclass(frozen=True)
class ClusterObjects:
    model_deployments: list[Obj]
    nodes: list[Obj]
    pods: list[Obj]
    events: list[Obj]


def _message(error: Exception) -> str:
    if isinstance(error, ApiError):
        return f"{error.status.code} {error.status.reason or ''}: {error.status.message}".strip()
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _list(
    client: AsyncClient,
    resource: Any,
    *,
    namespace: str | None,
    namespaced: bool = True,
    labels: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> list[Obj]:
    scope = "*" if namespace is None else namespace
    kwargs: dict[str, Any] = {}
    if labels:
        kwargs["labels"] = dict(labels)
    if fields:
        kwargs["fields"] = dict(fields)
    if namespaced:
        kwargs["namespace"] = scope
    return [item.to_dict() async for item in client.list(resource, **kwargs)]


async def read_cluster(
    client: AsyncClient, namespaces: Sequence[str] | None = None
) -> ClusterObjects:
    """ModelDeployments, Nodes, Pods and the ModelDeployments' Events, of the namespaces
    given (None: all of them, one list call per kind).

    Pods of every owner are read, not only models': the GPU page must count GPUs held by
    anything else too, or "free" would lie.
    """
    scopes: Sequence[str | None] = list(namespaces) if namespaces else [None]
    objects = ClusterObjects([], [], [], [])
    try:
        objects.nodes.extend(await _list(client, Node, namespace=None, namespaced=False))
        for namespace in scopes:
            objects.model_deployments.extend(
                await _list(client, ModelDeploymentResource, namespace=namespace)
            )
            objects.pods.extend(await _list(client, Pod, namespace=namespace))
            objects.events.extend(
                await _list(
                    client,
                    Event,
                    namespace=namespace,
                    fields={"involvedObject.kind": "ModelDeployment"},
                )
            )
    except (ApiError, httpx.HTTPError, OSError) as error:
        raise ReadError(_message(error)) from error
    return objects


async def list_pods(client: AsyncClient, namespace: str, labels: Mapping[str, str]) -> list[Obj]:
    try:
        return await _list(client, Pod, namespace=namespace, labels=labels)
    except (ApiError, httpx.HTTPError, OSError) as error:
        raise ReadError(_message(error)) from error


async def pod_proxy_get(
    client: AsyncClient, namespace: str, pod: str, port: int | str, path: Sequence[str] | str
) -> tuple[int, bytes]:
    """GET through the API server's pod proxy (`pods/proxy`, verb get): status and body.

    lightkube has no call for proxy subresources, so this uses the httpx client it already
    configured (base URL, TLS and credentials from the kubeconfig).
    """
    url = (
        f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}:{port}/proxy/"
        f"{str(path).lstrip('/')}"
    )
    http: httpx.AsyncClient = client._client._client
    try:
        response = await http.get(url, timeout=PROXY_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        raise ReadError(_message(error)) from error
    return response.status_code, response.content
