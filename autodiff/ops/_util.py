"""Helpers shared by the op modules: operands as Tensors, PyTorch's type promotion of a pair of
operands (:func:`pair`, with the cast primitive it applies, :func:`astype`), the same-dtype
rule of matrix products (:func:`same_dtype`), axis normalisation."""
from __future__ import annotations

import operator

import numpy

from ..backends import device_of
from ..dtypes import as_dtype, result_type, to_array, with_scalar
from ..tape import record
from ..tensor import Tensor, as_tensor_like, make
from .registry import primitive


def pair(a, b, op: str) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors of one dtype, PyTorch's promotion (``dtypes.result_type``):
    Python scalars become 0-d tensors of the result dtype on the Tensor operand's device, and
    an operand of another dtype is cast (differentiably: its gradient comes back in its own
    dtype). Ops call it only when the operands are not two Tensors of one dtype already."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return _promote(a, b, op)
        return _with_other(a, b, op, False)
    if isinstance(b, Tensor):
        return _with_other(b, a, op, True)
    return _with_other(as_t(a), b, op, False)


def _same_device(a: Tensor, b: Tensor, op: str) -> None:
    if a.array.__class__ is not b.array.__class__ and \
            device_of(a.array) != device_of(b.array):  # 0-d results are NumPy scalars
        raise TypeError(f"{op}: operands live on different devices ({a.device} and "
                        f"{b.device}); move one with .to()")


def _promote(a: Tensor, b: Tensor, op: str) -> tuple[Tensor, Tensor]:
    _same_device(a, b, op)
    da, db = a.array.dtype, b.array.dtype
    if da is db or da == db:
        return a, b
    dt = result_type(a.array, b.array)
    return astype(a, dt), astype(b, dt)


def _with_other(t: Tensor, x, op: str, swap: bool) -> tuple[Tensor, Tensor]:
    """``t`` and a non-Tensor operand ``x`` (a Python/NumPy scalar or an array), in that order
    unless ``swap``."""
    if isinstance(x, numpy.generic):
        x = x.item()  # NumPy scalars take part as Python scalars (as in PyTorch)
    if isinstance(x, (bool, int, float, complex)):
        dt = with_scalar(t.array.dtype, x)
        t = astype(t, dt)
        s = make(t.xp.asarray(x, dtype=dt)) if dt.kind == "c" else as_tensor_like(x, t)
        return (s, t) if swap else (t, s)
    o = as_tensor_like(x, t)
    return _promote(o, t, op) if swap else _promote(t, o, op)


def gemm_pair(a, b, op: str, names=("mat1", "mat2")) -> tuple[Tensor, Tensor]:
    """Both operands of a matrix product as Tensors, not promoted: they must have one dtype
    (:func:`same_dtype`); ``names`` name them in the error."""
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b) if isinstance(b, Tensor) else as_t(a)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    _same_device(a, b, op)
    same_dtype(op, (names[0], a), (names[1], b))
    return a, b


def same_dtype(op: str, *named) -> None:
    """Matrix products (matmul, linear, convolution, einsum) do not promote, as in PyTorch: a
    float64 batch fed to a float32 model would silently run in float64. ``named``: (name,
    tensor) pairs; raises naming the op, the operands, their dtypes and the fix."""
    first_name, first = named[0]
    for name, t in named[1:]:
        if t is not None and t.array.dtype != first.array.dtype:
            raise RuntimeError(
                f"{op}: {first_name} and {name} must have the same dtype, but got "
                f"{first.array.dtype} and {t.array.dtype} (matrix products do not promote, as "
                f"in PyTorch); cast one, e.g. .float() / .double() or .to(dtype), or the "
                f"model with model.to(dtype)")


def as_t(x) -> Tensor:
    """``x`` as a Tensor: a new one (its data copied, as ``autodiff.tensor``) unless it is one."""
    if isinstance(x, Tensor):
        return x
    return make(to_array(x, copy=True))


# ----------------------------------------------------------------------------- the cast
def astype(x, dtype) -> Tensor:
    """Cast; differentiable into floating dtypes (the gradient is cast back to the input's
    dtype), not into integer, bool or complex ones (the result requires no grad, as in
    PyTorch)."""
    x = as_t(x)
    if x.array.dtype is dtype:
        return x
    dtype = as_dtype(dtype, "astype")
    if x.array.dtype == dtype:
        return x
    out = _astype_fw(x.array, dtype)
    if dtype.kind != "f":
        return make(out)
    return record(ASTYPE, out, (x,), attrs=dtype)


def _astype_fw(x, dtype):
    return x.astype(dtype)


def _astype_bw(ctx, g):
    return (astype(g, ctx.in_meta[0][1]),)


def _astype_infer(in_meta, dtype):
    return ((in_meta[0][0], dtype),)


ASTYPE = primitive("astype", _astype_bw, forward=_astype_fw, inputs="x", attrs="dtype",
                   elementwise=True, infer=_astype_infer)


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
