"""Bitwise operations on integer and bool tensors (``&``, ``|``, ``^``, ``~``, ``<<``, ``>>``), as
PyTorch's ``bitwise_*``: bitwise on integers, logical on bools (``~t == -t - 1`` for an integer
``t``; ``~mask`` is the logical not of a bool mask). The operands are promoted as every binary
op (``ops._util.pair``: ``bool tensor & 5`` is int64); floating operands raise. The results are
integers or bools: nothing to differentiate, so nothing is recorded."""
from __future__ import annotations

from ..backends import get_array_module
from ..tensor import Tensor, make
from ._util import as_t, pair

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
           "bitwise_right_shift"]


def _check_integral(op: str, *tensors: Tensor) -> None:
    for t in tensors:
        if t.array.dtype.kind not in "biu":
            raise TypeError(f"{op}: only integer and bool tensors are supported, got dtype "
                            f"{t.array.dtype} (as in PyTorch; for a mask, compare first, e.g. "
                            f"x > 0)")


def _binary(name: str, ufunc: str, bools: bool = True):
    """The bitwise op ``name``, computed by the array library's ``ufunc``; ``bools``: whether
    two bool tensors stay bool (and/or/xor) or count as integers (the shifts: int64 there)."""
    def op(input, other) -> Tensor:  # noqa: A002  (PyTorch's argument names)
        a, b = pair(input, other, name)
        _check_integral(name, a, b)
        xa, xb = a.array, b.array
        if not bools and xa.dtype.kind == "b":
            raise TypeError(f"{name}: not defined for bool tensors (as in PyTorch); cast with "
                            f".long() first")
        xp = get_array_module(xa)
        try:
            out = getattr(xp, ufunc)(xa, xb)
        except ValueError:
            raise ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast "
                             f"together") from None
        if not bools:  # shifts out of [0, bits): defined here, undefined in C (CUDA kernels)
            out = xp.where((xb < 0) | (xb >= 8 * xa.dtype.itemsize),
                           xp.where(xa < 0, -1, 0).astype(out.dtype) if ufunc == "right_shift"
                           else 0, out).astype(out.dtype, copy=False)
        return make(out)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (f"Elementwise ``{name}`` of integer or bool tensors (a Python int/bool "
                  f"operand takes part as in PyTorch's promotion); no gradient.")
    return op


bitwise_and = _binary("bitwise_and", "bitwise_and")
bitwise_or = _binary("bitwise_or", "bitwise_or")
bitwise_xor = _binary("bitwise_xor", "bitwise_xor")
#: ``a << b``: shifts of ``b`` < 0 or >= the bit width give 0 (PyTorch's and NumPy's rule)
bitwise_left_shift = _binary("bitwise_left_shift", "left_shift", bools=False)
#: ``a >> b``: arithmetic (sign-filling) on signed integers; shifts out of range give 0, or -1
#: for negative ``a``
bitwise_right_shift = _binary("bitwise_right_shift", "right_shift", bools=False)


def bitwise_not(input) -> Tensor:  # noqa: A002
    """``~input``: the bitwise complement of an integer tensor (``-x - 1`` for signed ones), the
    logical not of a bool tensor."""
    x = as_t(input)
    _check_integral("bitwise_not", x)
    return make(get_array_module(x.array).invert(x.array))


def _reflected(op):
    """``other <op> self`` for a Tensor method ``__r<op>__``."""
    def method(self, other):
        return op(other, self)
    method.__name__ = method.__qualname__ = f"reflected_{op.__name__}"
    return method


#: Tensor operators and methods, bound in ``methods.py``
METHODS = {
    "__and__": bitwise_and, "__rand__": _reflected(bitwise_and),
    "__or__": bitwise_or, "__ror__": _reflected(bitwise_or),
    "__xor__": bitwise_xor, "__rxor__": _reflected(bitwise_xor),
    "__invert__": bitwise_not,
    "__lshift__": bitwise_left_shift, "__rlshift__": _reflected(bitwise_left_shift),
    "__rshift__": bitwise_right_shift, "__rrshift__": _reflected(bitwise_right_shift),
    "bitwise_and": bitwise_and, "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor,
    "bitwise_not": bitwise_not, "bitwise_left_shift": bitwise_left_shift,
    "bitwise_right_shift": bitwise_right_shift,
}
