"""Binds the elementwise math of ``ops/rounding.py``, ``ops/transcendental.py`` and
``ops/nonfinite.py`` to Tensor (methods and the ``//``, ``%`` operators), and the in-place
``_`` variants PyTorch has of these and of the elementwise ops (``x.floor_()``,
``x.remainder_(y)``, ``x.div_(y, rounding_mode="floor")``, ``x.clamp_(0, 1)``, ``x.exp_()``...).

An in-place variant computes the op out of place and then either writes the result into the
tensor's storage (no graph involved) or, when the graph is being recorded, rebases the tensor
onto the result's node, as ``methods._inplace`` does for ``add_``; a result of another shape,
or of a dtype the tensor cannot hold (float into int), raises as in PyTorch.
"""
from __future__ import annotations

from .grad_mode import STATE
from .methods import _writable
from .ops import elementwise as E, nonfinite as N, rounding as Q, transcendental as T
from .ops.index import _snapshot
from .ops.inplace import COPY, apply
from .tape import increment_version
from .tensor import Tensor

# the order in which PyTorch casts: a result may be written into a tensor of its category or
# a higher one (float -> int, or anything -> bool, raises)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _requires_grad(args, kwargs) -> bool:
    return any(isinstance(a, Tensor) and a._requires_grad for a in (*args, *kwargs.values()))


def inplace(op, name: str):
    """The in-place method ``name`` of the out-of-place ``op(self, *args, **kwargs)``."""
    def method(self, *args, **kwargs):
        recorded = STATE.enabled and (self._requires_grad or _requires_grad(args, kwargs))
        if recorded and self._requires_grad and self.grad_fn is None:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad cannot be modified in "
                               f"place outside autodiff.no_grad()")
        res = op(_snapshot(self) if recorded else self, *args, **kwargs)
        if res.shape != self.shape:
            raise RuntimeError(f"{name}: the result has shape {res.shape}, which does not match "
                               f"the tensor's shape {self.shape}")
        if _CATEGORY[res.dtype.kind] > _CATEGORY[self.dtype.kind]:
            raise RuntimeError(f"{name}: result type {res.dtype} can't be cast to the desired "
                               f"output type {self.dtype}")
        if recorded:
            self.array = res.array.astype(self.dtype, copy=False)
            self.grad_fn, self._out_idx = res.grad_fn, res._out_idx
            self._requires_grad = res._requires_grad
            increment_version(self)
        else:           # an update op: autodiff.compile replays it
            _writable(self)
            apply(COPY, (self, res))
        return self
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``."
    return method


def _rfloordiv(self, other):
    return Q.floor_divide(other, self)


def _rmod(self, other):
    return Q.remainder(other, self)


# the ops that get a method, an in-place method, or both, under PyTorch's names
_BOTH = {
    # rounding and remainders
    "sign": Q.sign, "sgn": Q.sgn, "floor": Q.floor, "ceil": Q.ceil, "trunc": Q.trunc,
    "fix": Q.fix, "round": Q.round, "frac": Q.frac, "floor_divide": Q.floor_divide,
    "remainder": Q.remainder, "fmod": Q.fmod, "copysign": Q.copysign,
    "heaviside": Q.heaviside,
    # exponentials, logarithms, trigonometry
    "exp2": T.exp2, "log2": T.log2, "log10": T.log10, "rsqrt": T.rsqrt,
    "reciprocal": T.reciprocal, "square": T.square, "sinh": T.sinh, "cosh": T.cosh,
    "asin": T.asin, "acos": T.acos, "atan": T.atan, "asinh": T.asinh, "acosh": T.acosh,
    "atanh": T.atanh, "arcsin": T.asin, "arccos": T.acos, "arctan": T.atan,
    "arcsinh": T.asinh, "arccosh": T.acosh, "arctanh": T.atanh, "atan2": T.atan2,
    "arctan2": T.atan2, "hypot": T.hypot, "xlogy": T.xlogy, "sinc": T.sinc, "lerp": T.lerp,
    "nan_to_num": N.nan_to_num, "clamp_min": E.clamp_min, "clamp_max": E.clamp_max,
}
_METHODS_ONLY = {
    "logaddexp": T.logaddexp, "logaddexp2": T.logaddexp2, "signbit": Q.signbit,
    "isinf": N.isinf, "isposinf": N.isposinf, "isneginf": N.isneginf, "isclose": N.isclose,
    "allclose": N.allclose, "divide": E.div, "true_divide": E.div,
    "__floordiv__": Q.floor_divide, "__rfloordiv__": _rfloordiv, "__mod__": Q.remainder,
    "__rmod__": _rmod,
    "__ifloordiv__": inplace(Q.floor_divide, "__ifloordiv__"),
    "__imod__": inplace(Q.remainder, "__imod__"),
}
# in-place variants of ops whose methods are bound in methods.py
_INPLACE_ONLY = {
    "div": E.div, "clamp": E.clip, "clip": E.clip, "abs": E.abs, "neg": E.neg, "exp": E.exp,
    "log": E.log, "log1p": E.log1p, "expm1": E.expm1, "sqrt": E.sqrt, "sin": E.sin,
    "cos": E.cos, "tan": E.tan, "tanh": E.tanh, "sigmoid": E.sigmoid, "relu": E.relu,
    "pow": E.pow,
}

for _name, _fn in {**_BOTH, **_METHODS_ONLY}.items():
    setattr(Tensor, _name, _fn)
for _name, _fn in {**_BOTH, **_INPLACE_ONLY}.items():
    setattr(Tensor, _name + "_", inplace(_fn, _name + "_"))
