"""``python -m benchmarks``: run every workload for autodiff and PyTorch in one process and
print median step times and ratios (autodiff / PyTorch; below 1 means autodiff is faster). The
two are timed interleaved (``harness.measure_pair``), and the ratio is the median over rounds
of the per-round ratio.

Every workload module must import: one that fails ends the run with its traceback (a
benchmark that silently drops workloads reads as a complete one). PyTorch is an optional peer:
without it each row says so. The ``torch`` column is the device PyTorch ran on; a ratio marked
``*`` compares different devices (autodiff on the GPU, PyTorch without CUDA)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time

from .gpu import gpu_profile
from .harness import SETTLE_S, fmt_time, measure, measure_pair
from .peers import measure_peers, peer_cells
from .summarize import other_device
from .workloads import REGISTRY, Workload

#: The modules whose import registers the workloads (``workloads`` itself: overhead, MLP).
WORKLOAD_MODULES = ("benchmarks.workloads", "benchmarks.workloads_nn",
                    "benchmarks.workloads_peers")


def load_workloads() -> list[Workload]:
    """Import every module of :data:`WORKLOAD_MODULES` (an ImportError propagates) and return
    the registry."""
    for mod in WORKLOAD_MODULES:
        importlib.import_module(mod)
    return REGISTRY


def _sync_for(backend: str):
    if backend != "cupy":
        return lambda: None
    import cupy
    return cupy.cuda.Device().synchronize


def _torch(backend: str):
    """PyTorch and (its device, its sync), or (None, None) without it. On CUDA its TF32 switches
    (cuBLAS and cuDNN; cuDNN's is on by default) are set to autodiff's float32 precision, so
    that both sides multiply with the same arithmetic."""
    try:
        import torch
    except ImportError:
        return None, None
    device = "cuda" if backend == "cupy" and torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        from autodiff.backends.precision import get_float32_matmul_precision
        tf32 = get_float32_matmul_precision() == "high"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return torch, (device, sync)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"])
    p.add_argument("--only", default="", help="run workloads whose name contains this")
    p.add_argument("--budget", type=float, default=1.5, help="seconds per measurement")
    p.add_argument("--json", default=None,
                   help="write results to this JSON file (rewritten after every workload)")
    p.add_argument("--keep-going", action="store_true",
                   help="a workload that raises gets a row with its error, and the run goes on "
                        "(by default the run stops with the traceback)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for PyTorch CPU (default: its own)")
    args = p.parse_args(argv)

    import autodiff as ad
    load_workloads()
    ad.set_backend(args.backend)
    device = "cuda" if args.backend == "cupy" else "cpu"
    sync = _sync_for(args.backend)
    torch, tinfo = _torch(args.backend)
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)

    print(f"# autodiff {ad.__version__} backend={args.backend}"
          f"  float32 matmul precision {ad.get_float32_matmul_precision()}"
          f"  python {platform.python_version()}"
          f"  numpy {__import__('numpy').__version__}"
          + (f"  torch {torch.__version__} ({tinfo[0]}, {torch.get_num_threads()} threads)"
             if torch else "  (PyTorch not installed: no ratios)"))
    print(f"# {platform.machine()} {platform.processor() or ''} "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    width = max([60] + [len(w.name) for w in REGISTRY])
    head = header(width)
    print(head)
    print("-" * len(head))
    rows = []
    for w in REGISTRY:
        if args.only and args.only not in w.name and args.only != w.group:
            continue
        try:
            row = _run(w, args, device, sync, torch, tinfo)
            print(format_row(row, width), flush=True)
        except Exception as e:
            if not args.keep_going:
                raise
            row = {"workload": w.name, "group": w.group, "backend": args.backend,
                   "device": device, "error": f"{type(e).__name__}: {e}"}
            print(f"{w.name:{width}s} FAILED: {row['error']}", flush=True)
        rows.append(row)
        if args.json:
            _write_json(rows, args.json)
    if any(other_device(r) for r in rows):
        print("# * PyTorch ran on the CPU (this PyTorch has no CUDA) while autodiff ran on the "
              "GPU: those ratios compare different devices")
    if args.backend == "cupy":
        _reference_rates(rows, torch)
    if args.json:
        _write_json(rows, args.json)
        _plot(rows, args.json.rsplit(".", 1)[0] + ".png")
    return rows


def _run(w: Workload, args, device: str, sync, torch, tinfo) -> dict:
    """Time one workload (against its PyTorch twin where there is one) and, on the GPU, profile
    both sides: the row of the table."""
    step = w.build(device)
    per = getattr(step, "per", 1)
    theirs = ratio = tstep = None
    if torch is not None and w.build_torch is not None:
        tstep = w.build_torch(torch, tinfo[0])
        t, tt, ratio = measure_pair(step, tstep, sync, tinfo[1], budget_s=args.budget,
                                    settle_s=0.0 if args.backend == "cupy" else SETTLE_S)
        theirs = tt.median_s / per
    else:
        t = measure(step, sync, budget_s=args.budget)
    ours = t.median_s / per
    gflops = (w.flops / ours / 1e9) if w.flops else None
    row = {"workload": w.name, "group": w.group, "autodiff_s": ours, "pytorch_s": theirs,
           "ratio": ratio, "gflops": gflops, "backend": args.backend, "device": device,
           "pytorch_device": (tinfo[0] if torch is not None and w.build_torch else None),
           "pytorch_note": ("not installed" if torch is None else
                            "no twin" if w.build_torch is None else None)}
    # compiled autodiff and JAX beside PyTorch eager (ratios against it)
    row.update(measure_peers(w, device, sync, tstep, tinfo[1] if tstep else None, args.budget,
                             0.0 if args.backend == "cupy" else SETTLE_S))
    if args.backend == "cupy":
        row.update(gpu_profile(step, per))
        if theirs is not None and tinfo[0] == "cuda":
            row.update({f"pytorch_{k}": v for k, v in gpu_profile(tstep, per).items()})
    return row


def _write_json(rows: list, path: str) -> None:
    """Written whole after every workload, so a run cut short keeps what it measured."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rows, f, indent=1)
    os.replace(tmp, path)


def header(width: int = 60) -> str:
    return (f"{'workload':{width}s} {'autodiff':>12s} {'pytorch':>12s} {'torch':>13s} "
            f"{'ratio':>8s} {'GFLOP/s':>8s}")


def format_row(row: dict, width: int = 60) -> str:
    """One line of the table: times, the device PyTorch ran on (or why there is no PyTorch
    time), the ratio (``*``: the two ran on different devices) and GFLOP/s; on the GPU also
    host/device time and launches."""
    theirs, ratio, gflops = row.get("pytorch_s"), row.get("ratio"), row.get("gflops")
    torch_cell = row.get("pytorch_device") or row.get("pytorch_note") or "-"
    ratio_cell = f"{ratio:6.2f}x" + ("*" if other_device(row) else " ") if ratio else "-"
    line = (f"{row['workload']:{width}s} {fmt_time(row['autodiff_s']):>12s} "
            f"{fmt_time(theirs) if theirs else '-':>12s} {torch_cell:>13s} {ratio_cell:>8s} "
            f"{f'{gflops:8.1f}' if gflops else '':>8s}")
    if "gpu_s" in row:
        line += "  " + profile_cells(row)
    peers = peer_cells(row)
    if peers:
        line += "  " + peers
    return line


def profile_cells(row: dict, prefix: str = "") -> str:
    """'cpu .. gpu .. launches ..' of a profiled row ('n/a' for what could not be measured)."""
    def t(key):
        v = row.get(prefix + key)
        return fmt_time(v).strip() if v is not None else "n/a"
    launches = row.get(prefix + "launches")
    return (f"cpu {t('cpu_s')} gpu {t('gpu_s')} launches "
            f"{'n/a' if launches is None else f'{launches:g}'}")


def _reference_rates(rows: list, torch) -> None:
    """The plain cuBLAS GEMM rate (CuPy and PyTorch), the yardstick for matrix-bound steps."""
    from .gpu import cublas_rate, torch_cuda_rate
    ref = {"workload": "reference: 8192^3 float32 GEMM TFLOP/s", "group": "reference"}
    rates = [("cupy_tflops", "CuPy", cublas_rate)]
    if torch is not None and torch.cuda.is_available():
        rates.append(("torch_tflops", "PyTorch", torch_cuda_rate))
    cells = []
    for key, who, rate in rates:
        try:
            ref[key] = rate()
            cells.append(f"{who} {ref[key]:.1f} TFLOP/s")
        except Exception as e:  # noqa: BLE001  (the workload rows stand without it)
            cells.append(f"{who} failed ({type(e).__name__}: {e})")
    print("# cuBLAS reference: " + ", ".join(cells))
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
