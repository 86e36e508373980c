"""The router's Kubernetes mode: its config from the operator's ConfigMap, its endpoints
from Pods (pod IP + the model's port + the Ready condition), never from Services.

Both implement the protocols of `modelops.router.sources`. Each opens its own API client
when iterated and closes it when the router cancels the iterator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Secret

from modelops.api.router_config import (
    CONFIGMAP_KEY,
    RouterConfig,
    RouterConfigError,
    parse_router_config_yaml,
)
from modelops.k8s.client import async_client
from modelops.k8s.pods import PodInfo, watch_pods
from modelops.router.auth import parse_keys_document
from modelops.router.sources import ConfigUpdate, Endpoint, EndpointKey, EndpointMap

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
SECRET_REFRESH_SECONDS = 30.0


async def _with_ticks(
    events: AsyncIterable[tuple[str, Any]], seconds: float
) -> AsyncGenerator[tuple[str, Any], None]:
    """`events`, plus ("TICK", None) after every `seconds` without one.

    The pending next event is awaited across ticks, never cancelled: cancelling an async
    generator's `__anext__` (as `asyncio.wait_for` does on its timeout) finishes the generator,
    and the watch then ended for good after the first quiet period."""
    iterator = events.__aiter__()
    pending: asyncio.Future[tuple[str, Any]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=seconds)
            if not done:
                yield "TICK", None
                continue
            finished, pending = pending, None
            try:
                yield finished.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None:
            pending.cancel()


class KubernetesConfigSource:
    """Watches one ConfigMap; a missing ConfigMap is an empty config (no models yet)."""

    def __init__(self, namespace: str, name: str, kubeconfig: Path | str | None = None) -> None:
        self.namespace = namespace
        self.name = name
        self.kubeconfig = kubeconfig

    async def updates(self) -> AsyncIterator[ConfigUpdate]:
        client = async_client(self.kubeconfig)
        try:
            async for text in self._texts(client):
                yield await self._load(client, text)
        finally:
            await client.close()

    async def _texts(self, client: AsyncClient) -> AsyncIterator[str]:
        """The ConfigMap's config text after every change (and every SECRET_REFRESH_SECONDS,
        so that rotated API keys are picked up)."""
        fields: dict[str, Any] = {"metadata.name": self.name}
        while True:
            try:
                text = ""
                listing = client.list(ConfigMap, namespace=self.namespace, fields=fields)
                async for config_map in listing:
                    text = (config_map.data or {}).get(CONFIGMAP_KEY, "")
                yield text
                watch = client.watch(
                    ConfigMap,
                    namespace=self.namespace,
                    fields=fields,
                    resource_version=listing.resourceVersion,
                )
                ticking = _with_ticks(watch, SECRET_REFRESH_SECONDS)
                async with contextlib.aclosing(ticking) as events:
                    async for event, config_map in events:
                        if event != "TICK":
                            text = (
                                ""
                                if event == "DELETED"
                                else (config_map.data or {}).get(CONFIGMAP_KEY, "")
                            )
                        yield text
                # The API server ended the watch (its timeout): list and watch again.
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("router config watch failed (%s); retrying", error)
                await asyncio.sleep(RETRY_SECONDS)

    async def _load(self, client: AsyncClient, text: str) -> ConfigUpdate:
        try:
            config = parse_router_config_yaml(text)
        except RouterConfigError as error:
            return error
        ref = config.auth.secret_ref
        if ref is None:
            return config
        try:
            secret = await client.get(Secret, ref.name, namespace=self.namespace)
        except ApiError as error:
            return RouterConfigError(
                f"auth secret {self.namespace}/{ref.name}: {error.status.message}"
            )
        return _with_secret_keys(config, secret, ref.key)


def _with_secret_keys(config: RouterConfig, secret: Secret, key: str) -> ConfigUpdate:
    import base64

    encoded = (secret.data or {}).get(key)
    if encoded is None:
        return RouterConfigError(f"auth secret has no key {key!r}")
    origin = f"auth secret key {key!r}"
    try:
        document = yaml.safe_load(base64.b64decode(encoded).decode())
    except (ValueError, yaml.YAMLError) as error:  # bad base64 or UTF-8 are ValueErrors
        return RouterConfigError(f"{origin} is not a valid key list: {error}")
    # The same format (and checks) as auth.keysFile; a document of another shape used to
    # raise TypeError here, which ended the router's config watch.
    try:
        keys = parse_keys_document(document, origin)
    except RouterConfigError as error:
        return error
    auth = config.auth.model_copy(update={"keys": [*config.auth.keys, *keys]})
    return config.model_copy(update={"auth": auth})


def _matches(pod: PodInfo, selector: Mapping[str, str]) -> bool:
    return bool(selector) and all(pod.labels.get(k) == v for k, v in selector.items())


def endpoint_map(config: RouterConfig, pods: Mapping[str, Mapping[str, PodInfo]]) -> EndpointMap:
    """Pure: the endpoints of every (model, track) from the pods of each namespace."""
    result: dict[EndpointKey, list[Endpoint]] = {}
    for name, route in config.models.items():
        candidates = pods.get(route.namespace, {}).values()
        for track in route.tracks:
            result[(name, track.name)] = sorted(
                (
                    Endpoint(pod.ip, route.backend_port, ready=pod.ready and pod.phase == "Running")
                    for pod in candidates
                    if pod.ip and not pod.deleting and _matches(pod, track.selector)
                ),
                key=lambda endpoint: endpoint.address,
            )
    return result


class KubernetesEndpointSource:
    """One pod watch per namespace that the config's models live in.

    The pods last seen per namespace outlive a config change: a new config (a rollout moving
    the stable track to the other slot) gets its endpoints from them at once, instead of
    routing with the old track's endpoints until the watches have listed again."""

    def __init__(self, kubeconfig: Path | str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self._last_pods: dict[str, dict[str, PodInfo]] = {}

    def known(self, config: RouterConfig) -> EndpointMap | None:
        namespaces = {route.namespace for route in config.models.values()}
        if not all(namespace in self._last_pods for namespace in namespaces):
            return None
        return endpoint_map(config, self._last_pods)

    async def watch(self, config: RouterConfig) -> AsyncIterator[EndpointMap]:
        namespaces = sorted({route.namespace for route in config.models.values()})
        if not namespaces:
            yield {}
            return
        client = async_client(self.kubeconfig)
        pods: dict[str, dict[str, PodInfo]] = {}
        changed = asyncio.Event()

        async def follow(namespace: str) -> None:
            async for snapshot in watch_pods(client, namespace=namespace):
                pods[namespace] = snapshot
                self._last_pods[namespace] = snapshot
                changed.set()

        tasks = [asyncio.create_task(follow(namespace)) for namespace in namespaces]
        try:
            while True:
                await changed.wait()
                changed.clear()
                if len(pods) == len(namespaces):  # every namespace listed at least once
                    yield endpoint_map(config, pods)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
