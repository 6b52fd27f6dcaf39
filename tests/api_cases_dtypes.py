"""API cases for dtypes and bitwise ops: ``bitwise_*`` and the operators ``& | ^ ~ << >>`` on
integer tensors (logical on bools), the casts (``float``, ``double``, ``half``, ``int``,
``long``..., ``type``, ``astype``: differentiable into floats), ``view(dtype)``, and integer
``linspace``/``arange``. References are NumPy's bitwise functions and casts, and PyTorch's
``linspace`` formula written out.

Integer results have no gradient (``grad=0``); a cast into float32 is checked with a larger
finite-difference step (float32 rounding would swamp a 1e-6 step)."""
from __future__ import annotations

import operator

import numpy as np

import autodiff as ad
from api_table import Case, I, U

_A = np.array([5, 3, -2, 12, -128, 127])            # signs, high bits
_B = np.array([6, -1, 7, 12, 1, 3])
_SHIFT = np.array([0, 1, 3, 7, 62, 2])
_MASK_A = np.array([True, False, True, False])
_MASK_B = np.array([True, True, False, False])
_F32_TOL = dict(eps=1e-3, atol=1e-4, rtol=1e-3)


def _bitwise(name: str, op, np_fn, b) -> list[Case]:
    """``autodiff.<name>``, ``Tensor.<name>`` and the operator ``op``: tensor with tensor
    (broadcast, int32 with int64), with a Python int on either side."""
    dunder = f"Tensor.__{op.__name__.rstrip('_')}__"
    return [
        Case(name, lambda x, y: getattr(ad, name)(x, y), np_fn, (_A, b), grad=0,
             torch_fn=lambda torch, x, y: getattr(torch, name)(x, y)),
        Case(name, lambda x, y: getattr(ad, name)(x, y), np_fn, (I(2, 3), I(3, seed=1)),
             grad=0, tag="broadcast", torch_fn=lambda torch, x, y: getattr(torch, name)(x, y)),
        Case(f"Tensor.{name}", lambda x, y: getattr(x, name)(y), np_fn, (_A, b), grad=0,
             torch_fn=lambda torch, x, y: getattr(x, name)(y)),
        Case(dunder, op, np_fn, (_A, b), grad=0, torch_fn=lambda torch, x, y: op(x, y)),
        Case(dunder, op, np_fn, (_A.astype(np.int32), b), grad=0, tag="int32-int64",
             torch_fn=lambda torch, x, y: op(x, y)),
        Case(dunder, lambda x: op(x, 3), lambda x: np_fn(x, 3), (_A,), grad=0, tag="int",
             torch_fn=lambda torch, x: op(x, 3)),
        Case(dunder.replace("__", "__r", 1), lambda x: op(3, x), lambda x: np_fn(3, x),
             (_SHIFT,), grad=0, torch_fn=lambda torch, x: op(3, x)),
    ]


def _logical(name: str, op, np_fn) -> list[Case]:
    """The operator on bool tensors: logical, as PyTorch's."""
    return [Case(f"Tensor.__{op.__name__.rstrip('_')}__", op, np_fn, (_MASK_A, _MASK_B),
                 grad=0, tag="bool", torch_fn=lambda torch, x, y: op(x, y))]


def _linspace_ref(start, end, steps, dtype):
    """PyTorch's linspace: ends converted to ``dtype`` (toward zero), the first half
    start + i d, the second end - (steps - 1 - i) d, then truncated into ``dtype``."""
    if np.dtype(dtype).kind in "iu":
        start, end = int(start), int(end)
    i = np.arange(steps)
    d = (end - start) / (steps - 1)
    v = np.where(i < steps // 2, start + d * i, end - d * (steps - 1 - i))
    return (np.trunc(v) if np.dtype(dtype).kind in "iu" else v).astype(dtype)


def _cast(method: str, dtype, tol=None):
    """``x.<method>()`` as a differentiable float cast, back to float64 for the table."""
    def fn(x):
        return getattr(x, method)().double() * 3
    return Case(f"Tensor.{method}", fn, lambda x: x.astype(dtype).astype(np.float64) * 3,
                (U(2, 3),), tol=tol or {}, torch_fn=lambda torch, x: getattr(x, method)()
                .double() * 3)


def _int_cast(method: str, dtype):
    return Case(f"Tensor.{method}", lambda x: getattr(x, method)(),
                lambda x: x.astype(dtype), (U(2, 3, low=-3, high=3),), grad=0,
                torch_fn=lambda torch, x: getattr(x, method)())


CASES = [
    *_bitwise("bitwise_and", operator.and_, np.bitwise_and, _B),
    *_bitwise("bitwise_or", operator.or_, np.bitwise_or, _B),
    *_bitwise("bitwise_xor", operator.xor, np.bitwise_xor, _B),
    *_bitwise("bitwise_left_shift", operator.lshift, np.left_shift, _SHIFT),
    *_bitwise("bitwise_right_shift", operator.rshift, np.right_shift, _SHIFT),
    *_logical("and", operator.and_, np.logical_and),
    *_logical("or", operator.or_, np.logical_or),
    *_logical("xor", operator.xor, np.logical_xor),
    Case("bitwise_not", ad.bitwise_not, np.invert, (_A,), grad=0,
         torch_fn=lambda torch, x: torch.bitwise_not(x)),
    Case("Tensor.bitwise_not", lambda x: x.bitwise_not(), np.invert, (_A.astype(np.int16),),
         grad=0, torch_fn=lambda torch, x: x.bitwise_not()),
    Case("Tensor.__invert__", operator.invert, lambda x: -x - 1, (_A,), grad=0,
         torch_fn=lambda torch, x: ~x),
    Case("Tensor.__invert__", operator.invert, np.logical_not, (_MASK_A,), grad=0, tag="bool",
         torch_fn=lambda torch, x: ~x),
    Case("Tensor.__invert__", operator.invert, lambda x: 255 - x,
         (np.array([0, 1, 200, 255], np.uint8),), grad=0, tag="uint8",
         torch_fn=lambda torch, x: ~x),
    Case("logical_xor", ad.logical_xor, np.logical_xor, (I(2, 3), I(3, seed=1)), grad=0,
         torch_fn=lambda torch, x, y: torch.logical_xor(x, y)),
    # casts
    _cast("float", np.float32, _F32_TOL),
    _cast("half", np.float16, dict(eps=1e-1, atol=2e-2, rtol=2e-2)),
    Case("Tensor.double", lambda x: x.double() * 3, lambda x: x * 3, (U(2, 3),),
         torch_fn=lambda torch, x: x.double() * 3),
    Case("Tensor.type", lambda x: x.type(ad.float32).type("torch.DoubleTensor") * 3,
         lambda x: x.astype(np.float32).astype(np.float64) * 3, (U(2, 3),), tol=_F32_TOL,
         torch_fn=lambda torch, x: x.type(torch.float32).type("torch.DoubleTensor") * 3),
    Case("astype", lambda x: ad.astype(ad.astype(x, ad.float32), ad.float64) * 3,
         lambda x: x.astype(np.float32).astype(np.float64) * 3, (U(2, 3),), tol=_F32_TOL,
         torch_fn=lambda torch, x: x.to(torch.float32).to(torch.float64) * 3),
    _int_cast("int", np.int32), _int_cast("long", np.int64), _int_cast("short", np.int16),
    _int_cast("char", np.int8), _int_cast("bool", np.bool_),
    Case("Tensor.byte", lambda x: x.byte(), lambda x: x.astype(np.uint8),
         (U(2, 3, low=0, high=200),), grad=0, torch_fn=lambda torch, x: x.byte()),
    Case("Tensor.view", lambda x: x.view(ad.int64), lambda x: x.view(np.int64), (U(2, 3),),
         grad=0, tag="dtype", torch_fn=lambda torch, x: x.view(torch.int64)),
    Case("Tensor.view", lambda x: x.view(ad.int16), lambda x: x.view(np.int16), (U(2, 3),),
         grad=0, tag="smaller dtype", torch_fn=lambda torch, x: x.view(torch.int16)),
    Case("Tensor.view", lambda x: x.view(ad.float64),
         lambda x: x.view(np.float64), (I(2, 4).astype(np.int32),), grad=0,
         tag="larger dtype", torch_fn=lambda torch, x: x.view(torch.float64)),
    Case("Tensor.view", lambda x: x.view(3, 2) * 2, lambda x: x.reshape(3, 2) * 2, (U(2, 3),),
         tag="shape", torch_fn=lambda torch, x: x.view(3, 2) * 2),
    # creation with integer dtypes
    Case("linspace", lambda: ad.linspace(5, -5, 20, dtype=ad.int32),
         lambda: _linspace_ref(5, -5, 20, np.int32), (), grad=0, tag="int32",
         torch_fn=lambda torch: torch.linspace(5, -5, 20, dtype=torch.int32)),
    Case("linspace", lambda: ad.linspace(-3.7, 2.2, 7, dtype=ad.int64),
         lambda: _linspace_ref(-3.7, 2.2, 7, np.int64), (), grad=0, tag="int64 float ends",
         torch_fn=lambda torch: torch.linspace(-3.7, 2.2, 7, dtype=torch.int64)),
    Case("linspace", lambda: ad.linspace(-1.5, 2.5, 9, dtype=ad.float64),
         lambda: _linspace_ref(-1.5, 2.5, 9, np.float64),
         (), grad=0, tag="float64",
         torch_fn=lambda torch: torch.linspace(-1.5, 2.5, 9, dtype=torch.float64)),
    Case("arange", lambda: ad.arange(-2.5, 7, 1.5, dtype=ad.int64),
         lambda: np.arange(-2, 7, 1), (), grad=0, tag="int64 truncates",
         torch_fn=lambda torch: torch.arange(-2.5, 7, 1.5, dtype=torch.int64)),
    Case("arange", lambda: ad.arange(1, -1, -0.25, dtype=ad.float64),
         lambda: 1 - 0.25 * np.arange(8), (), grad=0, tag="float64",
         torch_fn=lambda torch: torch.arange(1, -1, -0.25, dtype=torch.float64)),
]
