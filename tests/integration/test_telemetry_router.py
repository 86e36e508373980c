"""The operator's telemetry against a real router in front of real simulators.

Load goes through the router with the official `openai` client (streaming and non-streaming
mixed); the telemetry loop scrapes the router's real /metrics every 50 ms. The windows must
match what the client saw per track and revision, failures included, and stay right across a
router restart (every counter back to zero) and a round in which the router could not be read.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from modelops.controller.telemetry_loop import TelemetryLoop
from modelops.router.testing import RunningRouter, running_router
from modelops.sim.testing import RunningSimulator, free_port, running_simulator
from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Changes, Source, Sources, TrackKey

MESSAGES: Any = [{"role": "user", "content": "hello"}]
STABLE = TrackKey("m", "stable", "rev-a")
CANARY = TrackKey("m", "canary", "rev-b")
FLAKY = TrackKey("flaky", "stable", "rev-f")
REQUESTS_PER_PHASE = 40


@dataclass
class Stack:
    sims: dict[str, RunningSimulator]
    config: dict[str, Any]
    port: int


@pytest.fixture
def stack() -> Iterator[Stack]:
    with ExitStack() as stack:
        stable = stack.enter_context(running_simulator("vllm", ["m"]))
        canary = stack.enter_context(running_simulator("vllm", ["m"]))
        # Failures on a one-track model: nothing to retry them on, the client sees each one.
        flaky = stack.enter_context(
            running_simulator("vllm", ["flaky"], env={"MODELOPS_SIM_ERROR_RATE": "0.5"})
        )
        config = {
            "models": {
                "m": {
                    "engine": "vllm",
                    "tracks": [
                        {
                            "name": "stable",
                            "weight": 70,
                            "revision": "rev-a",
                            "endpoints": [f"127.0.0.1:{stable.port}"],
                        },
                        {
                            "name": "canary",
                            "weight": 30,
                            "revision": "rev-b",
                            "endpoints": [f"127.0.0.1:{canary.port}"],
                        },
                    ],
                },
                "flaky": {
                    "engine": "vllm",
                    "tracks": [{"revision": "rev-f", "endpoints": [f"127.0.0.1:{flaky.port}"]}],
                },
            }
        }
        yield Stack({"stable": stable, "canary": canary, "flaky": flaky}, config, free_port())


@dataclass
class Seen:
    """What the client saw: answers per track (from the router's header), failures per model."""

    answered: Counter[TrackKey]
    failed: Counter[str]


def send_load(router: RunningRouter, count: int) -> Seen:
    """`count` requests, a third streamed, 3/4 to "m" and 1/4 to "flaky", 4 at a time."""
    tracks = {"stable": STABLE, "canary": CANARY}
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="unused", max_retries=0, timeout=20)

    def one(index: int) -> tuple[str, TrackKey | None]:
        model = "flaky" if index % 4 == 3 else "m"
        stream = index % 3 == 0
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=MESSAGES, max_tokens=4, stream=stream
            )
            track = raw.headers["x-modelops-track"]
            if stream:
                for _ in raw.parse():  # the whole stream, as a client reads it
                    pass
            else:
                raw.parse()
        except openai.APIStatusError:
            return model, None
        return model, FLAKY if model == "flaky" else tracks[track]

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, range(count)))
    finally:
        client.close()
    seen = Seen(Counter(), Counter())
    for model, key in results:
        if key is None:
            seen.failed[model] += 1
        else:
            seen.answered[key] += 1
    return seen


@pytest.fixture
async def telemetry() -> AsyncIterator[Telemetry]:
    telemetry = Telemetry(timeout_seconds=2.0)
    yield telemetry
    await telemetry.close()


async def test_windows_match_the_client_across_a_router_restart(
    stack: Stack, telemetry: Telemetry
) -> None:
    router_source = Source("router", f"http://127.0.0.1:{stack.port}/metrics")
    pods = [Source(name, f"{sim.url}/metrics") for name, sim in stack.sims.items()]
    dead_pod = Source("dead", f"http://127.0.0.1:{free_port()}/metrics")
    sources = Sources(routers=[router_source], pods=[*pods, dead_pod])
    changed: list[Changes] = []
    loop = TelemetryLoop(telemetry, lambda: sources, changed.append, interval_seconds=0.05)

    def check(since: float, seen: Seen) -> None:
        for key in (STABLE, CANARY):
            figures = telemetry.window(key, since).figures
            assert (figures.requests, figures.errors) == (seen.answered[key], 0), key
        flaky = telemetry.window(FLAKY, since).figures
        assert flaky.requests == seen.answered[FLAKY] + seen.failed["flaky"]
        assert flaky.errors == seen.failed["flaky"]
        assert seen.failed["m"] == 0

    with running_router(stack.config, port=stack.port) as router:
        loop.start()
        try:
            await loop.next_round()
            start = time.time()
            first = await asyncio.to_thread(send_load, router, REQUESTS_PER_PHASE)
            await loop.next_round()
            check(start, first)
            # Both tracks got traffic, and some flaky requests failed: the checks mean something.
            assert first.answered[STABLE]
            assert first.answered[CANARY]
            assert first.failed["flaky"]
            assert any("m" in change.models for change in changed)
            window = telemetry.window(STABLE, start)
            assert window.complete
            assert window.figures.p95_seconds is not None
            assert window.figures.p95_ttft_seconds is not None  # streamed requests
            load = telemetry.model_load("m")
            assert (load.in_flight, load.holding, load.routers_read) == (0, 0, 1)
            for pod in pods:
                assert telemetry.pod_load(pod.id).in_flight == 0
            assert "unreachable" in (telemetry.pod_load("dead").error or "")
        except BaseException:
            await loop.stop()
            raise

    # The router is down: a round reports it, and nothing reads as "no errors" or "no load".
    await loop.next_round()
    assert "router" in telemetry.unreadable_routers
    assert not telemetry.window(CANARY, start).complete
    assert telemetry.model_load("m").in_flight is None

    with running_router(stack.config, port=stack.port) as router:
        try:
            restarted = time.time()
            second = await asyncio.to_thread(send_load, router, REQUESTS_PER_PHASE)
            await loop.next_round()
            assert not telemetry.unreadable_routers
            check(restarted, second)
            both = Seen(first.answered + second.answered, first.failed + second.failed)
            check(start, both)
            assert telemetry.window(CANARY, start).complete
        finally:
            await loop.stop()
