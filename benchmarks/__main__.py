"""``python -m benchmarks``: run every workload for autodiff and PyTorch in one process and
print median step times and ratios (autodiff / PyTorch; below 1 means autodiff is faster). The
two are timed interleaved (``harness.measure_pair``), and the ratio is the median over rounds
of the per-round ratio."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from . import workloads  # noqa: F401  (registers the workloads)
from .harness import fmt_time, measure, measure_pair
from .workloads import REGISTRY


def _load_extra() -> None:
    """Workloads that need nn/optim/conv/rnn register themselves when those import."""
    import importlib
    for mod in ("benchmarks.workloads_nn",):
        try:
            importlib.import_module(mod)
        except ImportError as e:  # a missing optional piece must not hide the others
            print(f"# skipped {mod}: {e}", file=sys.stderr)


def _sync_for(backend: str):
    if backend != "cupy":
        return lambda: None
    import cupy
    return cupy.cuda.Device().synchronize


def _torch(backend: str):
    try:
        import torch
    except ImportError:
        return None, None
    device = "cuda" if backend == "cupy" and torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return torch, (device, sync)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--only", default="", help="run workloads whose name contains this")
    p.add_argument("--budget", type=float, default=1.5, help="seconds per measurement")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for PyTorch CPU (default: its own)")
    args = p.parse_args(argv)

    import autodiff as ad
    _load_extra()
    ad.set_backend(args.backend)
    device = "cuda" if args.backend == "cupy" else "cpu"
    sync = _sync_for(args.backend)
    torch, tinfo = _torch(args.backend)
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)

    print(f"# autodiff {ad.__version__} backend={args.backend}  python {platform.python_version()}"
          f"  numpy {__import__('numpy').__version__}"
          + (f"  torch {torch.__version__} ({tinfo[0]}, {torch.get_num_threads()} threads)"
             if torch else "  (PyTorch not installed: no ratios)"))
    print(f"# {platform.machine()} {platform.processor() or ''} "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    header = f"{'workload':60s} {'autodiff':>12s} {'pytorch':>12s} {'ratio':>7s} {'GFLOP/s':>8s}"
    print(header)
    print("-" * len(header))
    rows = []
    for w in REGISTRY:
        if args.only and args.only not in w.name and args.only != w.group:
            continue
        step = w.build(device)
        per = getattr(step, "per", 1)
        theirs = ratio = None
        if torch is not None and w.build_torch is not None:
            tstep = w.build_torch(torch, tinfo[0])
            t, tt, ratio = measure_pair(step, tstep, sync, tinfo[1], budget_s=args.budget)
            theirs = tt.median_s / per
        else:
            t = measure(step, sync, budget_s=args.budget)
        ours = t.median_s / per
        gflops = (w.flops / ours / 1e9) if w.flops else None
        row = {"workload": w.name, "group": w.group, "autodiff_s": ours, "pytorch_s": theirs,
               "ratio": ratio, "gflops": gflops, "backend": args.backend}
        extra = ""
        if args.backend == "cupy":
            row.update(_gpu_profile(step, per))
            extra = (f"  cpu {fmt_time(row['cpu_s'])} gpu {fmt_time(row['gpu_s'])} "
                     f"launches {row['launches']}")
        print(f"{w.name:60s} {fmt_time(ours):>12s} "
              f"{fmt_time(theirs) if theirs else '-':>12s} "
              f"{f'{ratio:6.2f}x' if ratio else '-':>7s} "
              f"{f'{gflops:8.1f}' if gflops else '':>8s}{extra}", flush=True)
        rows.append(row)
    if args.backend == "cupy":
        _reference_rates(rows, torch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
        _plot(rows, args.json.rsplit(".", 1)[0] + ".png")
    return rows


def _gpu_profile(step, per: int) -> dict:
    """CPU (Python + launch) vs GPU time, and kernel launches per step (GPU backend only)."""
    from .gpu import count_launches, gpu_time
    t = gpu_time(step, n_repeat=20, n_warmup=2)
    launches = count_launches(step)
    return {"cpu_s": t.cpu_s / per, "gpu_s": t.gpu_s / per,
            "launches": getattr(launches, "count", None)}


def _reference_rates(rows: list, torch) -> None:
    """The plain cuBLAS GEMM rate (CuPy and PyTorch), the yardstick for matrix-bound steps."""
    from .gpu import cublas_rate, torch_cuda_rate
    ref = {"workload": "reference: 8192^3 float32 GEMM TFLOP/s", "group": "reference",
           "cupy_tflops": cublas_rate()}
    if torch is not None and torch.cuda.is_available():
        ref["torch_tflops"] = torch_cuda_rate()
    print(f"# cuBLAS reference: CuPy {ref['cupy_tflops']:.1f} TFLOP/s"
          + (f", PyTorch {ref['torch_tflops']:.1f} TFLOP/s" if "torch_tflops" in ref else ""))
    rows.append(ref)


def _plot(rows: list, path: str) -> None:
    """A bar chart of the ratios, when matplotlib is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    pts = [(r["workload"], r["ratio"]) for r in rows if r.get("ratio")]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(pts) + 1))
    ax.barh([p[0] for p in pts], [p[1] for p in pts])
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xlabel("autodiff time / PyTorch time (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"# plot written to {path}")


if __name__ == "__main__":
    main()
