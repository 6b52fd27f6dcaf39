"""Fused first-order activation backwards for NumPy arrays on the CPU (numba), and relu's
forward into a recycled buffer.

The CPU counterparts of the activation kernels in :mod:`autodiff.backends.cuda_kernels`: one
pass over memory instead of NumPy's compare + cast + multiply (three passes and two
temporaries). They are used only when no graph of the backward pass is being recorded (with
``create_graph`` the Tensor-op rules run, so they can be differentiated again), and only for
C-contiguous float arrays of one dtype; :func:`applies` says when.

Their outputs, and relu's, come from ``pool.pooled_empty``: a fresh multi-megabyte array
costs a page fault per 4 KiB page on first touch, and glibc returns freed ones to the kernel,
so every training step paid them again (measured: 27% of a small-CNN step).
"""
from __future__ import annotations

import numpy

from .jit import HAVE_NUMBA
from .pool import pooled_empty

__all__ = ["HAVE_NUMBA", "applies", "relu_forward", "relu_backward", "tanh_backward",
           "sigmoid_backward"]

if HAVE_NUMBA:
    from .jit import numba

    @numba.njit(cache=True, nogil=True)
    def _relu_bw(y, g, out):  # pragma: no cover
        for i in range(out.size):
            out[i] = g[i] if y[i] > 0 else 0

    @numba.njit(cache=True, nogil=True)
    def _tanh_bw(y, g, out):  # pragma: no cover
        for i in range(out.size):
            out[i] = g[i] * (1 - y[i] * y[i])

    @numba.njit(cache=True, nogil=True)
    def _sigmoid_bw(y, g, out):  # pragma: no cover
        for i in range(out.size):
            out[i] = g[i] * y[i] * (1 - y[i])


def applies(y, g) -> bool:
    """Whether the kernels here take (y, g): NumPy float arrays, same shape and dtype,
    C-contiguous, with numba importable."""
    return (HAVE_NUMBA and type(y) is numpy.ndarray and type(g) is numpy.ndarray
            and y.dtype == g.dtype and y.dtype.kind == "f" and y.shape == g.shape
            and y.flags.c_contiguous and g.flags.c_contiguous)


def _run(kernel, y, g):
    out = pooled_empty(g.shape, g.dtype)
    kernel(y.reshape(-1), g.reshape(-1), out.reshape(-1))
    return out


def relu_forward(x):
    """``max(x, 0)`` (NaN stays NaN, -0.0 stays -0.0 as in PyTorch: NumPy returns the second
    operand at a tie) for a NumPy array, into a pooled buffer when large."""
    return numpy.maximum(0, x, out=pooled_empty(x.shape, x.dtype))


def relu_backward(y, g):
    """``g * (y > 0)`` (``y`` the saved output of relu, or its input)."""
    return _run(_relu_bw, y, g)


def tanh_backward(y, g):
    """``g * (1 - y^2)`` from tanh's output ``y``."""
    return _run(_tanh_bw, y, g)


def sigmoid_backward(y, g):
    """``g * y * (1 - y)`` from sigmoid's output ``y``."""
    return _run(_sigmoid_bw, y, g)
