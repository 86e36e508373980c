"""The autoscaling decision beside the reaction implied by peers' defaults, and the router's
scale-from-zero hand-off (issue 10).

Part 1 (decision, no cluster): one synthetic load trace, fed every interval through our pure
decision (`modelops.policies.autoscaling`) and through simple models of the peers' documented
defaults:

  * KubeAI: 10 s tick, desired = ceil(10-minute average / target)
  * HPA: 15 s sync, scale-up at once, scale-down to the highest recommendation of 300 s
  * production-stack's KEDA: 15 s polling, scale-down after a 360 s cooldown
  * AIBrix KPA: 180 s stable window average (panic mode left out)

Trace: 1 replica's worth of in-flight requests, a step to 5 replicas' worth, the load back to 1,
then a steady 2-minute period around a replica boundary with noise. Printed: time from the step
to the needed count, from the drop back to 1, and the replica changes during the noisy period,
with each peer's figure as a ratio to ours. These are decisions, not pods: the time a pod needs
to become Ready comes on top for everyone, and the cluster-level run (queue peak, real replicas)
waits for the reconcile to apply the decision.

Part 2 (router, real processes): 20 concurrent first requests held by a router for a model with
no endpoint; a simulator is then listed in its (reloaded) config. Printed: the time from the
router reporting the endpoint usable (its /status, polled every 10 ms) to the last held answer.

Run: .venv/bin/python benchmarks/autoscaling_decision.py [--skip-router]
Bounded: the trace is fixed; every wait in part 2 has a deadline.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from modelops.api.spec import Autoscaling
from modelops.policies.autoscaling import AutoscalerInput, LoadSample, decide_replicas, remember
from modelops.router.testing import running_router
from modelops.sim.testing import running_simulator

TARGET = 8
STEP_AT, DROP_AT, NOISE_AT, END = 600, 1200, 2400, 2520  # seconds
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def load_at(t: float, offset: float, noise: dict[int, float]) -> float:
    """The trace, with the step and the drop `offset` seconds after the round times."""
    if t < STEP_AT + offset:
        return 8.0
    if t < DROP_AT + offset:
        return 40.0
    if t < NOISE_AT:
        return 8.0
    return noise[int(t)]  # around the 2 -> 3 replica boundary


Trace = list[tuple[float, int]]  # (time, replicas decided)


def ours(loads: Callable[[float], float]) -> Trace:
    spec = Autoscaling(enabled=True, max_replicas=10, target_in_flight=TARGET)
    current, memory = 1, None
    history: tuple[LoadSample, ...] = ()
    trace: Trace = []
    for tick in range(END // spec.interval_seconds):
        t = float(tick * spec.interval_seconds)
        at = T0 + timedelta(seconds=t)
        history = remember(history, LoadSample(at, router_in_flight=loads(t)), spec)
        decision = decide_replicas(AutoscalerInput(spec, "ollama", current, history, memory, at))
        current, memory = decision.desired_replicas, decision.memory
        trace.append((t, current))
    return trace


def windowed(tick: float, average_seconds: float, down_hold_seconds: float) -> Callable[..., Trace]:
    """A peer as: every `tick`, ceil(mean over `average_seconds` / target); a lower count only
    when every recommendation of the last `down_hold_seconds` was lower (the highest is used)."""

    def run(loads: Callable[[float], float]) -> Trace:
        samples: list[tuple[float, float]] = []
        recommendations: list[tuple[float, int]] = []
        current = 1
        trace: Trace = []
        t = 0.0
        while t < END:
            samples.append((t, loads(t)))
            window = [v for s, v in samples if s > t - average_seconds] or [samples[-1][1]]
            wanted = max(1, math.ceil(statistics.fmean(window) / TARGET - 1e-9))
            recommendations.append((t, wanted))
            recent = [r for s, r in recommendations if s > t - down_hold_seconds] or [wanted]
            if wanted > current:
                current = wanted
            elif max(recent) < current:
                current = max(recent)
            trace.append((t, current))
            t += tick
        return trace

    return run


PEERS: dict[str, Callable[[Callable[[float], float]], Trace]] = {
    "KubeAI (10 s tick, 10 min average)": windowed(10, 600, 0),
    "HPA (15 s sync, 300 s down-stabilization)": windowed(15, 15, 300),
    "KEDA/production-stack (15 s poll, 360 s cooldown)": windowed(15, 15, 360),
    "AIBrix KPA (180 s stable window)": windowed(15, 180, 0),
}


def first_time(trace: Trace, after: float, predicate: Callable[[int], bool]) -> float | None:
    return next((t - after for t, n in trace if t >= after and predicate(n)), None)


def changes(trace: Trace, start: float, end: float) -> int:
    inside = [n for t, n in trace if start <= t < end]
    return sum(1 for a, b in itertools.pairwise(inside) if a != b)


Figures = tuple[float | None, float | None, int]


def figures(run: Callable[[Callable[[float], float]], Trace]) -> Figures:
    """Mean over step offsets of 0..14 s (a poller's phase against the step matters), and the
    replica changes in the noisy period after its first 30 s (entering it may change once)."""
    rng = random.Random(10)
    noise = {t: 16.0 + rng.uniform(-2.5, 2.5) for t in range(NOISE_AT, END, 5)}
    ups: list[float] = []
    downs: list[float] = []
    flips = 0
    for offset in range(15):
        trace = run(lambda t, o=offset: load_at(t, o, noise))  # type: ignore[misc]
        up = first_time(trace, STEP_AT + offset, lambda n: n >= 5)
        down = first_time(trace, DROP_AT + offset, lambda n: n <= 1)
        if up is None or down is None:
            return up, down, changes(trace, NOISE_AT + 30, END)
        ups.append(up)
        downs.append(down)
        flips = max(flips, changes(trace, NOISE_AT + 30, END))
    return statistics.fmean(ups), statistics.fmean(downs), flips


def fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:6.1f} s"


def ratio(peer: float | None, mine: float | None) -> str:
    if peer is None or mine is None or mine == 0:
        return "  -  "
    return f"{peer / mine:5.1f}x"


def decision_part() -> None:
    mine = figures(ours)
    print("decision on a load step 1 -> 5 replicas' worth (target 8 in flight), back to 1, then")
    print("2 minutes of noisy load around 2 replicas' worth; times are means over 15 step phases")
    print(f"{'':52} {'to 5':>8} {'ratio':>6} {'back to 1':>9} {'ratio':>6} {'changes':>8}")
    print(
        f"{'modelops (5 s interval, defaults)':52} {fmt(mine[0])} {'':6} {fmt(mine[1]):>9} "
        f"{'':6} {mine[2]:8d}"
    )
    for name, run in PEERS.items():
        up, down, flips = figures(run)
        print(
            f"{name:52} {fmt(up)} {ratio(up, mine[0])} {fmt(down):>9} {ratio(down, mine[1])} "
            f"{flips:8d}"
        )


def router_part(clients: int = 20) -> None:
    config = {
        "holdSeconds": 120,
        "models": {
            "sleepy": {"engine": "vllm", "scaleToZero": True, "tracks": [{"name": "stable"}]}
        },
    }
    with (
        running_router(config, reload_seconds=0.05) as router,
        httpx.Client(timeout=60) as client,
        ThreadPoolExecutor(clients) as pool,
    ):

        def ask(i: int) -> float:
            body = {
                "model": "sleepy",
                "messages": [{"role": "user", "content": f"hi {i}"}],
                "max_tokens": 1,
            }
            response = client.post(router.url + "/v1/chat/completions", json=body)
            response.raise_for_status()
            return time.monotonic()

        futures = [pool.submit(ask, i) for i in range(clients)]
        deadline = time.monotonic() + 30
        while 'modelops_router_model_holding_requests{model="sleepy"} 20.0' not in router.metrics():
            if time.monotonic() > deadline:
                raise TimeoutError("requests were not held")
            time.sleep(0.01)
        with running_simulator("vllm", ["sleepy"]) as sim:
            config["models"]["sleepy"]["tracks"] = [  # type: ignore[index]
                {"name": "stable", "endpoints": [f"127.0.0.1:{sim.port}"]}
            ]
            router.write_config(config)
            deadline = time.monotonic() + 30
            while not router.status()["models"]["sleepy"]["available"]:
                if time.monotonic() > deadline:
                    raise TimeoutError("endpoint never usable")
                time.sleep(0.01)
            usable = time.monotonic()
            answered = sorted(f.result(timeout=60) for f in futures)
    print()
    print(
        f"scale from zero: {clients} held requests, endpoint usable -> answers "
        f"(router /status polled every 10 ms, simulator at its default latency):"
    )
    print(
        f"  first answer {max(0.0, answered[0] - usable) * 1000:.0f} ms, "
        f"last answer {max(0.0, answered[-1] - usable) * 1000:.0f} ms"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-router", action="store_true")
    args = parser.parse_args(argv)
    decision_part()
    if not args.skip_router:
        router_part()


if __name__ == "__main__":
    main()
