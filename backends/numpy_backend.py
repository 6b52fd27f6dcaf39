"""The NumPy (CPU) backend, and the array routines of its kernel namespace whose code differs
from CuPy's (``backends.kernels`` assembles them with the numba kernels)."""
from __future__ import annotations

import math

import numpy

from .jit import HAVE_NUMBA, njit
from .registry import Backend


def make() -> Backend:
    return Backend(name="numpy", device="cpu", xp=numpy)


def sum_to(x, shape: tuple, axes: tuple):
    """``x`` summed over ``axes`` down to ``shape`` (the inverse of broadcasting; ``axes`` the
    leading axes and those where ``shape`` has 1)."""
    out = x.sum(axis=axes, keepdims=True) if axes else x
    return out.reshape(shape) if out.ndim != len(shape) else out


def scatter_add(out, key, values) -> None:
    """``out[key] += values`` in place, where repeated indices in ``key`` all add. Rows
    picked by one integer array (an embedding's gradient) go through a numba loop in
    ``numpy.add.at``'s order (the same sums); ``numpy.add.at`` otherwise."""
    k = key[0] if isinstance(key, tuple) and len(key) == 1 else key
    if HAVE_NUMBA and isinstance(k, numpy.ndarray) and k.dtype.kind in "iu" and out.size \
            and k.size and out.flags.c_contiguous and out.dtype.kind == "f" and \
            getattr(values, "dtype", None) == out.dtype and \
            getattr(values, "shape", None) == k.shape + out.shape[1:]:
        bad = _add_rows(out.reshape(out.shape[0], -1), k.reshape(-1),
                        numpy.ascontiguousarray(values).reshape(k.size, -1))
        if bad >= 0:
            raise IndexError(f"index {k.reshape(-1)[bad]} is out of bounds for axis 0 with "
                             f"size {out.shape[0]}")
        return
    numpy.add.at(out, key, values)


def _add_rows_py(out, rows, values):  # pragma: no cover  (compiled by numba)
    """out[rows[j]] += values[j] for each j in order; -1, or the first j out of range."""
    n = out.shape[0]
    for j in range(rows.shape[0]):
        r = rows[j]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return j
        for c in range(out.shape[1]):
            out[r, c] += values[j, c]
    return -1


_add_rows = njit(_add_rows_py)


def erf(x):
    """The error function, elementwise, in ``x``'s dtype (SciPy's, else ``math.erf``)."""
    try:
        from scipy.special import erf as _erf
    except ImportError:
        _erf = numpy.vectorize(math.erf, otypes=[x.dtype])
    return numpy.asarray(_erf(x)).astype(x.dtype, copy=False)


def quiet_float_errors(x):
    """A context in which NumPy does not warn about log(0) or inf - inf."""
    return numpy.errstate(divide="ignore", invalid="ignore")
