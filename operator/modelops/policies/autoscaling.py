"""The autoscaling decision (pure): how many replicas a model should run, given its load.

Each signal becomes a replica count, `load / target per replica`; the largest wins:

* in-flight requests: the larger of the router's per-model count and the vLLM pods' own
  running + waiting, plus the requests the router holds for lack of an endpoint
  (`targetInFlight`); for Ollama (no metrics of its own) the router's count is all there is;
* vLLM only, when set: waiting requests (`targetWaiting`) and KV-cache usage (`targetKVCache`).

Scale-up looks at a short window (the mean over `scaleUp.windowSeconds`), optionally required
to hold for `scaleUp.stabilizationWindowSeconds`; scale-down also at a longer window, and
removes replicas only when every recommendation (of either window) of
`scaleDown.stabilizationWindowSeconds` was lower, going to the highest of them. That asymmetry
is what keeps noisy load from flapping the count. Decisions come every interval and
whenever telemetry pokes the reconcile because the load changed (up to once a second): a
scale-up moves at once, by at most its step; a scale-down by at most its step and at most once
per interval. Then the count is bounded by min/max.

A sample in which a pod could not be read is not "zero load": it may still raise the count (the
load is at least what was read) but never lowers it. Without a recent sample the count holds.

Scale to zero (minReplicas 0): after `scaleToZeroAfter` with nothing in flight or held, the
last replica goes; requests held by the router wake the model to max(1, needed) at once.

When pods cannot be scheduled for lack of GPUs, `ScalingLimited` is True with the scheduler's
message and the count stops growing until every pod is placed.

The load samples of the windows are kept by the caller (`remember()`, in memory); what must
survive an operator restart is in `status.autoscaler` (`AutoscalerStatus`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelops.api.conditions import make_condition
from modelops.api.spec import Autoscaling, Engine, ModelDeploymentSpec
from modelops.api.status import (
    SCALING_LIMITED,
    AutoscalerStatus,
    Condition,
    ModelDeploymentStatus,
)
from modelops.policies.observed import PodObservation

# A sample older than this many intervals is not "the current load".
FRESH_INTERVALS = 3
# Float noise (0.1 + 0.2) must not buy a replica.
EPSILON = 1e-9


@dataclass(frozen=True)
class EngineGauges:
    """One ready vLLM pod's own gauges, as read from its /metrics."""

    running: float = 0.0
    waiting: float = 0.0
    kv_cache: float = 0.0  # 0..1


@dataclass(frozen=True)
class LoadSample:
    """What telemetry read for one model at one moment."""

    at: datetime
    router_in_flight: float | None  # per-model in-flight, summed over routers; None: unread
    holding: float = 0.0  # requests the routers hold for lack of an endpoint
    pods: tuple[EngineGauges, ...] = ()  # ready vLLM pods that were read (empty for Ollama)
    unreadable_pods: int = 0  # ready vLLM pods whose /metrics could not be read
    ready_replicas: int = 0
    # False when some router could not be read: router_in_flight is then a lower bound.
    routers_complete: bool = True

    def in_flight(self) -> float:
        engine_side = sum(p.running + p.waiting for p in self.pods)
        return max(self.router_in_flight or 0.0, engine_side) + self.holding

    def complete(self, engine: Engine) -> bool:
        """Every source of this sample was read (so a low value really is low)."""
        if self.router_in_flight is None or not self.routers_complete or self.unreadable_pods:
            return False
        return engine != "vllm" or len(self.pods) >= self.ready_replicas


@dataclass(frozen=True)
class AutoscalerInput:
    autoscaling: Autoscaling
    engine: Engine
    current: int  # replicas now asked for: status.desiredReplicas (spec.replicas the first time)
    history: Sequence[LoadSample]  # oldest first, as kept by remember()
    memory: AutoscalerStatus | None  # status.autoscaler
    now: datetime
    # The scheduler's message while pods of this model cannot be placed for lack of GPUs.
    capacity_shortage: str | None = None
    generation: int | None = None  # metadata.generation, for the condition


@dataclass(frozen=True)
class ScalingDecision:
    previous_replicas: int
    desired_replicas: int
    memory: AutoscalerStatus  # the new status.autoscaler
    condition: Condition  # ScalingLimited
    requeue_after: float  # seconds
    reason: str  # one line, e.g. for an Event when the count changes

    @property
    def changed(self) -> bool:
        return self.desired_replicas != self.previous_replicas


def need(sample: LoadSample, spec: Autoscaling, engine: Engine) -> float:
    """Replicas this sample's load asks for (not rounded)."""
    needed = sample.in_flight() / spec.target_in_flight
    if engine == "vllm" and sample.pods:
        if spec.target_waiting is not None:
            needed = max(needed, sum(p.waiting for p in sample.pods) / spec.target_waiting)
        if spec.target_kv_cache is not None:
            needed = max(needed, sum(p.kv_cache for p in sample.pods) / spec.target_kv_cache)
    return needed


def _in_window(history: Sequence[LoadSample], end: datetime, seconds: float) -> list[LoadSample]:
    start = end - timedelta(seconds=seconds)
    return [s for s in history if start < s.at <= end]


class _Needs:
    """Each sample's need computed once per decision, window means from prefix sums (the
    scale-down looks at ~70 windows of ~12 samples per model and interval)."""

    def __init__(self, history: Sequence[LoadSample], spec: Autoscaling, engine: Engine) -> None:
        self.times = [sample.at for sample in history]  # oldest first (remember() keeps order)
        needs = (need(sample, spec, engine) for sample in history)
        self.prefix = list(itertools.accumulate(needs, initial=0.0))

    def recommend(self, end: datetime, seconds: float) -> int:
        """ceil(mean need) over the samples in (end - seconds, end]; end is a sample's time."""
        high = bisect.bisect_right(self.times, end)
        low = bisect.bisect_right(self.times, end - timedelta(seconds=seconds))
        mean = (self.prefix[high] - self.prefix[low]) / max(1, high - low)
        return max(0, math.ceil(mean - EPSILON))


def _covers(history: Sequence[LoadSample], now: datetime, span: float, interval: float) -> bool:
    """The history reaches back over `span` seconds (within one interval)."""
    return bool(history) and history[0].at <= now - timedelta(seconds=max(0.0, span - interval))


def _scale_up_recommendation(inputs: AutoscalerInput, needs: _Needs) -> int:
    spec, history, now = inputs.autoscaling, inputs.history, inputs.now
    rules = spec.scale_up
    if rules.stabilization_window_seconds == 0:
        return needs.recommend(now, rules.window_seconds)
    span = rules.stabilization_window_seconds + rules.window_seconds
    if not _covers(history, now, span, spec.interval_seconds):
        return inputs.current  # not sustained for the window yet
    ends = _in_window(history, now, rules.stabilization_window_seconds)
    return min(needs.recommend(end.at, rules.window_seconds) for end in ends)


def _scale_down_recommendation(inputs: AutoscalerInput, needs: _Needs) -> int:
    spec, history, now = inputs.autoscaling, inputs.history, inputs.now
    rules = spec.scale_down
    span = rules.stabilization_window_seconds + rules.window_seconds
    if not _covers(history, now, span, spec.interval_seconds):
        return inputs.current  # too little history (e.g. after a restart): never lower
    if not all(s.complete(inputs.engine) for s in _in_window(history, now, span)):
        return inputs.current  # an unread pod is not zero load
    ends = _in_window(history, now, rules.stabilization_window_seconds) or [history[-1]]
    # Each moment's recommendation is the larger of the long window's and the short one's: the
    # count a scale-up just chose stays "recommended" for the whole stabilization window.
    up_window = spec.scale_up.window_seconds
    return max(
        max(needs.recommend(end.at, rules.window_seconds), needs.recommend(end.at, up_window))
        for end in ends
    )


def _idle_since(inputs: AutoscalerInput, latest: LoadSample) -> datetime | None:
    previous = inputs.memory.idle_since if inputs.memory is not None else None
    if latest.in_flight() > 0:
        return None
    if not latest.complete(inputs.engine):
        return previous  # unknown: neither starts nor resets the idle clock
    return previous if previous is not None else latest.at


def decide_replicas(inputs: AutoscalerInput) -> ScalingDecision:
    """The replica count for this interval, the new autoscaler memory and ScalingLimited."""
    spec, now, current = inputs.autoscaling, inputs.now, inputs.current
    memory = inputs.memory or AutoscalerStatus()
    interval = float(spec.interval_seconds)
    fresh_after = now - timedelta(seconds=FRESH_INTERVALS * interval)
    latest = inputs.history[-1] if inputs.history else None

    if latest is None or latest.at < fresh_after:
        bounded = min(max(current, spec.min_replicas), spec.max_replicas)
        return ScalingDecision(
            previous_replicas=current,
            desired_replicas=bounded,
            memory=memory.model_copy(update={"recommendation": None, "load": None}),
            condition=_condition(inputs, "False", "NoLoadSample", "no recent load sample"),
            requeue_after=interval,
            reason=_reason(
                current,
                bounded,
                "no recent load sample, holding the count"
                if bounded == current
                else f"no recent load sample; bounds {spec.min_replicas}..{spec.max_replicas}",
            ),
        )

    idle_since = _idle_since(inputs, latest)
    idle_for = (now - idle_since).total_seconds() if idle_since is not None else 0.0
    may_sleep = (
        spec.min_replicas == 0
        and idle_since is not None
        and latest.complete(inputs.engine)
        and idle_for >= spec.scale_to_zero_after_seconds()
    )
    needs = _Needs(inputs.history, spec, inputs.engine)
    up = _scale_up_recommendation(inputs, needs)
    waking = current == 0 and latest.in_flight() > 0
    if waking:
        # Held requests wait for a replica: no window, no stabilization.
        up = max(1, math.ceil(need(latest, spec, inputs.engine) - EPSILON))
    notes: list[str] = []  # why, for the reason line
    if up > current:
        proposal = up
        notes.append("load rose")
    elif may_sleep and current > 0:
        proposal = 0
        notes.append(f"idle for {idle_for:.0f}s")
    else:
        proposal = _scale_down_recommendation(inputs, needs)
        if proposal < current:
            notes.append("load fell")

    # Step limits on load-driven moves; scale-down moves once per interval at most (the
    # reconcile also runs when telemetry pokes it, every second under changing load); the
    # bounds apply at once.
    stepped = proposal
    if proposal > current:
        stepped = min(proposal, current + spec.scale_up.max_step)
    elif proposal < current:
        stepped = max(proposal, current - spec.scale_down.max_step)
    last = memory.last_scale_time
    if stepped < current and last is not None and (now - last).total_seconds() < interval:
        stepped = current  # replicas go one step per interval; they come at every decision
        notes.append(f"the next step down waits for the {interval:g}s interval")
    floor = spec.min_replicas
    if floor == 0 and current > 0 and not may_sleep:
        floor = 1  # only the idle timer takes the last replica
    desired = min(max(stepped, floor), spec.max_replicas)
    if desired > stepped:
        notes.append(
            f"minReplicas is {spec.min_replicas}"
            if floor == spec.min_replicas
            else "only the idle timer takes the last replica"
        )
    elif desired < stepped:
        notes.append(f"maxReplicas is {spec.max_replicas}")

    status, reason, message = "False", "DesiredWithinRange", "the count is within its bounds"
    if proposal > spec.max_replicas:
        status, reason = "True", "TooManyReplicas"
        message = f"the load asks for {_replicas(proposal)}; maxReplicas is {spec.max_replicas}"
    elif proposal < spec.min_replicas:
        status, reason = "True", "TooFewReplicas"
        message = f"the load asks for {_replicas(proposal)}; minReplicas is {spec.min_replicas}"
    if inputs.capacity_shortage is not None:
        status, reason, message = "True", "InsufficientCapacity", inputs.capacity_shortage
        if desired > current:
            notes.append("no more while pods wait for capacity")
        desired = min(desired, current)  # never ask for more while pods wait for GPUs

    up_window = _in_window(inputs.history, now, spec.scale_up.window_seconds) or [latest]
    new_memory = AutoscalerStatus(
        last_scale_time=_whole_second_up(now) if desired != current else memory.last_scale_time,
        idle_since=_whole_second_up(idle_since) if idle_since is not None else None,
        recommendation=proposal,
        load=round(sum(s.in_flight() for s in up_window) / len(up_window), 2),
        holding=math.ceil(latest.holding),
        unreadable_pods=latest.unreadable_pods,
    )
    detail = f"load {new_memory.load:g}, target {spec.target_in_flight} per replica"
    if notes:
        detail = f"{'; '.join(notes)}: {detail}"
    return ScalingDecision(
        previous_replicas=current,
        desired_replicas=desired,
        memory=new_memory,
        condition=_condition(inputs, status, reason, message),
        requeue_after=interval,
        reason=_reason(current, desired, detail),
    )


def _replicas(count: int) -> str:
    return f"{count} replica" if count == 1 else f"{count} replicas"


def _whole_second_up(moment: datetime) -> datetime:
    """Status keeps whole seconds; rounding up keeps the interval gate from opening early and
    the idle clock from taking the last replica early."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def _condition(inputs: AutoscalerInput, status: str, reason: str, message: str) -> Condition:
    return make_condition(
        SCALING_LIMITED,
        "True" if status == "True" else "False",
        reason,
        message,
        now=inputs.now,
        observed_generation=inputs.generation,
    )


def _reason(current: int, desired: int, detail: str) -> str:
    if desired > current:
        return f"scale up from {current} to {desired} ({detail})"
    if desired < current:
        return f"scale down from {current} to {desired} ({detail})"
    return f"hold {current} ({detail})"


def history_seconds(spec: Autoscaling) -> float:
    """How far back any window of `spec` looks (the samples a decision needs)."""
    return float(
        max(
            spec.scale_up.window_seconds + spec.scale_up.stabilization_window_seconds,
            spec.scale_down.window_seconds + spec.scale_down.stabilization_window_seconds,
        )
        + 2 * spec.interval_seconds
    )


def remember(
    history: Sequence[LoadSample], sample: LoadSample, spec: Autoscaling
) -> tuple[LoadSample, ...]:
    """`history` plus `sample`, without what no window of `spec` will look at again."""
    start = sample.at - timedelta(seconds=history_seconds(spec))
    return (*(s for s in history if start < s.at < sample.at), sample)


def current_replicas(spec_replicas: int, status: ModelDeploymentStatus | None) -> int:
    """The count the autoscaler starts from: its last decision, else the manual spec.replicas."""
    if status is not None and status.desired_replicas is not None:
        return status.desired_replicas
    return spec_replicas


def capacity_shortage(pods: Iterable[PodObservation]) -> str | None:
    """The scheduler's message while a pod of the model cannot be placed (GPU messages first):
    the `capacity_shortage` input of the decision."""
    messages = [p.unschedulable_message for p in pods if p.unschedulable_message and not p.deleting]
    gpu = [m for m in messages if "Insufficient nvidia.com/gpu" in m]
    found = gpu or messages
    return found[0] if found else None


def autoscale(
    spec: ModelDeploymentSpec,
    previous: ModelDeploymentStatus | None,
    samples: Sequence[LoadSample],
    pods: Iterable[PodObservation],
    now: datetime,
    generation: int | None = None,
) -> ScalingDecision | None:
    """The plan's one call: None when autoscaling is off (spec.replicas rules), else the
    decision from the load samples, the last status (memory, last count) and the pods
    (GPU shortage). The caller puts `desired_replicas` in status.desiredReplicas and splits it
    over the slots, `memory` in status.autoscaler, sets `condition`, and looks again after
    `requeue_after` at the latest."""
    autoscaling = spec.autoscaling
    if autoscaling is None or not autoscaling.enabled:
        return None
    return decide_replicas(
        AutoscalerInput(
            autoscaling=autoscaling,
            engine=spec.engine,
            current=current_replicas(spec.replicas, previous),
            history=samples,
            memory=previous.autoscaler if previous is not None else None,
            now=now,
            capacity_shortage=capacity_shortage(pods),
            generation=generation,
        )
    )
