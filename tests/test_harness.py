"""benchmarks.harness.measure_pair: interleaved blocks, per-round ratio (on a fake clock)."""
from __future__ import annotations

import pytest

from benchmarks import harness


def test_measure_pair_ratio_on_a_fake_clock(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(harness.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(harness.time, "sleep", lambda s: None)
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1
        clock[0] += 0.003 if calls["a"] % 50 else 1.0     # an outlier now and then

    def b():
        calls["b"] += 1
        clock[0] += 0.001

    ta, tb, ratio = harness.measure_pair(a, b, budget_s=0.5)
    assert ta.median_s == pytest.approx(0.003)
    assert tb.median_s == pytest.approx(0.001)
    assert ratio == pytest.approx(3.0)
    assert ta.runs >= 4 and calls["b"] > tb.runs       # warm-up calls are not timed


def test_summarize_merges_runs(tmp_path):
    import json

    from benchmarks import summarize
    runs = [[{"workload": "w", "autodiff_s": a, "pytorch_s": b, "ratio": r},
             {"workload": "no peer", "autodiff_s": 1.0, "pytorch_s": None, "ratio": None}]
            for a, b, r in ((0.003, 0.002, 1.4), (0.005, 0.002, 2.6), (0.004, 0.001, 1.5))]
    paths = []
    for i, run in enumerate(runs):
        p = tmp_path / f"run{i}.json"
        p.write_text(json.dumps(run))
        paths.append(str(p))
    out = summarize.main(paths)
    assert "| w | 4.00 ms | 2.00 ms | 1.40, 2.60, 1.50 | **1.50x** |" in out
    assert "no peer" not in out
