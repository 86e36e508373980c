"""A de-duplicating work queue: many triggers for one key collapse into one reconcile,
and a key is never reconciled by two workers at once (like client-go's workqueue).

Urgent keys (objects whose workload does not exist yet) go before routine ones (status
refreshes), so a burst of new objects is not stuck behind the status churn of earlier ones.

A handler that raises is retried with per-key exponential backoff (client-go's
ItemExponentialFailureRateLimiter): the base delay doubling with each failure in a row, up to a
cap; a run that returns resets the key's count (`forget`). An API server away for minutes is
then asked less and less often, while a key that fails once is retried soon.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)

FAILURE_BASE_SECONDS = 0.5
# A cap of a minute: a key whose failures were all during an outage is tried again within a
# minute of the API coming back, even without a watch event for it.
FAILURE_CAP_SECONDS = 60.0


class ItemBackoff(Generic[K]):
    """Per-key failure delays: base * 2**(failures so far), at most `cap`."""

    def __init__(
        self, base: float = FAILURE_BASE_SECONDS, cap: float = FAILURE_CAP_SECONDS
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap (base {base}, cap {cap})")
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Count one more failure of `key`; return how long to wait before its retry."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures >= 64:  # 2**64 * base is past any cap; avoid float overflow further on
            return self._cap
        return float(min(self._base * 2**failures, self._cap))

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure starts from the base delay again."""
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        handle: Callable[[K], Awaitable[float | None]],
        *,
        workers: int = 8,
        backoff: ItemBackoff[K] | None = None,
    ) -> None:
        self._handle = handle
        self.backoff: ItemBackoff[K] = backoff if backoff is not None else ItemBackoff()
        self._queue: asyncio.PriorityQueue[tuple[int, int, K]] = asyncio.PriorityQueue()
        self._sequence = itertools.count()  # FIFO within a priority
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._dirty: set[K] = set()  # re-added while running: run again afterwards
        self._delayed: dict[K, asyncio.TimerHandle] = {}
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, key: K, *, urgent: bool = False) -> None:
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait((0 if urgent else 1, next(self._sequence), key))

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` after `delay` seconds; of several pending delays the earliest wins."""
        loop = asyncio.get_running_loop()
        pending = self._delayed.get(key)
        if pending is not None:
            if pending.when() <= loop.time() + delay:
                return
            pending.cancel()

        def fire() -> None:
            self._delayed.pop(key, None)
            self.add(key)

        self._delayed[key] = loop.call_later(delay, fire)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for handle in self._delayed.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def depth(self) -> int:
        """Keys waiting for a worker (the operator's work-queue depth metric)."""
        return len(self._queued)

    def idle(self) -> bool:
        return not (self._queued or self._running or self._dirty)

    async def _work(self) -> None:
        while True:
            _, _, key = await self._queue.get()
            self._queued.discard(key)
            self._running.add(key)
            retry: float | None = None
            try:
                retry = await self._handle(key)
                self.backoff.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                retry = self.backoff.when(key)
                log.exception(
                    "reconcile of %s failed (%d in a row); retrying in %.1fs",
                    key,
                    self.backoff.failures(key),
                    retry,
                )
            finally:
                self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif retry is not None:
                self.add_after(key, retry)
