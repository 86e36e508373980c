"""Telemetry's per-round histories -> the autoscaler's load samples."""

from __future__ import annotations

from datetime import UTC, datetime

from modelops.controller.load_samples import load_samples
from modelops.policies.autoscaling import EngineGauges
from modelops.telemetry.types import ModelLoad, PodLoad

T = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def model_round(
    at: float, in_flight: int | None, holding: int | None = 0, **kw: object
) -> ModelLoad:
    return ModelLoad("m", in_flight, holding, {}, 1, kw.get("unreadable", {}), at)  # type: ignore[arg-type]


def test_one_sample_per_round_with_each_pods_reading_of_that_round() -> None:
    history = [model_round(T, 3), model_round(T + 1, 5, holding=2)]
    pods = {
        "ns/a": [
            PodLoad("ns/a", T, 1, 0, 0.1),
            PodLoad("ns/a", T + 1, 2, 1, 0.4),
        ],
        "ns/b": [PodLoad("ns/b", T + 1, 1, 1, None)],  # new pod: no reading at T
    }
    first, second = load_samples(history, pods, ready_replicas=2)
    assert first.at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert first.router_in_flight == 3
    assert first.pods == (EngineGauges(1, 0, 0.1),)
    assert first.unreadable_pods == 1  # b had no reading in that round: not zero load
    assert not first.complete("vllm")
    assert second.pods == (EngineGauges(2, 1, 0.4), EngineGauges(1, 1, 0.0))
    assert second.holding == 2
    assert second.unreadable_pods == 0
    assert second.complete("vllm")
    assert second.in_flight() == 5 + 2  # the routers' count beats the engines' 5, plus held


def test_failed_pod_reads_and_unknown_or_partial_router_counts_are_not_zero() -> None:
    history = [
        model_round(T, None, None),  # no router knows the model this round
        model_round(T + 1, 4, unreadable={"router-1": "timed out"}),
        model_round(T + 2, 4),
    ]
    pods = {"ns/a": [PodLoad("ns/a", t, error="refused") for t in (T, T + 1, T + 2)]}
    unknown, partial, failed = load_samples(history, pods, ready_replicas=1)
    assert unknown.router_in_flight is None
    assert not unknown.complete("vllm")
    assert partial.router_in_flight == 4
    assert not partial.routers_complete
    assert not partial.complete("ollama")
    assert failed.unreadable_pods == 1
    assert not failed.complete("vllm")


def test_ollama_has_no_pod_readings() -> None:
    (sample,) = load_samples([model_round(T, 6)], {}, ready_replicas=3)
    assert sample.pods == ()
    assert sample.ready_replicas == 3
    assert sample.complete("ollama")
    assert sample.in_flight() == 6
