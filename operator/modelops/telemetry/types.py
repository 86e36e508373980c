"""What the telemetry package takes and gives: sources in, figures out. Plain typed values.

Times are Unix seconds (floats) inside the package; `Telemetry` (service.py) speaks datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from modelops.api.status import TrackFigures


@dataclass(frozen=True)
class Source:
    """One `/metrics` endpoint to scrape.

    `id` names the thing behind the URL and must stay the same across its restarts (a router
    pod's `namespace/name`, or the URL of a standalone router): a source that comes back under
    the same id is recognised, so its restarted counters are not counted twice.
    """

    id: str
    url: str


@dataclass(frozen=True)
class Sources:
    routers: Sequence[Source] = ()
    pods: Sequence[Source] = ()  # vLLM pods (Ollama has no /metrics of its own)


class TrackKey(NamedTuple):
    """One router track serving one revision of a model (served name)."""

    model: str
    track: str
    revision: str


class Series(NamedTuple):
    """One raw cumulative counter of one router: a request count or a histogram bucket."""

    track: TrackKey
    family: str  # "requests", "latency" or "ttft"
    outcome: str
    le: float  # the bucket's upper bound; +Inf for the request counter


@dataclass(frozen=True)
class RouterReading:
    """What one scrape of one router said, raw (parse.py)."""

    started_at: float | None  # the router process's start (Unix seconds), when exported
    counters: Mapping[Series, float]
    in_flight: Mapping[TrackKey, float]
    holding: Mapping[str, float]


@dataclass(frozen=True)
class PodReading:
    """What one scrape of one vLLM pod said (summed over its served models)."""

    running: float
    waiting: float
    kv_cache_usage: float | None  # 0..1; None when the engine does not export it


@dataclass(frozen=True)
class Window:
    """One track's figures between `since` and the last scrape round (`until`).

    `since` is the start actually covered: later than asked when the history does not reach
    back that far (operator restart, retention). Counts are exact across router restarts and
    replica changes; requests a router served while it could not be read are counted when it is
    read again (unless it restarted meanwhile: those are lost, and it was reported unreadable).
    """

    key: TrackKey
    asked_since: float
    since: float
    until: float | None  # None before the first round
    figures: TrackFigures
    unreadable_routers: Mapping[str, str] = field(default_factory=dict)  # id -> why

    @property
    def complete(self) -> bool:
        """Every listed router was read in the last round, and the window starts as asked."""
        return (
            self.until is not None
            and not self.unreadable_routers
            and self.since <= self.asked_since
        )


@dataclass(frozen=True)
class ModelLoad:
    """A model's load in one round (the last one, or one of `load_history`), as the routers
    read in that round saw it.

    `in_flight` / `holding` are None when no router that could be read knows the model: that
    is "unknown", never "zero". With some routers unreadable they are lower bounds.
    """

    model: str
    in_flight: int | None
    holding: int | None
    in_flight_by_track: Mapping[TrackKey, int]
    routers_read: int  # routers read in the last round that know the model
    unreadable_routers: Mapping[str, str]
    at: float | None = None  # the round it comes from

    @property
    def complete(self) -> bool:
        return self.in_flight is not None and not self.unreadable_routers


@dataclass(frozen=True)
class PodLoad:
    """One vLLM pod's own gauges in one round; `error` says why they are missing."""

    source: str
    at: float | None  # the round it comes from (None: not listed in the last round)
    running: float | None = None
    waiting: float | None = None
    kv_cache_usage: float | None = None
    error: str | None = None

    @property
    def in_flight(self) -> float | None:
        """running + waiting: the autoscaler's load of the pod."""
        if self.running is None or self.waiting is None:
            return None
        return self.running + self.waiting


@dataclass(frozen=True)
class Changes:
    """What a round changed: served model names (router figures, load or readability) and pod
    source ids (gauges or readability). Empty when nothing moved."""

    models: frozenset[str] = frozenset()
    pods: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.models or self.pods)


def to_unix(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"{moment!r} has no time zone; telemetry windows need aware times")
        return moment.timestamp()
    if not math.isfinite(moment):
        raise ValueError(f"{moment!r} is not a time")
    return float(moment)
