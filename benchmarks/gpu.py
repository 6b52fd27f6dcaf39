"""GPU benchmark helpers: CPU vs GPU time, kernel-launch counts, and reference matmul rates.

Importable without CuPy or PyTorch; each function raises a clear ``RuntimeError`` when called
where the GPU (or the library it needs) is absent.

- :func:`gpu_time`: ``cupyx.profiler.benchmark`` around a step: median CPU time (Python and
  launch overhead, measured on the host) and median GPU time (CUDA events on the stream).
- :func:`count_launches`: kernels (and memcpy/memset) launched by one call of a step.
- :func:`gpu_profile`: both of these for a benchmark row, per step, never raising: what could
  not be measured is None, with a note saying why (a CUPTI that cannot be used, say).
- :func:`cublas_rate`: achieved TFLOP/s of a plain CuPy ``a @ b`` (cuBLAS GEMM), the reference
  for the matrix-bound wide-MLP workload.
- :func:`torch_cuda_rate`: the same measurement with ``torch.matmul`` on CUDA.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy

__all__ = ["GpuTime", "gpu_time", "count_launches", "gpu_profile", "cublas_rate",
           "torch_cuda_rate", "pool_peak"]


def _cupy():
    from autodiff.backends import cupy_backend
    if not cupy_backend.is_available():
        raise RuntimeError("benchmarks.gpu needs CuPy and a CUDA GPU, and none is available "
                           "(pip install cupy-cuda13x on a machine with an NVIDIA GPU)")
    import cupy
    return cupy


@dataclass
class GpuTime:
    """Median times in seconds: ``cpu_s`` on the host (Python + launches), ``gpu_s`` on the
    device (CUDA events), over ``n_repeat`` runs after warm-up."""

    cpu_s: float
    gpu_s: float
    n_repeat: int

    @property
    def bound(self) -> str:
        """'launch/CPU' when the host time dominates, else 'GPU'."""
        return "launch/CPU" if self.cpu_s > self.gpu_s else "GPU"


def gpu_time(fn: Callable[[], object], n_repeat: int = 100, n_warmup: int = 10,
             max_duration: float = 10.0) -> GpuTime:
    """CPU and GPU time of ``fn()`` with ``cupyx.profiler.benchmark`` (which synchronises the
    device around every run and times the GPU with events on the current stream)."""
    _cupy()
    from cupyx.profiler import benchmark
    res = benchmark(fn, n_repeat=n_repeat, n_warmup=n_warmup, max_duration=max_duration)
    cpu = numpy.asarray(res.cpu_times)
    gpu = numpy.asarray(res.gpu_times)
    gpu = gpu[0] if gpu.ndim > 1 else gpu
    return GpuTime(float(numpy.median(cpu)), float(numpy.median(gpu)), int(cpu.size))


def count_launches(fn: Callable[[], object], warmup: int = 1):
    """Kernel launches of one call of ``fn`` (after ``warmup`` calls, so that compilation and
    pool growth are not counted): a ``LaunchCount`` whose ``count`` is None (with a ``note``)
    where no counting method (CUPTI, torch.profiler) is available."""
    _cupy()
    from autodiff.backends.cupy_backend import launch_counter
    for _ in range(warmup):
        fn()
    with launch_counter() as c:
        fn()
    return c


def gpu_profile(step: Callable[[], object], per: int = 1, budget_s: float = 1.0) -> dict:
    """The GPU profile of one benchmark step, divided by ``per`` (the steps one call makes),
    like the times: ``cpu_s`` (host: Python and launches), ``gpu_s`` (device, CUDA events),
    ``launches``/``memcpy``/``memset`` per step, ``launch_method``, the most frequent
    ``kernels`` (name -> launches per step) where the method names them, and ``notes`` for
    what failed. About ``budget_s`` of timing (3 to 20 repeats). Never raises: a failed
    measurement is None (printed 'n/a')."""
    out: dict = {"cpu_s": None, "gpu_s": None, "launches": None, "memcpy": None,
                 "memset": None, "launch_method": None, "kernels": {}, "notes": []}
    try:
        t0 = time.perf_counter()
        step()
        _cupy().cuda.Device().synchronize()
        one = max(time.perf_counter() - t0, 1e-6)
        t = gpu_time(step, n_repeat=max(3, min(20, int(budget_s / one))), n_warmup=1,
                     max_duration=4 * budget_s)
        out["cpu_s"], out["gpu_s"] = t.cpu_s / per, t.gpu_s / per
    except Exception as e:  # noqa: BLE001  (reported, not fatal: the row keeps its times)
        out["notes"].append(f"timing failed: {type(e).__name__}: {e}")
    try:
        c = count_launches(step)
        out["launch_method"] = c.method
        if c.count is not None:
            out["launches"] = c.count / per
            out["memcpy"] = (c.memcpy or 0) / per
            out["memset"] = (c.memset or 0) / per
        if c.note:
            out["notes"].append(c.note)
        names: dict[str, int] = {}
        for k in c.kernels:
            names[k] = names.get(k, 0) + 1
        top = sorted(names.items(), key=lambda kv: -kv[1])[:15]
        out["kernels"] = {k: n / per for k, n in top}
    except Exception as e:  # noqa: BLE001
        out["notes"].append(f"launch count failed: {type(e).__name__}: {e}")
    return out


def pool_peak(fn: Callable[[], object]) -> dict[str, int]:
    """Bytes of CuPy's default pool used and reserved after one call of ``fn`` (the pool only
    grows, so ``total`` after a step is the step's peak reservation)."""
    _cupy()
    from autodiff.backends.cupy_backend import pool_stats, synchronize
    fn()
    synchronize()
    return pool_stats()


def cublas_rate(n: int = 8192, dtype="float32", repeat: int = 20) -> float:
    """Achieved TFLOP/s (``2 n^3`` per product) of a plain CuPy ``a @ b`` on n x n matrices,
    timed with CUDA events, median of ``repeat`` runs. TF32 is used only if ``CUPY_TF32=1``."""
    cupy = _cupy()
    dtype = numpy.dtype(dtype)
    rng = cupy.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=numpy.float32).astype(dtype)
    b = rng.standard_normal((n, n), dtype=numpy.float32).astype(dtype)
    out = cupy.empty((n, n), dtype)
    for _ in range(3):
        cupy.matmul(a, b, out=out)
    stream = cupy.cuda.get_current_stream()
    times = []
    for _ in range(repeat):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        cupy.matmul(a, b, out=out)
        end.record(stream)
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3)
    return 2.0 * n ** 3 / statistics.median(times) / 1e12


def torch_cuda_rate(n: int = 8192, dtype="float32", repeat: int = 20) -> float:
    """Achieved TFLOP/s of ``torch.matmul`` on n x n CUDA matrices (CUDA events, median);
    PyTorch's default float32 matmul precision ('highest', no TF32) is left as it is."""
    try:
        import torch
    except ImportError:
        raise RuntimeError("torch_cuda_rate needs PyTorch, which is not installed") from None
    if not torch.cuda.is_available():
        raise RuntimeError("torch_cuda_rate needs PyTorch with CUDA and a GPU")
    tdt = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
           "bfloat16": torch.bfloat16}[str(numpy.dtype(dtype)) if dtype != "bfloat16"
                                       else "bfloat16"]
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", generator=g).to(tdt)
    b = torch.randn(n, n, device="cuda", generator=g).to(tdt)
    out = torch.empty(n, n, device="cuda", dtype=tdt)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        torch.matmul(a, b, out=out)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2.0 * n ** 3 / statistics.median(times) / 1e12
