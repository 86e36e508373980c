"""The rollout step machine (pure): blue/green slots, canary steps judged on metrics.

Input: the desired revision, the rollout's memory as our own last status write (never the
stale cache), what is observed of both slots, the analysis figures of the current window,
the smoke-test verdict, manual commands, and `now`. Output: replicas per slot, which slot runs
the spec's pod template, the router's tracks and weights, the canary status, condition
overrides, Events, and when to look again. Every memory the machine needs is in status, so any
operator process resumes a rollout where the last one left it.

One call makes at most one transition; the caller looks again at once (`recheck_after=0`)
when a transition leads straight to another. That keeps each Event tied to one step.

A rollout goes Starting (the new slot comes up, sized for its first step) -> SmokeTesting
(each new pod answers one request directly) -> Progressing step by step (weights set, pause
held, figures judged; fail fast) -> Promoting (Surge: the new slot grows to the full count)
-> Draining (all traffic on the new slot; the old one finishes its in-flight requests) ->
done: the new slot is stable and the old one goes to 0 replicas, kept for a quick rollback.
A failed check, a failed smoke test, a crash-looping canary or a missed progress deadline
rolls back at once: all traffic to stable, the canary slot to 0, the revision remembered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from modelops.api.spec import Rollout, RolloutAnalysis, RolloutStep
from modelops.api.status import (
    CanaryAnalysis,
    CanaryStatus,
    FailedRollout,
    SlotStatus,
)
from modelops.builders.common import FIRST_SLOT, SLOTS, Slot, other_slot, stable_hash
from modelops.builders.router_config import SlotTrack
from modelops.policies.analysis import EMPTY_FIGURES, Figures, figures_text, judge

DEFAULT_STEPS = (RolloutStep(weight=10), RolloutStep(weight=50), RolloutStep(weight=100))
# After the weights move off the old slot, the router needs a moment to see the new config
# before "no request in flight" means "drained".
MIN_DRAIN_SECONDS = 3.0
# How often to look again while a step collects traffic (the telemetry loop also pokes).
ANALYSIS_RECHECK_SECONDS = 1.0
WAIT_RECHECK_SECONDS = 2.0
GPU_SHORTAGE = "Insufficient nvidia.com/gpu"
# Reasons a rollout ends without landing (Degraded=True, Stalled=True until the spec changes).
FAILURE_REASONS = ("RolledBack", "SmokeTestFailed", "ProgressDeadlineExceeded", "Aborted")

Triple = tuple[str, str, str]  # (condition status, reason, message)


@dataclass(frozen=True)
class SlotView:
    """What is live of one slot's Deployment and pods."""

    exists: bool = False
    revision: str | None = None  # the Deployment's modelops.io/revision label
    replicas: int = 0  # the Deployment's spec.replicas
    pods: int = 0  # pods not being deleted
    ready: int = 0
    unschedulable: str | None = None  # the scheduler's message for a pod it cannot place
    failing: tuple[str, ...] = ()  # waiting reasons that will not fix themselves
    ready_by_revision: Mapping[str, int] = field(default_factory=dict)

    def ready_of(self, revision: str) -> int:
        """Ready pods of one revision: a slot being re-templated still has old ones."""
        return self.ready_by_revision.get(revision, 0)


@dataclass(frozen=True)
class SmokeVerdict:
    passed: int = 0  # canary pods of the canary revision that answered well
    failure: str | None = None  # the first failure, in words


@dataclass(frozen=True)
class Commands:
    """Manual control: spec.rollout.paused and the modelops.io/rollout-* annotations."""

    promote: bool = False
    abort: bool = False
    paused: bool = False


@dataclass(frozen=True)
class RolloutInputs:
    desired_revision: str
    rollout: Rollout
    total: int  # replicas the model should have in all
    stable: SlotStatus | None
    canary: CanaryStatus | None
    failed: FailedRollout | None
    slots: Mapping[str, SlotView]
    now: datetime
    figures: Figures | None = None
    smoke: SmokeVerdict | None = None
    commands: Commands = field(default_factory=Commands)
    # The total is the autoscaler's (the load's): split it over the slots by the weight.
    split: bool = False


@dataclass(frozen=True)
class RolloutEvent:
    type: str  # Normal | Warning
    reason: str
    message: str
    key: str  # identifies the transition: the same transition never gets two Events


@dataclass(frozen=True)
class RolloutDecision:
    stable: SlotStatus
    canary: CanaryStatus | None
    failed: FailedRollout | None
    replicas: Mapping[Slot, int]
    template_slot: Slot | None  # runs the spec's pod template; other slots are only scaled
    tracks: tuple[SlotTrack, ...]  # the model's own route
    canary_alias: SlotTrack | None  # the `<served>-canary` route, while a canary exists
    events: tuple[RolloutEvent, ...] = ()
    progressing: Triple | None = None  # overrides the Progressing condition
    degraded: Triple | None = None  # overrides the Degraded condition
    recheck_after: float | None = None

    @property
    def in_progress(self) -> bool:
        return self.canary is not None


# -- settings -------------------------------------------------------------------------------


def steps_of(rollout: Rollout) -> tuple[RolloutStep, ...]:
    return tuple(rollout.steps) or DEFAULT_STEPS


def analysis_of(rollout: Rollout) -> RolloutAnalysis:
    return rollout.analysis or RolloutAnalysis()


def rollout_hash(rollout: Rollout) -> str:
    """Changes when the steps or checks change; `paused` is a command, not a plan."""
    data = rollout.model_dump(mode="json", by_alias=True, exclude={"paused"})
    return stable_hash(data)


def pause_seconds(pause: str) -> float:
    """'1h2m3s' -> 3723 (the CRD pattern guarantees the shape)."""
    total, number = 0.0, ""
    for char in pause:
        if char.isdigit():
            number += char
        else:
            total += int(number) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total


def share(total: int, weight: int) -> int:
    """Replicas for `weight` percent of `total`, at least one."""
    return max(1, math.ceil(total * weight / 100))


# -- the machine ------------------------------------------------------------------------------


def decide(inputs: RolloutInputs) -> RolloutDecision:
    stable = _stable_of(inputs)
    canary = inputs.canary
    failed = inputs.failed
    desired = inputs.desired_revision

    if canary is not None:
        if desired == stable.revision:
            return _steady(
                inputs,
                stable,
                None,
                "RolloutAborted",
                "the spec went back to the "
                f"stable revision {stable.revision}; canary {canary.revision} removed",
            )
        if failed is not None and desired == failed.revision:
            return _steady(
                inputs,
                stable,
                failed,
                "RolloutAborted",
                f"revision {desired} was rolled back before; not retried",
            )
        if canary.revision != desired:
            restarted = _new_canary(inputs, stable, slot=canary.slot)
            return _transition(
                inputs,
                stable,
                restarted,
                "RolloutRestarted",
                f"spec changed during the rollout: canary {canary.revision} replaced by {desired}",
                recheck=0.0,
            )
        return _advance(inputs, stable, canary)

    if desired == stable.revision:
        return _steady(inputs, stable, None)
    if failed is not None and desired == failed.revision:
        return _steady(inputs, stable, failed)
    serving = inputs.slots.get(stable.slot, SlotView()).ready > 0
    if inputs.rollout.strategy == "Recreate" or not serving:
        # Nothing to protect (or the user asked for it): the stable slot changes in place.
        why = "strategy Recreate" if serving else "no replica was serving"
        replaced = SlotStatus(slot=stable.slot, revision=desired, replicas=stable.replicas)
        event = RolloutEvent(
            "Normal",
            "UpdatedInPlace",
            f"revision {desired} replaces {stable.revision} on slot {stable.slot} ({why})",
            key=f"{desired}.inplace",
        )
        decision = _steady(inputs, replaced, None)
        return replace(decision, events=(event,))
    started = _new_canary(inputs, stable, slot=other_slot(stable.slot))
    return _transition(
        inputs,
        stable,
        started,
        "RolloutStarted",
        f"rolling out revision {desired} on slot {started.slot} "
        f"(stable {stable.revision} on {stable.slot})",
        recheck=0.0,
    )


def _stable_of(inputs: RolloutInputs) -> SlotStatus:
    """The stable slot from our status, or rebuilt from the cluster when status is empty."""
    if inputs.stable is not None:
        return inputs.stable
    views = inputs.slots
    for slot in SLOTS:  # a slot already running the desired revision
        view = views.get(slot, SlotView())
        if view.exists and view.revision == inputs.desired_revision:
            return SlotStatus(slot=slot, revision=inputs.desired_revision, replicas=view.pods)
    serving = [s for s in SLOTS if views.get(s, SlotView()).ready > 0]
    if serving:
        slot = max(serving, key=lambda s: views[s].ready)
        return SlotStatus(
            slot=slot,
            revision=views[slot].revision or inputs.desired_revision,
            replicas=views[slot].pods,
        )
    return SlotStatus(slot=FIRST_SLOT, revision=inputs.desired_revision, replicas=0)


def _new_canary(inputs: RolloutInputs, stable: SlotStatus, *, slot: Slot) -> CanaryStatus:
    reuse = inputs.rollout.capacity == "Reuse" and inputs.total > 1
    return CanaryStatus(
        slot=slot,
        revision=inputs.desired_revision,
        phase="Starting",
        step=0,
        weight=0,
        step_started_at=inputs.now,
        started_at=inputs.now,
        rollout_hash=rollout_hash(inputs.rollout),
        capacity="Reuse" if reuse else "Surge",
    )


def _event(type_: str, reason: str, message: str, canary: CanaryStatus) -> RolloutEvent:
    started = canary.started_at.isoformat() if canary.started_at else ""
    return RolloutEvent(
        type_, reason, message, key=f"{canary.revision}.{started}.{reason}.{canary.step}"
    )


def _advance(inputs: RolloutInputs, stable: SlotStatus, canary: CanaryStatus) -> RolloutDecision:
    """One step of a running rollout."""
    now = inputs.now
    rollout = inputs.rollout
    steps = steps_of(rollout)
    view = inputs.slots.get(canary.slot, SlotView())
    commands = inputs.commands

    if commands.abort:
        return _roll_back(inputs, stable, canary, "Aborted", "aborted by a user command")
    if view.failing:
        return _roll_back(
            inputs,
            stable,
            canary,
            "RolledBack",
            f"canary pods are in {', '.join(view.failing)}",
        )
    new_hash = rollout_hash(rollout)
    if canary.rollout_hash != new_hash:
        changed = canary.model_copy(update={"rollout_hash": new_hash})
        if canary.phase in ("Progressing", "Paused"):
            changed = changed.model_copy(
                update={
                    "phase": "Progressing",
                    "step": 0,
                    "weight": steps[0].weight,
                    "step_started_at": now,
                }
            )
            return _transition(
                inputs,
                stable,
                changed,
                "RolloutStepsChanged",
                "spec.rollout changed: the steps start over at step 1",
                recheck=0.0,
            )
        canary = changed
    if commands.promote and canary.phase not in ("Promoting", "Draining"):
        promoting = canary.model_copy(update={"phase": "Promoting", "step_started_at": now})
        return _transition(
            inputs,
            stable,
            promoting,
            "PromotedByUser",
            f"canary {canary.revision} promoted by a user command",
            recheck=0.0,
        )

    elapsed = (now - canary.step_started_at).total_seconds() if canary.step_started_at else 0.0
    deadline = float(rollout.progress_deadline_seconds)
    phase = canary.phase

    if phase == "Starting":
        target = _slot_sizes(inputs, canary, steps)[1]
        if view.ready_of(canary.revision) >= target:
            if rollout.smoke_test is None or rollout.smoke_test.enabled:
                nxt = canary.model_copy(update={"phase": "SmokeTesting", "step_started_at": now})
                return _render(inputs, stable, nxt, None, None, recheck=0.0)
            return _start_step(inputs, stable, canary, 0, "canary is ready (no smoke test)")
        if _may_reuse(inputs, canary, view) and inputs.total > 1:
            return _reuse(
                inputs,
                stable,
                canary,
                f"no free GPU for the canary ({view.unschedulable}); a stable replica "
                "makes room for each canary replica",
            )
        started = canary.started_at or canary.step_started_at or now
        if (now - started).total_seconds() > deadline:
            detail = f": {view.unschedulable}" if view.unschedulable else ""
            return _roll_back(
                inputs,
                stable,
                canary,
                "ProgressDeadlineExceeded",
                f"the canary was not ready within {deadline:g}s "
                f"({view.ready_of(canary.revision)}/{target} ready){detail}",
            )
        return _render(inputs, stable, canary, None, None, recheck=WAIT_RECHECK_SECONDS)

    if phase == "SmokeTesting":
        smoke = inputs.smoke or SmokeVerdict()
        if smoke.failure is not None:
            return _roll_back(inputs, stable, canary, "SmokeTestFailed", smoke.failure)
        ready = view.ready_of(canary.revision)
        if ready > 0 and smoke.passed >= ready:
            return _start_step(
                inputs, stable, canary, 0, f"smoke test passed on {smoke.passed} pod(s)"
            )
        if elapsed > deadline:
            return _roll_back(
                inputs,
                stable,
                canary,
                "ProgressDeadlineExceeded",
                f"the smoke test did not complete within {deadline:g}s",
            )
        return _render(inputs, stable, canary, None, None, recheck=ANALYSIS_RECHECK_SECONDS)

    if phase in ("Progressing", "Paused"):
        if _may_reuse(inputs, canary, view) and inputs.total > 1:
            return _reuse(
                inputs,
                stable,
                canary,
                f"no free GPU for the canary's share ({view.unschedulable}); stable "
                "replicas make room for canary replicas",
            )
        analysis = analysis_of(rollout)
        figures = inputs.figures
        if analysis.min_requests == 0 and (figures is None or figures.problem):
            figures = EMPTY_FIGURES  # nothing was asked of the traffic: no telemetry needed
        enough = figures is not None and figures.problem is None
        if enough and figures is not None and figures.canary.requests >= analysis.min_requests:
            failures = judge(figures, analysis)
            if failures:
                return _roll_back(inputs, stable, canary, "RolledBack", "; ".join(failures))
        if commands.paused or rollout.paused:
            if phase != "Paused":
                paused = canary.model_copy(update={"phase": "Paused"})
                return _render(
                    inputs,
                    stable,
                    paused,
                    None,
                    _event("Normal", "RolloutPaused", f"paused at step {canary.step + 1}", paused),
                )
            return _render(inputs, stable, canary, None, None, recheck=WAIT_RECHECK_SECONDS)
        if phase == "Paused":
            resumed = canary.model_copy(update={"phase": "Progressing", "step_started_at": now})
            return _render(
                inputs,
                stable,
                resumed,
                None,
                _event("Normal", "RolloutResumed", f"resumed at step {canary.step + 1}", resumed),
                recheck=0.0,
            )
        step = steps[min(canary.step, len(steps) - 1)]
        pause = pause_seconds(step.pause)
        if (
            enough
            and figures is not None
            and elapsed >= pause
            and figures.canary.requests >= analysis.min_requests
        ):
            if canary.step + 1 < len(steps):
                return _start_step(
                    inputs,
                    stable,
                    canary,
                    canary.step + 1,
                    figures_text(figures.canary, "passed"),
                )
            promoting = canary.model_copy(update={"phase": "Promoting", "step_started_at": now})
            return _transition(
                inputs,
                stable,
                promoting,
                "RolloutPromoting",
                f"all {len(steps)} steps passed ({figures_text(figures.canary, 'last')})",
                recheck=0.0,
            )
        if elapsed > pause + deadline:
            have = figures.canary.requests if figures is not None else 0
            why = (
                figures.problem
                if figures is not None and figures.problem
                else f"only {have} of {analysis.min_requests} canary requests"
            )
            return _roll_back(
                inputs,
                stable,
                canary,
                "ProgressDeadlineExceeded",
                f"step {canary.step + 1} could not be judged within {deadline:g}s: {why}",
            )
        return _render(inputs, stable, canary, None, None, recheck=ANALYSIS_RECHECK_SECONDS)

    if phase == "Promoting":
        if view.ready_of(canary.revision) >= _promotion_needs(inputs, canary):
            draining = canary.model_copy(update={"phase": "Draining", "step_started_at": now})
            return _render(inputs, stable, draining, None, None, recheck=MIN_DRAIN_SECONDS)
        if _may_reuse(inputs, canary, view):
            return _reuse(
                inputs,
                stable,
                canary,
                f"no free GPU to grow the canary to the full count ({view.unschedulable}); "
                "it is promoted on the replicas it has and grows as the old slot gives way",
            )
        return _render(inputs, stable, canary, None, None, recheck=WAIT_RECHECK_SECONDS)

    # Draining: all traffic is on the new slot; the old one finishes what it holds.
    in_flight = inputs.figures.stable_in_flight if inputs.figures is not None else None
    drained = elapsed >= MIN_DRAIN_SECONDS and in_flight == 0
    if drained or elapsed >= max(MIN_DRAIN_SECONDS, float(rollout.drain_seconds)):
        promoted = SlotStatus(slot=canary.slot, revision=canary.revision, replicas=view.pods)
        event = _event(
            "Normal",
            "RolloutPromoted",
            f"revision {canary.revision} on slot {canary.slot} is stable; slot {stable.slot} "
            "scaled to 0 (kept for a quick rollback)",
            canary,
        )
        decision = _steady(inputs, promoted, None)
        return replace(decision, events=(event,))
    return _render(inputs, stable, canary, None, None, recheck=ANALYSIS_RECHECK_SECONDS)


def _transition(
    inputs: RolloutInputs,
    stable: SlotStatus,
    canary: CanaryStatus,
    reason: str,
    message: str,
    *,
    recheck: float | None = None,
) -> RolloutDecision:
    """The rollout moves on (a Normal Event says how) and the canary runs on."""
    event = _event("Normal", reason, message, canary)
    return _render(inputs, stable, canary, None, event, recheck=recheck)


def _promotion_needs(inputs: RolloutInputs, canary: CanaryStatus) -> int:
    """Ready canary replicas before all traffic moves: the whole count with spare GPUs."""
    if canary.capacity != "Surge":
        return 1
    return _slot_sizes(inputs, canary, steps_of(inputs.rollout))[1]


def _may_reuse(inputs: RolloutInputs, canary: CanaryStatus, view: SlotView) -> bool:
    """A surging canary whose pods cannot be placed for lack of GPUs, under capacity Auto."""
    return bool(
        canary.capacity == "Surge"
        and inputs.rollout.capacity == "Auto"
        and view.unschedulable
        and GPU_SHORTAGE in view.unschedulable
    )


def _reuse(
    inputs: RolloutInputs, stable: SlotStatus, canary: CanaryStatus, message: str
) -> RolloutDecision:
    """Switch to capacity Reuse: stable replicas make room for the canary's."""
    reuse = canary.model_copy(update={"capacity": "Reuse"})
    return _transition(inputs, stable, reuse, "ReusingStableCapacity", message, recheck=0.0)


def _start_step(
    inputs: RolloutInputs, stable: SlotStatus, canary: CanaryStatus, step: int, why: str
) -> RolloutDecision:
    steps = steps_of(inputs.rollout)
    moved = canary.model_copy(
        update={
            "phase": "Progressing",
            "step": step,
            "weight": steps[step].weight,
            "step_started_at": inputs.now,
            "analysis": None,
        }
    )
    event = _event(
        "Normal",
        "RolloutStep",
        f"step {step + 1}/{len(steps)}: {steps[step].weight}% of traffic to {canary.revision} "
        f"({why})",
        moved,
    )
    return _render(inputs, stable, moved, None, event, recheck=0.0)


def _roll_back(
    inputs: RolloutInputs, stable: SlotStatus, canary: CanaryStatus, reason: str, message: str
) -> RolloutDecision:
    failed = FailedRollout(revision=canary.revision, reason=reason, message=message, at=inputs.now)
    event = _event(
        "Warning",
        reason,
        f"rolled back revision {canary.revision} at step {canary.step + 1}: {message}",
        canary,
    )
    decision = _steady(inputs, stable, failed)
    return replace(decision, events=(event,))


# -- rendering a state into replicas, tracks and conditions ---------------------------------


def split_replicas(total: int, canary_weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for a rollout at `canary_weight` percent.

    Proportional to the weight, rounded half up; the canary gets at least 1 while its weight is
    above 0 and stable keeps 1 below weight 100; with total 1 the pair is (1, 1).
    """
    if total <= 0:
        return 0, 0
    if canary_weight <= 0:
        return total, 0
    if canary_weight >= 100:
        return 0, total
    if total == 1:
        return 1, 1  # both slots need a pod: one more than asked for, only during the rollout
    canary = min(total - 1, max(1, math.floor(total * canary_weight / 100 + 0.5)))
    return total - canary, canary


def _slot_sizes(
    inputs: RolloutInputs, canary: CanaryStatus, steps: tuple[RolloutStep, ...]
) -> tuple[int, int]:
    """(stable, canary) replicas while a rollout runs.

    A fixed count (spec.replicas) keeps the stable whole beside a canary of the weight's share
    (Surge) or gives the canary the GPUs the stable gives up (Reuse). An autoscaled count is the
    load's: it is split by the weight, so neither slot is sized for traffic it does not get;
    the stable keeps at least one replica until the canary is promoted and, with spare GPUs
    (Surge), gives a replica up only when a canary replica is ready to take its share.
    """
    total = inputs.total
    surge = canary.capacity == "Surge"
    promoting = canary.phase in ("Promoting", "Draining")
    weight = canary.weight or steps[0].weight
    if promoting and not surge:
        weight = 100  # Reuse promotes on what it has: the GPUs move to the canary now
    filling = promoting or weight >= 100
    if inputs.split:
        sized = max(1, total)
        stable, canary_count = split_replicas(sized, min(weight, 99))
        if not surge:
            return stable, canary_count
        if canary.phase in ("Starting", "SmokeTesting"):
            ready = 0  # no traffic has moved yet: the stable keeps everything
        else:
            ready = inputs.slots.get(canary.slot, SlotView()).ready_of(canary.revision)
        stable = min(sized, max(stable, sized - ready))
        return stable, sized if filling else canary_count
    if surge and promoting:
        return max(1, total), max(1, total)
    wanted = share(total, weight)
    if canary.capacity == "Reuse":  # the canary holds GPUs the stable gave up
        canary_count = max(1, min(wanted, total - 1))
        return max(1, total - canary_count), canary_count
    return max(1, total), wanted


def _steady(
    inputs: RolloutInputs,
    stable: SlotStatus,
    failed: FailedRollout | None,
    abort_reason: str | None = None,
    abort_message: str = "",
) -> RolloutDecision:
    """No rollout: the stable slot has every replica, the other is kept at 0."""
    replicas = {slot: 0 for slot in SLOTS}
    replicas[stable.slot] = inputs.total
    track = SlotTrack("stable", stable.slot, stable.revision, 100)
    runs_desired = stable.revision == inputs.desired_revision
    degraded = None
    progressing = None
    if failed is not None:
        degraded = ("True", failed.reason, f"revision {failed.revision}: {failed.message}")
        progressing = (
            "False",
            failed.reason,
            f"revision {failed.revision} will not land; stable {stable.revision} serves. Change "
            "the spec to try again.",
        )
    events: tuple[RolloutEvent, ...] = ()
    if abort_reason is not None:
        events = (
            RolloutEvent(
                "Normal",
                abort_reason,
                abort_message,
                key=f"{inputs.desired_revision}.{abort_reason}",
            ),
        )
    return RolloutDecision(
        stable=stable,
        canary=None,
        failed=failed,
        replicas=replicas,
        template_slot=stable.slot if runs_desired else None,
        tracks=(track,),
        canary_alias=None,
        events=events,
        progressing=progressing,
        degraded=degraded,
    )


def _render(
    inputs: RolloutInputs,
    stable: SlotStatus,
    canary: CanaryStatus,
    failed: FailedRollout | None,
    event: RolloutEvent | None,
    *,
    recheck: float | None = None,
) -> RolloutDecision:
    steps = steps_of(inputs.rollout)
    stable_count, canary_count = _slot_sizes(inputs, canary, steps)
    replicas = {stable.slot: stable_count, canary.slot: canary_count}
    phase = canary.phase
    if phase in ("Starting", "SmokeTesting"):
        weight = 0
    elif phase == "Draining":
        weight = 100
    else:
        weight = canary.weight
    canary = canary.model_copy(update={"weight": weight, "analysis": _analysis(inputs, canary)})
    canary_track = SlotTrack("canary", canary.slot, canary.revision, weight)
    tracks: tuple[SlotTrack, ...] = (
        SlotTrack("stable", stable.slot, stable.revision, 100 - weight),
    )
    if phase not in ("Starting", "SmokeTesting"):  # no user traffic before the smoke test
        tracks = (*tracks, canary_track)
    return RolloutDecision(
        stable=stable,
        canary=canary,
        failed=failed,
        replicas=replicas,
        template_slot=canary.slot,
        tracks=tracks,
        canary_alias=replace(canary_track, weight=100),
        events=(event,) if event is not None else (),
        progressing=("True", _progress_reason(inputs, canary), _progress_message(inputs, canary)),
        degraded=None,
        recheck_after=recheck,
    )


def _analysis(inputs: RolloutInputs, canary: CanaryStatus) -> CanaryAnalysis | None:
    figures = inputs.figures
    if canary.phase not in ("Progressing", "Paused") or figures is None:
        return canary.analysis if canary.phase in ("Promoting", "Draining") else None
    minimum = analysis_of(inputs.rollout).min_requests
    missing = max(0, minimum - figures.canary.requests)
    if figures.problem:
        message = f"window incomplete: {figures.problem}"
    elif missing:
        message = f"{figures.canary.requests}/{minimum} canary requests, {missing} missing"
    else:
        message = figures_text(figures.canary, "canary")
    return CanaryAnalysis(
        window_start=canary.step_started_at,
        stable=figures.stable,
        canary=figures.canary,
        missing_requests=missing,
        message=message,
    )


def _progress_reason(inputs: RolloutInputs, canary: CanaryStatus) -> str:
    view = inputs.slots.get(canary.slot, SlotView())
    if canary.phase in ("Starting", "Promoting") and view.unschedulable:
        return "InsufficientGPU" if GPU_SHORTAGE in view.unschedulable else "WaitingForCapacity"
    return {
        "Starting": "CanaryStarting",
        "SmokeTesting": "SmokeTesting",
        "Progressing": "CanaryStep",
        "Paused": "RolloutPaused",
        "Promoting": "Promoting",
        "Draining": "Draining",
    }.get(canary.phase, "RollingOut")


def _progress_message(inputs: RolloutInputs, canary: CanaryStatus) -> str:
    steps = steps_of(inputs.rollout)
    view = inputs.slots.get(canary.slot, SlotView())
    head = f"revision {canary.revision} on slot {canary.slot}"
    if canary.phase == "Starting":
        wanted = _slot_sizes(inputs, canary, steps)[1]
        text = f"{head}: starting, {view.ready_of(canary.revision)}/{wanted} ready"
        return f"{text}; {view.unschedulable}" if view.unschedulable else text
    if canary.phase == "SmokeTesting":
        return f"{head}: smoke testing {view.ready_of(canary.revision)} pod(s)"
    if canary.phase in ("Progressing", "Paused"):
        text = f"{head}: step {canary.step + 1}/{len(steps)} at {canary.weight}%"
        if canary.analysis is not None and canary.analysis.message:
            text += f"; {canary.analysis.message}"
        return text + (" (paused)" if canary.phase == "Paused" else "")
    if canary.phase == "Promoting":
        wanted = _promotion_needs(inputs, canary)
        text = f"{head}: promoting, {view.ready_of(canary.revision)}/{wanted} ready"
        return f"{text}; {view.unschedulable}" if view.unschedulable else text
    return f"{head}: all traffic moved; draining slot {other_slot(canary.slot)}"
