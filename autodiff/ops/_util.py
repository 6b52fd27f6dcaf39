"""Small helpers shared by the op modules."""
from __future__ import annotations

import operator

from ..backends import device_of
from ..dtypes import get_default_dtype, to_array
from ..tensor import Tensor, as_tensor_like, make


def pair(a, b, op: str) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; scalars and arrays follow the Tensor operand's dtype/device."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a.array.__class__ is not b.array.__class__ and \
                    device_of(a.array) != device_of(b.array):  # 0-d results are NumPy scalars
                raise TypeError(f"{op}: operands live on different devices ({a.device} and "
                                f"{b.device}); move one with .to()")
            return a, b
        return _int_to_float(a, b), as_tensor_like(b, a)
    if isinstance(b, Tensor):
        return as_tensor_like(a, b), _int_to_float(b, a)
    a = as_t(a)
    return a, as_tensor_like(b, a)


def _int_to_float(t: Tensor, scalar) -> Tensor:
    """An integer/bool tensor meeting a Python float becomes the default float dtype (as in
    PyTorch: ``int_tensor * 1.5`` is float32, not NumPy's float64)."""
    if scalar.__class__ is float and t.array.dtype.kind in "iub":
        return make(t.array.astype(get_default_dtype()))
    return t


def as_t(x) -> Tensor:
    """``x`` as a Tensor: a new one (its data copied, as ``autodiff.tensor``) unless it is one."""
    if isinstance(x, Tensor):
        return x
    return make(to_array(x, copy=True))


def as_array_on(value, x: Tensor):
    """``value`` to be written into ``x``'s data: Python scalars as they are, anything else
    (a Tensor, a NumPy/CuPy array, a list) an array on ``x``'s device (CuPy refuses to write
    host arrays into device memory)."""
    if isinstance(value, (bool, int, float, complex)):
        return value
    return to_array(value.array if isinstance(value, Tensor) else value, device=x.device)


def norm_dim(dim, ndim: int, op: str) -> int:
    """One dimension as a non-negative int. A 0-d tensor accepts -1 and 0 (both give 0), as in
    PyTorch; out of range raises PyTorch's IndexError, naming ``op``."""
    d = operator.index(dim)
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, "
                         f"{n - 1}], but got {d})")
    return d % n


def norm_axis(axis, ndim: int, op: str):
    """Normalise an int / tuple / None axis argument to a sorted tuple of non-negative ints
    (None: every dimension; a 0-d tensor has none, and accepts the dims -1 and 0)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = [norm_dim(a, ndim, op) for a in axes]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated dimension in {axis}")
    return tuple(sorted(out)) if ndim else ()
