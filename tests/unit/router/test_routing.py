"""Routing decisions: targets, chains, candidate order, demotion, tracks, balancing, classes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modelops.api.router_config import parse_router_config
from modelops.router.routing import (
    RoutingError,
    Target,
    is_demoted,
    model_chain,
    order_candidates,
    parse_target,
    pick_endpoint,
    pick_track,
    request_class,
)

CONFIG = parse_router_config(
    {
        "models": {
            "mixtral": {"engine": "vllm", "fallback": ["llama"]},
            "llama": {"engine": "ollama", "fallback": ["phi"]},
            "qwen": {"engine": "vllm", "fallback": ["phi"]},
            "phi": {"engine": "ollama"},
        },
        "tasks": {"reasoning": ["mixtral", "llama"], "summarisation": ["qwen", "phi"]},
    }
)


@pytest.mark.parametrize(
    ("model", "header", "default", "expected"),
    [
        ("llama", None, None, Target("llama", None)),
        ("task:reasoning", None, None, Target(None, "reasoning")),
        (None, "summarisation", None, Target(None, "summarisation")),
        ("llama", "reasoning", None, Target(None, "reasoning")),
        (None, None, "phi", Target("phi", None)),
    ],
)
def test_parse_target(
    model: str | None, header: str | None, default: str | None, expected: Target
) -> None:
    assert parse_target(model, header, default) == expected


def test_no_model_at_all_is_an_error() -> None:
    with pytest.raises(RoutingError, match="names no model"):
        parse_target(None, None, None)


@pytest.mark.parametrize(
    ("target", "chain"),
    [
        (Target("mixtral", None), ["mixtral", "llama", "phi"]),
        (Target("phi", None), ["phi"]),
        (Target(None, "reasoning"), ["mixtral", "llama", "phi"]),
        (Target(None, "summarisation"), ["qwen", "phi"]),
    ],
)
def test_model_chain_follows_fallbacks(target: Target, chain: list[str]) -> None:
    assert model_chain(target, CONFIG) == chain


@pytest.mark.parametrize(
    ("target", "message"),
    [(Target("gpt-9", None), "not found"), (Target(None, "poetry"), "unknown task")],
)
def test_unknown_targets(target: Target, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        model_chain(target, CONFIG)


@pytest.mark.parametrize(
    ("healthy", "demoted", "expected"),
    [
        ({"a", "b", "c"}, set(), ["a", "b", "c"]),
        ({"b", "c"}, set(), ["b", "c", "a"]),  # a unhealthy, not demoted: last resort
        ({"b", "c"}, {"a"}, ["b", "c"]),  # a demoted: never tried
        (set(), {"a", "b"}, ["c"]),
        (set(), {"a", "b", "c"}, []),
    ],
)
def test_order_candidates(healthy: set[str], demoted: set[str], expected: list[str]) -> None:
    assert order_candidates(["a", "b", "c"], healthy.__contains__, demoted.__contains__) == expected


@pytest.mark.parametrize(
    ("since", "now", "window", "demoted"),
    [(None, 1000.0, 300.0, False), (900.0, 1000.0, 300.0, False), (700.0, 1000.0, 300.0, True)],
)
def test_demotion_window(since: float | None, now: float, window: float, demoted: bool) -> None:
    assert is_demoted(since, now, window) is demoted


@pytest.mark.parametrize(
    ("tracks", "roll", "expected"),
    [
        ([("stable", 90, True), ("canary", 10, True)], 0.0, "stable"),
        ([("stable", 90, True), ("canary", 10, True)], 0.89, "stable"),
        ([("stable", 90, True), ("canary", 10, True)], 0.95, "canary"),
        ([("stable", 90, False), ("canary", 10, True)], 0.0, "canary"),
        ([("stable", 100, True), ("canary", 0, True)], 0.99, "stable"),
        ([("stable", 0, False), ("canary", 0, True)], 0.5, "canary"),
        ([("stable", 100, False)], 0.5, None),
    ],
)
def test_pick_track(tracks: list[tuple[str, int, bool]], roll: float, expected: str | None) -> None:
    assert pick_track(tracks, roll) == expected


@dataclass(eq=False)
class FakeEndpoint:
    name: str
    outstanding: int = 0
    usable: bool = True


def test_least_outstanding_wins_and_ties_rotate() -> None:
    a, b, c = FakeEndpoint("a", 2), FakeEndpoint("b", 1), FakeEndpoint("c", 1)
    assert pick_endpoint([a, b, c], [], 0) is b
    assert pick_endpoint([a, b, c], [], 2) is c
    assert pick_endpoint([a, b, c], [b, c], 0) is a
    c.usable = False
    assert pick_endpoint([a, b, c], [b], 2) is a
    assert pick_endpoint([a, b, c], [a, b], 0) is None


def test_balancing_spreads_concurrent_load_evenly() -> None:
    endpoints = [FakeEndpoint(str(i)) for i in range(3)]
    for rotation in range(9):
        chosen = pick_endpoint(endpoints, [], rotation)
        assert chosen is not None
        chosen.outstanding += 1
    assert [e.outstanding for e in endpoints] == [3, 3, 3]


@pytest.mark.parametrize(
    ("max_tokens", "header", "expected"),
    [
        (None, None, "interactive"),
        (100, None, "interactive"),
        (4096, None, "long"),
        (10, "long", "long"),
        (4096, "interactive", "interactive"),
        ("many", None, "interactive"),
    ],
)
def test_request_class(max_tokens: object, header: str | None, expected: str) -> None:
    assert request_class(max_tokens, header, 1024) == expected
