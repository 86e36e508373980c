"""modelops.k8s.router_sources: the pure parts (endpoints from pods, API keys from a Secret)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret

from modelops.api.router_config import (
    ApiKey,
    RouterConfig,
    RouterConfigError,
    parse_router_config,
)
from modelops.k8s import router_sources
from modelops.k8s.pods import PodInfo
from modelops.k8s.router_sources import KubernetesEndpointSource, _with_secret_keys, endpoint_map
from modelops.router.sources import Endpoint

MODEL = "modelops.io/model"
SLOT = "modelops.io/slot"


def pod(
    ip: str | None,
    *,
    model: str = "llama",
    slot: str = "blue",
    namespace: str = "ai",
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    extra_labels: dict[str, str] | None = None,
) -> PodInfo:
    return PodInfo(
        name=f"{model}-{ip}",
        namespace=namespace,
        uid=f"uid-{namespace}-{model}-{ip}-{slot}",
        ip=ip,
        phase=phase,
        ready=ready,
        node_name="node-0",
        deleting=deleting,
        labels={MODEL: model, SLOT: slot, **(extra_labels or {})},
    )


def by_namespace(*pods: PodInfo) -> dict[str, dict[str, PodInfo]]:
    result: dict[str, dict[str, PodInfo]] = {}
    for item in pods:
        result.setdefault(item.namespace, {})[item.uid] = item
    return result


def route(
    model: str,
    *,
    engine: str = "ollama",
    namespace: str = "ai",
    port: int | None = None,
    canary_slot: str | None = None,
) -> dict[str, Any]:
    tracks: list[dict[str, Any]] = [
        {"name": "stable", "selector": {MODEL: model, SLOT: "blue"}, "weight": 100}
    ]
    if canary_slot is not None:
        tracks.append(
            {"name": "canary", "selector": {MODEL: model, SLOT: canary_slot}, "weight": 0}
        )
    data: dict[str, Any] = {"namespace": namespace, "engine": engine, "tracks": tracks}
    if port is not None:
        data["port"] = port
    return data


def config(**models: dict[str, Any]) -> RouterConfig:
    return parse_router_config({"models": models})


def test_selected_pods_become_endpoints_on_the_models_port() -> None:
    result = endpoint_map(
        config(llama=route("llama"), mistral=route("mistral", engine="vllm", port=9000)),
        by_namespace(
            pod("127.10.0.2"),
            pod("127.10.0.3", ready=False),
            pod("127.10.1.2", model="mistral"),
        ),
    )
    assert result == {
        ("llama", "stable"): [
            Endpoint("127.10.0.2", 11434, ready=True),
            Endpoint("127.10.0.3", 11434, ready=False),
        ],
        ("mistral", "stable"): [Endpoint("127.10.1.2", 9000, ready=True)],
    }


@pytest.mark.parametrize(
    ("engine", "port", "expected"),
    [("ollama", None, 11434), ("vllm", None, 8000), ("vllm", 8080, 8080)],
)
def test_port_comes_from_the_route(engine: str, port: int | None, expected: int) -> None:
    result = endpoint_map(
        config(m=route("m", engine=engine, port=port)), by_namespace(pod("127.0.0.9", model="m"))
    )
    assert [e.port for e in result[("m", "stable")]] == [expected]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (pod("127.10.0.2"), [Endpoint("127.10.0.2", 11434, ready=True)]),
        (
            pod("127.10.0.2", extra_labels={"other": "x"}),
            [Endpoint("127.10.0.2", 11434, ready=True)],
        ),
        (pod("127.10.0.2", ready=False), [Endpoint("127.10.0.2", 11434, ready=False)]),
        # Ready but not Running (e.g. Succeeded with a stale condition) is not ready.
        (pod("127.10.0.2", phase="Pending"), [Endpoint("127.10.0.2", 11434, ready=False)]),
        (pod("127.10.0.2", phase="Succeeded"), [Endpoint("127.10.0.2", 11434, ready=False)]),
        (pod("127.10.0.2", deleting=True), []),
        (pod(None), []),
        (pod(""), []),
        (pod("127.10.0.2", slot="green"), []),
        (pod("127.10.0.2", model="other"), []),
        (pod("127.10.0.2", namespace="elsewhere"), []),
    ],
    ids=[
        "ready",
        "extra-labels",
        "not-ready",
        "pending",
        "succeeded",
        "deleting",
        "no-ip",
        "empty-ip",
        "other-slot",
        "other-model",
        "other-namespace",
    ],
)
def test_which_pods_count(item: PodInfo, expected: list[Endpoint]) -> None:
    result = endpoint_map(config(llama=route("llama")), by_namespace(item))
    assert result == {("llama", "stable"): expected}


def test_a_pod_missing_a_selector_label_is_not_selected() -> None:
    unlabeled = PodInfo("p", "ai", "u", "127.0.0.5", "Running", True, None, False, {MODEL: "llama"})
    assert endpoint_map(config(llama=route("llama")), by_namespace(unlabeled)) == {
        ("llama", "stable"): []
    }


def test_an_empty_selector_selects_nothing() -> None:
    data = route("llama")
    data["tracks"][0]["selector"] = {}
    assert endpoint_map(config(llama=data), by_namespace(pod("127.0.0.2"))) == {
        ("llama", "stable"): []
    }


def test_namespaces_are_isolated() -> None:
    # Same model label in two namespaces: each route only sees its own namespace's pods.
    result = endpoint_map(
        config(a=route("llama", namespace="team-a"), b=route("llama", namespace="team-b")),
        by_namespace(
            pod("127.10.0.2", namespace="team-a"),
            pod("127.11.0.2", namespace="team-b"),
            pod("127.11.0.3", namespace="team-b"),
        ),
    )
    assert [e.host for e in result[("a", "stable")]] == ["127.10.0.2"]
    assert [e.host for e in result[("b", "stable")]] == ["127.11.0.2", "127.11.0.3"]


def test_every_track_gets_an_entry_even_without_pods() -> None:
    result = endpoint_map(
        config(llama=route("llama", canary_slot="green"), ghost=route("ghost", namespace="empty")),
        by_namespace(pod("127.10.0.2"), pod("127.10.0.7", slot="green")),
    )
    assert result == {
        ("llama", "stable"): [Endpoint("127.10.0.2", 11434)],
        ("llama", "canary"): [Endpoint("127.10.0.7", 11434)],
        ("ghost", "stable"): [],
    }


def test_endpoints_are_sorted_by_address() -> None:
    ips = ["127.10.0.9", "127.10.0.10", "127.10.0.1", "127.10.1.0"]
    result = endpoint_map(config(llama=route("llama")), by_namespace(*(pod(ip) for ip in ips)))
    addresses = [e.address for e in result[("llama", "stable")]]
    assert addresses == sorted(addresses)
    assert len(addresses) == 4


def test_no_models_no_endpoints() -> None:
    assert endpoint_map(RouterConfig(), by_namespace(pod("127.0.0.2"))) == {}


# -- _with_secret_keys -------------------------------------------------------------------------

KEY_A = "sk-aaaaaaaaaaaaaaaa"
KEY_B = "sk-bbbbbbbbbbbbbbbb"
INLINE = "sk-inline-000000000"


def secret(data: dict[str, str] | None) -> Secret:
    return Secret(metadata=ObjectMeta(name="router-keys"), data=data)


def encoded(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def base_config() -> RouterConfig:
    return parse_router_config(
        {
            "auth": {
                "enabled": True,
                "secretRef": {"name": "router-keys"},
                "keys": [{"key": INLINE, "name": "inline"}],
            },
            "demotionWindowSeconds": 12,
        }
    )


def test_keys_from_the_secret_are_added_after_the_inline_keys() -> None:
    text = f"keys:\n  - key: {KEY_A}\n    models: [llama]\n    name: team-a\n  - key: {KEY_B}\n"
    result = _with_secret_keys(base_config(), secret({"keys.yaml": encoded(text)}), "keys.yaml")
    assert isinstance(result, RouterConfig)
    assert result.auth.keys == [
        ApiKey(key=INLINE, name="inline"),
        ApiKey(key=KEY_A, models=["llama"], name="team-a"),
        ApiKey(key=KEY_B),
    ]
    assert result.auth.enabled
    assert result.auth.secret_ref == base_config().auth.secret_ref
    assert result.demotion_window_seconds == 12


def test_json_works_too_and_a_custom_key_name() -> None:
    text = json.dumps({"keys": [{"key": KEY_A}]})
    result = _with_secret_keys(base_config(), secret({"api.json": encoded(text)}), "api.json")
    assert isinstance(result, RouterConfig)
    assert [k.key for k in result.auth.keys] == [INLINE, KEY_A]


def test_the_secret_takes_the_keys_file_format() -> None:
    # As auth.keysFile: a bare list and bare key strings are accepted too.
    text = f"- {KEY_A}\n- key: {KEY_B}\n  models: [llama]\n"
    result = _with_secret_keys(base_config(), secret({"keys.yaml": encoded(text)}), "keys.yaml")
    assert isinstance(result, RouterConfig)
    assert result.auth.keys[1:] == [ApiKey(key=KEY_A), ApiKey(key=KEY_B, models=["llama"])]


def test_an_empty_key_list() -> None:
    result = _with_secret_keys(
        base_config(), secret({"keys.yaml": encoded("keys: []")}), "keys.yaml"
    )
    assert isinstance(result, RouterConfig)
    assert [k.key for k in result.auth.keys] == [INLINE]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "auth secret has no key 'keys.yaml'"),
        ({}, "auth secret has no key 'keys.yaml'"),
        ({"other.yaml": encoded("keys: []")}, "auth secret has no key 'keys.yaml'"),
        (
            {"keys.yaml": "!!! not base64 !!!"},
            "auth secret key 'keys.yaml' is not a valid key list",
        ),
        ({"keys.yaml": encoded(b"\xff\xfe\x00")}, "is not a valid key list"),
        ({"keys.yaml": encoded("keys: [unclosed")}, "is not a valid key list"),
        ({"keys.yaml": encoded("keys:\n  - key: short\n")}, "auth secret key 'keys.yaml': key #1"),
        ({"keys.yaml": encoded(f"keys:\n  - {{key: {KEY_A}, colour: red}}\n")}, "key #1"),
        ({"keys.yaml": encoded(f"keys:\n  - {KEY_A}\n  - 42\n")}, "key #2"),
        ({"keys.yaml": encoded("")}, "expected `keys: [{key, models}]`"),
        ({"keys.yaml": encoded("keys:")}, "expected `keys: [{key, models}]`"),
        ({"keys.yaml": encoded("other: 1")}, "expected `keys: [{key, models}]`"),
        ({"keys.yaml": encoded("keys: 5")}, "expected `keys: [{key, models}]`"),
        ({"keys.yaml": encoded(f"keys: {{key: {KEY_A}}}")}, "expected `keys: [{key, models}]`"),
        ({"keys.yaml": encoded("just text")}, "expected `keys: [{key, models}]`"),
    ],
    ids=[
        "no-data",
        "empty-data",
        "other-key",
        "bad-base64",
        "not-utf8",
        "bad-yaml",
        "short-key",
        "unknown-field",
        "number-entry",
        "empty-document",
        "null-keys",
        "no-keys-entry",
        "keys-a-number",
        "keys-a-mapping",
        "document-a-string",
    ],
)
def test_unusable_secrets_are_config_errors(data: dict[str, str] | None, message: str) -> None:
    result = _with_secret_keys(base_config(), secret(data), "keys.yaml")
    assert isinstance(result, RouterConfigError)
    assert message in str(result)


def test_a_new_config_gets_its_endpoints_from_the_pods_already_seen() -> None:
    """A promotion moves the stable track to the other slot: the router must route to that
    slot's pods at once, not to the old track's endpoints until its watches list again."""
    source = KubernetesEndpointSource()
    assert source.known(config(llama=route("llama"))) is None  # nothing seen yet
    source._last_pods = by_namespace(pod("127.10.0.2"), pod("127.10.0.9", slot="green"))
    promoted = parse_router_config(
        {
            "models": {
                "llama": {
                    "namespace": "ai",
                    "engine": "ollama",
                    "tracks": [{"name": "stable", "selector": {MODEL: "llama", SLOT: "green"}}],
                }
            }
        }
    )
    assert source.known(promoted) == {
        ("llama", "stable"): [Endpoint("127.10.0.9", 11434, ready=True)]
    }


# -- the ConfigMap watch survives quiet periods and a watch the API server ends -----------------


class _Listing:
    """What lightkube's client.list() returns: an async iterable with a resourceVersion."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self.resourceVersion = "1"

    def __aiter__(self) -> Any:
        async def each() -> Any:
            for item in self._items:
                yield item

        return each()


class _FakeClient:
    """A stand-in for lightkube's AsyncClient: the ConfigMap is listed as `texts[0]`; each
    watch waits for an event put in `events` (None ends that watch, as the API server does)."""

    def __init__(self, first: str) -> None:
        self.first = first
        self.events: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self.lists = 0

    def list(self, *args: Any, **kwargs: Any) -> _Listing:
        self.lists += 1
        return _Listing([ConfigMap(data={"config.yaml": self.first})])

    async def watch(self, *args: Any, **kwargs: Any) -> Any:
        while (item := await self.events.get()) is not None:
            event, text = item
            yield event, ConfigMap(data={"config.yaml": text})


async def test_config_watch_survives_quiet_periods_and_relists_after_the_watch_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_sources, "SECRET_REFRESH_SECONDS", 0.01)
    client = _FakeClient("a")
    texts = router_sources.KubernetesConfigSource("ns", "cfg")._texts(client)  # type: ignore[arg-type]
    try:
        assert await anext(texts) == "a"
        # Quiet for many refresh periods: the same text comes again, the watch stays.
        for _ in range(5):
            assert await anext(texts) == "a"
        await client.events.put(("MODIFIED", "b"))
        seen = [await anext(texts) for _ in range(3)]
        assert "b" in seen
        assert seen[-1] == "b"
        # The API server ends the watch: the source lists again and keeps following.
        client.first = "c"
        await client.events.put(None)
        seen = [await anext(texts) for _ in range(3)]
        assert "c" in seen
        assert client.lists == 2
        await client.events.put(("MODIFIED", "d"))
        assert "d" in [await anext(texts) for _ in range(3)]
    finally:
        await texts.aclose()
