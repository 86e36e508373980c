"""Pure helpers for Kubernetes-style conditions (metav1.Condition semantics).

`lastTransitionTime` changes only when `status` changes, so that `kubectl wait` and GitOps
health checks see real transitions and a periodic reconcile does not churn the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelops.api.status import Condition, ConditionStatus


def make_condition(
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    *,
    now: datetime,
    observed_generation: int | None = None,
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now.replace(microsecond=0),
        observed_generation=observed_generation,
    )


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition], new: Condition, now: datetime
) -> list[Condition]:
    """A new list with `new` in place of the condition of the same type (appended if absent).

    If the status is unchanged, the previous lastTransitionTime is kept (reason, message and
    observedGeneration still update); otherwise it becomes `now` (seconds precision).
    """
    previous = find_condition(conditions, new.type)
    if previous is not None and previous.status == new.status:
        transition = previous.last_transition_time
    else:
        transition = now.replace(microsecond=0)
    updated = new.model_copy(update={"last_transition_time": transition})
    result: list[Condition] = []
    replaced = False
    for condition in conditions:
        if condition.type == new.type:
            result.append(updated)
            replaced = True
        else:
            result.append(condition)
    if not replaced:
        result.append(updated)
    return result


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


def conditions_equal_ignoring_time(a: Sequence[Condition], b: Sequence[Condition]) -> bool:
    """True when only lastTransitionTime differs: lets the caller skip a no-op status patch."""

    def key(items: Sequence[Condition]) -> list[tuple[object, ...]]:
        return sorted((c.type, c.status, c.reason, c.message, c.observed_generation) for c in items)

    return key(a) == key(b)
