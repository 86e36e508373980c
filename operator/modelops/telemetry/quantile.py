"""Quantiles from cumulative histogram buckets, the way PromQL's histogram_quantile does it.

Linear interpolation inside the bucket that holds the rank, the first bucket starting at 0,
and a rank that falls in the +Inf bucket answered with the highest finite bound (nothing better
is known). Pure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile (0 <= q <= 1) of `buckets`: (upper bound, cumulative count) pairs.

    None when there is nothing to tell: no observations, fewer than two buckets, or no +Inf
    bucket (PromQL answers NaN there). Counts that decrease from one bound to the next (a
    scrape caught between bucket updates) are raised to be monotonic, as PromQL does.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside [0, 1]")
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    bounds = [bound for bound, _ in ordered]
    counts: list[float] = []
    highest = 0.0
    for _, count in ordered:
        highest = max(highest, count)
        counts.append(highest)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    index = bisect.bisect_left(counts, rank, hi=len(counts) - 1)
    if index == len(counts) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if index == 0 else bounds[index - 1]
    below = 0.0 if index == 0 else counts[index - 1]
    inside = counts[index] - below
    if inside <= 0:  # rank 0 with empty leading buckets
        return start
    return start + (bounds[index] - start) * (rank - below) / inside
