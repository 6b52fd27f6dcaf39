"""The CuPy (CUDA GPU) backend: imported lazily, with a clear error when CuPy or a GPU is absent."""
from __future__ import annotations

from .registry import Backend


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


def make() -> Backend:
    cupy = _import_cupy()
    return Backend(name="cupy", device="cuda", xp=cupy)
