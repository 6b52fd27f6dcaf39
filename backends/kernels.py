"""The kernel namespace of each backend: one set of names and signatures, chosen from the data.

``kernels_for(*arrays)`` returns a :class:`Kernels` whose attributes are array-level routines
(no Tensors) with the signatures of :mod:`backends.cuda_kernels`; an attribute is None where the
backend has no fused route that beats the generic composition, and callers (``autodiff.ops``)
then run their generic code. Callers never ask which array library they hold.

Besides the fused routes in the table below, every namespace has the engine's *array routines*
(code that differs between the libraries): ``relu_forward``; ``relu_backward``,
``tanh_backward`` and ``sigmoid_backward`` (one-pass first-order backwards from the saved output,
returning None for arrays their kernels do not take, e.g. non-contiguous or, on CUDA, float16);
``sum_to`` (undo broadcasting: CuPy's generic reduction is slow over short trailing axes, so
``cuda_kernels.sum_to_trailing`` plans it); ``scatter_add`` (repeated indices accumulate);
``erf``; ``quiet_float_errors`` (a context silencing NumPy's log(0) warnings).

=====================  ==========================  =============================================
route                  CuPy, float32/float64       NumPy
=====================  ==========================  =============================================
softmax cross-entropy  CUDA kernels                NumPy (one exp pass; 1.5-3x the composite
                                                   log_softmax + nll)
batch norm (training)  CUDA kernels                numba kernels of ``backends.batchnorm``
SGD / Adam update      CUDA kernels (one launch)   None: the optimizer's in-place NumPy update
                                                   is the same arithmetic
=====================  ==========================  =============================================

Other dtypes on CuPy (float16) get batch norm through ``backends.batchnorm``'s vectorised path
and None elsewhere. :func:`reference_kernels` (for tests) gives NumPy arrays every route through
the NumPy twins in ``cuda_kernels``: the calls, argument order and state handling that run on
the GPU, checked on the CPU.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields, replace
from typing import Callable, Iterator, Optional

import numpy

from . import (batchnorm, conv_routes, cpu_kernels, cuda_kernels, cupy_backend, get_array_module,
               numpy_backend, rnn_kernels)

__all__ = ["Kernels", "kernels_for", "reference_kernels"]

_Fn = Optional[Callable]


@dataclass
class Kernels:
    """One backend's fused routes (see the module docstring); None: use the generic path."""

    name: str
    softmax_cross_entropy_forward: _Fn = None
    softmax_cross_entropy_backward: _Fn = None
    batch_norm_forward: _Fn = None
    batch_norm_backward: _Fn = None
    sgd_momentum_update: _Fn = None
    adam_update: _Fn = None
    # convolution and pooling (``conv_routes``, ``im2col``): present on every backend
    conv2d_forward: _Fn = None
    conv2d_backward: _Fn = None
    im2col: _Fn = None
    col2im: _Fn = None
    im2col_cm: _Fn = None
    col2im_cm: _Fn = None
    max_pool2d_forward: _Fn = None
    max_pool2d_scatter: _Fn = None
    max_pool2d_gather: _Fn = None
    # recurrent layers (``rnn_kernels``): numba on NumPy; None elsewhere (generic equations)
    lstm_sequence_forward: _Fn = None
    lstm_sequence_backward: _Fn = None
    index_projection_forward: _Fn = None
    index_projection_backward: _Fn = None
    # array routines (see the module docstring): present on every backend
    relu_forward: _Fn = None
    relu_backward: _Fn = None
    tanh_backward: _Fn = None
    sigmoid_backward: _Fn = None
    sum_to: _Fn = None
    scatter_add: _Fn = None
    erf: _Fn = None
    quiet_float_errors: _Fn = None


def _bn_forward(x, gamma, beta, eps: float = 1e-5, return_var: bool = False):
    """``cuda_kernels.batch_norm_forward``'s signature over ``batchnorm.bn_forward`` (numba on
    C-contiguous float NumPy arrays, vectorised otherwise); statistics in float64."""
    y, mean, var, invstd = batchnorm.bn_forward(x, gamma, beta, eps)
    return (y, mean, invstd) + ((var,) if return_var else ())


def _bn_backward(x, g, gamma, mean, invstd, need_dx: bool = True):
    """``cuda_kernels.batch_norm_backward``'s signature over ``batchnorm.bn_backward``."""
    dx, dgamma, dbeta = batchnorm.bn_backward(g, x, mean, invstd, gamma, need_dx)
    return dx, dgamma, dbeta


def _numba_activation(kind: str) -> Callable:
    """``kind``'s one-pass numba backward (``cpu_kernels``), or None where it does not apply."""
    kernel = getattr(cpu_kernels, f"{kind}_backward")

    def backward(y, g):
        return kernel(y, g) if cpu_kernels.applies(y, g) else None
    backward.__name__ = f"{kind}_backward"
    return backward


def _cuda_activation(kind: str) -> Callable:
    """``kind``'s one-launch CUDA backward, or None for dtypes the kernels do not take."""
    name = f"{kind}_backward"

    def backward(y, g):
        if y.dtype != g.dtype or g.dtype.name not in _CUDA_DTYPES:
            return None
        return getattr(cuda_kernels, name)(y, g)     # looked up per call (tests patch it)
    backward.__name__ = name
    return backward


def _relu_xp(x):
    return get_array_module(x).maximum(0, x)  # x at a tie: relu(-0.0) is -0.0


def _sum_to_planned(x, shape: tuple, axes: tuple):
    return cuda_kernels.sum_to_trailing(x, shape)     # looked up per call (tests patch it)


_ACTIVATIONS = ("relu", "tanh", "sigmoid")
_CUDA_DTYPES = ("float32", "float64")
#: the cuda_kernels functions the CUDA namespace takes under their own names
CUDA_KERNEL_ROUTES = tuple(f.name for f in fields(Kernels) if f.name != "name"
                           and hasattr(cuda_kernels, f.name)
                           and f.name not in {f"{k}_backward" for k in _ACTIVATIONS})
#: routes only the NumPy backend fills (numba kernels); elsewhere the generic equations run
NUMPY_ONLY_ROUTES = rnn_kernels.ROUTES
_NUMPY_ARRAY = dict(sum_to=numpy_backend.sum_to, scatter_add=numpy_backend.scatter_add,
                    erf=numpy_backend.erf, quiet_float_errors=numpy_backend.quiet_float_errors)
_CUPY_ARRAY = dict(relu_forward=_relu_xp, sum_to=_sum_to_planned,
                   scatter_add=cupy_backend.scatter_add, erf=cupy_backend.erf,
                   quiet_float_errors=cupy_backend.quiet_float_errors)
_CUDA = Kernels("cuda", **{r: getattr(cuda_kernels, r) for r in CUDA_KERNEL_ROUTES},
                **{f"{k}_backward": _cuda_activation(k) for k in _ACTIVATIONS}, **_CUPY_ARRAY)
# the same functions take NumPy arrays, with NumPy's array routines
_REFERENCE = replace(_CUDA, name="numpy-reference", **_NUMPY_ARRAY, relu_forward=_relu_xp)
_CONV_XP = {r: getattr(cuda_kernels, r) for r in conv_routes.ROUTES}
def _sce_forward(logits, labels, ignore_index: int = -100):
    """The one-pass numba cross-entropy where it applies, else the vectorised NumPy code."""
    out = cpu_kernels.softmax_cross_entropy_forward(logits, labels, ignore_index)
    return out if out is not None else cuda_kernels.softmax_cross_entropy_forward(
        logits, labels, ignore_index)


_CPU = Kernels("numpy", _sce_forward,
               cuda_kernels.softmax_cross_entropy_backward, _bn_forward, _bn_backward,
               relu_forward=cpu_kernels.relu_forward,
               **{f"{k}_backward": _numba_activation(k) for k in _ACTIVATIONS},
               **dict(_CONV_XP, **conv_routes.NUMPY_ROUTES, **rnn_kernels.NUMPY_ROUTES),
               **_NUMPY_ARRAY)
# CuPy arrays the CUDA kernels do not take (float16): generic code, CuPy's array routines
_GENERIC = Kernels("generic", batch_norm_forward=_bn_forward, batch_norm_backward=_bn_backward,
                   **_CONV_XP, **_CUPY_ARRAY)
_numpy_kernels = [_CPU]


def kernels_for(*arrays) -> Kernels:
    """The fused kernels for ``arrays`` (raw NumPy/CuPy arrays; integer arrays such as labels
    may be among them): CUDA kernels when the data is on the GPU in float32/float64, the CPU
    routes for NumPy data (see the module docstring)."""
    for a in arrays:                # the common case first: asked per parameter per step
        if type(a) is not numpy.ndarray:
            break
    else:
        return _numpy_kernels[-1]
    if get_array_module(*arrays) is numpy:
        return _numpy_kernels[-1]
    if all(a.dtype.kind != "f" or a.dtype.name in _CUDA_DTYPES for a in arrays):
        return _CUDA
    return _GENERIC


@contextlib.contextmanager
def reference_kernels() -> Iterator[Kernels]:
    """For tests: inside the block NumPy arrays take every fused route through the NumPy twins
    of ``cuda_kernels`` (the GPU's calls, run on the CPU). Yields the namespace in use."""
    _numpy_kernels.append(_REFERENCE)
    try:
        yield _REFERENCE
    finally:
        _numpy_kernels.pop()
