"""Timing: warm-up, then the median of many repeats, with device synchronisation on GPUs."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Timing:
    median_s: float
    runs: int
    samples: list[float] = field(default_factory=list, repr=False)


def measure(fn: Callable[[], object], sync: Callable[[], None] = lambda: None,
            warmup: int = 3, min_runs: int = 5, max_runs: int = 200,
            budget_s: float = 2.0) -> Timing:
    """Median wall time of ``fn()``; ``sync`` waits for queued device work so the time is
    the true step time and not the launch time."""
    for _ in range(warmup):
        fn()
    sync()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or
                                       time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return Timing(statistics.median(samples), len(samples), samples)


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.1f} us"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.3f} s "
