"""modelops.builders.router_config: every ModelDeployment -> the router's config and problems."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.api import parse_model_deployment
from modelops.api.router_config import ApiKey, Auth, ModelRoute, RouterConfig, Timeouts, Track
from modelops.builders import LABEL_MODEL, LABEL_REVISION, LABEL_SLOT
from modelops.builders.router_config import (
    RoutedModel,
    SlotTrack,
    backend_model,
    build_router_plan,
    model_route,
)

VLLM: dict[str, Any] = {"engine": "vllm", "model": "org/model-7b", "resources": {"gpus": 1}}
OLLAMA: dict[str, Any] = {"engine": "ollama", "model": "llama3.1:8b"}


def routed(
    name: str,
    created: str,
    spec: dict[str, Any] | None = None,
    *,
    namespace: str = "ai",
    slot: str = "blue",
    **spec_changes: Any,
) -> RoutedModel:
    body = {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {**(spec or OLLAMA), **spec_changes},
    }
    return RoutedModel(
        key=(namespace, name),
        created=created,
        md=parse_model_deployment(body),
        tracks=(SlotTrack("stable", slot, "rev1", 100),),  # type: ignore[arg-type]
    )


def day(n: int) -> str:
    return f"2026-01-{n:02d}T00:00:00Z"


# -- backend_model / model_route ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        (OLLAMA, "llama", "llama3.1:8b"),
        ({**OLLAMA, "servedModelName": "chat-model"}, "llama", "llama3.1:8b"),
        (VLLM, "mistral", "mistral"),
        ({**VLLM, "servedModelName": "mistral-nemo"}, "mistral", "mistral-nemo"),
    ],
)
def test_backend_model(spec: dict[str, Any], name: str, expected: str) -> None:
    assert backend_model(routed(name, day(1), spec).md) == expected


@pytest.mark.parametrize(
    ("spec", "slot", "engine", "backend", "port"),
    [
        (OLLAMA, "blue", "ollama", "llama3.1:8b", 11434),
        (VLLM, "green", "vllm", "m", 8000),
    ],
)
def test_model_route(spec: dict[str, Any], slot: str, engine: str, backend: str, port: int) -> None:
    route = model_route(routed("m", day(1), spec, namespace="team-a", slot=slot))
    assert route.namespace == "team-a"
    assert route.engine == engine
    assert route.backend_model == backend
    assert route.port == port
    assert route.tracks == [
        Track(
            name="stable",
            selector={LABEL_MODEL: "m", LABEL_SLOT: slot, LABEL_REVISION: "rev1"},
            weight=100,
            revision="rev1",
        )
    ]
    assert route.fallback == []
    assert route.timeouts is None


def test_model_route_routing_settings() -> None:
    route = model_route(
        routed(
            "m",
            day(1),
            routing={"fallback": ["b", "a"], "timeoutSeconds": 45, "tasks": ["chat"]},
        )
    )
    assert route.fallback == ["b", "a"]
    assert route.timeouts == Timeouts(interactive_seconds=45.0, long_seconds=45.0)
    assert route.timeouts.long_request_tokens == Timeouts().long_request_tokens


def test_routing_without_timeout_keeps_the_router_wide_timeouts() -> None:
    route = model_route(routed("m", day(1), routing={"tasks": ["chat"]}))
    assert route.timeouts is None
    config = build_router_plan([routed("m", day(1), routing={"timeoutSeconds": 7})]).config
    assert config.timeouts_for("m") == Timeouts(interactive_seconds=7.0, long_seconds=7.0)


@pytest.mark.parametrize(
    ("autoscaling", "expected"),
    [
        (None, False),
        ({"enabled": True, "minReplicas": 0}, True),
        ({"enabled": True, "minReplicas": 1}, False),
        ({"enabled": False, "minReplicas": 0}, False),  # an HPA/KEDA owns the count: no hold
    ],
)
def test_scale_to_zero_routes_hold_requests(autoscaling: Any, expected: bool) -> None:
    changes = {} if autoscaling is None else {"autoscaling": autoscaling}
    assert model_route(routed("m", day(1), **changes)).scale_to_zero is expected


@pytest.mark.parametrize(
    ("spec", "window"),
    [
        (
            {
                "engine": "vllm",
                "model": "org/m",
                "resources": {"gpus": 1},
                "vllm": {"maxModelLen": 32768},
            },
            32768,
        ),
        ({**OLLAMA, "ollama": {"contextLength": 8192}}, 8192),
        (OLLAMA, None),
    ],
)
def test_the_context_window_reaches_the_router(spec: dict[str, Any], window: int | None) -> None:
    assert model_route(routed("m", day(1), spec)).context_length == window


# -- build_router_plan ---------------------------------------------------------------------------


def test_empty() -> None:
    plan = build_router_plan([])
    assert plan.config == RouterConfig()
    assert plan.problems == {}


def test_every_model_is_routed_by_served_name_with_no_problems() -> None:
    plan = build_router_plan(
        [
            routed("llama", day(2)),
            routed("mistral", day(1), VLLM, servedModelName="nemo", namespace="other"),
        ]
    )
    assert set(plan.config.models) == {"llama", "nemo"}
    assert plan.config.models["nemo"].namespace == "other"
    assert plan.config.models["nemo"].backend_model == "nemo"
    assert plan.problems == {("ai", "llama"): (), ("other", "mistral"): ()}


@pytest.mark.parametrize("order", ["older-first", "newer-first"])
def test_duplicate_served_name_goes_to_the_older_object(order: str) -> None:
    older = routed("older", day(1), servedModelName="chat", namespace="ns-b")
    newer = routed("newer", day(2), {**VLLM, "servedModelName": "chat"}, namespace="ns-a")
    models = [older, newer] if order == "older-first" else [newer, older]
    plan = build_router_plan(models)
    assert list(plan.config.models) == ["chat"]
    route = plan.config.models["chat"]
    assert (route.namespace, route.engine) == ("ns-b", "ollama")
    assert plan.problems[("ns-b", "older")] == ()
    assert plan.problems[("ns-a", "newer")] == (
        "servedModelName 'chat' is already served by ModelDeployment ns-b/older",
    )


def test_duplicate_with_equal_creation_times_is_decided_by_namespace_and_name() -> None:
    plan = build_router_plan(
        [routed("b", day(1), servedModelName="x"), routed("a", day(1), servedModelName="x")]
    )
    assert plan.config.models["x"].tracks[0].selector[LABEL_MODEL] == "a"
    assert plan.problems[("ai", "a")] == ()
    assert "ai/a" in plan.problems[("ai", "b")][0]


def test_a_duplicate_does_not_add_its_tasks() -> None:
    plan = build_router_plan(
        [
            routed("old", day(1), servedModelName="x", routing={"tasks": ["chat"]}),
            routed("new", day(2), servedModelName="x", routing={"tasks": ["code"]}),
        ]
    )
    assert plan.config.tasks == {"chat": ["x"]}


def test_fallback_to_an_unknown_model_drops_only_that_model() -> None:
    plan = build_router_plan(
        [
            routed("good", day(1), routing={"tasks": ["chat"]}),
            routed("bad", day(2), routing={"fallback": ["ghost"], "tasks": ["chat"]}),
        ]
    )
    assert list(plan.config.models) == ["good"]
    assert plan.config.tasks == {"chat": ["good"]}
    assert plan.problems[("ai", "good")] == ()
    assert plan.problems[("ai", "bad")] == ("model 'bad': fallback 'ghost' is not a model",)


def test_fallback_to_a_known_model_is_kept() -> None:
    plan = build_router_plan(
        [routed("big", day(1), routing={"fallback": ["small"]}), routed("small", day(2))]
    )
    assert plan.config.models["big"].fallback == ["small"]
    assert all(problems == () for problems in plan.problems.values())


def test_fallback_to_a_duplicates_served_name_points_at_the_winner() -> None:
    plan = build_router_plan(
        [
            routed("owner", day(1), servedModelName="shared"),
            routed("loser", day(3), servedModelName="shared"),
            routed("client", day(2), routing={"fallback": ["shared"]}),
        ]
    )
    assert plan.config.models["client"].fallback == ["shared"]
    assert plan.config.models["shared"].tracks[0].selector[LABEL_MODEL] == "owner"
    assert plan.problems[("ai", "client")] == ()
    assert len(plan.problems[("ai", "loser")]) == 1


def test_fallback_cycle_blames_every_member_and_spares_the_others() -> None:
    plan = build_router_plan(
        [
            routed("a", day(1), routing={"fallback": ["b"], "tasks": ["chat"]}),
            routed("b", day(2), routing={"fallback": ["c"]}),
            routed("c", day(3), routing={"fallback": ["a"]}),
            routed("d", day(4), routing={"fallback": ["a"], "tasks": ["chat"]}),
        ]
    )
    assert list(plan.config.models) == ["d"]
    # d's fallback pointed into the dropped cycle: the reference is removed, d stays routed.
    assert plan.config.models["d"].fallback == []
    assert plan.config.tasks == {"chat": ["d"]}
    for name in "abc":
        (problem,) = plan.problems[("ai", name)]
        assert problem.startswith("fallback cycle: ")
        assert set(problem.removeprefix("fallback cycle: ").split(" -> ")) == {"a", "b", "c"}
    assert plan.problems[("ai", "d")] == ()


def test_two_model_cycle() -> None:
    plan = build_router_plan(
        [
            routed("x", day(1), routing={"fallback": ["y"]}),
            routed("y", day(2), routing={"fallback": ["x"]}),
        ]
    )
    assert plan.config.models == {}
    assert plan.problems == {
        ("ai", "x"): ("fallback cycle: x -> y -> x",),
        ("ai", "y"): ("fallback cycle: x -> y -> x",),
    }


def test_tasks_list_models_in_creation_order() -> None:
    plan = build_router_plan(
        [
            routed("third", day(3), routing={"tasks": ["chat", "code"]}),
            routed("first", day(1), routing={"tasks": ["chat"]}),
            routed("second", day(2), routing={"tasks": ["code", "chat"]}),
            routed("none", day(4)),
        ]
    )
    assert plan.config.tasks == {"chat": ["first", "second", "third"], "code": ["second", "third"]}


def test_base_settings_are_kept_and_its_models_replaced() -> None:
    base = RouterConfig(
        models={"stale": ModelRoute(engine="vllm")},
        tasks={"stale": ["stale"]},
        demotion_window_seconds=42,
        timeouts=Timeouts(interactive_seconds=11, long_seconds=22),
        auth=Auth(enabled=True, keys=[ApiKey(key="k" * 16, models=["*"])]),
        openai_reasoning="keep",
        default_model="llama",
    )
    plan = build_router_plan([routed("llama", day(1))], base)
    config = plan.config
    assert set(config.models) == {"llama"}
    assert config.tasks == {}
    assert config.demotion_window_seconds == 42
    assert config.timeouts == Timeouts(interactive_seconds=11, long_seconds=22)
    assert config.auth == base.auth
    assert config.openai_reasoning == "keep"
    assert config.default_model == "llama"
    assert config.health_check == base.health_check
    assert config.retries == base.retries


def test_a_base_default_model_that_is_not_routed_is_dropped() -> None:
    base = RouterConfig(default_model="missing")
    plan = build_router_plan([routed("llama", day(1))], base)
    assert plan.config.default_model is None
    assert set(plan.config.models) == {"llama"}
    assert plan.problems == {("ai", "llama"): ()}


def test_the_plan_config_round_trips_through_yaml() -> None:
    from modelops.api.router_config import parse_router_config_yaml

    plan = build_router_plan(
        [
            routed("llama", day(1), routing={"tasks": ["chat"], "timeoutSeconds": 30}),
            routed("mistral", day(2), VLLM, routing={"fallback": ["llama"]}, slot="green"),
        ]
    )
    assert parse_router_config_yaml(plan.config.to_yaml()) == plan.config
