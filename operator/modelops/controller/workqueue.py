"""A de-duplicating work queue: many triggers for one key collapse into one reconcile,
and a key is never reconciled by two workers at once (like client-go's workqueue).

Urgent keys (objects whose workload does not exist yet) go before routine ones (status
refreshes), so a burst of new objects is not stuck behind the status churn of earlier ones.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(self, handle: Callable[[K], Awaitable[float | None]], *, workers: int = 8) -> None:
        self._handle = handle
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
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed; retrying in 5s", key)
                retry = 5.0
            finally:
                self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif retry is not None:
                self.add_after(key, retry)
