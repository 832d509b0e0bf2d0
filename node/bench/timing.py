"""Small timing helpers the deployment benchmarks share: a timed call and the summaries of a
series of timings (median, nearest-rank p90, min, max) in milliseconds."""

import math
import statistics
import time
from collections.abc import Callable
from typing import Any


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {
        "median": ms(statistics.median(seconds)),
        "p90": ms(percentile(seconds, 0.9)),
        "min": ms(min(seconds)),
        "max": ms(max(seconds)),
    }


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value
