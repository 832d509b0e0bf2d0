"""Small helpers the benchmarks share: a timed call, the summaries of a series of timings
(median, nearest-rank p90, min, max) in milliseconds, and the machine a figure was measured on."""

import contextlib
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
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


def machine() -> dict[str, Any]:
    """The machine a figure was measured on, and how busy it was when the bench began."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "processor": _cpu_name(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()
