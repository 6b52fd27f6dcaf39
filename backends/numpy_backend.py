"""The NumPy (CPU) backend, and the array routines of its kernel namespace whose code differs
from CuPy's (``backends.kernels`` assembles them with the numba kernels)."""
from __future__ import annotations

import math

import numpy

from .registry import Backend


def make() -> Backend:
    return Backend(name="numpy", device="cpu", xp=numpy)


def sum_to(x, shape: tuple, axes: tuple):
    """``x`` summed over ``axes`` down to ``shape`` (the inverse of broadcasting; ``axes`` the
    leading axes and those where ``shape`` has 1)."""
    out = x.sum(axis=axes, keepdims=True) if axes else x
    return out.reshape(shape) if out.ndim != len(shape) else out


def scatter_add(out, key, values) -> None:
    """``out[key] += values`` in place, where repeated indices in ``key`` all add."""
    numpy.add.at(out, key, values)


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
