"""The launcher's pod-status documents (pure parts of modelops.k8s.pod_status)."""

from __future__ import annotations

import datetime

from modelops.k8s.pod_status import (
    ContainerObservation,
    Termination,
    container_update,
    merge_container_statuses,
    ready_conditions,
)

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(seconds=30)


def test_crash_loop_update_records_the_termination() -> None:
    update = container_update(
        ContainerObservation(
            "vllm",
            ready=False,
            restart_count=2,
            last_termination=Termination(137, T0, T1),
            waiting_reason="CrashLoopBackOff",
        )
    )
    assert update == {
        "ready": False,
        "restartCount": 2,
        "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {
            "terminated": {
                "exitCode": 137,
                "reason": "Error",
                "startedAt": "2026-01-01T12:00:00Z",
                "finishedAt": "2026-01-01T12:00:30Z",
            }
        },
    }


def test_running_update() -> None:
    update = container_update(ContainerObservation("vllm", ready=True, started_at=T1))
    assert update["state"] == {"running": {"startedAt": "2026-01-01T12:00:30Z"}}
    assert update["ready"] is True


def test_merge_keeps_other_containers_and_kwok_fields() -> None:
    existing = [
        {"name": "sidecar", "image": "envoy", "ready": True, "restartCount": 0},
        {"name": "vllm", "image": "vllm/vllm-openai", "ready": True, "restartCount": 0},
    ]
    merged = merge_container_statuses(existing, "vllm", {"ready": False, "restartCount": 1})
    assert merged == [
        existing[0],
        {"name": "vllm", "image": "vllm/vllm-openai", "ready": False, "restartCount": 1},
    ]
    assert existing[1]["ready"] is True  # input untouched


def test_merge_adds_a_missing_container() -> None:
    merged = merge_container_statuses([], "vllm", {"ready": False})
    assert merged == [{"name": "vllm", "image": "", "imageID": "", "ready": False}]


def test_ready_conditions() -> None:
    ready = ready_conditions(True, T0)
    assert [(c["type"], c["status"], c["reason"]) for c in ready] == [
        ("Ready", "True", None),
        ("ContainersReady", "True", None),
    ]
    assert {c["reason"] for c in ready_conditions(False, T0)} == {"ContainersNotReady"}
