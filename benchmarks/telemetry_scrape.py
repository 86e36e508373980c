"""What one telemetry round costs per router: its /metrics exposition and the operator's parse.

The operator scrapes every router replica once per second (a bad canary must be rolled back
within 2 s). For a router serving 10 and 100 models (one track, two endpoints each), with a
share of the models getting new requests between two scrapes, this measures in one process
and one run: the router's exposition (`RouterMetrics.exposition()`), and three ways for the
operator to parse it: the whole text with prometheus_client's parser, only our families'
lines (what parse.py feeds the parser), and only the lines that changed since the previous
text (parse.py with a LineCache). Best of 5 per figure; ratios against the whole-text parse.

    PYTHONPATH=operator .venv/bin/python benchmarks/telemetry_scrape.py

Bounded: a fixed number of repetitions; no network.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from modelops.api.router_config import parse_router_config
from modelops.router.metrics import RouterMetrics
from modelops.router.sources import static_endpoints
from modelops.router.state import Snapshot, StateRegistry
from modelops.telemetry.parse import LineCache, parse_router

REPEATS = 5


def best(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def router(models: int) -> tuple[Snapshot, RouterMetrics]:
    config = parse_router_config(
        {
            "models": {
                f"m{i}": {
                    "engine": "vllm",
                    "tracks": [
                        {"revision": "a", "endpoints": [f"10.0.{i}.1:8000", f"10.0.{i}.2:8000"]}
                    ],
                }
                for i in range(models)
            }
        }
    )
    snapshot = StateRegistry().build(config, static_endpoints(config))
    return snapshot, RouterMetrics(lambda: snapshot)


def traffic(snapshot: Snapshot, metrics: RouterMetrics, share: float, rng: random.Random) -> None:
    """One second of traffic: each model in `share` gets a request (1 in 10 fails)."""
    for name, model in snapshot.models.items():
        if rng.random() >= share:
            continue
        endpoint = model.endpoints[rng.randrange(len(model.endpoints))]
        seconds = rng.uniform(0.05, 3.0)
        metrics.count_attempt(endpoint, "200")
        metrics.observe_latency(name, "stable", seconds)
        metrics.observe_ttft(name, "stable", seconds / 10)
        metrics.count_tokens(name, "stable", {"prompt_tokens": 20, "completion_tokens": 80})
        outcome = "error" if rng.random() < 0.1 else "ok"
        metrics.record_request(name, "stable", "a", outcome, seconds, seconds / 10)


def cached_parse(previous: str, text: str) -> float:
    """Best time to parse `text` with a cache that holds `previous` (the last round's text)."""
    times = []
    for _ in range(REPEATS):
        cache = LineCache()
        parse_router(previous, cache)
        start = time.perf_counter()
        parse_router(text, cache)
        times.append(time.perf_counter() - start)
    return min(times)


def whole_text(text: str) -> None:
    for family in text_string_to_metric_families(text):
        for _ in family.samples:
            pass


def main() -> None:
    rng = random.Random(7)
    print(
        f"{'models':>6} {'busy':>5} {'KiB':>5} {'expose':>8} {'parse all':>10} "
        f"{'ours':>14} {'ours, cached':>16}"
    )
    for models in (10, 100):
        snapshot, metrics = router(models)
        traffic(snapshot, metrics, 1.0, rng)  # every series exists
        for share in (0.1, 0.5, 1.0):
            previous = metrics.exposition().decode()
            traffic(snapshot, metrics, share, rng)
            text = metrics.exposition().decode()
            expose = best(metrics.exposition)
            everything = best(lambda text=text: whole_text(text))
            ours = best(lambda text=text: parse_router(text))

            with_cache = cached_parse(previous, text)
            print(
                f"{models:>6} {share:>5.0%} {len(text) // 1024:>5} {expose * 1000:>6.1f}ms "
                f"{everything * 1000:>8.1f}ms {ours * 1000:>7.1f}ms {everything / ours:>4.1f}x "
                f"{with_cache * 1000:>8.1f}ms {everything / with_cache:>5.1f}x"
            )


if __name__ == "__main__":
    main()
