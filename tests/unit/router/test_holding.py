"""Holding requests for a model at zero: who waits, one wake-up for all, expiry, disconnects.

In-process, no sockets: snapshots are built and swapped by hand, as the app does on every
config or endpoint update.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from modelops.api.router_config import RouterConfig, parse_router_config
from modelops.router.app import create_app
from modelops.router.errors import ClientError
from modelops.router.holding import RETRY_AFTER_SECONDS, Holds, model_to_wait_for
from modelops.router.metrics import RouterMetrics
from modelops.router.sources import Endpoint, EndpointMap
from modelops.router.state import Snapshot, StateRegistry
from tests.unit.router.test_app_errors import call


def config(**extra: Any) -> RouterConfig:
    return parse_router_config(
        {
            "models": {
                "sleepy": {"engine": "vllm", "scaleToZero": True, "fallback": ["awake"]},
                "lonely": {"engine": "ollama", "scaleToZero": True},
                "awake": {"engine": "vllm"},
                "plain": {"engine": "vllm"},
            },
            "tasks": {"dreams": ["lonely", "sleepy"]},
            **extra,
        }
    )


def build(
    registry: StateRegistry, cfg: RouterConfig, endpoints: dict[str, list[Endpoint]]
) -> Snapshot:
    mapping: EndpointMap = {(name, "stable"): eps for name, eps in endpoints.items()}
    return registry.build(cfg, mapping)


UP = [Endpoint("127.0.0.1", 9)]
NOT_READY = [Endpoint("127.0.0.1", 9, ready=False)]


@pytest.mark.parametrize(
    ("chain", "endpoints", "expected"),
    [
        (["lonely"], {}, "lonely"),
        (["lonely"], {"lonely": NOT_READY}, "lonely"),  # a starting pod is not usable yet
        (["lonely"], {"lonely": UP}, None),
        (["plain"], {}, None),  # not allowed at zero: the usual 503
        (["sleepy", "awake"], {"awake": UP}, None),  # a healthy fallback answers at once
        (["sleepy", "awake"], {}, "sleepy"),
        (["awake", "sleepy"], {}, "sleepy"),
        (["lonely", "sleepy", "awake"], {"sleepy": UP}, None),
    ],
)
def test_who_waits(chain: list[str], endpoints: dict[str, list[Endpoint]], expected: str) -> None:
    snapshot = build(StateRegistry(), config(), endpoints)
    assert model_to_wait_for(snapshot, chain) == expected


async def never_disconnects() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def settle() -> None:
    """Lets every started task run up to its wait (a few loop turns, no clock)."""
    for _ in range(5):
        await asyncio.sleep(0)


def holding_gauge(metrics: RouterMetrics, model: str) -> int:
    return metrics.holding.get(model, 0)


async def test_every_waiter_wakes_on_the_one_swap_that_brings_an_endpoint() -> None:
    registry, cfg = StateRegistry(), config()
    current = build(registry, cfg, {})
    metrics = RouterMetrics(lambda: current)
    holds = Holds(metrics)
    waiters = [
        asyncio.ensure_future(
            holds.wait_for_endpoint(current, ["lonely"], lambda: current, never_disconnects)
        )
        for _ in range(20)
    ]
    await settle()
    assert holding_gauge(metrics, "lonely") == 20
    assert holds.waiting_for() == ["lonely"]
    # An unrelated swap (another model's endpoint, a pod not ready yet) releases no one.
    current = build(registry, cfg, {"awake": UP, "lonely": NOT_READY})
    holds.snapshot_swapped(current)
    await settle()
    assert not any(w.done() for w in waiters)
    current = build(registry, cfg, {"awake": UP, "lonely": UP})
    holds.snapshot_swapped(current)
    results = await asyncio.gather(*waiters)
    assert all(r is not None and r[0] is current and r[1] == ["lonely"] for r in results)
    assert holding_gauge(metrics, "lonely") == 0
    assert sum(metrics.hold_durations[("lonely", "served")].counts) == 20
    assert holds.waiting_for() == []


async def test_a_swap_missed_while_the_body_was_read_is_seen() -> None:
    registry, cfg = StateRegistry(), config()
    stale = build(registry, cfg, {})
    fresh = build(registry, cfg, {"lonely": UP})
    holds = Holds(RouterMetrics(lambda: fresh))
    result = await holds.wait_for_endpoint(stale, ["lonely"], lambda: fresh, never_disconnects)
    assert result == (fresh, ["lonely"])


async def test_hold_runs_out_with_503_and_retry_after() -> None:
    cfg = config(holdSeconds=0.05)
    current = build(StateRegistry(), cfg, {})
    metrics = RouterMetrics(lambda: current)
    with pytest.raises(ClientError) as caught:
        await Holds(metrics).wait_for_endpoint(
            current, ["lonely"], lambda: current, never_disconnects
        )
    assert caught.value.status == 503
    assert "scaled to zero" in caught.value.message
    assert (b"retry-after", str(RETRY_AFTER_SECONDS).encode()) in caught.value.headers
    assert sum(metrics.hold_durations[("lonely", "expired")].counts) == 1
    assert holding_gauge(metrics, "lonely") == 0


async def test_a_client_that_leaves_stops_waiting() -> None:
    current = build(StateRegistry(), config(), {})
    metrics = RouterMetrics(lambda: current)

    async def disconnect() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    result = await Holds(metrics).wait_for_endpoint(
        current, ["lonely"], lambda: current, disconnect
    )
    assert result is None
    assert sum(metrics.hold_durations[("lonely", "gone")].counts) == 1


async def test_a_model_removed_while_waited_for_is_a_404() -> None:
    registry = StateRegistry()
    current = build(registry, config(), {})
    holds = Holds(RouterMetrics(lambda: current))
    waiter = asyncio.ensure_future(
        holds.wait_for_endpoint(current, ["lonely"], lambda: current, never_disconnects)
    )
    await settle()
    assert holds.waiting_for() == ["lonely"]
    current = build(registry, parse_router_config({"models": {"plain": {"engine": "vllm"}}}), {})
    holds.snapshot_swapped(current)
    with pytest.raises(ClientError) as caught:
        await waiter
    assert caught.value.status == 404


CHAT = {"model": "lonely", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [
        ("/v1/chat/completions", CHAT, "openai"),
        ("/api/chat", CHAT, "ollama"),
        ("/generate", {"inputs": "hi"}, "tgi"),
    ],
)
async def test_expired_hold_in_each_api_shape(path: str, body: dict[str, Any], shape: str) -> None:
    cfg = config(holdSeconds=0.05, defaultModel="lonely")
    app = create_app(cfg)
    assert app.apply_config(cfg)
    status, answer, headers = await call_with_headers(app, path, json.dumps(body).encode())
    assert status == 503
    assert headers[b"retry-after"] == str(RETRY_AFTER_SECONDS).encode()
    if shape == "openai":
        assert answer["error"]["type"] == "api_error"
        assert "scaled to zero" in answer["error"]["message"]
    elif shape == "tgi":
        assert "scaled to zero" in answer["error"]
        assert "error_type" in answer
    else:
        assert "scaled to zero" in answer["error"]


async def call_with_headers(
    app: Any, path: str, body: bytes
) -> tuple[int, Any, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": []}
    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(payload), dict(sent[0]["headers"])


async def test_models_at_zero_are_still_listed() -> None:
    cfg = config()
    app = create_app(cfg)
    assert app.apply_config(cfg)
    status, models = await call(app, "GET", "/v1/models")
    assert status == 200
    assert "lonely" in [m["id"] for m in models["data"]]
    status, tags = await call(app, "GET", "/api/tags")
    assert status == 200
    assert "lonely" in [m["name"] for m in tags["models"]]
