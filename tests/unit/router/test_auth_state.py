"""API keys, snapshot building and demotion clocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.api.router_config import ApiKey, Auth, RouterConfigError, parse_router_config
from modelops.router.auth import key_ring, load_key_ring
from modelops.router.sources import Endpoint, static_endpoints
from modelops.router.state import StateRegistry

RING = key_ring(
    [ApiKey(key="sk-everything", models=["*"]), ApiKey(key="sk-only-llama", models=["llama"])],
    enabled=True,
)


@pytest.mark.parametrize(
    ("header", "model", "outcome"),
    [
        (None, "llama", "missing"),
        ("Bearer sk-everything", "qwen", "ok"),
        ("bearer sk-only-llama", "llama", "ok"),
        ("Bearer sk-only-llama", "qwen", "forbidden"),
        ("Bearer sk-only-llama", None, "ok"),
        ("Bearer sk-wrong-key", "llama", "invalid"),
        ("Basic sk-everything", "llama", "invalid"),
        ("Bearer ", "llama", "invalid"),
    ],
)
def test_key_checks(header: str | None, model: str | None, outcome: str) -> None:
    assert RING.check(header, model) == outcome


def test_auth_off_lets_everything_through() -> None:
    assert key_ring([], enabled=False).check(None, "x") == "ok"


def test_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n  - {key: sk-from-file-1, models: [a]}\n  - sk-from-file-2\n")
    ring = load_key_ring(Auth(keys_file=str(path)))
    assert ring.enabled
    assert ring.check("Bearer sk-from-file-1", "a") == "ok"
    assert ring.check("Bearer sk-from-file-1", "b") == "forbidden"
    assert ring.check("Bearer sk-from-file-2", "b") == "ok"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read keys file"),
        ("keys: {a: 1}", "expected `keys"),
        ("keys: [short]", "key #1"),
        ("keys: [", "not valid YAML"),
    ],
)
def test_bad_keys_files_are_rejected(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "keys.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RouterConfigError, match=message):
        load_key_ring(Auth(keys_file=str(path)))


def test_enabled_without_keys_is_rejected() -> None:
    with pytest.raises(RouterConfigError, match="no keys"):
        load_key_ring(Auth(enabled=True))


def test_unresolved_secret_fails_closed() -> None:
    with pytest.raises(RouterConfigError, match="secretRef 'router-keys' was not resolved"):
        load_key_ring(Auth.model_validate({"secretRef": {"name": "router-keys"}}))
    resolved = Auth.model_validate(
        {"secretRef": {"name": "router-keys"}, "keys": [{"key": "sk-from-secret"}]}
    )
    assert load_key_ring(resolved).check("Bearer sk-from-secret", "m") == "ok"


def test_empty_keys_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys: []\n")
    with pytest.raises(RouterConfigError, match="no keys"):
        load_key_ring(Auth(keys_file=str(path)))


CONFIG = parse_router_config(
    {
        "models": {
            "a": {
                "engine": "vllm",
                "tracks": [
                    {"name": "stable", "endpoints": ["127.0.0.1:1", "127.0.0.1:2"]},
                    {"name": "canary", "weight": 10, "endpoints": ["127.0.0.1:3"]},
                ],
            },
            "b": {"engine": "ollama", "backendModel": "b:1", "tracks": [{"endpoints": []}]},
        },
        "demotionWindowSeconds": 60,
    }
)


def test_state_survives_snapshot_rebuilds() -> None:
    registry = StateRegistry()
    first = registry.build(CONFIG, static_endpoints(CONFIG), now=0.0)
    endpoint = first.models["a"].tracks[0].endpoints[0]
    endpoint.outstanding = 4
    endpoint.healthy = False
    second = registry.build(CONFIG, static_endpoints(CONFIG), now=1.0)
    assert second.models["a"].tracks[0].endpoints[0] is endpoint
    assert second.models["b"].backend_model == "b:1"
    assert [t.name for t in second.models["a"].tracks] == ["stable", "canary"]


def test_demotion_clock_runs_while_no_endpoint_is_usable() -> None:
    registry = StateRegistry()
    endpoints = {("a", "stable"): [Endpoint("127.0.0.1", 1, ready=False)]}
    snapshot = registry.build(CONFIG, endpoints, now=100.0)
    assert snapshot.models["b"].health.unhealthy_since == 100.0
    assert not snapshot.is_demoted("a", 150.0)
    assert snapshot.is_demoted("a", 160.0)
    snapshot = registry.build(CONFIG, {("a", "stable"): [Endpoint("127.0.0.1", 1)]}, now=170.0)
    assert not snapshot.is_demoted("a", 170.0)
    assert snapshot.is_demoted("b", 170.0)
