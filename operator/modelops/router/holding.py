"""Scale from zero: requests for a model at zero replicas wait for an endpoint instead of failing.

A request is held when no model of its chain has a usable endpoint and one of them is marked
`scaleToZero` in the config (the operator sets it for autoscaled models with minReplicas 0). It
is counted in the holding gauge, which the operator's telemetry reads to wake the model; the
router itself never writes to Kubernetes.

There is no polling: every routing Snapshot swap (a config reload or an endpoint update) calls
`snapshot_swapped()`, which sets the one Event of each waited-for model that now has a usable
endpoint (or left the config), so every request held for it is released on the same wake-up.
The hold is bounded by the router's `holdSeconds`; past it the client gets a 503 with
`Retry-After` in its API's error shape. A client that disconnects stops waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from modelops.api.telemetry import HOLD_EXPIRED, HOLD_GONE, HOLD_REMOVED, HOLD_SERVED
from modelops.router.errors import ClientError
from modelops.router.metrics import RouterMetrics
from modelops.router.state import Snapshot

Receive = Callable[[], Awaitable[dict[str, Any]]]
# What a client told to come back should wait; a model's first replica often needs minutes.
RETRY_AFTER_SECONDS = 30


def model_to_wait_for(snapshot: Snapshot, chain: Sequence[str]) -> str | None:
    """The model a request must wait for, or None when it can be forwarded (or failed) now.

    A healthy model anywhere in the chain answers at once (fallbacks keep their meaning); only
    when none can answer does the request wait, for the first model that may be at zero.
    """
    models = [snapshot.models[name] for name in chain if name in snapshot.models]
    if any(model.has_usable for model in models):
        return None
    return next((model.name for model in models if model.route.scale_to_zero), None)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Holds:
    """The waiting room of one router app: one wake-up Event per model being waited for."""

    def __init__(self, metrics: RouterMetrics) -> None:
        self._metrics = metrics
        self._wakeups: dict[str, asyncio.Event] = {}

    def waiting_for(self) -> list[str]:
        return sorted(self._wakeups)

    def snapshot_swapped(self, snapshot: Snapshot) -> None:
        """Releases the waiters of every model that can now answer (or is gone)."""
        for name in list(self._wakeups):
            model = snapshot.models.get(name)
            if model is None or model.has_usable:
                self._wakeups.pop(name).set()

    async def wait_for_endpoint(
        self,
        snapshot: Snapshot,
        chain: Sequence[str],
        current: Callable[[], Snapshot | None],
        receive: Receive,
    ) -> tuple[Snapshot, list[str]] | None:
        """The snapshot and chain to forward with: at once when nothing is asleep, else once
        an endpoint is ready. None when the client left; a ClientError 503 (Retry-After) when
        the hold ran out, 404 when every model of the chain left the config meanwhile."""
        target = model_to_wait_for(snapshot, chain)
        if target is None:
            return snapshot, list(chain)
        held = target
        limit = snapshot.config.hold_seconds
        started = time.monotonic()
        deadline = started + limit
        self._metrics.hold_started(held)
        outcome = HOLD_EXPIRED
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            while True:
                # The latest snapshot, checked with no await before the wait: a swap while the
                # body was read, or between two wake-ups, cannot be missed.
                latest = current() or snapshot
                chain = [name for name in chain if name in latest.models]
                if not chain:
                    outcome = HOLD_REMOVED
                    raise ClientError(404, "the model was removed from the router's config")
                snapshot, target = latest, model_to_wait_for(latest, chain)
                if target is None:
                    outcome = HOLD_SERVED
                    return snapshot, chain
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await self._wait(target, remaining, gone):
                    break
            if gone.done():
                outcome = HOLD_GONE
                return None
            raise ClientError(
                503,
                f"model {target!r} is scaled to zero and no replica became ready within "
                f"{limit:g} s; retry later",
                headers=((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),),
            )
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await gone
            self._metrics.hold_finished(held, time.monotonic() - started, outcome)

    async def _wait(self, model: str, seconds: float, gone: asyncio.Future[None]) -> bool:
        """True when `model`'s wake-up came; False on timeout or when the client left."""
        event = self._wakeups.get(model)
        if event is None:
            event = self._wakeups[model] = asyncio.Event()
        woken = asyncio.ensure_future(event.wait())
        try:
            waiting: set[asyncio.Future[Any]] = {woken, gone}
            await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        return event.is_set() and not gone.done()
