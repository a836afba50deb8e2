"""Shared by the benchmark scripts (each is run from the repository root as
`python -m benchmarks.bench_<topic>`)."""

from __future__ import annotations

import statistics


def summary(values: list[float], digits: int = 3) -> dict[str, float]:
    """Median, maximum and count of repeated timings, in seconds."""
    return {
        "median_s": round(statistics.median(values), digits),
        "max_s": round(max(values), digits),
        "runs": len(values),
    }
