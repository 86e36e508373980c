"""spec.autoscaling: defaults, bounds, and the CEL rules' Python twins (same messages)."""

from __future__ import annotations

from typing import Any

import pytest

from modelops.api import InvalidModelDeploymentError, parse_spec
from modelops.api.crd import build_crd
from modelops.api.spec import AUTOSCALING_RULES, Autoscaling, pause_seconds

OLLAMA: dict[str, Any] = {"engine": "ollama", "model": "llama3.1:8b"}


def autoscaling(**fields: Any) -> Autoscaling:
    spec = parse_spec({**OLLAMA, "autoscaling": fields})
    assert spec.autoscaling is not None
    return spec.autoscaling


def test_defaults() -> None:
    a = autoscaling()
    assert (a.enabled, a.min_replicas, a.max_replicas, a.target_in_flight) == (False, 1, 4, 8)
    assert (a.target_waiting, a.target_kv_cache) == (None, None)
    assert (a.scale_up.window_seconds, a.scale_up.stabilization_window_seconds) == (10, 0)
    assert a.scale_up.max_step == 4
    assert (a.scale_down.window_seconds, a.scale_down.stabilization_window_seconds) == (60, 300)
    assert a.scale_down.max_step == 1
    assert a.scale_to_zero_after == "15m"
    assert a.scale_to_zero_after_seconds() == 900
    assert a.interval_seconds == 5


def test_wire_names_are_camel_case() -> None:
    a = autoscaling(
        minReplicas=0,
        targetWaiting=2,
        targetKVCache=0.8,
        scaleUp={"maxStep": 2},
        scaleDown={"stabilizationWindowSeconds": 120},
        scaleToZeroAfter="1h30m",
        intervalSeconds=10,
    )
    assert a.min_replicas == 0
    assert a.target_kv_cache == 0.8
    assert a.scale_up.max_step == 2
    assert a.scale_up.window_seconds == 10  # the rest of the nested defaults stay
    assert a.scale_down.stabilization_window_seconds == 120
    assert a.scale_to_zero_after_seconds() == 5400
    dumped = a.model_dump(by_alias=True)
    assert dumped["targetKVCache"] == 0.8
    assert dumped["scaleDown"]["stabilizationWindowSeconds"] == 120


INVALID = [
    ({"minReplicas": 5, "maxReplicas": 2}, AUTOSCALING_RULES[0]["message"]),
    ({"scaleToZeroAfter": "0s"}, AUTOSCALING_RULES[1]["message"]),
    ({"scaleToZeroAfter": "0h00m"}, AUTOSCALING_RULES[1]["message"]),
    ({"scaleToZeroAfter": "15 minutes"}, "scaleToZeroAfter"),
    ({"scaleToZeroAfter": "s"}, "scaleToZeroAfter"),
    ({"maxReplicas": 0}, "maxReplicas"),
    ({"minReplicas": -1}, "minReplicas"),
    ({"targetInFlight": 0}, "targetInFlight"),
    ({"targetKVCache": 0}, "targetKVCache"),
    ({"targetKVCache": 1.5}, "targetKVCache"),
    ({"targetWaiting": 0}, "targetWaiting"),
    ({"intervalSeconds": 0}, "intervalSeconds"),
    ({"scaleUp": {"maxStep": 0}}, "scaleUp.maxStep"),
    ({"scaleDown": {"windowSeconds": 0}}, "scaleDown.windowSeconds"),
    ({"scaleDown": {"stabilizationWindowSeconds": -1}}, "stabilizationWindowSeconds"),
    ({"scaleDown": {"cooldown": 5}}, "cooldown"),
]


@pytest.mark.parametrize(("fields", "expected"), INVALID, ids=[str(c[0]) for c in INVALID])
def test_invalid_autoscaling_is_rejected_with_a_clear_message(
    fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidModelDeploymentError) as caught:
        parse_spec({**OLLAMA, "autoscaling": fields})
    assert expected in str(caught.value)


def test_every_autoscaling_cel_rule_has_a_case_and_is_in_the_crd() -> None:
    messages = {expected for _, expected in INVALID}
    crd_text = str(build_crd())
    for rule in AUTOSCALING_RULES:
        assert rule["message"] in messages
        assert rule["rule"] in crd_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h30m", 5400), ("45s", 45), ("2h", 7200), ("1h1m1s", 3661), ("", 0)],
)
def test_pause_seconds(text: str, seconds: int) -> None:
    assert pause_seconds(text) == seconds


def test_cel_positive_duration_rule_agrees_with_python() -> None:
    # The CEL rule says "some digit is non-zero"; Python computes the seconds.
    for text in ("0s", "00m", "0h0m0s", "1s", "10m", "0h1m", "100s"):
        assert (pause_seconds(text) > 0) == any(c in "123456789" for c in text), text
