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

import math

import numpy

from .jit import HAVE_NUMBA
from .pool import pooled_empty

__all__ = ["HAVE_NUMBA", "applies", "relu_forward", "relu_backward", "tanh_backward",
           "sigmoid_backward", "softmax_cross_entropy_forward"]

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


    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def _sce_fw(x, labels, ignore, loss, prob):  # pragma: no cover
        """Per row: the max, exp(x - max) into ``prob``, their sum, the softmax and the loss;
        0 when done, 1 when a row has a NaN or an infinite max (the caller's vectorised path
        handles those), 2 + row for a label out of range."""
        n, c = x.shape
        for i in range(n):
            m = x[i, 0]
            for j in range(c):
                v = x[i, j]
                if v != v:
                    return 1
                if v > m:
                    m = v
            if not math.isfinite(m):
                return 1
            t = labels[i]
            if t != ignore and (t < 0 or t >= c):
                return 2 + i
            s = x.dtype.type(0)
            for j in range(c):
                e = math.exp(x[i, j] - m)
                prob[i, j] = e
                s += e
            for j in range(c):
                prob[i, j] = prob[i, j] / s
            loss[i] = 0 if t == ignore else (math.log(s) + m) - x[i, t]
        return 0


#: the largest logits array the one-pass cross-entropy takes (measured: 64x10 4x faster than
#: the vectorised code, 1024x65 no faster)
SCE_MAX_SIZE = 1 << 14


def softmax_cross_entropy_forward(logits, labels, ignore_index: int = -100):
    """(per-row loss, softmax) of (N, C) logits and (N,) integer labels in one numba pass
    over C-contiguous float32/float64 logits; None where it does not apply (then the
    vectorised NumPy code runs): no numba, another layout or dtype, an empty or a large batch
    (above ``SCE_MAX_SIZE`` elements NumPy's vectorised exp wins over a scalar loop), or a row
    with a NaN or an infinite maximum. A label out of range raises IndexError (the vectorised
    code's message). Sums per row add in order (NumPy adds pairwise) and exp/log are libm's:
    the values agree with the vectorised ones to a few ulps."""
    if not (HAVE_NUMBA and type(logits) is numpy.ndarray and logits.ndim == 2 and
            logits.dtype.kind == "f" and logits.dtype.itemsize in (4, 8) and
            logits.flags.c_contiguous and 0 < logits.size <= SCE_MAX_SIZE and
            type(labels) is numpy.ndarray and
            labels.dtype.kind in "iu" and labels.shape == logits.shape[:1]):
        return None
    loss = numpy.empty(logits.shape[0], logits.dtype)
    prob = pooled_empty(logits.shape, logits.dtype)
    status = _sce_fw(logits, numpy.ascontiguousarray(labels), ignore_index, loss, prob)
    if status == 1:
        return None
    if status >= 2:
        raise IndexError(f"softmax_cross_entropy_forward: label {labels[status - 2]} is out "
                         f"of range for {logits.shape[1]} classes")
    return loss, prob


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
