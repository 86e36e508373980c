"""histogram_quantile against PromQL's rules (interpolation, +Inf bucket, empty, monotonicity)."""

from __future__ import annotations

import math

import pytest

from modelops.telemetry.quantile import histogram_quantile

INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # Linear interpolation inside the bucket holding rank 95 of 100.
        (0.95, [(0.1, 0), (0.5, 100), (1.0, 100), (INF, 100)], 0.1 + 0.4 * 0.95),
        # The first bucket starts at 0.
        (0.95, [(1.0, 10), (INF, 10)], 0.95),
        # The median of 4 split 2/2 over two buckets: the end of the first.
        (0.5, [(0.25, 2), (0.5, 4), (INF, 4)], 0.25),
        # The rank falls in +Inf: the highest finite bound is all that is known.
        (0.95, [(1.0, 1), (2.5, 2), (INF, 10)], 2.5),
        # Unsorted input is sorted first.
        (0.95, [(INF, 100), (0.5, 100), (0.1, 0), (1.0, 100)], 0.1 + 0.4 * 0.95),
        # A bucket below its predecessor (mid-update scrape) is raised to it.
        (0.95, [(0.5, 10), (1.0, 8), (INF, 10)], 0.5 * 0.95),
        # A first bound at or below 0 is answered as is.
        (0.4, [(0.0, 5), (1.0, 10), (INF, 10)], 0.0),
        # Nothing to tell: no observations, one bucket, no +Inf bucket.
        (0.95, [(0.1, 0), (INF, 0)], None),
        (0.95, [(INF, 5)], None),
        (0.95, [(0.1, 3), (0.5, 5)], None),
        (0.95, [], None),
    ],
)
def test_histogram_quantile(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = histogram_quantile(q, buckets)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_quantile_outside_zero_one_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        histogram_quantile(q, [(1.0, 1), (INF, 1)])
