"""Recycled scratch arrays for the NumPy backend: one pool for every CPU kernel.

A training step allocates tens of MB of short-lived arrays (conv columns and their gradients,
activation outputs, LSTM gate activations). A fresh multi-megabyte array costs a page fault
per 4 KiB page on first touch, and glibc returns freed ones to the kernel, so every step paid
those again (measured: a quarter of a small-CNN step, a tenth of an LSTM step). So arrays of
at least ``POOL_MIN_BYTES`` are kept, by (shape, dtype), and handed out again once nothing but
the pool refers to them: every view holds a reference to its base array, and so does a saved
Tensor, so a buffer still in use is never handed out twice.

``AUTODIFF_POOL_BYTES`` caps the memory the pool keeps (default 4 GiB; 0 turns pooling off).
"""
from __future__ import annotations

import math
import os
import sys

import numpy

__all__ = ["pooled_empty", "clear_pool", "pool_bytes", "POOL_MIN_BYTES", "POOL_MAX_BYTES"]

POOL_MIN_BYTES = 1 << 18
POOL_MAX_BYTES = int(os.environ.get("AUTODIFF_POOL_BYTES", 4 << 30))
_pool: dict = {}
_pool_bytes = [0]


def pooled_empty(shape, dtype) -> numpy.ndarray:
    """``numpy.empty(shape, dtype)``, recycled from the pool when a free one exists."""
    dtype = numpy.dtype(dtype)
    nbytes = dtype.itemsize * math.prod(shape)    # math.prod: numpy.prod costs microseconds
    if nbytes < POOL_MIN_BYTES or POOL_MAX_BYTES <= 0:
        return numpy.empty(shape, dtype)
    shape = tuple(int(s) for s in shape)
    bufs = _pool.setdefault((shape, dtype.str), [])
    for i in range(len(bufs)):
        if sys.getrefcount(bufs[i]) <= 2:      # the list and getrefcount's argument: free
            return bufs[i]
    a = numpy.empty(shape, dtype)
    if _pool_bytes[0] + nbytes <= POOL_MAX_BYTES:
        bufs.append(a)
        _pool_bytes[0] += nbytes
    return a


def clear_pool() -> None:
    """Forget the pooled arrays (their memory is freed once nothing else uses them)."""
    _pool.clear()
    _pool_bytes[0] = 0


def pool_bytes() -> int:
    """Bytes held by the pool."""
    return _pool_bytes[0]
