"""Dtype rules: float32 by default, float64 throughout, integer/bool for labels and masks."""
from __future__ import annotations

import numpy

from .backends import current, device_of, get_array_module, get_backend, on_host, to_host

float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
float16 = numpy.dtype("float16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")
float = float32  # noqa: A001  (PyTorch's aliases)
double = float64
long = int64

_default = [float32]


def set_default_dtype(dtype) -> None:
    """The dtype that Python floats and random/creation functions produce (float32 or float64)."""
    d = numpy.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default[0] = d


def get_default_dtype():
    return _default[0]


def is_floating(dtype) -> bool:
    return numpy.dtype(dtype).kind == "f"


def is_integer(dtype) -> bool:
    return numpy.dtype(dtype).kind in "iub"


def xp_for(device):
    """The array module for ``device`` ('cpu', 'cuda', or None for the default backend)."""
    if device is None:
        return current().xp
    name = str(device).split(":")[0]
    return get_backend("numpy" if name == "cpu" else name).xp


def to_array(data, dtype=None, device=None, copy: bool = False):
    """Turn user data (lists, scalars, NumPy/CuPy arrays) into a backend array; callers pass a
    Tensor's ``.array`` (this module sits below the Tensor).

    Python floats become the default dtype and Python ints int64 (as in PyTorch); arrays
    keep their dtype unless ``dtype`` is given. ``copy``: an array given is always copied
    (never shared with the result).
    """
    xp = xp_for(device) if device is not None else None
    if xp is None:
        xp = get_array_module(data) if device_of(data) == "cuda" else current().xp
    if dtype is not None:
        dtype = numpy.dtype(dtype)
    if hasattr(data, "__array_interface__") or hasattr(data, "__cuda_array_interface__") or \
            isinstance(data, numpy.generic):
        if device_of(data) == "cuda" and on_host(xp):
            data = to_host(data)
        arr = xp.asarray(data, dtype=dtype)
        return arr.copy() if copy else arr
    if dtype is None:
        probe = numpy.asarray(data)
        if probe.dtype.kind == "f":
            dtype = _default[0]
        elif probe.dtype.kind in "iu":
            dtype = int64
        elif probe.dtype.kind == "O":
            raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data")
        return xp.asarray(probe, dtype=dtype)
    return xp.asarray(data, dtype=dtype)
