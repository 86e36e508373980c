"""Turning one router's raw cumulative counters into increases, across its restarts. Pure.

A counter that goes down, or a start time that changes, means the router restarted and counts
from zero again: the increase is then the new value itself (PromQL's `increase()` reads resets
the same way). The start time catches a restart that a counter alone would miss, one whose new
count has already passed the old one by the time it is read.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelops.telemetry.types import RouterReading, Series


class SourceCounters:
    """The last raw values seen from one router, and the increases since."""

    def __init__(self, reading: RouterReading, *, counts_initial: bool, at: float) -> None:
        """`counts_initial`: the values already there happened inside our history (the router
        started after it began), so they are increases; otherwise they are the baseline."""
        self._started_at = reading.started_at
        self._last: dict[Series, float] = dict(reading.counters)
        self.last_listed = at  # the last round that listed it
        # Zeros included: a histogram needs all its bounds, even those nothing fell into.
        self.initial: Mapping[Series, float] = {
            series: value if counts_initial else 0.0 for series, value in reading.counters.items()
        }

    def update(self, reading: RouterReading, at: float) -> dict[Series, float]:
        """Increases since the previous reading, per series it shows (zeros included)."""
        self.last_listed = at
        restarted = (
            reading.started_at is not None
            and self._started_at is not None
            and reading.started_at != self._started_at
        )
        self._started_at = reading.started_at
        increases: dict[Series, float] = {}
        if restarted:
            # Everything counts from zero now; series the new process has not shown yet are 0.
            self._last = {}
        for series, value in reading.counters.items():
            previous = self._last.get(series, 0.0)
            increases[series] = value if value < previous else value - previous
            self._last[series] = value
        return increases
