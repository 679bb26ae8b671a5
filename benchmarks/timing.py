"""The one timing rule of the benchmarks: the median of repeated runs after warm-up runs."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, *, warmup: int, runs: int) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)
