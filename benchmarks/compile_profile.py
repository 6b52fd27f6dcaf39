"""``python -m benchmarks.compile_profile``: what a replay of ``autodiff.compile`` spends, per
workload that has a compiled column: the program's size (ops, fused kernels, ops left as
they are by kind), the replay's step time, and its Python time per step (the self time of the
generated replay function, the guard and the compiled function's call, from ``cProfile``:
everything but the kernels, BLAS calls and the optimizer updates that did not fuse).

Profiles are for reading where time goes, not for comparing with PyTorch (the profiler slows
Python code more than kernels): the ratios are in ``python -m benchmarks``.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import time

from .workloads import REGISTRY
from . import workloads_nn, workloads_peers  # noqa: F401  (register the workloads)

_PYTHON = ("replay", "__call__", "signature", "_walk", "_free_values", "_value_key",
           "flatten", "_build", "make", "extras", "fetch")


def _program(compiled):
    for progs in compiled.programs.values():
        if not isinstance(progs, str):
            return progs[0]
    return None


def profile(name: str, steps: int = 30) -> dict:
    w = next(w for w in REGISTRY if w.name == name)
    step = w.build_compiled("cpu")
    compiled = getattr(step, "compiled", step)
    inner = getattr(step, "steps", 1)      # a whole run of replays per call (Legendre)
    steps = max(1, steps // inner) if inner > 1 else steps
    for _ in range(3 if inner == 1 else 1):
        step()
    prog = _program(compiled)
    if prog is None:
        return {"name": name, "eager": True}
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    wall = (time.perf_counter() - t0) / steps / inner
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof).stats
    own = sum(v[2] for (f, _, fn), v in stats.items()
              if fn in _PYTHON and ("autodiff" in f or "<autodiff" in f)) / steps / inner
    total = sum(v[2] for v in stats.values()) / steps / inner
    kinds = collections.Counter("fused" if op.name.startswith("fused[") else
                                f"{op.kind} {op.name}" for op in prog.ops)
    return {"name": name, "ops": len(prog.ops), "fused": kinds.pop("fused", 0),
            "others": kinds.most_common(6), "step_s": wall, "python_s": own,
            "python_share": own / total if total else 0.0,
            "per": getattr(step, "per", 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args(argv)
    for w in REGISTRY:
        if w.build_compiled is None or args.only not in w.name:
            continue
        r = profile(w.name, args.steps)
        if r.get("eager"):
            print(f"{w.name}: runs eagerly (graph break)")
            continue
        print(f"{w.name}\n  {r['ops']} ops, {r['fused']} fused kernels; step "
              f"{r['step_s'] * 1e3:.3f} ms, Python {r['python_s'] * 1e6:.0f} us per step "
              f"({100 * r['python_share']:.0f}% of the profiled time)\n  left as they are: "
              + ", ".join(f"{n} x{c}" for n, c in r["others"]))


if __name__ == "__main__":
    main()
