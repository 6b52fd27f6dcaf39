"""The benchmark suite runs: each CPU-sized workload builds and steps (no timing asserted)."""
from __future__ import annotations

import math

import pytest

from benchmarks.__main__ import main
from benchmarks.workloads import REGISTRY

pytest.importorskip("benchmarks.workloads_nn")

_SKIP = ("wide-gpu", "resnet56", "resnet", "legendre")


@pytest.mark.parametrize("w", [w for w in REGISTRY if w.group not in _SKIP],
                         ids=lambda w: w.group + ":" + w.name[:30])
def test_workload_steps(w):
    step = w.build("cpu")
    step()
    step()


def test_main_reports_rows(tmp_path):
    out = tmp_path / "b.json"
    rows = main(["--only", "overhead", "--budget", "0.05", "--json", str(out)])
    assert len(rows) == 1 and rows[0]["autodiff_s"] > 0 and math.isfinite(rows[0]["autodiff_s"])
    assert out.exists()
