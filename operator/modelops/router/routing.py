"""Routing decisions as pure functions: which models, which track, which endpoint, which timeout.

`state.py` holds the mutable per-endpoint counters these functions read; nothing here does I/O
or reads the clock by itself (callers pass `now` and random rolls) so each rule has a
table-driven test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from modelops.api.router_config import TASK_PREFIX, ModelRoute, RouterConfig

RequestClass = Literal["interactive", "long"]


class RoutingError(LookupError):
    """The request names no usable model or task; becomes a 404 (or 400) for the client."""


class Balanceable(Protocol):
    @property
    def outstanding(self) -> int: ...

    @property
    def usable(self) -> bool: ...


E = TypeVar("E", bound=Balanceable)


@dataclass(frozen=True)
class Target:
    """What the client asked for: a model, or a task whose chain we walk."""

    model: str | None
    task: str | None


def parse_target(
    model_field: str | None, task_header: str | None, default_model: str | None
) -> Target:
    if model_field and model_field.startswith(TASK_PREFIX):
        return Target(None, model_field[len(TASK_PREFIX) :])
    if task_header:
        return Target(None, task_header)
    if model_field:
        return Target(model_field, None)
    if default_model:
        return Target(default_model, None)
    raise RoutingError("the request names no model (set 'model', or the X-Task header)")


def expand_fallbacks(start: Sequence[str], models: Mapping[str, ModelRoute]) -> list[str]:
    """`start` followed by the fallbacks of each, depth first, each model once."""
    chain: list[str] = []

    def visit(name: str) -> None:
        if name in chain or name not in models:
            return
        chain.append(name)
        for target in models[name].fallback:
            visit(target)

    for name in start:
        visit(name)
    return chain


def model_chain(target: Target, config: RouterConfig) -> list[str]:
    """Ordered models that may serve the request (first choice first)."""
    if target.task is not None:
        if target.task not in config.tasks:
            raise RoutingError(f"unknown task {target.task!r}")
        return expand_fallbacks(config.tasks[target.task], config.models)
    assert target.model is not None
    if target.model not in config.models:
        raise RoutingError(f"model {target.model!r} not found")
    return expand_fallbacks([target.model], config.models)


def order_candidates(
    chain: Sequence[str],
    has_usable_endpoint: Callable[[str], bool],
    is_demoted: Callable[[str], bool],
) -> list[str]:
    """Models to try, in order: healthy ones first (chain order), then the not-yet-demoted ones.

    A model without a healthy endpoint is skipped while another can answer, but until its
    demotion window expires it is still tried as a last resort: health state may be stale.
    A demoted model is never tried; it comes back when an endpoint passes its checks.
    """
    healthy = [name for name in chain if has_usable_endpoint(name)]
    hopeful = [name for name in chain if name not in healthy and not is_demoted(name)]
    return healthy + hopeful


def is_demoted(unhealthy_since: float | None, now: float, window_seconds: float) -> bool:
    return unhealthy_since is not None and now - unhealthy_since >= window_seconds


def pick_track(tracks: Sequence[tuple[str, int, bool]], roll: float) -> str | None:
    """Weighted choice among tracks with a usable endpoint; `roll` is uniform in [0, 1).

    Each entry is (name, weight, has_usable_endpoint). When the weights of the usable tracks
    sum to zero (e.g. a canary at weight 0 is all that is left) the first usable track wins.
    """
    usable = [(name, weight) for name, weight, ok in tracks if ok]
    if not usable:
        return None
    total = sum(weight for _, weight in usable)
    if total <= 0:
        return usable[0][0]
    point = roll * total
    for name, weight in usable:
        if point < weight:
            return name
        point -= weight
    return usable[-1][0]


def pick_endpoint(endpoints: Sequence[E], exclude: Sequence[E], rotation: int) -> E | None:
    """Least outstanding requests among usable endpoints not tried yet.

    Ties are broken by starting the scan at `rotation` (a counter) so equal endpoints share load.
    """
    count = len(endpoints)
    best: E | None = None
    for offset in range(count):
        endpoint = endpoints[(rotation + offset) % count]
        if not endpoint.usable or endpoint in exclude:
            continue
        if best is None or endpoint.outstanding < best.outstanding:
            best = endpoint
    return best


def request_class(
    max_tokens: object, class_header: str | None, long_request_tokens: int
) -> RequestClass:
    if class_header is not None:
        return "long" if class_header.strip().lower() == "long" else "interactive"
    if isinstance(max_tokens, int) and max_tokens > long_request_tokens:
        return "long"
    return "interactive"
