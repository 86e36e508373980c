from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelops.api.conditions import (
    conditions_equal_ignoring_time,
    find_condition,
    is_true,
    make_condition,
    remove_condition,
    set_condition,
)
from modelops.api.resource import dump_status
from modelops.api.status import ModelDeploymentStatus

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def ready(status: str, reason: str = "AllReplicasReady", message: str = "") -> object:
    return make_condition("Ready", status, reason, message, now=T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "new_status", "new_reason", "expected_time"),
    [
        (None, "True", "AllReplicasReady", T1.replace(microsecond=0)),
        ("True", "True", "AllReplicasReady", T0.replace(microsecond=0)),
        ("True", "True", "SomethingElse", T0.replace(microsecond=0)),
        ("True", "False", "InsufficientGPU", T1.replace(microsecond=0)),
        ("False", "Unknown", "Pending", T1.replace(microsecond=0)),
    ],
)
def test_set_condition_keeps_transition_time_only_when_status_is_unchanged(
    before: str | None, new_status: str, new_reason: str, expected_time: datetime
) -> None:
    existing = [] if before is None else [make_condition("Ready", before, "Old", now=T0)]  # type: ignore[arg-type]
    new = make_condition("Ready", new_status, new_reason, "msg", now=T1, observed_generation=4)  # type: ignore[arg-type]
    result = set_condition(existing, new, T1)
    assert len(result) == 1
    assert result[0].last_transition_time == expected_time
    assert result[0].reason == new_reason
    assert result[0].observed_generation == 4


def test_set_condition_preserves_order_and_other_types() -> None:
    progressing = make_condition("Progressing", "True", "NewReplicaSet", now=T0)
    degraded = make_condition("Degraded", "False", "AsExpected", now=T0)
    ready_false = make_condition("Ready", "False", "Pending", now=T0)
    result = set_condition(
        [progressing, ready_false, degraded],
        make_condition("Ready", "True", "AllReplicasReady", now=T1),
        T1,
    )
    assert [c.type for c in result] == ["Progressing", "Ready", "Degraded"]
    assert is_true(result, "Ready")
    assert not is_true(result, "Degraded")
    assert find_condition(result, "Missing") is None
    assert [c.type for c in remove_condition(result, "Ready")] == ["Progressing", "Degraded"]


def test_equal_ignoring_time() -> None:
    a = [make_condition("Ready", "True", "AllReplicasReady", now=T0)]
    b = [make_condition("Ready", "True", "AllReplicasReady", now=T1)]
    c = [make_condition("Ready", "False", "AllReplicasReady", now=T0)]
    assert conditions_equal_ignoring_time(a, b)
    assert not conditions_equal_ignoring_time(a, c)


def test_status_dump_uses_rfc3339_z_and_camel_case() -> None:
    status = ModelDeploymentStatus(
        observed_generation=2,
        phase="Ready",
        conditions=[make_condition("Ready", "True", "AllReplicasReady", now=T0)],
        ready_replicas=1,
        selector="modelops.io/model=x",
    )
    data = dump_status(status)
    assert data["conditions"][0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert data["readyReplicas"] == 1
    assert data["observedGeneration"] == 2
    assert "canary" not in data


def test_condition_reason_must_be_camel_case() -> None:
    with pytest.raises(ValueError, match="reason"):
        make_condition("Ready", "False", "not enough gpus", now=T0)
