"""Windows from scrape rounds: resets, restarts, replica sums, gaps, baselines, retention."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from modelops.telemetry.types import PodReading, RouterReading, Series, TrackKey
from modelops.telemetry.windows import TelemetryState

K = TrackKey("m", "canary", "r2")
OTHER = TrackKey("m", "stable", "r1")
BOUNDS = (0.1, 0.5, 1.0, math.inf)
T0 = 1_000.0  # the first round; routers "started" at 900 unless said otherwise


def reading(
    ok: float = 0,
    error: float = 0,
    retried: float = 0,
    started: float | None = 900.0,
    latency: Sequence[float] = (),
    key: TrackKey = K,
    in_flight: Mapping[TrackKey, float] | None = None,
    holding: Mapping[str, float] | None = None,
) -> RouterReading:
    """A router's raw reading: cumulative counts, and the observations of `latency` (ok)."""
    counters = {
        Series(key, "requests", outcome, math.inf): value
        for outcome, value in (("ok", ok), ("error", error), ("retried", retried))
        if value
    }
    for bound in BOUNDS:
        counters[Series(key, "latency", "ok", bound)] = sum(1 for v in latency if v <= bound)
    return RouterReading(started, counters, in_flight or {}, holding or {})


DOWN = "unreachable: connection refused"


@dataclass
class Case:
    rounds: Sequence[Mapping[str, RouterReading | str]]  # one per second from T0
    since: float
    requests: int
    errors: int = 0
    forget_after: float = 600.0
    complete: bool = True
    covered_since: float | None = None  # when the window starts later than asked
    listed: Mapping[int, Sequence[str]] = field(default_factory=dict)


CASES = {
    "values before the history are a baseline": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=8)}, {"a": reading(ok=10, error=1)}], T0, 6, 1
    ),
    "window from a later round": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=8)}, {"a": reading(ok=10, error=1)}], T0 + 1, 3, 1
    ),
    "window between rounds starts at the round before": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=8)}, {"a": reading(ok=10)}], T0 + 1.5, 2
    ),
    "retried counts as an error": Case(
        [{"a": reading(ok=1)}, {"a": reading(ok=3, retried=2, error=1)}], T0, 5, 3
    ),
    "a counter going down is a reset": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=9)}, {"a": reading(ok=2)}], T0, 4 + 2
    ),
    "a new start time is a restart even when the count grew past the old one": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=9)}, {"a": reading(ok=12, started=1001.5)}],
        T0,
        4 + 12,
    ),
    "a restart that loses a series reads it from zero when it is back": Case(
        [
            {"a": reading(ok=5, error=3)},
            {"a": reading(ok=6, started=1000.5)},
            {"a": reading(ok=7, error=1, started=1000.5)},
        ],
        T0,
        6 + 1 + 1,
        1,
    ),
    "router replicas are summed": Case(
        [{"a": reading(ok=3), "b": reading(ok=10)}, {"a": reading(ok=5), "b": reading(ok=14)}],
        T0,
        2 + 4,
    ),
    "an unreadable router is caught up when it is back": Case(
        [{"a": reading(ok=5)}, {"a": DOWN}, {"a": reading(ok=9)}], T0, 4
    ),
    "an unreadable router makes the window incomplete": Case(
        [{"a": reading(ok=5), "b": reading(ok=1)}, {"a": reading(ok=6), "b": DOWN}],
        T0,
        1,
        complete=False,
    ),
    "a router back after a restart counts from zero": Case(
        [{"a": reading(ok=5)}, {"a": DOWN}, {"a": reading(ok=3, started=1001.2)}], T0, 3
    ),
    "a replica that started after the history counts all it has": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=6), "b": reading(ok=4, started=1000.5)}], T0, 1 + 4
    ),
    "a replica that existed before the history is a baseline": Case(
        [{"a": reading(ok=5), "b": DOWN}, {"a": reading(ok=6), "b": reading(ok=40)}], T0, 1
    ),
    "a router without a start time is a baseline when first read": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=6), "b": reading(ok=4, started=None)}], T0, 1
    ),
    "a router unlisted for a while and back is not counted twice": Case(
        [{"a": reading(ok=5)}, {}, {}, {"a": reading(ok=9)}], T0, 4
    ),
    "a router unlisted past the forget delay is new when back": Case(
        [{"a": reading(ok=5, started=T0)}, {}, {}, {"a": reading(ok=9, started=T0)}],
        T0,
        9,
        forget_after=1.5,
    ),
    "a router unreadable past the forget delay is still the same router": Case(
        [
            {"a": reading(ok=5, started=T0)},
            {"a": DOWN},
            {"a": DOWN},
            {"a": reading(ok=9, started=T0)},
        ],
        T0,
        4,
        forget_after=1.5,
        complete=True,
    ),
    "a window asked before the history starts at the history": Case(
        [{"a": reading(ok=5)}, {"a": reading(ok=7)}],
        T0 - 60,
        2,
        complete=False,
        covered_since=T0,
    ),
    "a track not seen yet has an empty window": Case([{"a": reading(ok=5, key=OTHER)}], T0, 0),
    "no router ever read": Case([{"a": DOWN}, {"a": DOWN}], T0, 0, complete=False),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_window_counts(case: Case) -> None:
    state = TelemetryState(forget_after_seconds=case.forget_after)
    for second, routers in enumerate(case.rounds):
        state.ingest(T0 + second, routers)
    window = state.window(K, case.since)
    assert window.figures.requests == case.requests
    assert window.figures.errors == case.errors
    expected_rate = case.errors / case.requests if case.requests else None
    assert window.figures.error_rate == expected_rate
    assert window.complete == case.complete
    assert window.since == (case.covered_since or case.since)
    assert window.until == T0 + len(case.rounds) - 1


def test_p95_comes_from_the_bucket_deltas_of_the_window() -> None:
    state = TelemetryState()
    state.ingest(T0, {"a": reading(ok=10, latency=[0.05] * 10)})  # before the window
    slow = [0.05] * 10 + [0.7] * 20  # 20 new requests, all between 0.5 and 1.0 s
    state.ingest(T0 + 1, {"a": reading(ok=30, latency=slow)})
    figures = state.window(K, T0).figures
    assert figures.requests == 20
    assert figures.p95_seconds == pytest.approx(0.5 + 0.5 * 0.95)
    assert figures.p95_ttft_seconds is None  # no streamed request
    empty = state.window(K, T0 + 1).figures
    assert (empty.requests, empty.error_rate, empty.p95_seconds) == (0, None, None)


def test_p95_survives_a_restart() -> None:
    state = TelemetryState()
    state.ingest(T0, {"a": reading(ok=10, latency=[0.05] * 10)})
    state.ingest(T0 + 1, {"a": reading(ok=4, latency=[0.7] * 4, started=T0 + 0.5)})
    figures = state.window(K, T0).figures
    assert figures.requests == 4
    assert figures.p95_seconds == pytest.approx(0.5 + 0.5 * 0.95)


def test_retention_keeps_the_baseline_and_moves_the_horizon() -> None:
    state = TelemetryState(retention_seconds=10)
    state.ingest(T0, {"a": reading(ok=0)})
    state.ingest(T0 + 1, {"a": reading(ok=5)})
    for second in range(2, 30):
        state.ingest(T0 + second, {"a": reading(ok=5 + second)})
    last = T0 + 29
    assert state.horizon == last - 10
    window = state.window(K, T0)
    assert window.since == last - 10
    assert window.figures.requests == 10
    assert not window.complete
    assert state.window(K, last - 5).figures.requests == 5


def test_idle_tracks_are_forgotten_after_the_retention() -> None:
    state = TelemetryState(retention_seconds=10)
    state.ingest(T0, {"a": reading(ok=1)})
    state.ingest(T0 + 1, {"a": reading(ok=3)})
    for second in range(2, 20):
        state.ingest(T0 + second, {"a": reading(ok=3)})
    assert state.tracks() == []
    assert state.window(K, T0 + 15).figures.requests == 0


def test_changes_name_the_models_whose_figures_moved() -> None:
    state = TelemetryState()
    load = {K: 1.0}
    first = state.ingest(T0, {"a": reading(ok=1, in_flight=load)})
    assert first.models == {"m"}  # its load became known
    assert not state.ingest(T0 + 1, {"a": reading(ok=1, in_flight=load)})
    assert state.ingest(T0 + 2, {"a": reading(ok=2, in_flight=load)}).models == {"m"}
    assert state.ingest(T0 + 3, {"a": reading(ok=2, in_flight={K: 3.0})}).models == {"m"}
    assert state.ingest(T0 + 4, {"a": DOWN}).models == {"m"}  # readability changed
    assert not state.ingest(T0 + 5, {"a": DOWN})


def test_model_load_sums_replicas_and_never_reads_unknown_as_zero() -> None:
    state = TelemetryState()
    state.ingest(
        T0,
        {
            "a": reading(in_flight={K: 2, OTHER: 5}, holding={"m": 1}),
            "b": reading(in_flight={K: 1, OTHER: 0}, holding={"m": 3}),
            "c": DOWN,
        },
    )
    load = state.model_load("m")
    assert (load.in_flight, load.holding, load.routers_read) == (8, 4, 2)
    assert load.in_flight_by_track == {K: 3, OTHER: 5}
    assert load.unreadable_routers == {"c": DOWN}
    assert not load.complete
    unknown = state.model_load("nobody")
    assert (unknown.in_flight, unknown.holding, unknown.complete) == (None, None, False)
    state.ingest(T0 + 1, {"a": DOWN, "b": DOWN})
    assert state.model_load("m").in_flight is None


def test_pod_loads_and_unreadable_pods() -> None:
    state = TelemetryState()
    changes = state.ingest(T0, {}, {"ns/p1": PodReading(3, 2, 0.4), "ns/p2": "no answer within 1s"})
    assert changes.pods == {"ns/p1", "ns/p2"}
    p1 = state.pod_load("ns/p1")
    assert (p1.running, p1.waiting, p1.in_flight, p1.kv_cache_usage) == (3, 2, 5, 0.4)
    p2 = state.pod_load("ns/p2")
    assert (p2.in_flight, p2.error) == (None, "no answer within 1s")
    assert state.unreadable_pods == {"ns/p2": "no answer within 1s"}
    assert not state.ingest(
        T0 + 1, {}, {"ns/p1": PodReading(3, 2, 0.4), "ns/p2": "no answer within 1s"}
    )
    assert state.ingest(T0 + 2, {}, {"ns/p1": PodReading(3, 3, 0.4)}).pods == {"ns/p1", "ns/p2"}
    assert state.pod_load("ns/p2").error == "not listed in the last round"


def test_a_clock_stepping_back_does_not_reorder_rounds() -> None:
    state = TelemetryState()
    state.ingest(T0, {"a": reading(ok=1)})
    state.ingest(T0 + 2, {"a": reading(ok=2)})
    state.ingest(T0 + 1, {"a": reading(ok=4)})  # read after the previous round
    assert state.last_round == T0 + 2
    assert state.window(K, T0).figures.requests == 3


def test_load_histories_keep_every_round_of_the_load_retention() -> None:
    state = TelemetryState(load_retention_seconds=3)
    for second in range(6):
        routers: dict[str, RouterReading | str] = {"a": reading(in_flight={K: second})}
        pods: dict[str, PodReading | str] = {"p": PodReading(second, 1, None)}
        if second == 4:
            routers, pods = {"a": DOWN}, {"p": "no answer within 1s"}
        state.ingest(T0 + second, routers, pods)
    loads = state.load_history("m", T0)
    assert [(load.at, load.in_flight) for load in loads] == [
        (T0 + 2, 2),
        (T0 + 3, 3),
        (T0 + 4, None),  # no router read: unknown, not zero
        (T0 + 5, 5),
    ]
    assert [load.in_flight for load in state.load_history("m", T0 + 4.5)] == [5]
    pods_seen = state.pod_history("p", T0)
    assert [(load.at, load.in_flight, load.error) for load in pods_seen] == [
        (T0 + 2, 3, None),
        (T0 + 3, 4, None),
        (T0 + 4, None, "no answer within 1s"),
        (T0 + 5, 6, None),
    ]
    assert state.load_history("nobody", T0) == []
