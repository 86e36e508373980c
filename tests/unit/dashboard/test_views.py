"""The dashboard's JSON views: shape and content from raw API objects (pure functions)."""

from __future__ import annotations

import json

from modelops.dashboard import views_cluster, views_models
from modelops.dashboard.history import History
from modelops.dashboard.promtext import TrafficFigures
from modelops.dashboard.readings import Readings, RouterReading, pod_gpus
from tests.unit.dashboard import objects as o

NOW = 1_700_000_000.0


def readings(**kwargs: object) -> Readings:
    base: dict[str, object] = {"now": NOW, "objects_at": NOW}
    base.update(kwargs)
    return Readings(**base)  # type: ignore[arg-type]


def test_overview_lists_every_model_with_problems_first() -> None:
    degraded = o.md(
        "small",
        phase="Degraded",
        ready=0,
        conditions=[
            {
                "type": "Ready",
                "status": "False",
                "reason": "InsufficientGPU",
                "message": "0/3 nodes",
            }
        ],
    )
    big = o.md("big", tasks=["reasoning"], fallback=["small"])
    view = views_models.overview(readings(model_deployments=[big, degraded], load={"big": 3.0}))
    assert [m["name"] for m in view["models"]] == ["small", "big"]
    small_row, big_row = view["models"]
    assert small_row["phase"] == "Degraded"
    assert small_row["problems"] == [
        "phase Degraded",
        "Ready=False (InsufficientGPU): 0/3 nodes",
    ]
    assert big_row == {
        "namespace": "models",
        "name": "big",
        "engine": "vllm",
        "model": "org/big",
        "phase": "Ready",
        "replicas": 1,
        "readyReplicas": 1,
        "desiredReplicas": 1,
        "gpus": 1,
        "gpuProduct": "NVIDIA-A100-SXM4-40GB",
        "load": 3.0,
        "servedName": "big",
        "tasks": ["reasoning"],
        "fallback": ["small"],
        "rollout": None,
        "routerAvailable": None,
        "problems": [],
    }
    assert view["summary"] == {"models": 2, "ready": 1, "withProblems": 1, "rollouts": 0}
    json.dumps(view)  # the API answers it as JSON


def test_router_demotion_and_config_problems_are_model_problems() -> None:
    status = o.router_status(
        {"big": o.routed(available=False, demoted=True)},
        problems=["model 'big': fallback 'gone' is not a model (dropped)"],
    )
    view = views_models.overview(
        readings(
            model_deployments=[o.md("big")],
            routers=[RouterReading(name="r1", status=status)],
        )
    )
    (row,) = view["models"]
    assert row["routerAvailable"] is False
    assert row["problems"] == [
        "demoted by the router (no usable endpoint for the demotion window)",
        "router config: model 'big': fallback 'gone' is not a model (dropped)",
    ]


def test_a_rollout_in_progress_shows_weight_step_and_phase() -> None:
    canary = {
        "slot": "green",
        "revision": "rev2",
        "replicas": 1,
        "weight": 25,
        "step": 1,
        "phase": "Progressing",
        "stepStartedAt": "2026-12-01T09:00:00Z",
        "analysis": {
            "stable": {"requests": 90, "errors": 0, "errorRate": 0.0, "p95Seconds": 0.2},
            "canary": {"requests": 30, "errors": 3, "errorRate": 0.1, "p95Seconds": 0.4},
            "missingRequests": 0,
            "message": "canary error rate 10% > 5%",
        },
    }
    model = o.md("big", canary=canary)
    pods = [
        o.pod("big-blue-1", model="big", gpus=1, node_name="n1"),
        o.pod("big-green-1", model="big", gpus=1, node_name="n1", slot="green", revision="rev2"),
    ]
    r = readings(
        model_deployments=[model],
        pods=pods,
        traffic={
            ("big", "stable"): TrafficFigures(3.0, 0.0, 0.2, None, 30),
            ("big", "canary"): TrafficFigures(1.0, 0.1, 0.4, 0.05, 10),
            ("other", "stable"): TrafficFigures(9.0, 0.0, 0.1, None, 90),
        },
    )
    (row,) = views_models.overview(r)["models"]
    assert row["rollout"] == {
        "slot": "green",
        "revision": "rev2",
        "weight": 25,
        "step": 1,
        "phase": "Progressing",
        "stepStartedAt": "2026-12-01T09:00:00Z",
        "replicas": 1,
    }
    history = History(max_points=10)
    history.record(r)
    page = views_models.model_page(r, model, history.of("models", "big"))
    assert [(s["slot"], s["role"], s["revision"]) for s in page["slots"]] == [
        ("blue", "stable", "rev1"),
        ("green", "canary", "rev2"),
    ]
    assert page["slots"][1]["pods"][0]["name"] == "big-green-1"
    assert set(page["traffic"]) == {"stable", "canary"}
    assert page["traffic"]["canary"] == {
        "requestsPerSecond": 1.0,
        "errorRate": 0.1,
        "p95Seconds": 0.4,
        "p95TTFTSeconds": 0.05,
        "requests": 10,
    }
    (point,) = page["history"]
    assert point["canaryWeight"] == 25
    assert point["analysis"]["canary"]["errorRate"] == 0.1
    assert point["traffic"]["stable"]["requestsPerSecond"] == 3.0
    json.dumps(page)


def test_model_page_events_are_the_models_own_newest_first() -> None:
    model = o.md("big")
    events = [
        o.event("big", "Scaled", "1 -> 2", "2026-12-01T09:00:00Z"),
        o.event("big", "FailedApply", "quota", "2026-12-01T09:05:00Z"),
        o.event("big", "Scaled", "old object", "2026-12-01T08:00:00Z", uid="uid-earlier"),
        o.event("small", "Scaled", "not mine", "2026-12-01T09:06:00Z"),
    ]
    page = views_models.model_page(readings(model_deployments=[model], events=events), model, [])
    assert [(e["reason"], e["type"]) for e in page["events"]] == [
        ("FailedApply", "Warning"),
        ("Scaled", "Normal"),
    ]


def test_gpus_per_node_per_product_and_waiting_pods() -> None:
    nodes = [
        o.node("gpu-a", 8, "NVIDIA-A100-SXM4-40GB"),
        o.node("gpu-b", 8, "NVIDIA-A100-SXM4-80GB"),
        o.node("gpu-c", 4, "NVIDIA-A100-SXM4-40GB", ready=False),
        o.node("cpu", 0, None),
    ]
    pods = [
        o.pod("mix-1", model="mix", gpus=2, node_name="gpu-a"),
        o.pod("nemo-1", model="nemo", gpus=1, node_name="gpu-a"),
        o.pod("other", model=None, gpus=1, node_name="gpu-b", namespace="ml"),
        o.pod("done", model="x", gpus=4, node_name="gpu-b", phase="Succeeded"),
        o.pod("web", model=None, gpus=0, node_name="cpu"),
        o.pod(
            "huge-1",
            model="huge",
            gpus=16,
            node_name=None,
            phase="Pending",
            scheduled_message="0/4 nodes are available: 3 Insufficient nvidia.com/gpu.",
            product="NVIDIA-A100-SXM4-80GB",
        ),
    ]
    view = views_cluster.gpus(readings(nodes=nodes, pods=pods))
    by_node = {n["name"]: n for n in view["nodes"]}
    assert set(by_node) == {"gpu-a", "gpu-b", "gpu-c"}  # the CPU node is left out
    assert (by_node["gpu-a"]["capacity"], by_node["gpu-a"]["used"], by_node["gpu-a"]["free"]) == (
        8,
        3,
        5,
    )
    assert [(p["name"], p["gpus"], p["model"]) for p in by_node["gpu-a"]["pods"]] == [
        ("mix-1", 2, "mix"),
        ("nemo-1", 1, "nemo"),
    ]
    assert by_node["gpu-b"]["used"] == 1  # a finished pod holds nothing
    assert by_node["gpu-c"]["free"] == 0  # a NotReady node offers nothing
    assert view["products"] == [
        {
            "product": "NVIDIA-A100-SXM4-40GB",
            "nodes": 2,
            "capacity": 12,
            "allocatable": 12,
            "used": 3,
            "free": 5,
        },
        {
            "product": "NVIDIA-A100-SXM4-80GB",
            "nodes": 1,
            "capacity": 8,
            "allocatable": 8,
            "used": 1,
            "free": 7,
        },
    ]
    assert view["totals"] == {"capacity": 20, "allocatable": 20, "used": 4, "free": 12}
    assert view["waiting"] == [
        {
            "namespace": "models",
            "name": "huge-1",
            "model": "huge",
            "gpus": 16,
            "gpuProduct": "NVIDIA-A100-SXM4-80GB",
            "message": "0/4 nodes are available: 3 Insufficient nvidia.com/gpu.",
            "since": None,
        }
    ]


def test_pod_gpus_counts_requests_else_limits_and_init_containers_by_max() -> None:
    spec = {
        "containers": [
            {"resources": {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}},
            {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        ],
        "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": "4"}}}],
    }
    assert pod_gpus({"spec": spec}) == 4
    assert (
        pod_gpus({"spec": {"containers": [{"resources": {"requests": {"nvidia.com/gpu": "x"}}}]}})
        == 0
    )
    assert pod_gpus({}) == 0


def test_router_view_shows_endpoints_demotions_and_reachability() -> None:
    status = o.router_status(
        {"big": o.routed(endpoints=2), "small": o.routed(available=False, demoted=True)},
        problems=["task 'x' names no model"],
    )
    view = views_cluster.router(
        readings(
            routers=[
                RouterReading(name="pod router-a", status=status),
                RouterReading(name="pod router-b", error="cannot read the router: timeout"),
            ]
        )
    )
    first, second = view["routers"]
    assert first["reachable"] is True
    assert first["problems"] == ["task 'x' names no model"]
    assert [
        (m["name"], m["demoted"], m["usableEndpoints"], m["endpoints"]) for m in first["models"]
    ] == [
        ("small", True, 0, 1),
        ("big", False, 2, 2),
    ]
    assert first["tasks"] == {
        "reasoning": {"chain": ["big", "small"], "serving": "big", "fallbackServing": None}
    }
    assert second == {
        "name": "pod router-b",
        "reachable": False,
        "error": "cannot read the router: timeout",
        "ready": None,
        "configLoadedAt": None,
        "lastConfigError": None,
        "problems": [],
        "demotionWindowSeconds": None,
        "models": [],
        "tasks": {},
    }
    assert view["sources"]["routers"][1] == {
        "name": "pod router-b",
        "ok": False,
        "error": "cannot read the router: timeout",
    }


def test_sources_say_when_the_api_is_down_and_odd_objects_do_not_break_pages() -> None:
    odd = {"metadata": {"name": "odd", "namespace": "x"}, "spec": "not a map", "status": []}
    r = readings(model_deployments=[odd], api_error="connection refused", objects_at=NOW - 60)
    view = views_models.overview(r)
    assert view["sources"]["api"] == {
        "ok": False,
        "error": "connection refused",
        "readAt": NOW - 60,
    }
    assert view["models"][0]["phase"] == "Unknown"
    assert views_models.model_page(r, odd, [])["conditions"] == []
    history = History(max_points=3)
    history.record(r)  # stale objects make no points
    assert history.of("x", "odd") == []


def test_history_is_bounded_and_forgets_deleted_models() -> None:
    history = History(max_points=3)
    for i in range(5):
        history.record(readings(now=NOW + i, model_deployments=[o.md("a"), o.md("b")]))
    assert [p["t"] for p in history.of("models", "a")] == [NOW + 2, NOW + 3, NOW + 4]
    history.record(readings(now=NOW + 9, model_deployments=[o.md("b")]))
    assert history.of("models", "a") == []
    assert len(history.of("models", "b")) == 3


def test_a_task_with_nothing_usable_in_its_chain_names_the_fallback_that_serves_it() -> None:
    chained = o.routed(available=False, demoted=True)
    chained["fallback"] = ["spare"]
    status = o.router_status({"big": chained, "spare": o.routed()})
    status["tasks"] = {"summarise": {"chain": ["big"], "serving": None}}
    (replica,) = views_cluster.router(readings(routers=[RouterReading("r", status)]))["routers"]
    assert replica["tasks"]["summarise"] == {
        "chain": ["big"],
        "serving": None,
        "fallbackServing": "spare",
    }


def test_a_rolled_back_rollout_is_a_problem_and_the_autoscalers_load_stands_in() -> None:
    model = o.md("big")
    model["status"]["failedRollout"] = {
        "revision": "rev2",
        "reason": "ErrorRate",
        "message": "canary error rate 20% > 5%",
    }
    model["status"]["autoscaler"] = {"load": 4.5, "recommendation": 2}
    (row,) = views_models.overview(readings(model_deployments=[model]))["models"]
    assert row["problems"] == [
        "rollout of rev2 rolled back (ErrorRate): canary error rate 20% > 5%"
    ]
    assert row["load"] == 4.5  # no router figures: the autoscaler's
    page = views_models.model_page(readings(model_deployments=[model]), model, [])
    assert page["failedRollout"]["revision"] == "rev2"
    assert page["autoscaler"]["recommendation"] == 2
