"""Binds the op functions to Tensor as methods and operators (one table, PyTorch's names),
and defines the in-place operations and the methods that need the tape (``backward``,
``register_post_accumulate_grad_hook``)."""
from __future__ import annotations

import numpy

from . import tape
from .grad_mode import STATE
from .ops import elementwise as E, index as I, linalg as L, shape as S
from .ops._util import as_array_on
from .ops.inplace import COPY, FILL, apply, arithmetic_
from .ops.scatter import METHODS as _INDEX_METHODS
from .dtype_methods import METHODS as _DTYPE_METHODS
from .methods_reduce import METHODS as _REDUCE_METHODS
from .shape_methods import METHODS as _SHAPE_METHODS
from .tape import increment_version
from .tensor import Tensor, as_tensor_like
from .tensor_api import METHODS as _TENSOR_API_METHODS


def _inplace(op):
    """``x.op_(y)``: in place on the data when no graph is involved (optimizer updates under
    no_grad), otherwise recorded out of place and ``x`` rebased onto the result."""
    name = op.__name__

    def method(self, other, *, alpha=1):
        if alpha != 1:
            if name not in ("add", "sub"):
                raise TypeError(f"{name}_: got an unexpected keyword argument 'alpha'")
        if STATE.enabled and (self._requires_grad or
                              (isinstance(other, Tensor) and other._requires_grad)):
            if alpha != 1:
                other = E.mul(other, alpha) if isinstance(other, Tensor) else other * alpha
            if self.grad_fn is None and self._requires_grad:
                raise RuntimeError(f"{op.__name__}_: a leaf tensor that requires grad cannot be "
                                   f"modified in place outside autodiff.no_grad()")
            res = op(I._snapshot(self), other)
            if res.shape != self.shape:
                raise ValueError(f"{op.__name__}_: result shape {res.shape} does not match the "
                                 f"tensor's shape {self.shape}")
            self.array, self.grad_fn, self._out_idx = res.array.astype(self.dtype, copy=False), \
                res.grad_fn, res._out_idx
            self._requires_grad = True
            increment_version(self)
        else:       # an update op (ops/inplace.py): autodiff.compile replays it
            _writable(self)
            try:
                arithmetic_(self, name, other, *((alpha,) if alpha != 1 else ()))
            except ValueError:
                raise ValueError(f"{name}_: shapes {self.shape} and "
                                 f"{getattr(other, 'shape', ())} cannot be broadcast in "
                                 f"place") from None
        return self
    method.__name__ = op.__name__ + "_"
    return method


def _writable(self):
    """The data as an array that can be written in place: a 0-d op result is a NumPy scalar
    (immutable, so ``a += b`` on it would silently rebind), made a 0-d array here."""
    d = self.array
    if isinstance(d, numpy.generic):
        d = self.array = numpy.array(d)
    return d


def _zero_(self):
    return _fill_(self, 0)


def _fill_(self, value):
    _writable(self)
    if isinstance(value, Tensor):
        apply(COPY, (self, value))
    else:
        apply(FILL, (self,), (value,))
    return self


def _copy_(self, src):
    _writable(self)
    b = as_array_on(src, self)
    if isinstance(src, Tensor) and b is src.array:
        apply(COPY, (self, src))
    else:
        apply(COPY, (self,), (b,))
    return self


def _backward(self, gradient=None, retain_graph: bool | None = None,
              create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(self)/d(leaf) into every reachable leaf's ``.grad``."""
    tape.backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _register_post_accumulate_grad_hook(self, hook):
    """Run ``hook(self)`` after each backward that adds to this leaf's ``.grad``; returns a
    handle whose ``remove()`` unregisters it (PyTorch's name and semantics)."""
    return tape.register_post_accumulate_grad_hook(self, hook)


def _type_as(self, other):
    return S.astype(self, other.dtype)


def _T(self):
    return S.transpose(self)


def _mT(self):
    return S.swapaxes(self, -1, -2)


def _expand_as(self, other):
    return S.broadcast_to(self, other.shape)


def _radd(self, other):
    return E.add(other, self)


def _rmul(self, other):
    return E.mul(other, self)


def _rmatmul(self, other):
    return L.matmul(as_tensor_like(other, self), self)


_METHODS = {
    # operators
    "__add__": E.add, "__radd__": _radd, "__sub__": E.sub, "__rsub__": E.rsub,
    "__mul__": E.mul, "__rmul__": _rmul, "__truediv__": E.div, "__rtruediv__": E.rdiv,
    "__pow__": E.pow, "__rpow__": E.rpow, "__neg__": E.neg, "__pos__": lambda self: self,
    "__matmul__": L.matmul, "__rmatmul__": _rmatmul, "__abs__": E.abs,
    "__eq__": E.eq, "__ne__": E.ne, "__lt__": E.lt, "__le__": E.le, "__gt__": E.gt,
    "__ge__": E.ge,
    "__getitem__": I.getitem, "__setitem__": I.setitem,
    "__iadd__": _inplace(E.add), "__isub__": _inplace(E.sub), "__imul__": _inplace(E.mul),
    "__itruediv__": _inplace(E.div),
    "add_": _inplace(E.add), "sub_": _inplace(E.sub), "mul_": _inplace(E.mul),
    "zero_": _zero_, "fill_": _fill_, "copy_": _copy_,
    # math
    "add": E.add, "sub": E.sub, "mul": E.mul, "div": E.div, "pow": E.pow, "neg": E.neg,
    "exp": E.exp, "log": E.log, "log1p": E.log1p, "expm1": E.expm1, "sqrt": E.sqrt,
    "abs": E.abs, "sin": E.sin, "cos": E.cos, "tan": E.tan, "tanh": E.tanh,
    "sigmoid": E.sigmoid, "relu": E.relu, "erf": E.erf, "maximum": E.maximum,
    "minimum": E.minimum, "clip": E.clip, "clamp": E.clip, "eq": E.eq, "ne": E.ne,
    "lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge, "isnan": E.isnan,
    "isfinite": E.isfinite,  # rounding, remainders, more math: methods_math.py
    # reductions, scans, sorting and searching: methods_reduce.py
    # shape
    "reshape": S.reshape, "flatten": S.flatten, "squeeze": S.squeeze,
    "unsqueeze": S.unsqueeze, "permute": S.permute, "transpose": S.transpose,
    "swapaxes": S.swapaxes, "movedim": S.movedim, "expand": S.expand,
    "broadcast_to": S.broadcast_to, "expand_as": _expand_as, "repeat": S.repeat,
    "tile": S.tile, "repeat_interleave": S.repeat_interleave, "split": S.split,
    "chunk": S.chunk, "unbind": S.unbind, "flip": S.flip, "astype": S.astype,
    "type_as": _type_as,
    "sum_to": S.sum_to,
    # indexing and linear algebra
    "gather": I.gather, "take": S.take, "index_select": I.index_select,
    "matmul": L.matmul, "dot": L.dot, "outer": L.outer,
    # device and dtype moves, the tape
    "backward": _backward,
    "register_post_accumulate_grad_hook": _register_post_accumulate_grad_hook,
}

_METHODS.update(_REDUCE_METHODS)  # sum, max, cumprod, sort, topk, ... (methods_reduce.py)
_METHODS.update(_SHAPE_METHODS)   # roll, tril, unfold, ..., the samplers (shape_methods.py)
_METHODS.update(_DTYPE_METHODS)  # float, int, type, view(dtype), &, |, ^, ~, <<, >> (dtype_methods.py)
_METHODS.update(_TENSOR_API_METHODS)  # t, mm, new_zeros, register_hook, to, ... (tensor_api.py)
_METHODS.update(_INDEX_METHODS)  # scatter*, index_*, masked_*, nonzero, narrow, ... (ops/scatter.py)
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T)
Tensor.mT = property(_mT)
