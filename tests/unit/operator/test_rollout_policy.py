"""modelops.policies.rollout: every transition of the step machine, as tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelops.api.spec import Rollout, RolloutAnalysis, RolloutStep, SmokeTest
from modelops.api.status import CanaryStatus, FailedRollout, SlotStatus, TrackFigures
from modelops.policies.analysis import Figures, judge
from modelops.policies.rollout import (
    GPU_SHORTAGE,
    Commands,
    RolloutInputs,
    SlotView,
    SmokeVerdict,
    decide,
    pause_seconds,
    rollout_hash,
    share,
    split_replicas,
)

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
OLD, NEW, OTHER = "rev-old", "rev-new", "rev-other"
ROLLOUT = Rollout(
    steps=[RolloutStep(weight=10, pause="10s"), RolloutStep(weight=50), RolloutStep(weight=100)]
)
STABLE = SlotStatus(slot="blue", revision=OLD, replicas=2)


def view(revision: str | None, ready: int, **changes: Any) -> SlotView:
    base = SlotView(
        exists=revision is not None,
        revision=revision,
        replicas=ready,
        pods=ready,
        ready=ready,
        ready_by_revision={revision: ready} if revision and ready else {},
    )
    return replace(base, **changes)


def canary(phase: str, step: int = 0, *, at: datetime = T0, **changes: Any) -> CanaryStatus:
    weights = [10, 50, 100]
    return CanaryStatus(
        slot="green",
        revision=NEW,
        phase=phase,  # type: ignore[arg-type]
        step=step,
        weight=weights[step] if phase in ("Progressing", "Paused", "Promoting") else 0,
        step_started_at=at,
        started_at=T0,
        rollout_hash=rollout_hash(changes.pop("rollout", ROLLOUT)),
        **changes,
    )


def figures(requests: int, errors: int = 0, p95: float = 0.2, stable_p95: float = 0.2) -> Figures:
    def track(n: int, e: int, p: float) -> TrackFigures:
        return TrackFigures(
            requests=n, errors=e, error_rate=e / n if n else None, p95_seconds=p if n else None
        )

    return Figures(
        canary=track(requests, errors, p95), stable=track(200, 0, stable_p95), stable_in_flight=0
    )


def inputs(**changes: Any) -> RolloutInputs:
    base = RolloutInputs(
        desired_revision=NEW,
        rollout=ROLLOUT,
        total=2,
        stable=STABLE,
        canary=None,
        failed=None,
        slots={"blue": view(OLD, 2), "green": view(None, 0)},
        now=T0,
    )
    return replace(base, **changes)


def weights(decision: Any) -> dict[str, int]:
    return {t.name: t.weight for t in decision.tracks}


# -- starting and ending ------------------------------------------------------------------------


def test_first_deploy_has_no_rollout() -> None:
    decision = decide(inputs(stable=None, slots={}, desired_revision=NEW))
    assert decision.stable == SlotStatus(slot="blue", revision=NEW, replicas=0)
    assert decision.canary is None
    assert decision.template_slot == "blue"
    assert decision.replicas == {"blue": 2, "green": 0}
    assert weights(decision) == {"stable": 100}


def test_status_lost_is_rebuilt_from_the_slot_running_the_revision() -> None:
    decision = decide(
        inputs(
            stable=None, desired_revision=NEW, slots={"green": view(NEW, 2), "blue": view(OLD, 0)}
        )
    )
    assert decision.stable.slot == "green"
    assert decision.template_slot == "green"


def test_steady_state_keeps_the_idle_slot_at_zero() -> None:
    decision = decide(inputs(desired_revision=OLD))
    assert decision.canary is None
    assert decision.replicas == {"blue": 2, "green": 0}
    assert decision.template_slot == "blue"
    assert decision.events == ()


def test_a_new_revision_starts_a_canary_in_the_idle_slot() -> None:
    decision = decide(inputs())
    assert decision.canary is not None
    assert (decision.canary.slot, decision.canary.revision, decision.canary.phase) == (
        "green",
        NEW,
        "Starting",
    )
    assert decision.replicas == {"blue": 2, "green": 1}  # 10% of 2, at least one
    assert decision.template_slot == "green"
    assert weights(decision) == {"stable": 100}  # no user traffic before the smoke test
    assert decision.canary_alias is not None
    assert decision.canary_alias.slot == "green"
    assert [e.reason for e in decision.events] == ["RolloutStarted"]
    assert decision.progressing is not None
    assert decision.progressing[0] == "True"
    assert decision.recheck_after == 0.0


@pytest.mark.parametrize(
    ("strategy", "stable_ready", "reason"),
    [("Recreate", 2, "strategy Recreate"), ("Canary", 0, "no replica was serving")],
)
def test_in_place_when_asked_or_when_nothing_serves(
    strategy: str, stable_ready: int, reason: str
) -> None:
    rollout = ROLLOUT.model_copy(update={"strategy": strategy})
    decision = decide(inputs(rollout=rollout, slots={"blue": view(OLD, stable_ready)}))
    assert decision.canary is None
    assert decision.stable.revision == NEW
    assert decision.stable.slot == "blue"
    assert decision.template_slot == "blue"
    assert reason in decision.events[0].message


# -- Starting ---------------------------------------------------------------------------------


def test_starting_waits_for_the_canary_then_smoke_tests() -> None:
    waiting = decide(inputs(canary=canary("Starting"), slots={"blue": view(OLD, 2)}))
    assert waiting.canary is not None
    assert waiting.canary.phase == "Starting"
    assert waiting.recheck_after == 2.0
    ready = decide(inputs(canary=canary("Starting"), slots={"green": view(NEW, 1)}))
    assert ready.canary is not None
    assert ready.canary.phase == "SmokeTesting"


def test_old_revision_pods_in_the_canary_slot_do_not_count_as_ready() -> None:
    slot = replace(view(NEW, 0), ready=1, pods=1, ready_by_revision={OTHER: 1})
    decision = decide(inputs(canary=canary("Starting"), slots={"green": slot}))
    assert decision.canary is not None
    assert decision.canary.phase == "Starting"


def test_no_smoke_test_goes_straight_to_the_first_step() -> None:
    rollout = ROLLOUT.model_copy(update={"smoke_test": SmokeTest(enabled=False)})
    decision = decide(
        inputs(
            rollout=rollout,
            canary=canary("Starting", rollout=rollout),
            slots={"green": view(NEW, 1)},
        )
    )
    assert decision.canary is not None
    assert decision.canary.phase == "Progressing"
    assert weights(decision) == {"stable": 90, "canary": 10}


GPU = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def test_no_free_gpu_with_two_stable_replicas_switches_to_reuse() -> None:
    slots = {"blue": view(OLD, 2), "green": view(NEW, 0, unschedulable=GPU)}
    decision = decide(inputs(canary=canary("Starting"), slots=slots))
    assert decision.canary is not None
    assert decision.canary.capacity == "Reuse"
    assert decision.replicas == {"blue": 1, "green": 1}  # one stable replica makes room
    assert [e.reason for e in decision.events] == ["ReusingStableCapacity"]


def test_no_free_gpu_with_one_stable_replica_waits_and_says_why() -> None:
    slots = {"blue": view(OLD, 1), "green": view(NEW, 0, unschedulable=GPU)}
    decision = decide(inputs(total=1, canary=canary("Starting"), slots=slots))
    assert decision.canary is not None
    assert decision.canary.capacity == "Surge"
    assert decision.replicas == {"blue": 1, "green": 1}
    assert decision.progressing is not None
    assert decision.progressing[1] == "InsufficientGPU"
    assert GPU in decision.progressing[2]


def test_surge_only_never_reuses() -> None:
    rollout = ROLLOUT.model_copy(update={"capacity": "Surge"})
    slots = {"blue": view(OLD, 2), "green": view(NEW, 0, unschedulable=GPU)}
    decision = decide(
        inputs(rollout=rollout, canary=canary("Starting", rollout=rollout), slots=slots)
    )
    assert decision.canary is not None
    assert decision.canary.capacity == "Surge"


def test_the_progress_deadline_rolls_a_canary_back_that_never_starts() -> None:
    slots = {"blue": view(OLD, 1), "green": view(NEW, 0, unschedulable=GPU)}
    late = T0 + timedelta(seconds=601)
    decision = decide(inputs(total=1, canary=canary("Starting"), slots=slots, now=late))
    assert decision.canary is None
    assert decision.failed is not None
    assert decision.failed.reason == "ProgressDeadlineExceeded"
    assert GPU in decision.failed.message
    assert decision.replicas == {"blue": 1, "green": 0}


def test_crash_looping_canary_is_rolled_back_at_once() -> None:
    slots = {"blue": view(OLD, 2), "green": view(NEW, 0, failing=("CrashLoopBackOff",))}
    decision = decide(inputs(canary=canary("Starting"), slots=slots))
    assert decision.failed is not None
    assert "CrashLoopBackOff" in decision.failed.message


# -- SmokeTesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smoke", "phase", "failed"),
    [
        (SmokeVerdict(passed=1), "Progressing", None),
        (
            SmokeVerdict(passed=0, failure="pod x answered an empty message"),
            None,
            "SmokeTestFailed",
        ),
        (SmokeVerdict(passed=0), "SmokeTesting", None),
        (None, "SmokeTesting", None),
    ],
)
def test_smoke_test_outcomes(
    smoke: SmokeVerdict | None, phase: str | None, failed: str | None
) -> None:
    decision = decide(
        inputs(canary=canary("SmokeTesting"), smoke=smoke, slots={"green": view(NEW, 1)})
    )
    assert (decision.canary.phase if decision.canary else None) == phase
    assert (decision.failed.reason if decision.failed else None) == failed
    if failed:
        assert weights(decision) == {"stable": 100}  # the canary never got user traffic


# -- Progressing ------------------------------------------------------------------------------

RUNNING = {"blue": view(OLD, 2), "green": view(NEW, 1)}


@pytest.mark.parametrize(
    ("case", "elapsed", "figs", "phase", "step", "failed"),
    [
        ("within the pause, too few requests", 5, figures(5), "Progressing", 0, None),
        ("within the pause, enough and good", 5, figures(25), "Progressing", 0, None),
        ("pause over, enough and good", 11, figures(25), "Progressing", 1, None),
        ("pause over, too few: hold", 11, figures(12), "Progressing", 0, None),
        (
            "fail fast on errors inside the pause",
            3,
            figures(25, errors=8),
            None,
            None,
            "RolledBack",
        ),
        (
            "fail fast on latency",
            3,
            figures(25, p95=12.0, stable_p95=11.0),
            None,
            None,
            "RolledBack",
        ),
        (
            "slow relative to stable",
            3,
            figures(25, p95=0.9, stable_p95=0.3),
            None,
            None,
            "RolledBack",
        ),
        ("too few past the deadline", 611, figures(12), None, None, "ProgressDeadlineExceeded"),
        ("no metrics past the deadline", 611, None, None, None, "ProgressDeadlineExceeded"),
        ("no metrics yet: hold", 20, None, "Progressing", 0, None),
    ],
)
def test_a_step(
    case: str,
    elapsed: int,
    figs: Figures | None,
    phase: str | None,
    step: int | None,
    failed: str | None,
) -> None:
    decision = decide(
        inputs(
            canary=canary("Progressing", 0),
            slots=RUNNING,
            figures=figs,
            now=T0 + timedelta(seconds=elapsed),
        )
    )
    assert (decision.canary.phase if decision.canary else None) == phase, case
    assert (decision.canary.step if decision.canary else None) == step, case
    assert (decision.failed.reason if decision.failed else None) == failed, case
    if failed:
        assert weights(decision) == {"stable": 100}
        assert decision.replicas["green"] == 0
        assert decision.events[0].type == "Warning"


def test_a_rollback_says_the_figure() -> None:
    decision = decide(
        inputs(canary=canary("Progressing"), slots=RUNNING, figures=figures(64, errors=20))
    )
    assert decision.failed is not None
    assert decision.failed.message == "error rate 0.31 > 0.05 over 64 requests"
    assert decision.degraded == (
        "True",
        "RolledBack",
        f"revision {NEW}: error rate 0.31 > 0.05 over 64 requests",
    )


def test_hold_reports_missing_requests() -> None:
    decision = decide(
        inputs(
            canary=canary("Progressing"),
            slots=RUNNING,
            figures=figures(12),
            now=T0 + timedelta(seconds=30),
        )
    )
    assert decision.canary is not None
    assert decision.canary.analysis is not None
    assert decision.canary.analysis.missing_requests == 8
    assert "8 missing" in decision.canary.analysis.message


def test_an_incomplete_window_is_never_judged_good() -> None:
    incomplete = replace(figures(25), problem="router 127.0.0.9:8080 could not be read")
    decision = decide(
        inputs(
            canary=canary("Progressing"),
            slots=RUNNING,
            figures=incomplete,
            now=T0 + timedelta(seconds=30),
        )
    )
    assert decision.canary is not None
    assert decision.canary.step == 0


def test_the_weights_follow_the_steps_and_the_replicas_the_weights() -> None:
    decision = decide(inputs(total=4, canary=canary("Progressing", 1), slots=RUNNING))
    assert weights(decision) == {"stable": 50, "canary": 50}
    assert decision.replicas == {"blue": 4, "green": 2}
    reuse = decide(
        inputs(total=4, canary=canary("Progressing", 1, capacity="Reuse"), slots=RUNNING)
    )
    assert reuse.replicas == {"blue": 2, "green": 2}


SPLITS = [
    # (total, canary weight, (stable, canary))
    (10, 0, (10, 0)),
    (10, 10, (9, 1)),
    (10, 25, (7, 3)),  # 2.5 rounds half up
    (10, 50, (5, 5)),
    (10, 100, (0, 10)),
    (4, 10, (3, 1)),  # 0.4 would round to 0: the canary gets at least 1
    (2, 90, (1, 1)),  # stable keeps 1 below weight 100
    (3, 90, (1, 2)),
    (1, 10, (1, 1)),  # total 1: both slots need one
    (0, 50, (0, 0)),
    (7, 33, (5, 2)),
]


@pytest.mark.parametrize(("total", "weight", "expected"), SPLITS)
def test_split_replicas(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert split_replicas(total, weight) == expected


SPLIT_SIZES = [
    # (autoscaled total, phase, step, canary replicas ready, capacity, (stable, canary))
    (4, "Starting", 0, 0, "Surge", (4, 1)),  # no traffic moved yet: the stable keeps all
    (4, "SmokeTesting", 0, 1, "Surge", (4, 1)),  # ... even with a canary replica ready
    (4, "Progressing", 0, 1, "Surge", (3, 1)),  # 10 %: at least one canary replica
    (8, "Progressing", 1, 0, "Surge", (8, 4)),  # 50 %, canary pods starting: stable keeps all
    (8, "Progressing", 1, 2, "Surge", (6, 4)),  # ... gives up one per ready canary replica
    (8, "Progressing", 1, 4, "Surge", (4, 4)),  # ... down to its share
    (10, "Progressing", 1, 9, "Surge", (5, 5)),  # never below its share
    (1, "Progressing", 1, 1, "Surge", (1, 1)),  # total 1: both slots need one
    (6, "Promoting", 2, 3, "Surge", (3, 6)),  # the canary fills; stable yields as it does
    (6, "Promoting", 2, 6, "Surge", (1, 6)),  # stable keeps 1 until promoted
    (4, "Progressing", 1, 0, "Reuse", (2, 2)),  # no spare GPU: split at once
]


@pytest.mark.parametrize(("total", "phase", "step", "ready", "capacity", "expected"), SPLIT_SIZES)
def test_an_autoscaled_total_is_split_by_the_weight(
    total: int, phase: str, step: int, ready: int, capacity: str, expected: tuple[int, int]
) -> None:
    slots = {"blue": view(OLD, 4), "green": view(NEW, ready)}
    state = canary(phase, step, capacity=capacity)
    decision = decide(inputs(total=total, canary=state, slots=slots, split=True))
    assert (decision.replicas["blue"], decision.replicas["green"]) == expected


def test_a_load_step_during_a_rollout_grows_both_slots_by_the_weight() -> None:
    before = decide(inputs(total=4, canary=canary("Progressing", 1), slots=RUNNING, split=True))
    slots = {"blue": view(OLD, 2), "green": view(NEW, 2)}
    after = decide(inputs(total=8, canary=canary("Progressing", 1), slots=slots, split=True))
    assert weights(before) == weights(after) == {"stable": 50, "canary": 50}
    assert (before.replicas["blue"], before.replicas["green"]) == (3, 2)  # 1 canary ready of 2
    assert (after.replicas["blue"], after.replicas["green"]) == (6, 4)  # 2 ready of 4
    done = decide(
        inputs(
            total=8,
            canary=canary("Progressing", 1),
            slots={"blue": view(OLD, 6), "green": view(NEW, 4)},
            split=True,
        )
    )
    assert (done.replicas["blue"], done.replicas["green"]) == (4, 4)


def test_a_canary_short_of_gpus_mid_rollout_reuses_the_stables_and_stays_so() -> None:
    short = view(NEW, 2, pods=4, unschedulable=f"0/2 nodes: {GPU_SHORTAGE}.")
    slots = {"blue": view(OLD, 6), "green": short}
    decision = decide(inputs(total=8, canary=canary("Progressing", 1), slots=slots, split=True))
    assert decision.canary is not None
    assert decision.canary.capacity == "Reuse"
    assert [e.reason for e in decision.events] == ["ReusingStableCapacity"]
    assert (decision.replicas["blue"], decision.replicas["green"]) == (4, 4)
    # Placed but still loading: the stable does not ask for its replicas back.
    placed = {"blue": view(OLD, 4), "green": view(NEW, 2, pods=4)}
    later = decide(inputs(total=8, canary=decision.canary, slots=placed, split=True))
    assert (later.replicas["blue"], later.replicas["green"]) == (4, 4)


def test_reuse_promotes_on_what_the_canary_has_and_moves_the_gpus_to_it() -> None:
    state = canary("Promoting", 0, capacity="Reuse")  # promoted by a user at 10 %
    slots = {"blue": view(OLD, 3), "green": view(NEW, 1)}
    for split in (False, True):
        decision = decide(inputs(total=4, canary=state, slots=slots, split=split))
        assert decision.canary is not None
        assert decision.canary.phase == "Draining"
        assert (decision.replicas["blue"], decision.replicas["green"]) == (1, 3)


def test_promoting_with_what_it_needs_does_not_switch_to_reuse() -> None:
    slots = {
        "blue": view(OLD, 2),
        "green": view(NEW, 2, pods=3, unschedulable=f"0/2 nodes: {GPU_SHORTAGE}."),
    }
    decision = decide(inputs(total=2, canary=canary("Promoting", 2), slots=slots))
    assert decision.canary is not None
    assert decision.canary.phase == "Draining"
    assert decision.canary.capacity == "Surge"


def test_promoting_short_of_gpus_reuses_the_stables_instead_of_waiting_forever() -> None:
    slots = {
        "blue": view(OLD, 4),
        "green": view(NEW, 2, pods=4, unschedulable=f"0/2 nodes: {GPU_SHORTAGE}."),
    }
    stuck = inputs(total=4, canary=canary("Promoting", 2), slots=slots)
    decision = decide(stuck)
    assert decision.canary is not None
    assert decision.canary.capacity == "Reuse"
    assert [e.reason for e in decision.events] == ["ReusingStableCapacity"]
    draining = decide(replace(stuck, canary=decision.canary))
    assert draining.canary is not None
    assert draining.canary.phase == "Draining"


def test_promoting_at_a_total_of_zero_still_waits_for_a_canary_replica() -> None:
    slots = {"blue": view(OLD, 1), "green": view(NEW, 0)}
    decision = decide(inputs(total=0, canary=canary("Promoting", 2), slots=slots, split=True))
    assert decision.canary is not None
    assert decision.canary.phase == "Promoting"
    assert decision.replicas["green"] == 1


def test_a_rollback_gives_an_autoscaled_stable_the_whole_count() -> None:
    decision = decide(
        inputs(
            total=6,
            canary=canary("Progressing", 0),
            slots={"blue": view(OLD, 5), "green": view(NEW, 1)},
            figures=figures(25, errors=20),
            split=True,
        )
    )
    assert decision.canary is None
    assert decision.replicas == {"blue": 6, "green": 0}


def test_the_last_step_passing_promotes() -> None:
    decision = decide(inputs(canary=canary("Progressing", 2), slots=RUNNING, figures=figures(25)))
    assert decision.canary is not None
    assert decision.canary.phase == "Promoting"
    assert [e.reason for e in decision.events] == ["RolloutPromoting"]


# -- promotion ----------------------------------------------------------------------------------


def test_promoting_grows_the_new_slot_then_drains_the_old() -> None:
    growing = decide(inputs(canary=canary("Promoting", 2), slots=RUNNING))
    assert growing.replicas == {"blue": 2, "green": 2}
    assert growing.canary is not None
    assert growing.canary.phase == "Promoting"
    slots = {"blue": view(OLD, 2), "green": view(NEW, 2)}
    draining = decide(inputs(canary=canary("Promoting", 2), slots=slots))
    assert draining.canary is not None
    assert draining.canary.phase == "Draining"
    assert weights(draining) == {"stable": 0, "canary": 100}


@pytest.mark.parametrize(
    ("elapsed", "in_flight", "done"),
    [(1, 0, False), (4, 3, False), (4, 0, True), (31, 3, True)],
)
def test_draining_ends_when_the_old_slot_is_idle_or_the_time_is_up(
    elapsed: int, in_flight: int, done: bool
) -> None:
    slots = {"blue": view(OLD, 2), "green": view(NEW, 2)}
    figs = replace(figures(25), stable_in_flight=in_flight)
    decision = decide(
        inputs(
            canary=canary("Draining", 2),
            slots=slots,
            figures=figs,
            now=T0 + timedelta(seconds=elapsed),
        )
    )
    if done:
        assert decision.canary is None
        assert decision.stable == SlotStatus(slot="green", revision=NEW, replicas=2)
        assert decision.replicas == {"green": 2, "blue": 0}  # the old slot is kept at 0
        assert [e.reason for e in decision.events] == ["RolloutPromoted"]
    else:
        assert decision.canary is not None
        assert decision.canary.phase == "Draining"


# -- changes and commands --------------------------------------------------------------------


def test_a_revert_aborts_at_once() -> None:
    decision = decide(inputs(desired_revision=OLD, canary=canary("Progressing", 1), slots=RUNNING))
    assert decision.canary is None
    assert decision.failed is None
    assert decision.replicas == {"blue": 2, "green": 0}
    assert [e.reason for e in decision.events] == ["RolloutAborted"]


def test_a_newer_spec_restarts_the_rollout_in_the_same_slot() -> None:
    decision = decide(
        inputs(desired_revision=OTHER, canary=canary("Progressing", 1), slots=RUNNING)
    )
    assert decision.canary is not None
    assert (decision.canary.revision, decision.canary.slot, decision.canary.phase) == (
        OTHER,
        "green",
        "Starting",
    )


def test_a_failed_revision_is_not_retried() -> None:
    failed = FailedRollout(revision=NEW, reason="RolledBack", message="error rate 0.3 > 0.05")
    decision = decide(inputs(failed=failed))
    assert decision.canary is None
    assert decision.template_slot is None  # neither slot gets the failed template again
    assert decision.degraded is not None
    assert decision.degraded[1] == "RolledBack"
    assert decision.progressing is not None
    assert decision.progressing[0] == "False"


def test_a_new_revision_after_a_failure_rolls_out_again() -> None:
    failed = FailedRollout(revision=OTHER, reason="RolledBack", message="x")
    decision = decide(inputs(failed=failed))
    assert decision.canary is not None
    assert decision.failed is None


def test_back_to_stable_after_a_failure_clears_it() -> None:
    failed = FailedRollout(revision=NEW, reason="RolledBack", message="x")
    decision = decide(inputs(failed=failed, desired_revision=OLD))
    assert decision.failed is None
    assert decision.degraded is None


@pytest.mark.parametrize(
    ("command", "phase", "failed"),
    [
        (Commands(promote=True), "Promoting", None),
        (Commands(abort=True), None, "Aborted"),
        (Commands(paused=True), "Paused", None),
    ],
)
def test_commands(command: Commands, phase: str | None, failed: str | None) -> None:
    decision = decide(
        inputs(canary=canary("Progressing", 0), slots=RUNNING, figures=figures(3), commands=command)
    )
    assert (decision.canary.phase if decision.canary else None) == phase
    assert (decision.failed.reason if decision.failed else None) == failed


def test_paused_holds_past_the_pause_and_resume_restarts_the_window() -> None:
    late = T0 + timedelta(seconds=60)
    held = decide(
        inputs(
            canary=canary("Paused", 0),
            slots=RUNNING,
            figures=figures(25),
            commands=Commands(paused=True),
            now=late,
        )
    )
    assert held.canary is not None
    assert (held.canary.phase, held.canary.step) == ("Paused", 0)
    resumed = decide(inputs(canary=canary("Paused", 0), slots=RUNNING, now=late))
    assert resumed.canary is not None
    assert resumed.canary.phase == "Progressing"
    assert resumed.canary.step_started_at == late


def test_spec_paused_pauses_too() -> None:
    rollout = ROLLOUT.model_copy(update={"paused": True})
    decision = decide(
        inputs(rollout=rollout, canary=canary("Progressing", 0), slots=RUNNING, figures=figures(3))
    )
    assert decision.canary is not None
    assert decision.canary.phase == "Paused"


def test_edited_steps_start_over() -> None:
    edited = Rollout(steps=[RolloutStep(weight=25), RolloutStep(weight=100)])
    decision = decide(inputs(rollout=edited, canary=canary("Progressing", 1), slots=RUNNING))
    assert decision.canary is not None
    assert (decision.canary.step, decision.canary.weight) == (0, 25)
    assert decision.canary.rollout_hash == rollout_hash(edited)
    assert [e.reason for e in decision.events] == ["RolloutStepsChanged"]


def test_events_of_one_transition_have_one_key() -> None:
    first = decide(
        inputs(
            canary=canary("Progressing", 0),
            slots=RUNNING,
            figures=figures(25),
            now=T0 + timedelta(seconds=11),
        )
    )
    again = decide(
        inputs(
            canary=canary("Progressing", 0),
            slots=RUNNING,
            figures=figures(30),
            now=T0 + timedelta(seconds=12),
        )
    )
    assert first.events[0].key == again.events[0].key  # a retry posts nothing new


# -- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0), ("10s", 10), ("2m", 120), ("1h2m3s", 3723), ("", 0)]
)
def test_pause_seconds(text: str, seconds: float) -> None:
    assert pause_seconds(text) == seconds


@pytest.mark.parametrize(
    ("total", "weight", "replicas"), [(1, 10, 1), (4, 10, 1), (4, 50, 2), (10, 10, 1), (3, 100, 3)]
)
def test_share(total: int, weight: int, replicas: int) -> None:
    assert share(total, weight) == replicas


def test_judge_needs_a_busy_stable_for_the_ratio() -> None:
    analysis = RolloutAnalysis()
    quiet_stable = Figures(
        canary=TrackFigures(requests=30, errors=0, error_rate=0.0, p95_seconds=0.9),
        stable=TrackFigures(requests=3, errors=0, error_rate=0.0, p95_seconds=0.1),
    )
    assert judge(quiet_stable, analysis) == []
    ttft = Figures(
        canary=TrackFigures(requests=30, p95_ttft_seconds=3.0),
        stable=TrackFigures(requests=30),
    )
    assert judge(ttft, RolloutAnalysis(max_ttft_seconds=2.0)) == [
        "p95 time to first token 3.00s > 2s over 30 requests"
    ]


def test_reuse_never_gives_the_stable_back_its_gpus_before_the_swap() -> None:
    slots = {"blue": view(OLD, 1), "green": view(NEW, 1)}
    for phase in ("Progressing", "Promoting", "Draining"):
        decision = decide(
            inputs(canary=canary(phase, 2, capacity="Reuse"), slots=slots, figures=figures(0))
        )
        assert decision.replicas == {"blue": 1, "green": 1}, phase
