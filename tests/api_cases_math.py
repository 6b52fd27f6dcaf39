"""API cases for the elementwise math of the PyTorch port: rounding and remainders
(``ops/rounding.py``), exponentials, logarithms and trigonometry (``ops/transcendental.py``),
tests on floating-point values and ``nan_to_num`` (``ops/nonfinite.py``), ``clamp`` with
Tensor bounds, the ``//`` and ``%`` operators and the in-place variants (``methods_math.py``).

References are NumPy's functions or the formulas written out; samples stay clear of the jumps
of the piecewise-constant ops (finite differences step over none)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import A, Case, P, U


def _ints(*values):
    return np.array(values, dtype=np.int64)


# integer samples with negative dividends and divisors (Python's floor vs C's truncation)
_IA, _IB = _ints(-7, -3, 0, 5, 7, 9), _ints(2, -2, 3, 3, -4, 4)
# sign-changing divisors, quotients clear of integers
_DIVIDEND, _DIVISOR = U(2, 3, low=-3, high=3), P(3, seed=1) * [1, -1, 1]
_SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5])


def _inplace(method: str, *args, **kwargs):
    """``x.clone().<method>(*args)``: returns the clone itself, rebased onto the op's node
    (the gradient flows to x); ``args`` may be tensors passed as further inputs."""
    def fn(x, *tensors):
        y = x.clone()
        out = getattr(y, method)(*tensors, *args, **kwargs)
        assert out is y, f"{method} must return the tensor itself"
        return y
    return fn


def _inplace_no_grad(method: str, *args):
    """``<method>`` on a tensor outside the graph writes into its storage: a view sees it."""
    def fn(x):
        y = x.detach().clone()
        view = y.data
        getattr(y, method)(*args)
        np.testing.assert_array_equal(view.numpy(), y.numpy())
        return y
    return fn


def _trunc_div(a, b):
    q = np.trunc(a / b)
    return q.astype(np.result_type(a, b)) if a.dtype.kind == "i" and b.dtype.kind == "i" else q


def _lerp(s, e, w):
    return np.where(np.abs(w) < 0.5, s + w * (e - s), e - (e - s) * (1 - w))


def _xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((x == 0) & ~np.isnan(y), 0.0, x * np.log(y))


def _sinc(x):
    return np.where(x == 0, 1.0, np.sin(np.pi * x) / (np.pi * np.where(x == 0, 1.0, x)))


def _heaviside(x, v):
    return np.where(x == 0, v, (x > 0).astype(x.dtype))


def _copysign_ref(a, b):
    return np.abs(a) * np.where(np.signbit(b), -1.0, 1.0)


def _isclose(a, b, rtol=1e-05, atol=1e-08):
    return (np.abs(a - b) <= atol + rtol * np.abs(b)) | (a == b)


CASES = [
    # ------------------------------------------------------------------ rounding (gradient 0)
    Case("floor", ad.floor, np.floor, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.floor(x)),
    Case("floor", ad.floor, lambda x: x, (_IA,), torch_fn=lambda torch, x: torch.floor(x),
         grad=0, tag="int"),
    Case("ceil", ad.ceil, np.ceil, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.ceil(x)),
    Case("trunc", ad.trunc, np.trunc, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.trunc(x)),
    Case("fix", ad.fix, np.trunc, (U(5, low=-3, high=3),), torch_fn=lambda torch, x: torch.fix(x)),
    Case("round", ad.round, np.round, (np.array([0.5, 1.5, 2.5, -0.5, -1.7, 0.2]),),
         torch_fn=lambda torch, x: torch.round(x), grad=0, tag="half-even"),
    Case("round", lambda x: ad.round(x, decimals=2), lambda x: np.round(x * 100) / 100,
         (U(2, 3, low=-3, high=3),), torch_fn=lambda torch, x: torch.round(x, decimals=2),
         tag="decimals=2"),
    Case("round", lambda x: ad.round(x, decimals=-2), lambda x: np.round(x / 100) * 100,
         (U(2, 3, low=-1000, high=1000),), torch_fn=lambda torch, x: torch.round(x, decimals=-2),
         tag="decimals=-2"),
    Case("frac", ad.frac, lambda x: x - np.trunc(x), (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.frac(x)),
    Case("sign", ad.sign, lambda x: np.where(np.isnan(x), 0.0, np.sign(x)), (_SPECIAL,),
         torch_fn=lambda torch, x: torch.sign(x), grad=0, tag="nan-inf"),
    Case("sign", ad.sign, np.sign, (A(2, 3),), torch_fn=lambda torch, x: torch.sign(x)),
    Case("sgn", ad.sgn, np.sign, (A(4),), torch_fn=lambda torch, x: torch.sign(x)),
    Case("Tensor.round", lambda x: x.round(decimals=1), lambda x: np.round(x * 10) / 10,
         (U(4, low=-3, high=3),), torch_fn=lambda torch, x: x.round(decimals=1)),
    # ------------------------------------------------------------------ quotients, remainders
    Case("div", lambda a, b: ad.div(a, b, rounding_mode="trunc"), _trunc_div,
         (_DIVIDEND, _DIVISOR), torch_fn=lambda torch, a, b: torch.div(a, b, rounding_mode="trunc"),
         tag="trunc"),
    Case("div", lambda a, b: ad.div(a, b, rounding_mode="floor"), lambda a, b: np.floor(a / b),
         (_DIVIDEND, _DIVISOR), torch_fn=lambda torch, a, b: torch.div(a, b, rounding_mode="floor"),
         tag="floor"),
    Case("div", lambda a, b: ad.div(a, b, rounding_mode="trunc"), _trunc_div, (_IA, _IB),
         torch_fn=lambda torch, a, b: torch.div(a, b, rounding_mode="trunc"), grad=0, tag="trunc-int"),
    Case("Tensor.div", lambda a, b: a.div(b, rounding_mode="floor"), np.floor_divide, (_IA, _IB),
         torch_fn=lambda torch, a, b: a.div(b, rounding_mode="floor"), grad=0, tag="floor-int"),
    Case("floor_divide", ad.floor_divide, lambda a, b: np.floor(a / b), (_DIVIDEND, _DIVISOR),
         torch_fn=None, note="PyTorch's floor_divide has no derivative; its values: the -int case"),
    Case("floor_divide", ad.floor_divide, lambda a, b: a // b, (_IA, _IB),
         torch_fn=lambda torch, a, b: torch.floor_divide(a, b), grad=0, tag="int"),
    Case("Tensor.__floordiv__", lambda a, b: a // b, lambda a, b: np.floor(a / b),
         (_DIVIDEND, _DIVISOR), torch_fn=lambda torch, a, b: (a // b).detach(), grad=0),
    Case("Tensor.__rfloordiv__", lambda b: 7 // b, lambda b: 7 // b, (_IB,),
         torch_fn=lambda torch, b: 7 // b, grad=0),
    Case("remainder", ad.remainder, lambda a, b: a - np.floor(a / b) * b, (_DIVIDEND, _DIVISOR),
         torch_fn=lambda torch, a, b: torch.remainder(a, b)),
    Case("remainder", ad.remainder, lambda a, b: a % b, (_IA, _IB),
         torch_fn=lambda torch, a, b: torch.remainder(a, b), grad=0, tag="int"),
    Case("Tensor.__mod__", lambda a: a % 0.75, lambda a: a - np.floor(a / 0.75) * 0.75,
         (_DIVIDEND,), torch_fn=lambda torch, a: a % 0.75),
    Case("Tensor.__rmod__", lambda b: 2.5 % b, lambda b: 2.5 - np.floor(2.5 / b) * b,
         (_DIVISOR,), note="PyTorch's scalar % tensor has no derivative (here -floor(2.5 / b));"
         " its values: Tensor.__rmod__[values]"),
    Case("Tensor.__rmod__", lambda b: 2.5 % b, lambda b: 2.5 - np.floor(2.5 / b) * b,
         (_DIVISOR,), torch_fn=lambda torch, b: 2.5 % b, grad=0, tag="values"),
    Case("fmod", ad.fmod, lambda a, b: a - np.trunc(a / b) * b, (_DIVIDEND, _DIVISOR),
         torch_fn=lambda torch, a, b: torch.fmod(a, b)),
    Case("fmod", ad.fmod, lambda a, b: a - _trunc_div(a, b) * b, (_IA, _IB),
         torch_fn=lambda torch, a, b: torch.fmod(a, b), grad=0, tag="int"),
    Case("Tensor.fmod", lambda a: a.fmod(-0.75), lambda a: a - np.trunc(a / -0.75) * -0.75,
         (_DIVIDEND,), torch_fn=lambda torch, a: a.fmod(-0.75), tag="scalar"),
    # ------------------------------------------------------------------ signs
    Case("copysign", ad.copysign, _copysign_ref, (A(2, 3), A(3, seed=1)),
         torch_fn=lambda torch, a, b: torch.copysign(a, b)),
    Case("copysign", ad.copysign, _copysign_ref, (A(2, 3), np.array([0.0, -0.0, -np.inf])),
         torch_fn=lambda torch, a, b: torch.copysign(a, b), grad=0, tag="signed-zero"),
    Case("copysign", lambda a: ad.copysign(a, -1.0), lambda a: -np.abs(a), (A(4),),
         torch_fn=lambda torch, a: torch.copysign(a, -1.0), tag="scalar"),
    Case("copysign", ad.copysign, lambda a, b: _copysign_ref(a, b).astype(np.float32),
         (_IA, _IB), torch_fn=lambda torch, a, b: torch.copysign(a, b), grad=0, tag="int", rtol=1e-6),
    Case("signbit", ad.signbit, np.signbit, (_SPECIAL[1:],),
         torch_fn=lambda torch, x: torch.signbit(x), grad=0),
    Case("heaviside", ad.heaviside, _heaviside,
         (np.array([-1.5, 0.0, 2.0, 0.0, -0.0]), U(5, seed=3)), const=(0,),
         note="PyTorch has no derivative; here values gets the gradient where input == 0"),
    Case("heaviside", ad.heaviside, _heaviside, (np.array([-1.5, 0.0, 2.0]), U(3, seed=3)),
         torch_fn=lambda torch, x, v: torch.heaviside(x, v), grad=0, tag="values"),
    # ------------------------------------------------------------------ exponentials, logarithms
    Case("exp2", ad.exp2, np.exp2, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.exp2(x)),
    Case("log2", ad.log2, np.log2, (P(2, 3),), torch_fn=lambda torch, x: torch.log2(x)),
    Case("log10", ad.log10, np.log10, (P(2, 3),), torch_fn=lambda torch, x: torch.log10(x)),
    Case("rsqrt", ad.rsqrt, lambda x: 1 / np.sqrt(x), (P(2, 3),),
         torch_fn=lambda torch, x: torch.rsqrt(x)),
    Case("reciprocal", ad.reciprocal, lambda x: 1 / x, (A(2, 3),),
         torch_fn=lambda torch, x: torch.reciprocal(x)),
    Case("reciprocal", ad.reciprocal, lambda x: (1 / x).astype(np.float32), (_ints(1, -2, 4),),
         torch_fn=lambda torch, x: torch.reciprocal(x), grad=0, tag="int", rtol=1e-6),
    Case("square", ad.square, lambda x: x * x, (U(2, 3),), torch_fn=lambda torch, x: torch.square(x)),
    Case("square", ad.square, lambda x: x * x, (_IA,), torch_fn=lambda torch, x: torch.square(x),
         grad=0, tag="int"),
    Case("logaddexp", ad.logaddexp, lambda a, b: np.log(np.exp(a) + np.exp(b)),
         (U(2, 3, low=-3, high=3), U(3, seed=1)), torch_fn=lambda torch, a, b: torch.logaddexp(a, b)),
    Case("logaddexp", ad.logaddexp, lambda a, b: np.maximum(a, b) + np.log1p(np.exp(-abs(a - b))),
         (np.array([800.0, -800.0, 1.0]), np.array([799.0, -801.0, 1.0])),
         torch_fn=lambda torch, a, b: torch.logaddexp(a, b), tag="large"),
    Case("logaddexp2", ad.logaddexp2, lambda a, b: np.log2(2 ** a + 2 ** b),
         (U(2, 3, low=-3, high=3), U(3, seed=1)),
         torch_fn=lambda torch, a, b: torch.logaddexp2(a, b)),
    Case("xlogy", ad.xlogy, _xlogy, (np.array([[0.0, 1.5, -2.0], [0.5, 0.0, 3.0]]), P(2, 3)),
         torch_fn=lambda torch, a, b: torch.xlogy(a, b)),
    Case("xlogy", ad.xlogy, _xlogy, (np.array([0.0, 0.0, 2.0, 0.0]),
                                     np.array([0.0, np.nan, -1.0, -1.0])),
         torch_fn=lambda torch, a, b: torch.xlogy(a, b), grad=0, tag="special"),
    Case("xlogy", lambda b: ad.xlogy(2.0, b), lambda b: 2 * np.log(b), (P(4),),
         torch_fn=lambda torch, b: torch.xlogy(2.0, b), tag="scalar"),
    # ------------------------------------------------------------------ trigonometry
    Case("sinh", ad.sinh, np.sinh, (U(2, 3, low=-2, high=2),), torch_fn=lambda torch, x: torch.sinh(x)),
    Case("cosh", ad.cosh, np.cosh, (U(2, 3, low=-2, high=2),), torch_fn=lambda torch, x: torch.cosh(x)),
    Case("asin", ad.asin, np.arcsin, (U(2, 3, low=-0.9, high=0.9),),
         torch_fn=lambda torch, x: torch.asin(x)),
    Case("acos", ad.acos, np.arccos, (U(2, 3, low=-0.9, high=0.9),),
         torch_fn=lambda torch, x: torch.acos(x)),
    Case("atan", ad.atan, np.arctan, (U(2, 3, low=-3, high=3),), torch_fn=lambda torch, x: torch.atan(x)),
    Case("asinh", ad.asinh, np.arcsinh, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: torch.asinh(x)),
    Case("acosh", ad.acosh, np.arccosh, (U(2, 3, low=1.2, high=3),),
         torch_fn=lambda torch, x: torch.acosh(x)),
    Case("atanh", ad.atanh, np.arctanh, (U(2, 3, low=-0.9, high=0.9),),
         torch_fn=lambda torch, x: torch.atanh(x)),
    Case("asin", ad.asin, np.arcsin, (_ints(-1, 0, 1),), torch_fn=lambda torch, x: torch.asin(x),
         grad=0, tag="int", rtol=1e-6),
    Case("Tensor.arcsin", lambda x: x.arcsin(), np.arcsin, (U(4, low=-0.9, high=0.9),),
         torch_fn=lambda torch, x: x.arcsin()),
    Case("Tensor.arccosh", lambda x: x.arccosh(), np.arccosh, (U(4, low=1.2, high=3),),
         torch_fn=lambda torch, x: x.arccosh()),
    Case("atan2", ad.atan2, np.arctan2, (U(2, 3), A(3, seed=1)),
         torch_fn=lambda torch, a, b: torch.atan2(a, b)),
    Case("Tensor.arctan2", lambda a, b: a.arctan2(b), np.arctan2, (A(3), U(2, 3, seed=1)),
         torch_fn=lambda torch, a, b: a.arctan2(b)),
    Case("hypot", ad.hypot, lambda a, b: np.sqrt(a * a + b * b), (A(2, 3), A(3, seed=1)),
         torch_fn=lambda torch, a, b: torch.hypot(a, b)),
    Case("sinc", ad.sinc, _sinc, (A(2, 3, seed=2) * 2,), torch_fn=lambda torch, x: torch.sinc(x)),
    Case("sinc", ad.sinc, _sinc, (np.array([0.0, 1.0, -2.0, 0.5]),),
         torch_fn=lambda torch, x: torch.sinc(x), grad=1, tag="zeros-integers",
         note="the second derivative at 0 is NaN, as PyTorch's"),
    Case("lerp", lambda s, e: ad.lerp(s, e, 0.3), lambda s, e: s + 0.3 * (e - s),
         (U(2, 3), U(3, seed=1)), torch_fn=lambda torch, s, e: torch.lerp(s, e, 0.3), tag="scalar"),
    Case("lerp", ad.lerp, _lerp, (U(2, 3), U(3, seed=1), U(2, 3, low=-1, high=2, seed=2)),
         torch_fn=lambda torch, s, e, w: torch.lerp(s, e, w), tag="tensor"),
    # ------------------------------------------------------------------ bounds
    Case("clamp", ad.clamp, lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
         (U(2, 4, low=-2, high=2), U(4, low=-1, high=0, seed=1), U(2, 1, low=0.2, high=1, seed=2)),
         torch_fn=lambda torch, x, lo, hi: torch.clamp(x, lo, hi), tag="tensor-bounds"),
    Case("clamp", ad.clamp, lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
         (np.array([-1.0, 0.5, 2.0]), np.array([0.5, 0.5, 0.5]), np.array([0.0, 0.0, 0.0])),
         torch_fn=lambda torch, x, lo, hi: torch.clamp(x, lo, hi), grad=1, tag="min>max",
         note="with min > max the result is max, which gets the whole gradient (PyTorch)"),
    Case("clamp", lambda x, hi: ad.clamp(x, max=hi), np.minimum, (U(2, 3), U(3, seed=1)),
         torch_fn=lambda torch, x, hi: torch.clamp(x, max=hi), tag="max-only"),
    Case("clamp_min", lambda x: ad.clamp_min(x, 0.2), lambda x: np.maximum(x, 0.2), (U(2, 3),),
         torch_fn=lambda torch, x: torch.clamp_min(x, 0.2)),
    Case("clamp_max", lambda x, m: ad.clamp_max(x, m), np.minimum, (U(2, 3), U(3, seed=4)),
         torch_fn=lambda torch, x, m: torch.clamp_max(x, m)),
    Case("Tensor.clamp_min", lambda x: x.clamp_min(-0.2), lambda x: np.maximum(x, -0.2),
         (U(2, 3),), torch_fn=lambda torch, x: x.clamp_min(-0.2)),
    # ------------------------------------------------------------------ non-finite values
    Case("isinf", ad.isinf, np.isinf, (_SPECIAL,), torch_fn=lambda torch, x: torch.isinf(x),
         grad=0),
    Case("isposinf", ad.isposinf, np.isposinf, (_SPECIAL,),
         torch_fn=lambda torch, x: torch.isposinf(x), grad=0),
    Case("isneginf", ad.isneginf, np.isneginf, (_SPECIAL,),
         torch_fn=lambda torch, x: torch.isneginf(x), grad=0),
    Case("isclose", ad.isclose, _isclose,
         (np.array([1.0, 1.0, np.inf, np.nan, 0.0]), np.array([1.0 + 1e-6, 1.1, np.inf, np.nan, 1e-9])),
         torch_fn=lambda torch, a, b: torch.isclose(a, b), grad=0),
    Case("isclose", lambda a, b: ad.isclose(a, b, rtol=0.2, equal_nan=True),
         lambda a, b: _isclose(a, b, rtol=0.2) | (np.isnan(a) & np.isnan(b)),
         (np.array([1.0, 1.0, np.nan]), np.array([1.1, 1.5, np.nan])),
         torch_fn=lambda torch, a, b: torch.isclose(a, b, rtol=0.2, equal_nan=True), grad=0,
         tag="equal_nan"),
    Case("allclose", lambda a, b: ad.tensor(ad.allclose(a, b)),
         lambda a, b: np.array(bool(_isclose(a, b).all())), (U(3), U(3) + 1e-9),
         torch_fn=lambda torch, a, b: torch.tensor(torch.allclose(a, b)), grad=0),
    Case("nan_to_num", ad.nan_to_num, np.nan_to_num, (_SPECIAL,),
         torch_fn=lambda torch, x: torch.nan_to_num(x), grad=0, tag="defaults"),
    Case("nan_to_num", lambda x: ad.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0),
         lambda x: np.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0), (_SPECIAL,),
         torch_fn=lambda torch, x: torch.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0),
         grad=0, tag="values"),
    Case("nan_to_num", ad.nan_to_num, lambda x: x, (U(2, 3),),
         torch_fn=lambda torch, x: torch.nan_to_num(x), tag="finite"),
    # ------------------------------------------------------------------ in place
    Case("Tensor.div_", _inplace("div_", rounding_mode="floor"), lambda a, b: np.floor(a / b),
         (_DIVIDEND, _DIVISOR), torch_fn=lambda torch, a, b: a.clone().div_(b, rounding_mode="floor")),
    Case("Tensor.clamp_", _inplace("clamp_", -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
         (U(2, 3),), torch_fn=lambda torch, x: x.clone().clamp_(-0.5, 0.5)),
    Case("Tensor.lerp_", _inplace("lerp_", 0.25), lambda s, e: s + 0.25 * (e - s),
         (U(2, 3), U(3, seed=1)), torch_fn=lambda torch, s, e: s.clone().lerp_(e, 0.25)),
    Case("Tensor.exp_", _inplace("exp_"), np.exp, (U(2, 3),), torch_fn=lambda torch, x: x.clone().exp_()),
    Case("Tensor.__imod__", _inplace("__imod__", 0.75), lambda a: a - np.floor(a / 0.75) * 0.75,
         (_DIVIDEND,), torch_fn=lambda torch, a: a.clone().remainder_(0.75)),
    Case("Tensor.__ifloordiv__", _inplace_no_grad("__ifloordiv__", 2), lambda a: a // 2,
         (_IA,), torch_fn=lambda torch, a: a.clone().floor_divide_(2), grad=0),
    Case("Tensor.nan_to_num_", _inplace_no_grad("nan_to_num_"), np.nan_to_num, (_SPECIAL,),
         torch_fn=lambda torch, x: x.clone().nan_to_num_(), grad=0),
    Case("Tensor.round_", _inplace_no_grad("round_"), np.round, (U(2, 3, low=-3, high=3),),
         torch_fn=lambda torch, x: x.clone().round_(), grad=0),
]


# ---------------------------------------------------------------------- derived cases
# each function above that is also a Tensor method (x.f(*rest)), an in-place method
# (x.clone().f_(*rest) rebased onto the graph), or has a NumPy-style alias gets the same case
_INPLACE = {"floor", "ceil", "trunc", "fix", "frac", "sign", "sgn", "remainder", "fmod",
            "copysign", "exp2", "log2", "log10", "rsqrt", "reciprocal", "square", "sinh", "cosh",
            "asin", "acos", "atan", "asinh", "acosh", "atanh", "atan2", "hypot", "xlogy", "sinc",
            "nan_to_num", "floor_divide"}
_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
            "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2"}


def _method(name: str):
    return lambda x, *rest: getattr(x, name)(*rest)


def _torch_method(name: str):
    # an in-place case is compared with PyTorch's out-of-place op (PyTorch has no derivative
    # for some in-place ones, e.g. asinh_); sgn's own gradient is a ZeroTensor: sign's is not
    name = {"sgn": "sign"}.get(name.rstrip("_"), name.rstrip("_"))
    return lambda torch, x, *rest: getattr(x, name)(*rest)


def _derived(case: Case, name: str, fn, torch_name: str) -> Case:
    return Case(name, fn, case.ref, case.inputs,
                torch_fn=None if case.torch_fn is None else _torch_method(torch_name),
                grad=case.grad, const=case.const, tol=case.tol, rtol=case.rtol, atol=case.atol,
                tag=case.tag, note=case.note)


def _derive(cases: list) -> list:
    out = []
    for c in cases:
        if c.fn is not getattr(ad, c.name, None):   # only plain ad.f(tensors...) cases
            continue
        out.append(_derived(c, f"Tensor.{c.name}", _method(c.name), c.name))
        floating = all(np.asarray(a).dtype.kind == "f" for a in c.inputs)
        if c.name in _INPLACE and floating and c.grad:
            out.append(_derived(c, f"Tensor.{c.name}_", _inplace(c.name + "_"), c.name + "_"))
    for alias, target in _ALIASES.items():
        c = next(c for c in cases if c.name == target and not c.tag)
        out.append(_derived(c, alias, getattr(ad, alias), alias))
    return out


CASES += _derive(CASES)
