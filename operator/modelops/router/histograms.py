"""Loop-local histograms, and their Prometheus text rendered directly.

The per-model histograms have ~60 buckets (`api.telemetry.MODEL_LATENCY_BUCKETS`) per model,
track, revision and outcome, and the operator scrapes every router each second. Built through
prometheus_client's families and `generate_latest`, their text cost the router's event loop
~1.4 s per scrape at 100 busy models (one Sample object and one format call per bucket);
rendered here from the counts it costs ~0.1 s (`benchmarks/telemetry_scrape.py`). The text
is what `generate_latest` writes for the same data (tests/unit/router/test_metrics.py parses
both and compares every sample).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence


class LoopHistogram:
    """A histogram for one label set, updated from one event loop only."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last slot: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs, +Inf last, as prometheus_client's families take them."""
        cumulative = 0
        result = []
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            result.append((repr(float(bound)), float(cumulative)))
        result.append(("+Inf", float(cumulative + self.counts[-1])))
        return result


def _number(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's float formatting)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render_histograms(
    name: str,
    documentation: str,
    label_names: Sequence[str],
    histograms: Iterable[tuple[Sequence[str], LoopHistogram]],
) -> str:
    """One histogram family in the Prometheus text format (version 0.0.4); `histograms` are
    (label values, histogram) pairs."""
    help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    out = [f"# HELP {name} {help_text}\n# TYPE {name} histogram\n"]
    for key, histogram in histograms:
        labels = ",".join(
            f'{label}="{_label_value(value)}"'
            for label, value in zip(label_names, key, strict=True)
        )
        bucket = f'{name}_bucket{{{labels},le="' if labels else f'{name}_bucket{{le="'
        cumulative = 0
        for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
            cumulative += count
            out.append(f'{bucket}{_number(bound)}"}} {_number(cumulative)}\n')
        total = cumulative + histogram.counts[-1]
        out.append(f'{bucket}+Inf"}} {_number(total)}\n')
        suffix = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_count{suffix} {_number(total)}\n")
        out.append(f"{name}_sum{suffix} {_number(histogram.total)}\n")
    return "".join(out)
