"""Dtypes: the dtype objects (NumPy dtypes under PyTorch's names), the default dtype, PyTorch's
type promotion (:func:`result_type`, the one rule every binary op applies), and user data ->
backend array (:func:`to_array`, which refuses strings and objects).

PyTorch's promotion, which differs from NumPy's: operands take part by *priority class*
(dimensioned tensors > 0-d tensors > Python scalars) and *category* (bool < integer < floating
< complex). A lower class changes the result only when its category is higher: ``int32 tensor +
2.5`` is the default float dtype (float32), ``float32 tensor + float64 0-d tensor`` stays
float32 (NumPy 2 gives float64), ``int32 tensor + 5`` stays int32, ``bool tensor + 5`` is int64.
"""
from __future__ import annotations

import numpy

from .backends import current, device_of, get_array_module, get_backend, on_host, to_host

bool_ = numpy.dtype("bool")
uint8 = numpy.dtype("uint8")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint16 = numpy.dtype("uint16")
uint32 = numpy.dtype("uint32")
uint64 = numpy.dtype("uint64")
float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
complex64 = numpy.dtype("complex64")
complex128 = numpy.dtype("complex128")
# PyTorch's aliases; ``int``, ``float`` and ``bool`` are bound in ``autodiff/__init__.py`` only
# (here they would shadow the builtins this module uses)
half = float16
double = float64
short = int16
long = int64
cfloat = complex64
cdouble = complex128

_default = [float32]

#: category of a dtype kind: bool < integer < floating < complex
_BOOL, _INT, _FLOAT, _COMPLEX = 0, 1, 2, 3
_CATEGORY = {"b": _BOOL, "i": _INT, "u": _INT, "f": _FLOAT, "c": _COMPLEX}
_SCALAR_CATEGORY = {bool: _BOOL, int: _INT, float: _FLOAT, complex: _COMPLEX}
_COMPLEX_OF = {float16: complex64, float32: complex64, float64: complex128}


def set_default_dtype(dtype) -> None:
    """The dtype that Python floats and random/creation functions produce (float16, float32
    or float64), as ``torch.set_default_dtype``."""
    d = as_dtype(dtype, "set_default_dtype")
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default[0] = d


def get_default_dtype():
    return _default[0]


def as_dtype(dtype, op: str = "dtype"):
    """``dtype`` (a NumPy dtype, a type such as ``numpy.float32`` or ``float``, a name) as a
    NumPy dtype, refusing what a tensor cannot hold (strings, objects, datetimes, long double)."""
    try:
        d = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if d.kind not in _CATEGORY or (d.kind in "fc" and d.itemsize > 16) or \
            (d.kind == "f" and d.itemsize > 8):
        raise TypeError(f"{op}: dtype {d} is not supported (a tensor holds bool, integer, "
                        f"floating or complex numbers)")
    return d


def category(dtype) -> int:
    """0 bool, 1 integer, 2 floating, 3 complex."""
    return _CATEGORY[dtype.kind]


def is_floating(dtype) -> bool:
    return numpy.dtype(dtype).kind == "f"


def is_integer(dtype) -> bool:
    return numpy.dtype(dtype).kind in "iub"


def _dtype_of(x, op: str):
    arr = getattr(x, "array", x)  # a Tensor: its backend array (this module sits below it)
    if not hasattr(arr, "dtype"):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return arr.dtype


def is_floating_point(input) -> bool:  # noqa: A002  (PyTorch's name)
    """Whether ``input`` (a Tensor) has a floating dtype (float16/32/64), as PyTorch."""
    return _dtype_of(input, "is_floating_point").kind == "f"


def is_complex(input) -> bool:  # noqa: A002
    return _dtype_of(input, "is_complex").kind == "c"


def promote_types(type1, type2):
    """The smallest dtype both promote to, as ``torch.promote_types``: across categories the
    higher category's dtype (``int64, float16 -> float16``, where NumPy gives float64), within
    one NumPy's (``uint8, int8 -> int16``)."""
    a, b = as_dtype(type1, "promote_types"), as_dtype(type2, "promote_types")
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        if _CATEGORY[hi.kind] == _COMPLEX and _CATEGORY[lo.kind] == _FLOAT:
            return numpy.promote_types(hi, lo)  # float64, complex64 -> complex128
        return hi
    out = numpy.promote_types(a, b)
    if _CATEGORY[out.kind] != ca:
        raise TypeError(f"promote_types: {a} and {b} have no common integer dtype (NumPy would "
                        f"give {out}; PyTorch refuses this promotion too)")
    return out


def _combine(higher, lower):
    """PyTorch's ``combine_categories``: the result of a higher priority class (``higher``)
    meeting a lower one, which counts only when its category is higher (None: no operand)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    ch, cl = _CATEGORY[higher.kind], _CATEGORY[lower.kind]
    if ch == _COMPLEX:
        return higher
    if cl == _COMPLEX:
        return _COMPLEX_OF[higher] if ch == _FLOAT else lower
    if ch == _FLOAT:
        return higher
    if ch == _BOOL or cl == _FLOAT:
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value):
    """The dtype a Python (or NumPy) scalar takes part in promotion with: bool, int64, the
    default float dtype, or the complex of the default dtype."""
    if isinstance(value, numpy.generic):
        value = value.item()
    cat = _SCALAR_CATEGORY.get(type(value))
    if cat is None:
        for t, c in _SCALAR_CATEGORY.items():  # subclasses (IntEnum...)
            if isinstance(value, t):
                cat = c
    if cat is None:
        raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")
    return (bool_, int64, _default[0], _COMPLEX_OF[_default[0]])[cat]


def result_type(*operands):
    """The dtype PyTorch computes ``op(*operands)`` in (``torch.result_type``): the operands are
    Tensors, backend arrays or Python scalars; see the module docstring."""
    dim = zero = wrapped = None
    for x in operands:
        arr = getattr(x, "array", x)  # a Tensor: its backend array
        if hasattr(arr, "ndim") and not isinstance(arr, numpy.generic):
            d = as_dtype(arr.dtype, "result_type")
            if arr.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        else:
            d = scalar_dtype(arr)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    if dim is None and zero is None and wrapped is None:
        raise TypeError("result_type: needs at least one operand")
    return _combine(dim, _combine(zero, wrapped))


def with_scalar(dtype, value):
    """``result_type`` of a tensor of ``dtype`` and the Python scalar ``value`` (the per-op
    path: the tensor's own dtype unless the scalar's category is higher)."""
    cat = _SCALAR_CATEGORY.get(value.__class__)
    if cat is not None and cat <= _CATEGORY[dtype.kind]:
        return dtype
    return _combine(dtype, scalar_dtype(value))


def can_cast(from_, to) -> bool:
    """Whether ``torch.can_cast`` allows the cast: never to a lower category (float -> int,
    complex -> float, number -> bool)."""
    return _CATEGORY[as_dtype(from_, "can_cast").kind] <= _CATEGORY[as_dtype(to, "can_cast").kind]


def xp_for(device):
    """The array module for ``device`` ('cpu', 'cuda', or None for the default backend)."""
    if device is None:
        return current().xp
    name = str(device).split(":")[0]
    return get_backend("numpy" if name == "cpu" else name).xp


def _first_non_number(data, path=()):
    """(path, element) of the first element of nested lists/tuples/arrays that is not a
    number."""
    if isinstance(data, numpy.ndarray) and data.dtype.kind not in _CATEGORY:
        data = data.tolist()  # its elements as Python objects (str, None...)
    if isinstance(data, (list, tuple)):
        for i, item in enumerate(data):
            found = _first_non_number(item, path + (i,))
            if found is not None:
                return found
        return None
    if isinstance(data, (bool, int, float, complex, numpy.number, numpy.bool_)) or \
            (hasattr(data, "dtype") and getattr(data.dtype, "kind", "O") in _CATEGORY):
        return None
    return path, data


def _refuse(data, kind: str) -> TypeError:
    found = _first_non_number(data)
    if found is None:
        return TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data of "
                         f"NumPy kind {kind!r} (tensors hold bool, integer, floating or complex "
                         f"numbers)")
    path, bad = found
    where = "".join(f"[{i}]" for i in path)
    at = f" at data{where}" if where else ""
    return TypeError(f"tensor: invalid data type {type(bad).__name__!r}{at} ({bad!r:.40}); "
                     f"tensors hold bool, integer, floating or complex numbers")


def to_array(data, dtype=None, device=None, copy: bool = False):
    """Turn user data (lists, scalars, NumPy/CuPy arrays) into a backend array; callers pass a
    Tensor's ``.array`` (this module sits below the Tensor).

    Python floats become the default dtype, Python ints int64 and complex numbers the default
    complex dtype (as in PyTorch); arrays keep their dtype unless ``dtype`` is given. Strings,
    ``None`` and other objects raise TypeError naming the element. ``copy``: an array given is
    always copied (never shared with the result).
    """
    xp = xp_for(device) if device is not None else None
    if xp is None:
        xp = get_array_module(data) if device_of(data) == "cuda" else current().xp
    if dtype is not None:
        dtype = as_dtype(dtype, "tensor")
    if hasattr(data, "__array_interface__") or hasattr(data, "__cuda_array_interface__") or \
            isinstance(data, numpy.generic):
        if data.dtype.kind not in _CATEGORY:
            raise _refuse(data, data.dtype.kind)
        if device_of(data) == "cuda" and on_host(xp):
            data = to_host(data)
        arr = xp.asarray(data, dtype=dtype)
        return arr.copy() if copy else arr
    try:
        probe = numpy.asarray(data)
    except ValueError as e:  # ragged nesting
        raise ValueError(f"tensor: the data is not a rectangular nest of numbers ({e})") from None
    if probe.dtype.kind not in _CATEGORY:
        raise _refuse(data, probe.dtype.kind)
    if dtype is None:
        kind = probe.dtype.kind
        if kind == "f":
            dtype = _default[0]
        elif kind in "iu":
            dtype = int64
        elif kind == "c":
            dtype = _COMPLEX_OF[_default[0]]
    return xp.asarray(probe, dtype=dtype)
