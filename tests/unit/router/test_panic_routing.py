"""Panic routing: a model whose endpoints Kubernetes all calls not ready, while the router's
own health checks pass on endpoints that were ready before, keeps being served (the node
lifecycle controller marks every pod NotReady right after an API server outage)."""

from __future__ import annotations

import pytest

from modelops.api.router_config import parse_router_config
from modelops.router.health import apply_probe
from modelops.router.sources import Endpoint
from modelops.router.state import StateRegistry, settle_panic

CONFIG = parse_router_config(
    {
        "models": {
            "a": {"engine": "vllm", "tracks": [{"name": "stable", "endpoints": []}]},
        }
    }
)
A, B = Endpoint("127.0.0.1", 1), Endpoint("127.0.0.2", 1)


def not_ready(endpoint: Endpoint) -> Endpoint:
    return Endpoint(endpoint.host, endpoint.port, ready=False)


def usable(registry: StateRegistry, endpoints: list[Endpoint]) -> list[str]:
    snapshot = registry.build(CONFIG, {("a", "stable"): endpoints})
    return [e.host for e in snapshot.models["a"].endpoints if e.usable]


def checked(registry: StateRegistry, endpoints: list[Endpoint], failures: dict[str, str]) -> None:
    """One health round: the given hosts fail, the others pass."""
    snapshot = registry.build(CONFIG, {("a", "stable"): endpoints})
    for endpoint in snapshot.models["a"].endpoints:
        apply_probe(endpoint, failures.get(endpoint.host))
    settle_panic(snapshot.models["a"])


@pytest.mark.parametrize(
    ("later", "failing", "expected"),
    [
        # Both marked NotReady, both answer: serve on both rather than 503.
        ([not_ready(A), not_ready(B)], {}, ["127.0.0.1", "127.0.0.2"]),
        # One still ready: only that one (no panic while anything is usable).
        ([A, not_ready(B)], {}, ["127.0.0.1"]),
        # NotReady and failing its health check: not used.
        ([not_ready(A), not_ready(B)], {"127.0.0.1": "refused"}, ["127.0.0.2"]),
        ([not_ready(A), not_ready(B)], {"127.0.0.1": "x", "127.0.0.2": "y"}, []),
    ],
)
def test_not_ready_but_healthy_endpoints_serve_when_none_is_ready(
    later: list[Endpoint], failing: dict[str, str], expected: list[str]
) -> None:
    registry = StateRegistry()
    checked(registry, [A, B], {})
    assert usable(registry, [A, B]) == ["127.0.0.1", "127.0.0.2"]
    checked(registry, later, failing)
    assert usable(registry, later) == expected


def test_an_endpoint_never_seen_ready_is_not_used_in_panic() -> None:
    """An Ollama pod still pulling its model answers `/`: a fallback model must take over."""
    registry = StateRegistry()
    checked(registry, [not_ready(A)], {})
    assert usable(registry, [not_ready(A)]) == []


def test_an_endpoint_not_yet_health_checked_is_not_used_in_panic() -> None:
    registry = StateRegistry()
    registry.build(CONFIG, {("a", "stable"): [A]})  # ready, but never probed
    assert usable(registry, [not_ready(A)]) == []


def test_panic_ends_when_an_endpoint_is_ready_again() -> None:
    registry = StateRegistry()
    checked(registry, [A, B], {})
    checked(registry, [not_ready(A), not_ready(B)], {})
    snapshot = registry.build(CONFIG, {("a", "stable"): [A, not_ready(B)]})
    states = {e.host: (e.panic, e.usable) for e in snapshot.models["a"].endpoints}
    assert states == {"127.0.0.1": (False, True), "127.0.0.2": (False, False)}
    assert snapshot.models["a"].endpoints[0].as_status()["panic"] is False
