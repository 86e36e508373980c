"""The autoscaling decision as tables: each row is a load trace fed tick by tick (every 5 s)
through `remember()` and `decide_replicas()`, and the replica changes it must cause."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.api import parse_spec
from modelops.api.spec import Autoscaling, Engine
from modelops.api.status import AutoscalerStatus, ModelDeploymentStatus
from modelops.policies.autoscaling import (
    AutoscalerInput,
    EngineGauges,
    LoadSample,
    ScalingDecision,
    autoscale,
    capacity_shortage,
    current_replicas,
    decide_replicas,
    remember,
)
from modelops.policies.observed import PodObservation

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STEP = 5


def spec(**fields: Any) -> Autoscaling:
    return Autoscaling.model_validate({"enabled": True, "maxReplicas": 20, **fields})


def at(tick: int) -> datetime:
    return T0 + timedelta(seconds=STEP * tick)


def simulate(
    loads: Sequence[float], autoscaling: Autoscaling, start: int
) -> tuple[list[tuple[int, int]], list[ScalingDecision]]:
    """Router in-flight `loads`, one per tick; returns the (tick, new count) changes."""
    current, memory, history = start, None, ()
    changes: list[tuple[int, int]] = []
    decisions = []
    for tick, load in enumerate(loads):
        history = remember(history, LoadSample(at(tick), router_in_flight=load), autoscaling)
        decision = decide_replicas(
            AutoscalerInput(autoscaling, "ollama", current, history, memory, at(tick))
        )
        decisions.append(decision)
        if decision.desired_replicas != current:
            changes.append((tick, decision.desired_replicas))
        current, memory = decision.desired_replicas, decision.memory
    return changes, decisions


NOISE = [15, 17, 16, 18, 14, 17, 16, 15]  # 1.75 .. 2.25 replicas' worth at target 8

TRACES = [
    # (id, spec fields, loads, starting count, expected changes)
    ("steady", {}, [24] * 100, 3, []),
    # 1 replica's worth, then 5: the window mean asks for 3 at the first tick, 5 at the second.
    ("step-up", {}, [8] * 20 + [40] * 20, 1, [(20, 3), (21, 5)]),
    # 5 -> 1 replica's worth at tick 80. Scale-down goes to the highest recommendation (60 s
    # mean) of the last 300 s: 4 once the 60 s windows hold at most 9 high samples (tick 82)
    # plus 59 ticks, 3 at <= 6, 2 at <= 3, 1 when the windows are all low (tick 91 + 59).
    ("step-down", {}, [40] * 80 + [8] * 90, 5, [(141, 4), (144, 3), (147, 2), (150, 1)]),
    (
        "step-down-no-stabilization",
        {"scaleDown": {"stabilizationWindowSeconds": 0}},
        [40] * 20 + [8] * 20,
        5,
        [(22, 4), (25, 3), (28, 2), (31, 1)],
    ),
    # A one-tick spike to 10 replicas' worth: it is in two 10 s windows (5.5 -> 6; the step
    # allows 5, then 6). Those recommendations hold the count for the 300 s stabilization
    # (ticks 82..141); then the 60 s windows that saw the spike (asking for 2) hold 2 until
    # they leave the stabilization window too (tick 91 + 60).
    (
        "spike",
        {},
        [8] * 80 + [80] + [8] * 80,
        1,
        [(80, 5), (81, 6), (141, 5), (142, 4), (143, 3), (144, 2), (151, 1)],
    ),
    # With a full history before the step, the count a scale-up chose is not undone by the
    # longer window (which still remembers the lower load): no flapping after a step.
    ("step-up-after-long-steady-load", {}, [8] * 100 + [40] * 60, 1, [(100, 3), (101, 5)]),
    ("noise-after-long-steady-load", {}, [16] * 100 + NOISE * 30, 2, [(102, 3)]),
    # With scaleUp.stabilizationWindowSeconds the spike must last 15 s to count: nothing happens.
    (
        "spike-stabilized",
        {"scaleUp": {"stabilizationWindowSeconds": 15}},
        [8] * 20 + [80] + [8] * 40,
        1,
        [],
    ),
    # ... while a step is answered in two moves: the lowest recommendation of the 15 s (3),
    # then all of it.
    (
        "step-up-stabilized",
        {"scaleUp": {"stabilizationWindowSeconds": 15}},
        [8] * 20 + [40] * 10,
        1,
        [(22, 3), (23, 5)],
    ),
    # Noise around 2 replicas' worth: one change up, then none (the down window holds the peaks).
    ("noise-around-threshold", {}, NOISE * 30, 2, [(2, 3)]),
    ("noise-from-above", {}, NOISE * 30, 3, []),
    ("max-bound", {"maxReplicas": 4}, [200] * 10, 4, []),
    ("min-bound", {"minReplicas": 2}, [0] * 100, 2, []),
    ("max-step-up", {}, [80] * 5, 1, [(0, 5), (1, 9), (2, 10)]),
    ("max-step-up-2", {"scaleUp": {"maxStep": 2}}, [48] * 5, 1, [(0, 3), (1, 5), (2, 6)]),
    (
        "max-step-down-3",
        {"scaleDown": {"maxStep": 3, "stabilizationWindowSeconds": 0}},
        [0] * 20,
        8,
        [(11, 5), (12, 2), (13, 1)],
    ),
    ("min-raised-applies-at-once", {"minReplicas": 6}, [0] * 3, 1, [(0, 6)]),
    ("max-lowered-applies-at-once", {"maxReplicas": 2}, [80] * 3, 9, [(0, 2)]),
    # Scale to zero: idle for scaleToZeroAfter (1m = 12 ticks after the idle clock starts).
    ("scale-to-zero", {"minReplicas": 0, "scaleToZeroAfter": "1m"}, [0] * 20, 1, [(12, 0)]),
    ("no-zero-without-min-0", {"scaleToZeroAfter": "1m"}, [0] * 20, 1, []),
    # Wake-up: the router holds requests (counted as in flight): max(1, needed) at once.
    ("wake-up", {"minReplicas": 0}, [0] * 5 + [20] * 3, 0, [(5, 3)]),
    ("wake-up-one", {"minReplicas": 0}, [0] * 5 + [1] * 3, 0, [(5, 1)]),
    ("stay-asleep", {"minReplicas": 0}, [0] * 50, 0, []),
]


@pytest.mark.parametrize(
    ("fields", "loads", "start", "expected"),
    [row[1:] for row in TRACES],
    ids=[row[0] for row in TRACES],
)
def test_traces(
    fields: dict[str, Any], loads: list[float], start: int, expected: list[tuple[int, int]]
) -> None:
    changes, _ = simulate(loads, spec(**fields), start)
    assert changes == expected


def test_step_up_reaches_the_needed_count_within_two_intervals() -> None:
    changes, _ = simulate([8] * 20 + [40] * 5, spec(), 1)
    assert changes[-1] == (21, 5)
    assert changes[0][0] >= 20


def poked(loads: Sequence[float], autoscaling: Autoscaling, start: int) -> list[tuple[int, int]]:
    """As the operator runs it: a sample every second and a decision after each (telemetry
    pokes the reconcile when the load changes); returns the (second, new count) changes."""
    current, memory, history = start, None, ()
    changes: list[tuple[int, int]] = []
    for second, load in enumerate(loads):
        now = T0 + timedelta(seconds=second)
        history = remember(history, LoadSample(now, router_in_flight=load), autoscaling)
        decision = decide_replicas(
            AutoscalerInput(autoscaling, "ollama", current, history, memory, now)
        )
        if decision.desired_replicas != current:
            changes.append((second, decision.desired_replicas))
        current, memory = decision.desired_replicas, decision.memory
    return changes


def test_decisions_every_second_scale_up_at_once_and_down_once_per_interval() -> None:
    # 1 replica's worth for 100 s, then 4 (target 8) from second 100: each decision follows
    # the 10 s mean up (2, 3, 4), with no interval to wait between moves.
    up = poked([8] * 100 + [32] * 30, spec(), 1)
    assert up == [(100, 2), (103, 3), (106, 4)]
    # Down with no stabilization: one replica (maxStep 1) per interval at most, not per second.
    down = poked([32] * 100 + [0] * 80, spec(scaleDown={"stabilizationWindowSeconds": 0}), 4)
    seconds = [second for second, _ in down]
    assert [count for _, count in down] == [3, 2, 1]
    assert all(b - a >= 5 for a, b in itertools.pairwise(seconds))


def test_scale_times_are_rounded_up_so_the_interval_is_never_short() -> None:
    now = T0 + timedelta(seconds=20, microseconds=900_000)
    decision = decide_replicas(
        AutoscalerInput(
            spec(),
            "ollama",
            1,
            [LoadSample(now - timedelta(seconds=s), router_in_flight=32) for s in (9, 5, 0)],
            None,
            now,
        )
    )
    assert decision.changed
    assert decision.memory.last_scale_time == T0 + timedelta(seconds=21)


def test_the_reason_says_every_rule_that_shaped_the_count() -> None:
    decision = decide(steady(3, router_in_flight=0), 1, minReplicas=3)
    assert decision.desired_replicas == 3
    assert "minReplicas is 3" in decision.reason
    capped = decide(steady(3, router_in_flight=80), 2, maxReplicas=4)
    assert capped.reason.startswith("scale up from 2 to 4 (load rose; maxReplicas is 4:")
    short = decide(steady(3, router_in_flight=80), 2, shortage=SHORTAGE)
    assert short.reason.startswith("hold 2 (load rose; no more while pods wait for capacity:")
    one = decide(steady(100, router_in_flight=1), 2, minReplicas=2)
    assert one.condition.message == "the load asks for 1 replica; minReplicas is 2"


def test_bounds_say_so_in_scaling_limited() -> None:
    _, decisions = simulate([200] * 3, spec(maxReplicas=4), 4)
    condition = decisions[-1].condition
    assert (condition.type, condition.status, condition.reason) == (
        "ScalingLimited",
        "True",
        "TooManyReplicas",
    )
    assert "asks for 25 replicas; maxReplicas is 4" in condition.message
    _, decisions = simulate([24] * 3, spec(), 3)
    assert (decisions[-1].condition.status, decisions[-1].condition.reason) == (
        "False",
        "DesiredWithinRange",
    )


def decide(
    history: Sequence[LoadSample],
    current: int,
    *,
    engine: Engine = "ollama",
    memory: AutoscalerStatus | None = None,
    shortage: str | None = None,
    **fields: Any,
) -> ScalingDecision:
    now = history[-1].at if history else T0
    return decide_replicas(
        AutoscalerInput(spec(**fields), engine, current, history, memory, now, shortage, 7)
    )


def steady(ticks: int, **sample: Any) -> list[LoadSample]:
    return [LoadSample(at(t), **sample) for t in range(ticks)]


SHORTAGE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def test_gpu_shortage_stops_growth_and_reports_the_scheduler() -> None:
    decision = decide(steady(100, router_in_flight=48), 3, shortage=SHORTAGE)
    assert decision.desired_replicas == 3  # the load asks for 6
    assert decision.memory.recommendation == 6
    condition = decision.condition
    assert (condition.status, condition.reason, condition.message) == (
        "True",
        "InsufficientCapacity",
        SHORTAGE,
    )
    assert condition.observed_generation == 7
    # Capacity appears (every pod placed): growth resumes.
    assert decide(steady(100, router_in_flight=48), 3).desired_replicas == 6


def test_gpu_shortage_still_lets_the_count_fall() -> None:
    history = steady(100, router_in_flight=8)
    assert decide(history, 3, shortage=SHORTAGE).desired_replicas == 2


VLLM_POD_BUSY = EngineGauges(running=4, waiting=2, kv_cache=0.9)


@pytest.mark.parametrize(
    ("fields", "pods", "expected"),
    [
        ({}, (VLLM_POD_BUSY,) * 2, 2),  # 12 in flight / 8
        ({"targetKVCache": 0.8}, (VLLM_POD_BUSY,) * 2, 3),  # 1.8 / 0.8
        ({"targetWaiting": 1}, (VLLM_POD_BUSY,) * 2, 4),  # 4 waiting / 1
        ({"targetInFlight": 2}, (VLLM_POD_BUSY,) * 2, 6),
    ],
    ids=["in-flight", "kv-cache", "waiting", "in-flight-small-target"],
)
def test_vllm_signals_the_largest_wins(
    fields: dict[str, Any], pods: tuple[EngineGauges, ...], expected: int
) -> None:
    history = steady(3, router_in_flight=3, pods=pods, ready_replicas=len(pods))
    assert decide(history, 2, engine="vllm", **fields).desired_replicas == expected


def test_vllm_signals_are_ignored_for_ollama() -> None:
    history = steady(3, router_in_flight=16, pods=(VLLM_POD_BUSY,) * 2)
    assert decide(history, 2, targetKVCache=0.1).desired_replicas == 2


def test_router_count_wins_when_it_is_larger_than_the_engines() -> None:
    history = steady(3, router_in_flight=40, pods=(EngineGauges(running=1),), ready_replicas=1)
    assert decide(history, 1, engine="vllm").desired_replicas == 5


def test_an_unreadable_pod_is_not_zero_load() -> None:
    # Three pods, one unreadable, the two read are idle: hold 3, never scale down on it.
    idle = (EngineGauges(),) * 2
    history = steady(100, router_in_flight=0, pods=idle, unreadable_pods=1, ready_replicas=3)
    decision = decide(history, 3, engine="vllm")
    assert decision.desired_replicas == 3
    assert decision.memory.unreadable_pods == 1
    # A ready pod missing from the sample counts as unread too.
    history = steady(100, router_in_flight=0, pods=idle, ready_replicas=3)
    assert decide(history, 3, engine="vllm").desired_replicas == 3
    # Read in full, the same idleness scales down.
    history = steady(100, router_in_flight=0, pods=(EngineGauges(),) * 3, ready_replicas=3)
    assert decide(history, 3, engine="vllm").desired_replicas == 2


def test_an_unreadable_router_holds_the_count() -> None:
    assert decide(steady(100, router_in_flight=None), 3).desired_replicas == 3
    # Some routers read: their count is a lower bound, never a reason to scale down.
    partial = steady(100, router_in_flight=0, routers_complete=False)
    assert decide(partial, 3).desired_replicas == 3
    assert decide(steady(100, router_in_flight=40, routers_complete=False), 3).desired_replicas == 5


def test_but_an_unreadable_pod_does_not_stop_a_scale_up() -> None:
    busy = (EngineGauges(running=8, waiting=8),) * 2
    history = steady(3, router_in_flight=0, pods=busy, unreadable_pods=1, ready_replicas=3)
    assert decide(history, 3, engine="vllm").desired_replicas == 4


def test_no_recent_sample_holds_the_count() -> None:
    decision = decide([], 3)
    assert decision.desired_replicas == 3
    assert decision.condition.reason == "NoLoadSample"
    stale = [LoadSample(T0, router_in_flight=0)]
    decision = decide_replicas(
        AutoscalerInput(spec(), "ollama", 3, stale, None, T0 + timedelta(seconds=60))
    )
    assert decision.desired_replicas == 3
    assert not decision.changed


def test_a_short_history_never_scales_down() -> None:
    # After an operator restart the windows are empty: the count holds until they fill.
    assert decide(steady(10, router_in_flight=0), 4).desired_replicas == 4


def test_idle_clock_survives_restarts_in_status_and_takes_the_last_replica() -> None:
    long_ago = T0 - timedelta(minutes=20)
    memory = AutoscalerStatus(idle_since=long_ago)
    decision = decide(steady(2, router_in_flight=0), 1, memory=memory, minReplicas=0)
    assert decision.desired_replicas == 0
    assert decision.memory.idle_since == long_ago
    assert decision.memory.last_scale_time == at(1)
    assert "idle for" in decision.reason


def test_idle_clock_is_reset_by_load_and_kept_by_an_unread_sample() -> None:
    memory = AutoscalerStatus(idle_since=T0 - timedelta(minutes=20))
    busy = decide(steady(2, router_in_flight=1), 1, memory=memory, minReplicas=0)
    assert busy.memory.idle_since is None
    assert busy.desired_replicas == 1
    unread = decide(steady(2, router_in_flight=None), 1, memory=memory, minReplicas=0)
    assert unread.memory.idle_since == memory.idle_since
    assert unread.desired_replicas == 1  # unknown is not idle enough to sleep


def test_held_requests_count_as_load() -> None:
    history = steady(2, router_in_flight=0, holding=20)
    decision = decide(history, 0, minReplicas=0)
    assert decision.desired_replicas == 3
    assert decision.memory.holding == 20
    assert decision.memory.load == 20
    assert decision.reason.startswith("scale up from 0 to 3")


def test_memory_records_the_scale_and_requeue_is_the_interval() -> None:
    decision = decide(steady(3, router_in_flight=40), 1, intervalSeconds=7)
    assert decision.desired_replicas == 5
    assert decision.memory.last_scale_time == at(2)
    assert decision.memory.recommendation == 5
    assert decision.requeue_after == 7
    assert decision.changed


def test_remember_keeps_only_what_the_windows_need() -> None:
    autoscaling = spec()
    history: tuple[LoadSample, ...] = ()
    for tick in range(200):
        history = remember(history, LoadSample(at(tick), router_in_flight=1), autoscaling)
    span = (history[-1].at - history[0].at).total_seconds()
    assert 360 <= span <= 360 + 2 * autoscaling.interval_seconds
    # A sample repeated at the same time replaces the older one.
    again = remember(history, LoadSample(history[-1].at, router_in_flight=2), autoscaling)
    assert len(again) == len(history)
    assert again[-1].router_in_flight == 2


def test_current_replicas_is_the_last_decision_else_the_spec() -> None:
    assert current_replicas(2, None) == 2
    assert current_replicas(2, ModelDeploymentStatus()) == 2
    assert current_replicas(2, ModelDeploymentStatus(desired_replicas=5)) == 5


def pod(name: str, message: str | None, deleting: bool = False) -> PodObservation:
    return PodObservation(name, "blue", "Pending", False, deleting, message)


def test_capacity_shortage_prefers_the_gpu_message() -> None:
    other = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    assert capacity_shortage([pod("a", None)]) is None
    assert capacity_shortage([pod("a", other), pod("b", SHORTAGE)]) == SHORTAGE
    assert capacity_shortage([pod("a", other)]) == other
    assert capacity_shortage([pod("a", SHORTAGE, deleting=True)]) is None


def test_autoscale_is_the_plans_one_call() -> None:
    manual = parse_spec({"engine": "ollama", "model": "phi3:mini", "replicas": 2})
    assert autoscale(manual, None, steady(3, router_in_flight=40), [], at(2)) is None
    auto = parse_spec(
        {
            "engine": "ollama",
            "model": "phi3:mini",
            "replicas": 2,
            "autoscaling": {"enabled": True, "maxReplicas": 8},
        }
    )
    # First look: it starts from spec.replicas; then from its own last decision in status.
    first = autoscale(auto, None, steady(3, router_in_flight=40), [], at(2), generation=4)
    assert first is not None
    assert first.previous_replicas == 2
    assert first.desired_replicas == 5
    assert first.condition.observed_generation == 4
    status = ModelDeploymentStatus(desired_replicas=5, autoscaler=first.memory)
    later = autoscale(auto, status, steady(4, router_in_flight=40), [], at(3))
    assert later is not None
    assert (later.previous_replicas, later.desired_replicas) == (5, 5)
    assert later.memory.last_scale_time == first.memory.last_scale_time
    # Pods waiting for GPUs: the count stops growing, with the scheduler's words.
    short = autoscale(auto, status, steady(4, router_in_flight=80), [pod("p", SHORTAGE)], at(3))
    assert short is not None
    assert short.desired_replicas == 5
    assert short.condition.message == SHORTAGE
