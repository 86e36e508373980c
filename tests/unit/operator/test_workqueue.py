"""modelops.controller.workqueue: de-duplication, one worker per key, retries, stop.

Synchronisation is by asyncio.Event; every wait is bounded by asyncio.timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from modelops.controller.workqueue import FAILURE_BASE_SECONDS, ItemBackoff, WorkQueue

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
    assert scheduled == [("a", FAILURE_BASE_SECONDS)]
    assert any("reconcile of a failed (1 in a row)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("base", "cap", "outcomes", "delays"),
    [
        # Failures in a row double the delay, up to the cap.
        (0.5, 60.0, ["fail"] * 9, [0.5, 1, 2, 4, 8, 16, 32, 60, 60]),
        # A success forgets: the next failure starts from the base again.
        (1.0, 8.0, ["fail", "fail", "ok", "fail", "fail"], [1, 2, None, 1, 2]),
        # A returned recheck delay is a success too.
        (0.1, 1.0, ["fail", "fail", "fail", 30.0, "fail"], [0.1, 0.2, 0.4, 30.0, 0.1]),
        # The cap holds from the first failure when base equals it.
        (5.0, 5.0, ["fail", "fail"], [5, 5]),
    ],
)
async def test_failures_back_off_exponentially_per_key_and_success_resets(
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    base: float,
    cap: float,
    outcomes: list[str | float],
    delays: list[float | None],
) -> None:
    queue: WorkQueue[str] = WorkQueue(recorder, workers=2, backoff=ItemBackoff(base, cap))
    scheduled: dict[str, list[float]] = {"a": [], "b": []}
    monkeypatch.setattr(queue, "add_after", lambda key, delay: scheduled[key].append(delay))
    recorder.results["a"] = [
        RuntimeError("boom") if o == "fail" else (None if o == "ok" else float(o)) for o in outcomes
    ]
    recorder.results["b"] = [RuntimeError("b")] * len(outcomes)  # fails all along
    seen: list[float | None] = []
    queue.start()
    try:
        for run in range(1, len(outcomes) + 1):
            before = len(scheduled["a"])
            queue.add("a")
            queue.add("b")
            await recorder.until(
                lambda run=run: (
                    recorder.calls.count("a") == recorder.calls.count("b") == run and queue.idle()
                )
            )
            seen.append(scheduled["a"][-1] if len(scheduled["a"]) > before else None)
    finally:
        await queue.stop()
    assert seen == delays
    # The other key's count is its own: a's successes did not reset it.
    assert scheduled["b"] == [min(base * 2**n, cap) for n in range(len(outcomes))]


def test_item_backoff_counts_and_forgets_per_key() -> None:
    backoff: ItemBackoff[str] = ItemBackoff(0.25, 1.0)
    assert [backoff.when("a") for _ in range(4)] == [0.25, 0.5, 1.0, 1.0]
    assert backoff.failures("a") == 4
    assert backoff.when("b") == 0.25
    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert backoff.when("a") == 0.25
    backoff.forget("never-failed")  # a no-op
    for _ in range(100):  # no overflow however long an outage lasts
        backoff.when("c")
    assert backoff.when("c") == 1.0


@pytest.mark.parametrize(("base", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_item_backoff_rejects_a_bad_shape(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="0 < base <= cap"):
        ItemBackoff(base, cap)


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
