"""modelops.policies.status: conditions, phase, timestamps and events from observed facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from modelops.api.conditions import find_condition, make_condition
from modelops.api.status import Condition, ModelDeploymentStatus
from modelops.policies.observed import DeploymentObservation, Observed, PodObservation
from modelops.policies.status import Transition, assess, derive_status, transitions

SLOT = "blue"
GPU_MESSAGE = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
    "2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)
SELECTOR_MESSAGE = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
T0 = datetime(2026, 3, 1, 10, 0, 0, 654321, tzinfo=UTC)
T1 = T0 + timedelta(minutes=3)


def deployment(
    generation: int = 1,
    observed_generation: int = 1,
    updated: int = 2,
    deadline: bool = False,
    slot: str = SLOT,
) -> DeploymentObservation:
    return DeploymentObservation(
        name=f"demo-{slot}",
        slot=slot,
        generation=generation,
        observed_generation=observed_generation,
        replicas=2,
        ready_replicas=0,
        updated_replicas=updated,
        progress_deadline_exceeded=deadline,
    )


def pod(
    name: str = "p",
    *,
    ready: bool = False,
    slot: str | None = SLOT,
    deleting: bool = False,
    unschedulable: str | None = None,
    waiting: tuple[str, ...] = (),
) -> PodObservation:
    return PodObservation(
        name=name,
        slot=slot,
        phase="Running" if ready else "Pending",
        ready=ready,
        deleting=deleting,
        unschedulable_message=unschedulable,
        waiting_reasons=waiting,
    )


def observed(dep: DeploymentObservation | None, *pods: PodObservation) -> Observed:
    return Observed({dep.slot: dep} if dep is not None and dep.slot else {}, tuple(pods))


@dataclass(frozen=True)
class Case:
    id: str
    observed: Observed
    desired: int
    ready: tuple[str, str]
    progressing: tuple[str, str]
    degraded: tuple[str, str]
    phase: str


CASES = [
    Case(
        "no deployment yet",
        observed(None),
        2,
        ("False", "Creating"),
        ("True", "Creating"),
        ("False", "AsExpected"),
        "Pending",
    ),
    Case(
        "no deployment but stale ready pods",
        observed(None, pod("a", ready=True)),
        1,
        ("False", "Creating"),
        ("True", "Creating"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "insufficient GPU",
        observed(deployment(), pod("a", unschedulable=GPU_MESSAGE)),
        1,
        ("False", "InsufficientGPU"),
        ("True", "WaitingForCapacity"),
        ("False", "AsExpected"),
        "Pending",
    ),
    Case(
        "unschedulable for another reason",
        observed(deployment(), pod("a", unschedulable=SELECTOR_MESSAGE)),
        1,
        ("False", "Unschedulable"),
        ("True", "WaitingForCapacity"),
        ("False", "AsExpected"),
        "Pending",
    ),
    Case(
        "one of two unschedulable, the other ready",
        observed(deployment(), pod("a", ready=True), pod("b", unschedulable=GPU_MESSAGE)),
        2,
        ("False", "InsufficientGPU"),
        ("True", "WaitingForCapacity"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "a terminating unschedulable pod is ignored",
        observed(
            deployment(), pod("a", ready=True), pod("b", unschedulable=GPU_MESSAGE, deleting=True)
        ),
        1,
        ("True", "AllReplicasReady"),
        ("False", "RolloutComplete"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "crash loop",
        observed(deployment(), pod("a", waiting=("CrashLoopBackOff",))),
        1,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("True", "CrashLoopBackOff"),
        "Degraded",
    ),
    Case(
        "image pull: first reason in sorted order",
        observed(
            deployment(),
            pod("a", waiting=("ImagePullBackOff",)),
            pod("b", waiting=("ErrImagePull",)),
        ),
        2,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("True", "ErrImagePull"),
        "Degraded",
    ),
    Case(
        "crash loop while another replica is ready",
        observed(deployment(), pod("a", ready=True), pod("b", waiting=("CrashLoopBackOff",))),
        2,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("True", "CrashLoopBackOff"),
        "Degraded",
    ),
    Case(
        "degraded and unschedulable: Degraded phase wins",
        observed(
            deployment(),
            pod("a", waiting=("CreateContainerConfigError",)),
            pod("b", unschedulable=GPU_MESSAGE),
        ),
        2,
        ("False", "InsufficientGPU"),
        ("True", "WaitingForCapacity"),
        ("True", "CreateContainerConfigError"),
        "Degraded",
    ),
    Case(
        "container creating is not trouble",
        observed(deployment(), pod("a", waiting=("ContainerCreating", "PodInitializing"))),
        1,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "failing pods of the other slot are not ours",
        observed(
            deployment(),
            pod("a", ready=True),
            pod("g", slot="green", waiting=("CrashLoopBackOff",)),
        ),
        1,
        ("True", "AllReplicasReady"),
        ("False", "RolloutComplete"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "failing terminating pods are not ours",
        observed(
            deployment(), pod("a", ready=True), pod("old", deleting=True, waiting=("ErrImagePull",))
        ),
        1,
        ("True", "AllReplicasReady"),
        ("False", "RolloutComplete"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "progress deadline exceeded",
        observed(deployment(deadline=True), pod("a")),
        1,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("True", "ProgressDeadlineExceeded"),
        "Degraded",
    ),
    Case(
        "waiting reasons win over the deadline",
        observed(deployment(deadline=True), pod("a", waiting=("CrashLoopBackOff",))),
        1,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("True", "CrashLoopBackOff"),
        "Degraded",
    ),
    Case(
        "scaled to zero, nothing left",
        observed(deployment(updated=0)),
        0,
        ("True", "ScaledToZero"),
        ("False", "ScaledToZero"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "scaled to zero, a pod not yet deleted",
        observed(deployment(updated=0), pod("a", ready=True)),
        0,
        ("True", "ScaledToZero"),
        ("True", "ScalingDown"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    # Pods with a deletionTimestamp (terminating) are not counted at all, so a scale-down whose
    # pods are still shutting down (and may still hold their GPUs) already reads as done.
    # Reported to the lead as a question: this pins today's behaviour.
    Case(
        "scaled to zero, pods still terminating",
        observed(
            deployment(updated=0), pod("a", deleting=True), pod("b", ready=True, deleting=True)
        ),
        0,
        ("True", "ScaledToZero"),
        ("False", "ScaledToZero"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "deployment created, no pods yet",
        observed(deployment(updated=0)),
        1,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "rolling out: observedGeneration behind",
        observed(
            deployment(generation=3, observed_generation=2),
            pod("a", ready=True),
            pod("b", ready=True),
        ),
        2,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "rolling out: updatedReplicas short",
        observed(deployment(updated=1), pod("a", ready=True), pod("b", ready=True)),
        2,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "rolling out: one of two ready",
        observed(deployment(), pod("a", ready=True), pod("b")),
        2,
        ("False", "WaitingForReplicas"),
        ("True", "RollingOut"),
        ("False", "AsExpected"),
        "Progressing",
    ),
    Case(
        "all ready",
        observed(deployment(), pod("a", ready=True), pod("b", ready=True)),
        2,
        ("True", "AllReplicasReady"),
        ("False", "RolloutComplete"),
        ("False", "AsExpected"),
        "Ready",
    ),
    Case(
        "all ready, observedGeneration ahead of a stale cache",
        observed(deployment(generation=2, observed_generation=3), pod("a", ready=True)),
        1,
        ("True", "AllReplicasReady"),
        ("False", "RolloutComplete"),
        ("False", "AsExpected"),
        "Ready",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_assess(case: Case) -> None:
    result = assess(case.observed, slot=SLOT, desired=case.desired)
    assert result.ready[:2] == case.ready
    assert result.progressing[:2] == case.progressing
    assert result.degraded[:2] == case.degraded
    assert result.phase == case.phase


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (GPU_MESSAGE, "InsufficientGPU"),
        ("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.", "InsufficientGPU"),
        ("0/1 nodes are available: 1 Insufficient cpu.", "Unschedulable"),
        ("0/1 nodes are available: 1 Insufficient memory.", "Unschedulable"),
        (SELECTOR_MESSAGE, "Unschedulable"),
    ],
)
def test_unschedulable_reason_and_message_are_the_schedulers(message: str, reason: str) -> None:
    result = assess(
        observed(deployment(), pod("a", unschedulable=message), pod("b", unschedulable=message)),
        slot=SLOT,
        desired=2,
    )
    assert result.ready == ("False", reason, message)
    assert result.progressing == (
        "True",
        "WaitingForCapacity",
        f"2 pod(s) cannot be scheduled: {message}",
    )


def test_messages_name_counts_and_reasons() -> None:
    result = assess(
        observed(
            deployment(),
            pod("a", ready=True),
            pod("b", waiting=("ImagePullBackOff",)),
            pod("c", waiting=("CrashLoopBackOff", "ImagePullBackOff")),
        ),
        slot=SLOT,
        desired=3,
    )
    assert result.ready == ("False", "WaitingForReplicas", "1/3 replicas ready")
    assert result.degraded == (
        "True",
        "CrashLoopBackOff",
        "pods of slot blue are in CrashLoopBackOff, ImagePullBackOff",
    )
    deadline = assess(observed(deployment(deadline=True)), slot=SLOT, desired=1)
    assert deadline.degraded == (
        "True",
        "ProgressDeadlineExceeded",
        "deployment demo-blue did not become available in time",
    )


# -- derive_status ------------------------------------------------------------------------------


def derive(
    obs: Observed,
    previous: ModelDeploymentStatus | None,
    now: datetime,
    *,
    desired: int = 2,
    generation: int = 5,
) -> ModelDeploymentStatus:
    return derive_status(
        obs,
        slot=SLOT,
        revision="rev1234567",
        desired=desired,
        generation=generation,
        served_name="served",
        selector="modelops.io/model=demo",
        previous=previous,
        now=now,
    )


ROLLING = observed(deployment(), pod("a", ready=True), pod("b"))
ALL_READY = observed(deployment(), pod("a", ready=True), pod("b", ready=True))


def conditions_by_type(status: ModelDeploymentStatus) -> dict[str, Condition]:
    return {c.type: c for c in status.conditions}


def test_derive_status_fields() -> None:
    obs = observed(
        deployment(),
        pod("a", ready=True),
        pod("b"),
        pod("gone", ready=True, deleting=True),
        pod("g", slot="green", ready=True),
    )
    status = derive(obs, None, T0, desired=2, generation=5)
    assert status.observed_generation == 5
    assert status.phase == "Progressing"
    assert status.served_model_name == "served"
    assert status.selector == "modelops.io/model=demo"
    assert status.desired_replicas == 2
    # Every live pod of the model (both slots) counts for the scale subresource.
    assert status.replicas == 3
    assert status.ready_replicas == 2
    assert status.stable is not None
    assert (status.stable.slot, status.stable.revision, status.stable.replicas) == (
        "blue",
        "rev1234567",
        2,
    )
    assert [c.type for c in status.conditions] == [
        "Ready",
        "Progressing",
        "Degraded",
        "Reconciling",
        "Stalled",
    ]
    for condition in status.conditions:
        assert condition.last_transition_time == T0.replace(microsecond=0)
        assert condition.observed_generation == 5


def test_transition_time_kept_while_status_unchanged() -> None:
    first = derive(observed(deployment(updated=0)), None, T0)  # Ready=False WaitingForReplicas
    second = derive(ROLLING, first, T1, generation=6)  # still False, other message
    by_type = conditions_by_type(second)
    assert by_type["Ready"].status == "False"
    assert by_type["Ready"].message == "1/2 replicas ready"
    for condition in second.conditions:
        assert condition.last_transition_time == T0.replace(microsecond=0)
        assert condition.observed_generation == 6


def test_transition_time_kept_when_only_the_reason_changes() -> None:
    first = derive(observed(None), None, T0)  # Ready=False Creating
    second = derive(ROLLING, first, T1)  # Ready=False WaitingForReplicas
    ready = conditions_by_type(second)["Ready"]
    assert ready.reason == "WaitingForReplicas"
    assert ready.last_transition_time == T0.replace(microsecond=0)


def test_transition_time_moves_when_status_changes() -> None:
    first = derive(ROLLING, None, T0)
    second = derive(ALL_READY, first, T1)
    by_type = conditions_by_type(second)
    assert (by_type["Ready"].status, by_type["Ready"].last_transition_time) == (
        "True",
        T1.replace(microsecond=0),
    )
    assert (by_type["Progressing"].status, by_type["Progressing"].last_transition_time) == (
        "False",
        T1.replace(microsecond=0),
    )
    assert (by_type["Degraded"].status, by_type["Degraded"].last_transition_time) == (
        "False",
        T0.replace(microsecond=0),
    )


def test_other_conditions_of_the_previous_status_are_kept() -> None:
    routed = make_condition("Routed", "True", "InRouterConfig", "ok", now=T0)
    previous = ModelDeploymentStatus(conditions=[routed])
    status = derive(ALL_READY, previous, T1)
    assert [c.type for c in status.conditions] == [
        "Routed",
        "Ready",
        "Progressing",
        "Degraded",
        "Reconciling",
        "Stalled",
    ]
    assert find_condition(status.conditions, "Routed") == routed


# -- transitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("previous", [None, ModelDeploymentStatus()], ids=["none", "empty"])
def test_no_events_for_a_healthy_new_object(previous: ModelDeploymentStatus | None) -> None:
    for obs in (observed(None), ROLLING, ALL_READY):
        assert transitions(previous, derive(obs, previous, T0)) == []


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        (
            observed(deployment(), pod("a", unschedulable=GPU_MESSAGE)),
            [Transition("Warning", "InsufficientGPU", f"Ready=False: {GPU_MESSAGE}")],
        ),
        (
            observed(deployment(), pod("a", unschedulable=SELECTOR_MESSAGE)),
            [Transition("Warning", "Unschedulable", f"Ready=False: {SELECTOR_MESSAGE}")],
        ),
        (
            observed(deployment(), pod("a", waiting=("CrashLoopBackOff",))),
            [
                Transition(
                    "Warning",
                    "CrashLoopBackOff",
                    "Degraded=True: pods of slot blue are in CrashLoopBackOff",
                )
            ],
        ),
    ],
    ids=["insufficient-gpu", "unschedulable", "crash-loop"],
)
def test_a_new_object_in_trouble_gets_warnings(obs: Observed, expected: list[Transition]) -> None:
    assert transitions(None, derive(obs, None, T0, desired=1)) == expected


def test_unchanged_status_posts_nothing() -> None:
    first = derive(ROLLING, None, T0)
    assert transitions(first, derive(ROLLING, first, T1)) == []
    # A message change alone (1/2 -> 0/2 ready) is not a transition either.
    assert transitions(first, derive(observed(deployment(), pod("a"), pod("b")), first, T1)) == []


def test_becoming_ready_posts_normal_events() -> None:
    first = derive(ROLLING, None, T0)
    second = derive(ALL_READY, first, T1)
    # Progressing tells the same story as Ready: one Event, not two.
    assert transitions(first, second) == [
        Transition("Normal", "AllReplicasReady", "Ready=True: 2/2 replicas ready"),
    ]


def test_trouble_on_a_known_object_is_a_warning_and_recovery_is_normal() -> None:
    healthy = derive(ALL_READY, None, T0)
    crashing = derive(
        observed(deployment(), pod("a", ready=True), pod("b", waiting=("CrashLoopBackOff",))),
        healthy,
        T1,
    )
    assert transitions(healthy, crashing) == [
        Transition("Normal", "WaitingForReplicas", "Ready=False: 1/2 replicas ready"),
        Transition(
            "Warning",
            "CrashLoopBackOff",
            "Degraded=True: pods of slot blue are in CrashLoopBackOff",
        ),
    ]
    pulling = derive(
        observed(deployment(), pod("a", ready=True), pod("b", waiting=("ImagePullBackOff",))),
        crashing,
        T1,
    )
    # Same status, other reason: still news, still a Warning.
    assert transitions(crashing, pulling) == [
        Transition(
            "Warning",
            "ImagePullBackOff",
            "Degraded=True: pods of slot blue are in ImagePullBackOff",
        )
    ]
    recovered = derive(ALL_READY, pulling, T1)
    events = transitions(pulling, recovered)
    # An empty message falls back to the reason.
    assert Transition("Normal", "AsExpected", "Degraded=False: AsExpected") in events
    assert all(event.type == "Normal" for event in events)


def test_losing_capacity_on_a_known_object_is_a_warning() -> None:
    healthy = derive(ALL_READY, None, T0)
    stuck = derive(
        observed(deployment(), pod("a", ready=True), pod("b", unschedulable=GPU_MESSAGE)),
        healthy,
        T1,
    )
    events = transitions(healthy, stuck)
    assert events == [Transition("Warning", "InsufficientGPU", f"Ready=False: {GPU_MESSAGE}")]


def test_reason_only_progress_posts_nothing() -> None:
    creating = derive(observed(None), None, T0)
    rolling = derive(ROLLING, creating, T1)
    assert transitions(creating, rolling) == []  # Creating -> WaitingForReplicas: no Event


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("started", "not_ready_for", "degraded_reason"),
    [
        (True, 61, "ReadinessProbeFailing"),  # past the grace: trouble
        (True, 10, "AsExpected"),  # a few missed probes: not yet
        (False, 600, "AsExpected"),  # still starting (startup probe not passed)
    ],
)
def test_a_started_pod_failing_readiness_beyond_the_grace_is_degraded(
    started: bool, not_ready_for: int, degraded_reason: str
) -> None:
    since = (NOW - timedelta(seconds=not_ready_for)).isoformat().replace("+00:00", "Z")
    failing = PodObservation(
        name="a", slot=SLOT, phase="Running", ready=False, started=started, not_ready_since=since
    )
    result = assess(Observed({SLOT: deployment()}, (failing,)), slot=SLOT, desired=1, now=NOW)
    assert result.degraded[1] == degraded_reason
    assert result.ready[0] == "False"


@pytest.mark.parametrize(
    ("phase", "ready", "degraded", "reconciling", "stalled"),
    [
        (
            "Ready",
            ("True", "AllReplicasReady", "1/1"),
            ("False", "AsExpected", ""),
            "False",
            "False",
        ),
        (
            "Progressing",
            ("False", "WaitingForReplicas", "0/1"),
            ("False", "AsExpected", ""),
            "True",
            "False",
        ),
        (
            "Pending",
            ("False", "InsufficientGPU", "0/3 nodes"),
            ("False", "AsExpected", ""),
            "True",
            "False",
        ),
        (
            "Degraded",
            ("False", "WaitingForReplicas", "0/1"),
            ("True", "CrashLoopBackOff", "crash"),
            "False",
            "True",
        ),
    ],
)
def test_kstatus_conditions_mirror_ours(
    phase: str,
    ready: tuple[str, str, str],
    degraded: tuple[str, str, str],
    reconciling: str,
    stalled: str,
) -> None:
    from modelops.policies.status import Assessment, kstatus_conditions

    assessment = Assessment(ready, ("False", "RolloutComplete", ""), degraded, phase)  # type: ignore[arg-type]
    found = dict(kstatus_conditions(assessment))
    assert found["Reconciling"][0] == reconciling
    assert found["Stalled"][0] == stalled
    if reconciling == "True":
        assert found["Reconciling"][1] == ready[1]
    if stalled == "True":
        assert found["Stalled"][1] == degraded[1]
