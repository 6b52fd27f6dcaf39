"""Array routines of the engine's core ops (``autodiff/ops``) whose code differs between NumPy
and CuPy, so that the ops never ask which library holds their data.

- :func:`relu_forward`, :func:`fused_backward`: one-pass activation kernels, numba on NumPy
  (``cpu_kernels``, pooled outputs) and CUDA on CuPy (``cuda_kernels``); ``fused_backward``
  returns None where none applies, and the caller runs its Tensor-op rule instead.
- :func:`sum_to` (undo broadcasting; CuPy's generic reduction is slow over short trailing
  axes, so ``cuda_kernels.sum_to_trailing`` plans it), :func:`scatter_add` (repeated indices
  accumulate), :func:`erf`, :func:`to_device`, :func:`quiet_float_errors`.

Like the rest of ``backends`` these take and return raw arrays and know nothing of Tensors.
"""
from __future__ import annotations

import contextlib
import math

import numpy

from . import device_of, get_array_module, get_backend

__all__ = ["relu_forward", "fused_backward", "sum_to", "scatter_add", "erf", "to_device",
           "quiet_float_errors"]

_FUSED: dict = {}     # kind -> (numba kernel, CUDA kernel); the modules import on first use


def _fused_kernels(kind: str) -> tuple:
    pair = _FUSED.get(kind)
    if pair is None:
        from . import cpu_kernels, cuda_kernels
        _FUSED[kind] = pair = (cpu_kernels, getattr(cpu_kernels, f"{kind}_backward"),
                               getattr(cuda_kernels, f"{kind}_backward"))
    return pair


def fused_backward(kind: str, y, g):
    """``kind``'s ('relu', 'tanh', 'sigmoid') first-order backward from the saved output ``y``
    and the incoming gradient ``g`` in one pass, or None where no fused kernel takes them (the
    CUDA kernels take float32 and float64 only)."""
    cpu, on_cpu, on_gpu = _fused_kernels(kind)
    if device_of(g) == "cuda":
        if y.dtype != g.dtype or g.dtype.name not in ("float32", "float64"):
            return None
        return on_gpu(y, g)
    return on_cpu(y, g) if cpu.applies(y, g) else None


def relu_forward(x):
    """``max(x, 0)``; NumPy arrays go into a pooled buffer (``cpu_kernels.relu_forward``)."""
    if type(x) is numpy.ndarray:
        return _fused_kernels("relu")[0].relu_forward(x)
    return get_array_module(x).maximum(x, 0)


def sum_to(x, shape: tuple, axes: tuple):
    """``x`` summed over ``axes`` down to ``shape`` (the inverse of broadcasting; ``axes`` the
    leading axes and those where ``shape`` has 1)."""
    if type(x) is numpy.ndarray:
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape) if out.ndim != len(shape) else out
    from .cuda_kernels import sum_to_trailing
    return sum_to_trailing(x, shape)


def scatter_add(out, key, values) -> None:
    """``out[key] += values`` in place, where repeated indices in ``key`` all add."""
    if type(out) is numpy.ndarray:
        numpy.add.at(out, key, values)
    else:
        import cupyx
        cupyx.scatter_add(out, key, values)


def erf(x):
    """The error function, elementwise, in ``x``'s dtype."""
    if type(x) is numpy.ndarray or isinstance(x, numpy.generic):
        try:
            from scipy.special import erf as _erf
        except ImportError:
            _erf = numpy.vectorize(math.erf, otypes=[x.dtype])
        return numpy.asarray(_erf(x)).astype(x.dtype, copy=False)
    from cupyx.scipy.special import erf as _erf
    return _erf(x)


def to_device(x, device: str):
    """``x`` on ``device`` ('cpu', 'cuda'): ``x`` itself when it is there already."""
    name = str(device).split(":")[0]
    target = get_backend("numpy" if name == "cpu" else name)
    if device_of(x) == target.device:
        return x
    if target.xp is numpy:
        return x.get()
    return target.xp.asarray(x)


def quiet_float_errors(x):
    """A context in which NumPy does not warn about log(0) or inf - inf on ``x``'s library
    (CuPy never warns)."""
    if type(x) is numpy.ndarray or isinstance(x, numpy.generic):
        return numpy.errstate(divide="ignore", invalid="ignore")
    return contextlib.nullcontext()
