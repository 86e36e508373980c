"""The router's config, derived from every ModelDeployment the operator sees (pure).

A served name claimed by two ModelDeployments goes to the one created first; fallbacks to
unknown models and fallback cycles are found by `find_problems`. Each problem is blamed on
the ModelDeployments involved (reported as their `Routed` condition) and only their entries
are dropped, so one bad object never breaks the routing of the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from modelops.api.resource import ModelDeployment
from modelops.api.router_config import (
    ModelRoute,
    RouterConfig,
    Timeouts,
    Track,
    drop_models_with_problems,
    find_problems,
)
from modelops.builders.common import LABEL_MODEL, LABEL_REVISION, LABEL_SLOT, Slot
from modelops.builders.workload import engine_port

Key = tuple[str, str]  # (namespace, name)


CANARY_SUFFIX = "-canary"


@dataclass(frozen=True)
class SlotTrack:
    """One track of a model as the reconcile's plan decided it."""

    name: Literal["stable", "canary"]
    slot: Slot
    revision: str
    weight: int


@dataclass(frozen=True)
class RoutedModel:
    key: Key
    created: str  # metadata.creationTimestamp (RFC 3339 sorts as text)
    md: ModelDeployment
    tracks: tuple[SlotTrack, ...]
    canary_alias: SlotTrack | None = None  # `<served>-canary` reaches only the new slot


@dataclass(frozen=True)
class RouterPlan:
    config: RouterConfig
    problems: Mapping[Key, tuple[str, ...]]  # per ModelDeployment, empty when fine


def backend_model(md: ModelDeployment) -> str:
    """The name the runtime itself knows: vLLM serves the served name, Ollama the tag."""
    return md.spec.model if md.spec.engine == "ollama" else md.served_name


def track(name: str, slot_track: SlotTrack, *, weight: int | None = None) -> Track:
    selector = {
        LABEL_MODEL: name,
        LABEL_SLOT: slot_track.slot,
        LABEL_REVISION: slot_track.revision,
    }
    return Track(
        name=slot_track.name,
        selector=selector,
        weight=slot_track.weight if weight is None else weight,
        revision=slot_track.revision,
    )


def model_route(model: RoutedModel) -> ModelRoute:
    md = model.md
    namespace, name = model.key
    routing = md.spec.routing
    autoscaling = md.spec.autoscaling
    timeouts = None
    if routing is not None and routing.timeout_seconds is not None:
        seconds = float(routing.timeout_seconds)
        timeouts = Timeouts(interactive_seconds=seconds, long_seconds=seconds)
    spec = md.spec
    context_length = (spec.vllm.max_model_len if spec.vllm else None) or (
        spec.ollama.context_length if spec.ollama else None
    )
    return ModelRoute(
        namespace=namespace,
        engine=md.spec.engine,
        backend_model=backend_model(md),
        port=engine_port(md.spec.engine),
        tracks=[track(name, t) for t in model.tracks],
        fallback=list(routing.fallback) if routing else [],
        timeouts=timeouts,
        # The router holds requests for it while it sleeps at zero (scale from zero).
        scale_to_zero=autoscaling is not None
        and autoscaling.enabled
        and autoscaling.min_replicas == 0,
        context_length=context_length,
    )


def canary_route(model: RoutedModel, route: ModelRoute) -> ModelRoute | None:
    """The `-canary` alias: the model's route with only the new slot, and no fallback (a
    canary that cannot answer must say so, not hide behind another model)."""
    if model.canary_alias is None:
        return None
    canary = track(model.key[1], model.canary_alias, weight=100)
    stable_named = canary.model_copy(update={"name": "stable"})
    return route.model_copy(update={"tracks": [stable_named], "fallback": []})


def build_router_plan(
    models: Iterable[RoutedModel], base: RouterConfig | None = None
) -> RouterPlan:
    """`base` carries the router-wide settings (auth, timeouts, demotion window)."""
    ordered = sorted(models, key=lambda m: (m.created, m.key))
    owners: dict[str, Key] = {}
    problems: dict[Key, list[str]] = {m.key: [] for m in ordered}
    routes: dict[str, ModelRoute] = {}
    tasks: dict[str, list[str]] = {}
    aliases: dict[str, tuple[Key, ModelRoute]] = {}
    for model in ordered:
        served = model.md.served_name
        if served in owners:
            other = "/".join(owners[served])
            problems[model.key].append(
                f"servedModelName {served!r} is already served by ModelDeployment {other}"
            )
            continue
        owners[served] = model.key
        routes[served] = model_route(model)
        alias_route = canary_route(model, routes[served])
        if alias_route is not None:
            aliases[served + CANARY_SUFFIX] = (model.key, alias_route)
        for task in model.md.spec.routing.tasks if model.md.spec.routing else []:
            tasks.setdefault(task, []).append(served)
    for alias, (key, route) in aliases.items():
        if alias in routes:  # a real model is served under that name: it wins
            problems[key].append(f"the canary alias {alias!r} is taken by another model")
            continue
        routes[alias] = route
    config = (base or RouterConfig()).model_copy(update={"models": routes, "tasks": tasks})
    found = find_problems(config)
    for problem in found:
        for served in problem.models:
            if served in owners:
                problems[owners[served]].append(problem.message)
    config = drop_models_with_problems(config, found)
    return RouterPlan(config, {key: tuple(p) for key, p in problems.items()})
