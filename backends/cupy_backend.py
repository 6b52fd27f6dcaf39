"""The CuPy (CUDA GPU) backend: imported lazily, with a clear error when CuPy or a GPU is absent.

Besides :func:`make` and :func:`is_available`, this module holds the device utilities the
benchmarks and tests use: memory-pool statistics (:func:`pool_stats`, :func:`free_pool`),
:func:`synchronize`, and :func:`launch_counter`, which counts the CUDA kernels launched in a
block. CuPy has no kernel-launch hooks (only memory hooks, ``cupy.cuda.MemoryHook``), so the
counter uses, in order: CUPTI's activity API through ctypes (``libcupti`` from the CUDA toolkit
or the ``nvidia-cuda-cupti`` wheel that PyTorch installs), else ``torch.profiler`` (which also
sees kernels launched by CuPy, through CUPTI), else it yields a counter whose ``count`` is None
and whose ``note`` says why.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import sys
from dataclasses import dataclass, field
from typing import Iterator

from .registry import Backend

__all__ = ["is_available", "make", "scatter_add", "erf", "quiet_float_errors", "nccl",
           "device_generator", "pool_stats", "free_pool", "pinned_array", "synchronize",
           "launch_counter", "LaunchCount"]


def _import_cupy():
    try:
        import cupy
    except ImportError as e:  # no CuPy installed
        raise RuntimeError(
            "backend 'cupy' needs CuPy, which is not installed: pip install 'autodiff[cuda]' "
            f"(or a cupy-cudaXXx wheel matching your CUDA). Import error: {e}") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver/runtime missing
        raise RuntimeError(f"backend 'cupy': CuPy is installed but no CUDA GPU is usable ({e})") from None
    if n == 0:
        raise RuntimeError("backend 'cupy': CuPy is installed but no CUDA GPU was found")
    return cupy


def is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


def nccl():
    """(cupy, cupy.cuda.nccl) for ``autodiff.distributed``'s NCCL communicator; a RuntimeError
    saying what is missing (CuPy, a GPU, or CuPy's NCCL library) otherwise."""
    cupy = _import_cupy()
    try:
        from cupy.cuda import nccl as lib
    except ImportError as e:
        raise RuntimeError(f"backend 'nccl' needs CuPy's NCCL bindings (cupy.cuda.nccl): {e}") \
            from None
    if not getattr(lib, "available", True):
        raise RuntimeError("backend 'nccl': CuPy found no NCCL library (pip install "
                           "nvidia-nccl-cu12, or the NCCL matching your CUDA)")
    return cupy, lib


def make() -> Backend:
    cupy = _import_cupy()
    return Backend(name="cupy", device="cuda", xp=cupy)


# ----------------------------------------------------------------------------- array routines
# the CuPy side of the kernel namespace's array routines (``backends.kernels``; NumPy's are in
# ``numpy_backend``)
def scatter_add(out, key, values) -> None:
    """``out[key] += values`` in place, where repeated indices in ``key`` all add."""
    import cupyx
    cupyx.scatter_add(out, key, values)


def erf(x):
    """The error function, elementwise, in ``x``'s dtype."""
    from cupyx.scipy.special import erf as _erf
    return _erf(x)


def quiet_float_errors(x):
    """CuPy never warns about log(0) or inf - inf: nothing to silence."""
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- memory pool
def pool_stats() -> dict[str, int]:
    """Bytes of CuPy's default device memory pool: ``used`` (held by live arrays), ``total``
    (reserved from the driver, including freed blocks kept for reuse: why nvidia-smi looks
    full), ``free`` (= total - used), and ``pinned_free_blocks`` of the pinned host pool."""
    cupy = _import_cupy()
    pool = cupy.get_default_memory_pool()
    used, total = int(pool.used_bytes()), int(pool.total_bytes())
    pinned = cupy.get_default_pinned_memory_pool()
    return {"used": used, "total": total, "free": total - used,
            "pinned_free_blocks": int(pinned.n_free_blocks())}


def free_pool() -> None:
    """Return every unused block of the default pools to the driver."""
    cupy = _import_cupy()
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def pinned_array(array):
    """A copy of the NumPy ``array`` in page-locked host memory (CuPy's pinned pool), from
    which copies to the GPU are faster and can run asynchronously (``pin_memory=True``)."""
    _import_cupy()  # the clear error when CuPy or a GPU is missing
    import cupyx
    out = cupyx.empty_pinned(array.shape, array.dtype)
    out[...] = array
    return out


def synchronize() -> None:
    """Wait until all work queued on the current device has finished (no-op without a GPU)."""
    try:
        cupy = _import_cupy()
    except RuntimeError:
        return
    cupy.cuda.Device().synchronize()


# ----------------------------------------------------------------------------- launch counter
@dataclass
class LaunchCount:
    """What :func:`launch_counter` measured: ``count`` kernels (None when it could not count),
    ``memcpy``/``memset`` operations, the ``method`` used and a ``note``."""

    count: int | None = None
    memcpy: int | None = None
    memset: int | None = None
    method: str = "none"
    note: str = ""
    kernels: list[str] = field(default_factory=list, repr=False)


# CUPTI activity kinds (cupti_activity.h): MEMCPY = 1, MEMSET = 2, KERNEL = 3, CONCURRENT_KERNEL = 10
_KIND_MEMCPY, _KIND_MEMSET, _KIND_KERNEL, _KIND_CONC_KERNEL = 1, 2, 3, 10
_CUPTI_BUFFER = 8 << 20


class _Cupti:
    """A minimal CUPTI activity client through ctypes: counts kernel/memcpy/memset records."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.buffers: dict[int, ctypes.Array] = {}
        self.counts = {"kernel": 0, "memcpy": 0, "memset": 0}
        req_t = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t))
        done_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p,
                                  ctypes.c_size_t, ctypes.c_size_t)
        self._req = req_t(self._requested)    # kept alive: CUPTI calls them later
        self._done = done_t(self._completed)
        lib.cuptiActivityGetNextRecord.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                                   ctypes.POINTER(ctypes.c_void_p)]
        self._check(lib.cuptiActivityRegisterCallbacks(self._req, self._done),
                    "cuptiActivityRegisterCallbacks")

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed with CUPTI status {status}")

    def _requested(self, buf_pp, size_p, max_records_p) -> None:
        raw = ctypes.create_string_buffer(_CUPTI_BUFFER + 8)
        addr = ctypes.addressof(raw)
        aligned = (addr + 7) & ~7
        self.buffers[aligned] = raw
        buf_pp[0] = aligned
        size_p[0] = _CUPTI_BUFFER
        max_records_p[0] = 0

    def _completed(self, ctx, stream_id, buf, size, valid) -> None:
        rec = ctypes.c_void_p(None)
        while valid and self.lib.cuptiActivityGetNextRecord(buf, valid, ctypes.byref(rec)) == 0:
            kind = ctypes.c_uint32.from_address(rec.value).value
            if kind in (_KIND_KERNEL, _KIND_CONC_KERNEL):
                self.counts["kernel"] += 1
            elif kind == _KIND_MEMCPY:
                self.counts["memcpy"] += 1
            elif kind == _KIND_MEMSET:
                self.counts["memset"] += 1
        self.buffers.pop(buf, None)

    def start(self) -> None:
        self.counts = {"kernel": 0, "memcpy": 0, "memset": 0}
        for kind in (_KIND_CONC_KERNEL, _KIND_MEMCPY, _KIND_MEMSET):
            self._check(self.lib.cuptiActivityEnable(kind), "cuptiActivityEnable")

    def stop(self) -> dict[str, int]:
        self.lib.cuptiActivityFlushAll(1)  # CUPTI_ACTIVITY_FLAG_FLUSH_FORCED
        for kind in (_KIND_CONC_KERNEL, _KIND_MEMCPY, _KIND_MEMSET):
            self.lib.cuptiActivityDisable(kind)
        self.lib.cuptiActivityFlushAll(1)
        return dict(self.counts)


_CUPTI: list = []   # [] not tried, [None] unavailable, [_Cupti] ready
_CUPTI_ERROR: list[str] = []


def _cupti_candidates() -> list[str]:
    paths = [os.environ.get("AUTODIFF_CUPTI", "")]
    for base in sys.path:
        paths += sorted(glob.glob(os.path.join(base, "nvidia", "cuda_cupti", "lib",
                                               "libcupti.so*")))
        paths += sorted(glob.glob(os.path.join(base, "nvidia", "cu*", "lib", "libcupti.so*")))
    for root in (os.environ.get("CUDA_PATH", ""), os.environ.get("CUDA_HOME", ""),
                 "/usr/local/cuda"):
        if root:
            paths += sorted(glob.glob(os.path.join(root, "extras", "CUPTI", "lib64",
                                                   "libcupti.so*")))
    return [p for p in paths if p] + ["libcupti.so"]


def _get_cupti():
    if _CUPTI:
        return _CUPTI[0]
    for path in _cupti_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        try:
            _CUPTI.append(_Cupti(lib))
            return _CUPTI[0]
        except Exception as e:  # noqa: BLE001  (another CUPTI client, old CUPTI...)
            _CUPTI_ERROR.append(f"{path}: {e}")
            break
    _CUPTI.append(None)
    return None


@contextlib.contextmanager
def launch_counter(method: str = "auto") -> Iterator[LaunchCount]:
    """Count the CUDA kernel launches made inside the block (any library: CuPy, cuBLAS, ...)::

        with launch_counter() as c:
            step()
        print(c.count, c.method)

    ``method``: 'cupti' (ctypes CUPTI activity tracing), 'torch' (``torch.profiler``), or
    'auto' (the first that works). The block is synchronised on entry and exit so that only its
    own kernels are counted. Without a GPU, or with no counting method available, ``count`` is
    None and ``note`` explains (CuPy itself offers no launch hooks)."""
    res = LaunchCount()
    if not is_available():
        res.note = "no CUDA GPU/CuPy: kernel launches cannot be counted"
        yield res
        return
    cupy = _import_cupy()
    cupti = _get_cupti() if method in ("auto", "cupti") else None
    if cupti is not None:
        cupy.cuda.Device().synchronize()
        cupti.start()
        try:
            yield res
        finally:
            cupy.cuda.Device().synchronize()
            counts = cupti.stop()
            res.count, res.memcpy, res.memset = counts["kernel"], counts["memcpy"], \
                counts["memset"]
            res.method = "cupti"
        return
    torch_prof = None
    if method in ("auto", "torch"):
        try:
            import torch
            from torch.profiler import ProfilerActivity, profile
            if torch.cuda.is_available():
                torch_prof = profile(activities=[ProfilerActivity.CUDA])
        except Exception:  # noqa: BLE001  (torch absent or built without CUDA)
            torch_prof = None
    if torch_prof is not None:
        cupy.cuda.Device().synchronize()
        torch_prof.__enter__()
        try:
            yield res
        finally:
            cupy.cuda.Device().synchronize()
            torch_prof.__exit__(None, None, None)
            kernels, memcpy, memset = [], 0, 0
            for ev in torch_prof.events():
                if str(getattr(ev, "device_type", "")).endswith("CUDA"):
                    name = ev.name
                    low = name.lower()
                    if "memcpy" in low:
                        memcpy += 1
                    elif "memset" in low:
                        memset += 1
                    else:
                        kernels.append(name)
            res.count, res.memcpy, res.memset = len(kernels), memcpy, memset
            res.kernels = kernels
            res.method = "torch"
            res.note = "counted with torch.profiler (CUPTI); kernels are all device events " \
                       "that are not memcpy/memset"
        return
    res.note = ("kernel launches cannot be counted: CuPy has no launch hooks, libcupti was not "
                "found or could not be used" + (f" ({'; '.join(_CUPTI_ERROR)})" if _CUPTI_ERROR
                                                 else "") +
                ", and torch with CUDA is not installed. Set AUTODIFF_CUPTI to libcupti.so's "
                "path, or use nsys.")
    yield res


def device_generator(cache: dict, seed: int):
    """The CuPy generator of the current device from ``cache`` (device id -> generator), made
    from ``seed`` on first use: a generator's state lives in its device's memory."""
    import cupy
    dev = cupy.cuda.Device().id
    gen = cache.get(dev)
    if gen is None:
        gen = cache[dev] = cupy.random.default_rng(seed)
    return gen
