"""Timing: warm-up, then the median of many repeats, with device synchronisation on GPUs;
``measure_pair`` interleaves two implementations of a step and gives the median per-round
ratio."""
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


#: Pause before each block of measure_pair on the CPU: the thread pools of the side that just ran
#: (OpenBLAS, OpenMP) keep spinning for a while after their last job, and would steal the cores
#: of the other side's first steps (measured: both sides 2x slower without it on a 2-core
#: machine). Not on a GPU (``settle_s=0``): an idle pause lets its clocks drop.
SETTLE_S = 0.2


def _block(fn, sync, n: int, settle_s: float = SETTLE_S) -> float:
    """Median wall time of ``n`` calls, after letting spinning threads settle."""
    if settle_s:
        time.sleep(settle_s)
    fn()                                 # the first call after the pause is not timed
    sync()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure_pair(fn_a: Callable[[], object], fn_b: Callable[[], object],
                 sync_a: Callable[[], None] = lambda: None,
                 sync_b: Callable[[], None] = lambda: None, budget_s: float = 2.0,
                 min_rounds: int = 4, max_rounds: int = 400,
                 settle_s: float = SETTLE_S) -> tuple[Timing, Timing, float]:
    """Time two implementations of one step interleaved: rounds of a block of ``fn_a`` calls
    and a block of ``fn_b`` calls (the order alternating), for ``2 * budget_s`` in all.

    Returns (timing of a, timing of b, median over rounds of a/b). On a shared machine whose
    speed drifts by 2x over seconds, timing one side after the other can move the ratio by as
    much; the per-round ratio compares the two under the same conditions. ``settle_s``: the
    pause before each block (:data:`SETTLE_S` on the CPU, 0 on a GPU)."""
    for _ in range(2):
        fn_a()
        fn_b()
    sync_a()
    sync_b()
    # a block lasts about budget/2, so that both see the same machine within a round
    one = max(_block(fn_a, sync_a, 1, settle_s), _block(fn_b, sync_b, 1, settle_s), 1e-7)
    n = max(1, int(budget_s / 2 / one))
    sa: list[float] = []
    sb: list[float] = []
    ratios: list[float] = []
    start = time.perf_counter()
    while len(ratios) < max_rounds and (len(ratios) < min_rounds or
                                        time.perf_counter() - start < 2 * budget_s):
        if len(ratios) % 2:
            tb = _block(fn_b, sync_b, n, settle_s)
            ta = _block(fn_a, sync_a, n, settle_s)
        else:
            ta = _block(fn_a, sync_a, n, settle_s)
            tb = _block(fn_b, sync_b, n, settle_s)
        sa.append(ta)
        sb.append(tb)
        ratios.append(ta / tb)
    return (Timing(statistics.median(sa), len(sa) * n, sa),
            Timing(statistics.median(sb), len(sb) * n, sb), statistics.median(ratios))


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.1f} us"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.3f} s "
