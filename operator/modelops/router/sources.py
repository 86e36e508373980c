"""Where the router's config and endpoints come from: two small protocols and the static ones.

`ConfigSource.updates()` yields a `RouterConfig` each time the config changes, or a
`RouterConfigError` when the new text is unusable (the router then keeps the last good config
and shows the error in /status and /metrics). Build configs with
`modelops.api.router_config.parse_router_config_yaml()` so both sources fail the same way.

`EndpointSource.watch(config)` yields full `EndpointMap` snapshots,
`{(served_name, track_name): [Endpoint(host, port, ready), ...]}`, for the models and tracks of
`config`; the router cancels the iterator and calls `watch()` again with the new config whenever
the config changes, so an implementation never has to track config changes itself. A track
missing from a snapshot has no endpoints.

Standalone mode uses `FileConfigSource` (polls the file's mtime at a bounded interval) and
`StaticEndpointSource` (the `endpoints` listed per track). The Kubernetes mode (in
`modelops.k8s`) watches the ConfigMap key `config.yaml` and Pods by each track's selector,
using pod IP + the model's port and the pod's Ready condition.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelops.api.router_config import (
    RouterConfig,
    RouterConfigError,
    parse_router_config_yaml,
    split_host_port,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    ready: bool = True

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


EndpointKey = tuple[str, str]  # (served model name, track name)
EndpointMap = Mapping[EndpointKey, Sequence[Endpoint]]
ConfigUpdate = RouterConfig | RouterConfigError


class ConfigSource(Protocol):
    def updates(self) -> AsyncIterator[ConfigUpdate]: ...


class EndpointSource(Protocol):
    def watch(self, config: RouterConfig) -> AsyncIterator[EndpointMap]: ...

    def known(self, config: RouterConfig) -> EndpointMap | None:
        """The endpoints of `config` from what the source already knows (None: nothing yet),
        so a new config never routes on the tracks of the previous one."""


def static_endpoints(config: RouterConfig) -> dict[EndpointKey, list[Endpoint]]:
    """The `endpoints` lists of the config (standalone mode)."""
    result: dict[EndpointKey, list[Endpoint]] = {}
    for name, route in config.models.items():
        for track in route.tracks:
            result[(name, track.name)] = [
                Endpoint(*split_host_port(address)) for address in track.endpoints
            ]
    return result


class StaticEndpointSource:
    async def watch(self, config: RouterConfig) -> AsyncIterator[EndpointMap]:
        yield static_endpoints(config)

    def known(self, config: RouterConfig) -> EndpointMap | None:
        return static_endpoints(config)


class FixedConfigSource:
    """A config given once (tests, embedding)."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config

    async def updates(self) -> AsyncIterator[ConfigUpdate]:
        yield self.config


class FileConfigSource:
    """A YAML file, re-read when its mtime or size changes (checked every `poll_seconds`)."""

    def __init__(self, path: Path, poll_seconds: float = 2.0) -> None:
        self.path = path
        self.poll_seconds = max(0.05, poll_seconds)

    def load(self) -> ConfigUpdate:
        try:
            text = self.path.read_text()
        except OSError as error:
            return RouterConfigError(f"cannot read {self.path}: {error.strerror or error}")
        try:
            return parse_router_config_yaml(text)
        except RouterConfigError as error:
            return RouterConfigError(f"{self.path}: {error}")

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    async def updates(self) -> AsyncIterator[ConfigUpdate]:
        signature = self._signature()
        yield self.load()
        while True:
            await asyncio.sleep(self.poll_seconds)
            current = self._signature()
            if current != signature:
                signature = current
                log.info("config file %s changed, reloading", self.path)
                yield self.load()


class ApiKeysFileOverride:
    """Wraps a source so every config uses the API keys of one file (the Helm chart mounts
    `router.auth.existingSecret` there): auth belongs to the router deployment, not to the
    operator's config. The file is read again with every config update."""

    def __init__(self, source: ConfigSource, keys_file: Path) -> None:
        self.source = source
        self.keys_file = keys_file

    async def updates(self) -> AsyncIterator[ConfigUpdate]:
        async for update in self.source.updates():
            if isinstance(update, RouterConfigError):
                yield update
                continue
            auth = update.auth.model_copy(
                update={"enabled": True, "keys_file": str(self.keys_file)}
            )
            yield update.model_copy(update={"auth": auth})
