"""modelops.controller.workqueue: de-duplication, one worker per key, retries, stop.

Synchronisation is by asyncio.Event; every wait is bounded by asyncio.timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from modelops.controller.workqueue import WorkQueue

LIMIT = 5.0  # seconds; generous bound for every wait, never a sleep


class Recorder:
    """A handler that records calls and lets a test hold a key inside the handler."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}  # key -> released when set
        self.entered: dict[str, asyncio.Event] = {}
        self.results: dict[str, list[float | Exception | None]] = {}
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.max_total = 0
        self.cancelled: list[str] = []
        self.changed = asyncio.Event()

    def hold(self, key: str) -> asyncio.Event:
        self.gates[key] = asyncio.Event()
        return self.gates[key]

    def entered_event(self, key: str) -> asyncio.Event:
        return self.entered.setdefault(key, asyncio.Event())

    async def __call__(self, key: str) -> float | None:
        self.calls.append(key)
        self.active[key] += 1
        self.max_active[key] = max(self.max_active[key], self.active[key])
        self.max_total = max(self.max_total, sum(self.active.values()))
        self.entered_event(key).set()
        try:
            gate = self.gates.get(key)
            if gate is not None:
                await gate.wait()
            outcome = self.results.get(key, [])
            result = outcome.pop(0) if outcome else None
            if isinstance(result, Exception):
                raise result
            return result
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.active[key] -= 1
            self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(LIMIT):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_queue(
    recorder: Recorder,
) -> AsyncIterator[Callable[..., WorkQueue[str]]]:
    queues: list[WorkQueue[str]] = []

    def make(workers: int = 4) -> WorkQueue[str]:
        queue: WorkQueue[str] = WorkQueue(recorder, workers=workers)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        await queue.stop()


async def wait(event: asyncio.Event) -> None:
    async with asyncio.timeout(LIMIT):
        await event.wait()


async def settle(queue: WorkQueue[str], recorder: Recorder) -> None:
    await recorder.until(queue.idle)


async def test_keys_added_while_queued_run_once(
    make_queue: Callable[..., WorkQueue[str]], recorder: Recorder
) -> None:
    queue = make_queue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        queue.add(key)
    assert not queue.idle()
    queue.start()
    await recorder.until(lambda: len(recorder.calls) >= 3 and queue.idle())
    assert sorted(recorder.calls) == ["a", "b", "c"]


async def test_a_key_added_while_running_runs_once_more_afterwards(
    make_queue: Callable[..., WorkQueue[str]], recorder: Recorder
) -> None:
    queue = make_queue()
    gate = recorder.hold("a")
    queue.start()
    queue.add("a")
    await wait(recorder.entered_event("a"))
    for _ in range(3):
        queue.add("a")
    assert not queue.idle()
    assert recorder.calls == ["a"]
    del recorder.gates["a"]  # the second run does not block
    gate.set()
    await recorder.until(lambda: len(recorder.calls) >= 2 and queue.idle())
    assert recorder.calls == ["a", "a"]
    assert recorder.max_active["a"] == 1


async def test_never_two_workers_on_one_key(
    make_queue: Callable[..., WorkQueue[str]], recorder: Recorder
) -> None:
    queue = make_queue(workers=4)
    gate_a = recorder.hold("a")
    gate_b = recorder.hold("b")
    queue.start()
    queue.add("a")
    queue.add("b")
    await wait(recorder.entered_event("a"))
    await wait(recorder.entered_event("b"))
    # Two keys do run side by side...
    assert recorder.max_total == 2
    for _ in range(10):
        queue.add("a")
        queue.add("b")
    # ...but the idle workers never pick up a running key.
    await asyncio.sleep(0)  # one loop turn: give idle workers the chance to misbehave
    assert recorder.calls.count("a") == 1
    gate_a.set()
    gate_b.set()
    await recorder.until(lambda: len(recorder.calls) >= 4 and queue.idle())
    assert sorted(recorder.calls) == ["a", "a", "b", "b"]
    assert recorder.max_active == Counter({"a": 1, "b": 1})


async def test_the_handlers_retry_delay_schedules_another_run(
    make_queue: Callable[..., WorkQueue[str]],
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = make_queue()
    scheduled: list[tuple[str, float]] = []
    original = queue.add_after

    def record(key: str, delay: float) -> None:
        scheduled.append((key, delay))
        original(key, delay)

    monkeypatch.setattr(queue, "add_after", record)
    recorder.results["a"] = [0.01, None]
    queue.start()
    queue.add("a")
    await recorder.until(lambda: len(recorder.calls) >= 2 and queue.idle())
    assert recorder.calls == ["a", "a"]
    assert scheduled == [("a", 0.01)]


async def test_an_exception_is_logged_and_retried(
    make_queue: Callable[..., WorkQueue[str]],
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = make_queue()
    scheduled: list[tuple[str, float]] = []

    def add_now(key: str, delay: float) -> None:
        # Record the delay the queue asks for, but retry at once (no 5 s wait in a unit test).
        scheduled.append((key, delay))
        queue.add(key)

    monkeypatch.setattr(queue, "add_after", add_now)
    recorder.results["a"] = [RuntimeError("boom"), None]
    caplog.set_level(logging.ERROR, logger="modelops.controller.workqueue")
    queue.start()
    queue.add("a")
    await recorder.until(lambda: len(recorder.calls) >= 2 and queue.idle())
    assert recorder.calls == ["a", "a"]
    assert scheduled == [("a", 5.0)]
    assert any("reconcile of a failed" in r.getMessage() for r in caplog.records)


async def test_a_rerun_request_wins_over_the_retry_delay(
    make_queue: Callable[..., WorkQueue[str]],
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = make_queue()
    scheduled: list[tuple[str, float]] = []
    monkeypatch.setattr(queue, "add_after", lambda key, delay: scheduled.append((key, delay)))
    gate = recorder.hold("a")
    recorder.results["a"] = [3600.0, None]
    queue.start()
    queue.add("a")
    await wait(recorder.entered_event("a"))
    queue.add("a")
    del recorder.gates["a"]
    gate.set()
    await recorder.until(lambda: len(recorder.calls) >= 2 and queue.idle())
    assert recorder.calls == ["a", "a"]
    assert scheduled == []  # the hour-long retry was not scheduled: it ran again at once


async def test_add_after_collapses_repeated_delays(
    make_queue: Callable[..., WorkQueue[str]], recorder: Recorder
) -> None:
    queue = make_queue()
    queue.start()
    queue.add_after("a", 0.01)
    queue.add_after("a", 0.01)
    queue.add_after("a", 0.02)
    # Timers fire in order of their deadlines: once the later probe has run, any second timer
    # for "a" would have fired too.
    queue.add_after("probe", 0.05)
    await recorder.until(lambda: "probe" in recorder.calls and queue.idle())
    assert recorder.calls == ["a", "probe"]


async def test_stop_cancels_running_handlers_and_pending_retries(
    make_queue: Callable[..., WorkQueue[str]], recorder: Recorder
) -> None:
    queue = make_queue()
    recorder.hold("a")  # never released
    queue.start()
    queue.add("a")
    await wait(recorder.entered_event("a"))
    queue.add_after("later", 0)
    async with asyncio.timeout(LIMIT):
        await queue.stop()
    assert recorder.cancelled == ["a"]
    # The zero-delay timer was cancelled: after a few loop turns nothing was queued.
    for _ in range(3):
        await asyncio.sleep(0)
    assert "later" not in recorder.calls
    assert queue.idle()


async def test_stop_before_start_and_twice(
    make_queue: Callable[..., WorkQueue[str]],
) -> None:
    queue = make_queue()
    async with asyncio.timeout(LIMIT):
        await queue.stop()
        queue.start()
        await queue.stop()
        await queue.stop()


def test_idle_on_a_fresh_queue() -> None:
    async def handle(key: str) -> float | None:
        return None

    handler: Callable[[str], Awaitable[float | None]] = handle
    assert WorkQueue(handler).idle()


async def test_urgent_keys_run_before_routine_ones() -> None:
    order: list[str] = []
    gate = asyncio.Event()
    all_done = asyncio.Event()

    async def handle(key: str) -> None:
        if key == "blocker":
            await gate.wait()
        order.append(key)
        if len(order) == 4:
            all_done.set()

    queue: WorkQueue[str] = WorkQueue(handle, workers=1)
    queue.start()
    try:
        queue.add("blocker")
        await asyncio.sleep(0)  # the single worker takes the blocker
        for key in ("routine-1", "routine-2"):
            queue.add(key)
        queue.add("new", urgent=True)
        gate.set()
        async with asyncio.timeout(5):
            await all_done.wait()
        assert order == ["blocker", "new", "routine-1", "routine-2"]
    finally:
        await queue.stop()


async def test_add_after_keeps_the_earliest_delay() -> None:
    ran = asyncio.Event()

    async def handle(key: str) -> None:
        ran.set()

    queue: WorkQueue[str] = WorkQueue(handle, workers=1)
    queue.start()
    try:
        queue.add_after("k", 60.0)
        queue.add_after("k", 0.01)  # sooner: replaces the 60 s timer
        queue.add_after("k", 30.0)  # later: ignored
        async with asyncio.timeout(5):
            await ran.wait()
    finally:
        await queue.stop()
