"""`Telemetry`: scrape (scrape.py), parse (parse.py), remember (windows.py), answer.

    telemetry = Telemetry()
    changes = await telemetry.refresh(Sources(routers=[Source("ns/router-0", url)], pods=[...]))
    window = telemetry.window(TrackKey("llama", "canary", "5f3c..."), since=step_started_at)
    window.figures            # TrackFigures: requests, errors, error_rate, p95_seconds, ...
    window.complete           # False when a router could not be read (figures may be short)
    telemetry.model_load("llama").in_flight   # None = unknown, never read as zero
    telemetry.pod_load("ns/llama-blue-abc").in_flight   # running + waiting of a vLLM pod
    telemetry.load_history("llama", since=now - 30)    # per-round loads, for the autoscaler
    await telemetry.close()

One object per operator process, on its event loop; `refresh` is called by the controller's
telemetry loop, the queries by anyone (they read the last completed round, never wait).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import aiohttp

from modelops.telemetry.parse import LineCache, MetricsFormatError, parse_router, parse_vllm
from modelops.telemetry.scrape import DEFAULT_TIMEOUT_SECONDS, Fetched, fetch_all
from modelops.telemetry.types import (
    Changes,
    ModelLoad,
    PodLoad,
    PodReading,
    RouterReading,
    Source,
    Sources,
    TrackKey,
    Window,
    to_unix,
)
from modelops.telemetry.windows import (
    DEFAULT_FORGET_AFTER_SECONDS,
    DEFAULT_LOAD_RETENTION_SECONDS,
    DEFAULT_RETENTION_SECONDS,
    TelemetryState,
)


class Telemetry:
    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        forget_after_seconds: float = DEFAULT_FORGET_AFTER_SECONDS,
        load_retention_seconds: float = DEFAULT_LOAD_RETENTION_SECONDS,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`session`: an aiohttp session to share (then not closed here); one is made lazily
        otherwise. `clock`: wall-clock Unix seconds (windows start at status timestamps)."""
        if timeout_seconds <= 0:
            raise ValueError("the scrape timeout must be positive")
        self.timeout_seconds = timeout_seconds
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._caches: dict[str, LineCache] = {}
        self._round = asyncio.Lock()  # one round at a time: the caches and the state
        self.state = TelemetryState(
            retention_seconds=retention_seconds,
            forget_after_seconds=forget_after_seconds,
            load_retention_seconds=load_retention_seconds,
        )

    async def refresh(self, sources: Sources) -> Changes:
        """One round: scrape every router and pod at once, fold the results in."""
        _check_unique(sources.routers, "router")
        _check_unique(sources.pods, "pod")
        async with self._round:
            return await self._refresh(sources)

    async def _refresh(self, sources: Sources) -> Changes:
        at = self._clock()
        session = self._session_for_round()
        routers, pods = await asyncio.gather(
            fetch_all(session, sources.routers, self.timeout_seconds),
            fetch_all(session, sources.pods, self.timeout_seconds),
        )
        # Parsing is pure Python (milliseconds per router under load): in a worker thread, the
        # operator's event loop keeps serving watches and reconciles meanwhile.
        router_readings, pod_readings = await asyncio.to_thread(self._parse_all, routers, pods)
        return self.state.ingest(at, router_readings, pod_readings)

    def _parse_all(
        self, routers: Sequence[Fetched], pods: Sequence[Fetched]
    ) -> tuple[dict[str, RouterReading | str], dict[str, PodReading | str]]:
        caches = {
            fetched.source.id: self._caches.get(fetched.source.id) or LineCache()
            for fetched in [*routers, *pods]
        }
        self._caches = caches  # sources no longer listed drop theirs
        return (
            {f.source.id: _read(f, parse_router, caches[f.source.id]) for f in routers},
            {f.source.id: _read(f, parse_vllm, caches[f.source.id]) for f in pods},
        )

    def window(self, key: TrackKey, since: datetime | float) -> Window:
        """The track's figures since `since` (an aware datetime or Unix seconds)."""
        return self.state.window(key, to_unix(since))

    def model_load(self, model: str) -> ModelLoad:
        return self.state.model_load(model)

    def pod_load(self, source_id: str) -> PodLoad:
        return self.state.pod_load(source_id)

    def load_history(self, model: str, since: datetime | float) -> list[ModelLoad]:
        """The model's load per round since `since` (the autoscaler's windows)."""
        return self.state.load_history(model, to_unix(since))

    def pod_history(self, source_id: str, since: datetime | float) -> list[PodLoad]:
        return self.state.pod_history(source_id, to_unix(since))

    @property
    def unreadable_routers(self) -> Mapping[str, str]:
        return self.state.unreadable_routers

    @property
    def unreadable_pods(self) -> Mapping[str, str]:
        return self.state.unreadable_pods

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _session_for_round(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No cookies, no env proxies: pod IPs are reached directly.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30),
            )
            self._owns_session = True
        return self._session


_Reading = TypeVar("_Reading", RouterReading, PodReading)


def _read(
    fetched: Fetched, parse: Callable[[str, LineCache], _Reading], cache: LineCache
) -> _Reading | str:
    if fetched.text is None:
        return fetched.error or "unreadable"
    try:
        return parse(fetched.text, cache)
    except MetricsFormatError as error:
        return str(error)


def _check_unique(sources: Sequence[Source], kind: str) -> None:
    seen: set[str] = set()
    for source in sources:
        if source.id in seen:
            raise ValueError(f"{kind} source id {source.id!r} is listed twice")
        seen.add(source.id)
