"""The autoscaler's load samples from the telemetry package's per-round histories (pure).

`modelops.policies.autoscaling` takes plain `LoadSample`s (the policies may not import the
telemetry package); this is the one place that translates: one sample per scrape round, the
router side from `Telemetry.load_history(model, since)` and the engine side from
`Telemetry.pod_history(source, since)` of each ready vLLM pod of the model.

A ready pod with no reading in a round, or one that failed, counts as unreadable in that
round, so the decision never takes it for zero load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from modelops.policies.autoscaling import EngineGauges, LoadSample
from modelops.telemetry.types import ModelLoad, PodLoad


def load_samples(
    model_history: Sequence[ModelLoad],
    pod_histories: Mapping[str, Sequence[PodLoad]],
    ready_replicas: int,
) -> list[LoadSample]:
    """One sample per round of `model_history` (oldest first).

    `pod_histories`: per ready vLLM pod (telemetry source id), its readings over the same span;
    empty for Ollama, whose load is the routers' in-flight count alone. `ready_replicas`: the
    model's ready pods now (for vLLM, those of `pod_histories`).
    """
    by_round: dict[str, dict[float, PodLoad]] = {
        source: {reading.at: reading for reading in readings if reading.at is not None}
        for source, readings in pod_histories.items()
    }
    samples: list[LoadSample] = []
    for load in model_history:
        if load.at is None:
            continue
        pods: list[EngineGauges] = []
        unreadable = 0
        for readings in by_round.values():
            reading = readings.get(load.at)
            if reading is None or reading.running is None or reading.waiting is None:
                unreadable += 1  # no reading this round, or a failed one (error set)
                continue
            kv_cache = reading.kv_cache_usage or 0.0
            pods.append(EngineGauges(reading.running, reading.waiting, kv_cache))
        samples.append(
            LoadSample(
                at=datetime.fromtimestamp(load.at, UTC),
                router_in_flight=None if load.in_flight is None else float(load.in_flight),
                holding=float(load.holding or 0),
                pods=tuple(pods),
                unreadable_pods=unreadable,
                ready_replicas=ready_replicas,
                routers_complete=not load.unreadable_routers,
            )
        )
    return samples
