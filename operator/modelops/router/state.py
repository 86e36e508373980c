"""Runtime state: endpoint counters and health, and the immutable routing snapshot.

A `Snapshot` (config + compiled tables) is swapped atomically on every config or endpoint
change; requests hold the snapshot they started with, so a reload never drops them.
`EndpointState` and `ModelHealth` objects are mutable and carried over from snapshot to
snapshot by key, so counters, health and demotion clocks survive reloads. Everything runs on
one event loop: plain attribute updates are atomic with respect to other requests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelops.api.engines import ENGINE_FACTS
from modelops.api.router_config import ModelRoute, RouterConfig, Timeouts
from modelops.router.routing import is_demoted
from modelops.router.sources import Endpoint, EndpointMap

HEALTH_PATHS: Mapping[str, str] = {name: f.health_path for name, f in ENGINE_FACTS.items()}


@dataclass(eq=False)
class EndpointState:
    model: str
    track: str
    host: str
    port: int
    engine: str
    ready: bool = True
    healthy: bool = True
    # Panic routing (see settle_panic): the endpoint was ready once, its health check passes,
    # and none of its model's endpoints is both ready and healthy.
    was_ready: bool = False
    health_checked: bool = False
    panic: bool = False
    outstanding: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    requests: int = 0
    # The revision its track serves (from the config); labels the per-track metrics.
    revision: str = ""

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def usable(self) -> bool:
        return self.healthy and (self.ready or self.panic)

    def as_status(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "ready": self.ready,
            "healthy": self.healthy,
            "panic": self.panic,
            "outstanding": self.outstanding,
            "consecutiveFailures": self.consecutive_failures,
            "requests": self.requests,
            "lastError": self.last_error or None,
        }


@dataclass(eq=False)
class ModelHealth:
    """When the model last had no usable endpoint; drives demotion."""

    unhealthy_since: float | None = None

    def observe(self, has_usable: bool, now: float) -> None:
        if has_usable:
            self.unhealthy_since = None
        elif self.unhealthy_since is None:
            self.unhealthy_since = now


@dataclass(frozen=True)
class TrackRuntime:
    name: str
    weight: int
    endpoints: tuple[EndpointState, ...]
    revision: str = ""

    @property
    def has_usable(self) -> bool:
        return any(endpoint.usable for endpoint in self.endpoints)


@dataclass(frozen=True)
class ModelRuntime:
    name: str
    route: ModelRoute
    backend_model: str
    timeouts: Timeouts
    tracks: tuple[TrackRuntime, ...]
    health: ModelHealth

    @property
    def has_usable(self) -> bool:
        return any(track.has_usable for track in self.tracks)

    @property
    def endpoints(self) -> list[EndpointState]:
        return [endpoint for track in self.tracks for endpoint in track.endpoints]

    def track(self, name: str) -> TrackRuntime | None:
        for track in self.tracks:
            if track.name == name:
                return track
        return None


@dataclass(frozen=True)
class Snapshot:
    config: RouterConfig
    models: Mapping[str, ModelRuntime]
    problems: tuple[str, ...] = ()
    created: float = field(default_factory=time.time)

    def is_demoted(self, name: str, now: float) -> bool:
        model = self.models.get(name)
        if model is None:
            return True
        return is_demoted(model.health.unhealthy_since, now, self.config.demotion_window_seconds)

    def all_endpoints(self) -> list[EndpointState]:
        return [endpoint for model in self.models.values() for endpoint in model.endpoints]


def settle_panic(model: ModelRuntime) -> None:
    """Panic routing, as Envoy's panic threshold at 0 %: when Kubernetes calls none of a
    model's endpoints ready but the router's own health checks pass on some that were ready
    before, route to those rather than fail every request. After an API server outage the
    node lifecycle controller marks every pod NotReady (the nodes' Leases lapsed meanwhile)
    while the runtimes keep answering; the kubelets mark them Ready again seconds later.
    Pods never seen ready (an Ollama pod still pulling its model answers its health check)
    are not used, so a fallback model still takes over then."""
    endpoints = model.endpoints
    none_usable = not any(e.ready and e.healthy for e in endpoints)
    for endpoint in endpoints:
        endpoint.panic = none_usable and endpoint.was_ready and endpoint.health_checked


class StateRegistry:
    """Keeps EndpointState/ModelHealth objects alive across snapshots."""

    def __init__(self) -> None:
        self._endpoints: dict[tuple[str, str, str, int], EndpointState] = {}
        self._health: dict[str, ModelHealth] = {}

    def build(
        self,
        config: RouterConfig,
        endpoints: EndpointMap,
        problems: Sequence[str] = (),
        now: float | None = None,
    ) -> Snapshot:
        now = time.monotonic() if now is None else now
        live_endpoints: dict[tuple[str, str, str, int], EndpointState] = {}
        models: dict[str, ModelRuntime] = {}
        for name, route in config.models.items():
            tracks = []
            for track in route.tracks:
                states = []
                for endpoint in endpoints.get((name, track.name), ()):
                    state = self._endpoint_state(name, track.name, route, endpoint)
                    state.revision = track.revision
                    states.append(state)
                    live_endpoints[(name, track.name, endpoint.host, endpoint.port)] = state
                tracks.append(TrackRuntime(track.name, track.weight, tuple(states), track.revision))
            health = self._health.setdefault(name, ModelHealth())
            model = ModelRuntime(
                name=name,
                route=route,
                backend_model=route.backend_model or name,
                timeouts=config.timeouts_for(name),
                tracks=tuple(tracks),
                health=health,
            )
            settle_panic(model)
            health.observe(model.has_usable, now)
            models[name] = model
        self._endpoints = live_endpoints
        self._health = {name: self._health[name] for name in models}
        return Snapshot(config=config, models=models, problems=tuple(problems))

    def _endpoint_state(
        self, model: str, track: str, route: ModelRoute, endpoint: Endpoint
    ) -> EndpointState:
        key = (model, track, endpoint.host, endpoint.port)
        state = self._endpoints.get(key)
        if state is None or state.engine != route.engine:
            state = EndpointState(model, track, endpoint.host, endpoint.port, route.engine)
        state.ready = endpoint.ready
        state.was_ready = state.was_ready or endpoint.ready
        return state
