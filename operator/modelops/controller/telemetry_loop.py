"""The telemetry loop: one scrape round of every router and vLLM pod per interval.

A bad canary must be rolled back within 2 s of its minRequests-th request, so the default
interval is 1 s; a round is bounded by the scrape timeout (default 1 s), and the next one
starts at the next interval boundary (at once when a round ran late). After each round,
`on_changed` gets the served model names and pod ids whose figures moved, to poke their
reconciles; the reconciles read `Telemetry` (windows, loads) without waiting for anything.

Wiring, in `controller/handlers.py` (next to the RouterConfigPublisher):

    telemetry = Telemetry()                       # at startup: one per operator process
    loop = TelemetryLoop(telemetry, current_sources, on_changed)
    loop.start()                                  # in start(), after the queue
    ...
    await loop.stop(); await telemetry.close()    # in cleanup

- `current_sources()` returns `Sources(routers=[...], pods=[...])` from what the operator
  already watches: router pods found by label (`app.kubernetes.io/component: router`, in the
  router's namespace; the chart's RBAC must let the operator list/watch them there), turned into
  sources with `pod_source(pod, port=8080, path="/metrics")`; for the local and standalone
  router, `Source(url, url)` for its /metrics URL; and the Ready vLLM pods of every
  ModelDeployment, `pod_source(pod, port=engine_port, path=ENGINE_FACTS["vllm"].metrics_path)`.
  kopf's pod index keeps slim bodies: `_slim_pod` must keep `status.podIP` for this.
- `on_changed(changes)` maps `changes.models` (served names) and `changes.pods` (pod ids,
  `namespace/name`) to ModelDeployment keys and calls `queue.add(key)` for each.
- The reconcile reads `telemetry.window(TrackKey(served, "canary", revision), since)`,
  `telemetry.model_load(served)` and `telemetry.pod_load(pod_id)`; `window.complete` and
  `load.complete` are False while a router could not be read (never "no errors").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from modelops.telemetry.service import Telemetry
from modelops.telemetry.types import Changes, Source, Sources

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0


def pod_source(pod: Mapping[str, Any], *, port: int, path: str) -> Source | None:
    """The /metrics source of a Ready pod with an IP (id `namespace/name`), else None.

    Pods that are not Ready are not scraped: an engine still loading its model has no load to
    report, and the router sends it nothing.
    """
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if not ip or meta.get("deletionTimestamp"):
        return None
    ready = any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or ()
    )
    if not ready:
        return None
    host = f"[{ip}]" if ":" in ip else ip
    return Source(f"{meta.get('namespace', '')}/{meta['name']}", f"http://{host}:{port}{path}")


class TelemetryLoop:
    def __init__(
        self,
        telemetry: Telemetry,
        sources: Callable[[], Sources],
        on_changed: Callable[[Changes], None],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("the telemetry interval must be positive")
        self.telemetry = telemetry
        self._sources = sources
        self._on_changed = on_changed
        self.interval_seconds = interval_seconds
        self.rounds = 0  # completed rounds
        self._in_round = False
        self._round_done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="telemetry-loop")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def next_round(self, timeout_seconds: float = 10.0) -> None:
        """Wait until a round that starts after this call has completed."""
        # A round already running may have listed its sources before the caller's change.
        target = self.rounds + (2 if self._in_round else 1)
        async with asyncio.timeout(timeout_seconds), self._round_done:
            await self._round_done.wait_for(lambda: self.rounds >= target)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_start = loop.time()
        while True:
            await self._round()
            next_start += self.interval_seconds
            now = loop.time()
            if next_start < now:  # late: start now, do not try to catch up missed rounds
                next_start = now
            await asyncio.sleep(next_start - now)

    async def _round(self) -> None:
        self._in_round = True
        try:
            changes = await self.telemetry.refresh(self._sources())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("telemetry round failed; trying again next interval")
            changes = Changes()
        finally:
            self._in_round = False
        if changes:
            try:
                self._on_changed(changes)
            except Exception:
                log.exception("telemetry change callback failed")
        async with self._round_done:
            self.rounds += 1
            self._round_done.notify_all()
