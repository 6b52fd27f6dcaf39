"""Elementwise primitives and their VJP rules, written with Tensor ops (so they differentiate
again), each registered beside its rule. Broadcast gradients are reduced to each input's shape
by the engine, not here."""
from __future__ import annotations

import math
import operator

import numpy

from .. import backends
from ..backends import get_array_module
from ..dtypes import get_default_dtype
from ..grad_mode import STATE as _GRAD
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, pair
from .registry import BROADCAST, SAME, primitive


def _binary(prim, a, b):
    """A registered two-input primitive on (a, b), saving both when its rule reads them."""
    a, b = pair(a, b, prim.name)
    try:
        out = prim.forward(a.array, b.array)
    except ValueError:
        raise _broadcast_error(prim.name, a, b) from None
    return record(prim, out, (a, b), (a, b) if prim.saves else ())


def _pointwise(name, backward, forward, inputs=("a", "b"), **kw):
    """Register an elementwise primitive (output shape: the inputs' broadcast, unless
    ``infer`` says otherwise)."""
    kw.setdefault("infer", BROADCAST if len(inputs) > 1 else SAME)
    return primitive(name, backward, forward=forward, inputs=inputs, elementwise=True, **kw)


def _broadcast_error(name, a, b) -> ValueError:
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


# ----------------------------------------------------------------------------- arithmetic
# The four arithmetic ops are the hottest path of the engine: inlined rather than going
# through _binary, to keep per-op overhead low.
def add(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "add")
    try:
        out = a.array + b.array
    except ValueError:
        raise _broadcast_error("add", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "add")
        raise
    return record(ADD, out, (a, b))


def _add_bw(ctx, g):
    return g, g


# add, sub and mul write their forward inline (`a.array + b.array`: no call on the hottest path);
# the registered forward is the same operator (tests/test_registry.py checks they agree)
ADD = _pointwise("add", _add_bw, operator.add)


def sub(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "sub")
    try:
        out = a.array - b.array
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "sub")
        raise
    return record(SUB, out, (a, b))


def _sub_bw(ctx, g):
    return g, (neg(g) if ctx.needs_input_grad[1] else None)


SUB = _pointwise("sub", _sub_bw, operator.sub)


def mul(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "mul")
    try:
        out = a.array * b.array
    except ValueError:
        raise _broadcast_error("mul", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "mul")
        raise
    return record(MUL, out, (a, b), (a, b))


def _mul_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (mul(g, b) if na else None), (mul(g, a) if nb else None)


MUL = _pointwise("mul", _mul_bw, operator.mul, saves=("a", "b"))


def div(a, b) -> Tensor:
    return _binary(DIV, a, b)


def _np_div(x, y):
    if x.dtype.kind != "f" and y.dtype.kind != "f":
        return (x / y).astype(get_default_dtype())
    return x / y


def _div_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = div(g, b) if na else None
    gb = neg(div(mul(g, a), mul(b, b))) if nb else None
    return ga, gb


def _div_infer(in_meta, *attrs):
    (shape, dtype), = BROADCAST(in_meta)
    return ((shape, dtype if dtype.kind == "f" else get_default_dtype()),)


DIV = _pointwise("div", _div_bw, _np_div, saves=("a", "b"), infer=_div_infer)


def neg(x) -> Tensor:
    x = as_t(x)
    return record(NEG, -x.array, (x,))


def _neg_bw(ctx, g):
    return (neg(g),)


NEG = _pointwise("neg", _neg_bw, operator.neg, inputs=("x",))


def pow(x, y) -> Tensor:  # noqa: A001
    """``x ** y``; a Python-number exponent is kept as a constant (no gradient for it)."""
    if isinstance(y, (int, float)) and not isinstance(y, bool) and isinstance(x, Tensor):
        if isinstance(y, float) and x.array.dtype.kind in "iub":
            x = make(x.array.astype(get_default_dtype()))
        return record(POW_SCALAR, _scalar_power(x.array, y), (x,), (x,), attrs=y)
    return _binary(POW, x, y)


def _scalar_power(d, c):
    # NumPy's power ufunc is ~10x slower than multiplication for small integer exponents
    if c == 2:
        return d * d
    if c == 3:
        return d * d * d
    if c == 1:
        return d.copy()
    return d ** c


def _pow_scalar_bw(ctx, g):
    (x,) = ctx.saved_tensors
    c = ctx.attrs
    if c == 0:
        return (mul(g, 0.0),)
    if c == 1:
        return (g,)
    return (mul(g, mul(pow(x, c - 1), c)),)


POW_SCALAR = _pointwise("pow_scalar", _pow_scalar_bw, _scalar_power, inputs=("x",),
                        attrs="exponent", saves=("x",))


def _pow_bw(ctx, g):
    x, y = ctx.saved_tensors
    nx, ny = ctx.needs_input_grad
    gx = mul(g, mul(y, pow(x, sub(y, 1)))) if nx else None
    gy = None
    if ny:
        # d/dy x**y = x**y log x; taken as 0 where x == 0 (PyTorch's convention)
        safe_x = where(x.array == 0, 1.0, x)
        gy = mul(g, mul(pow(x, y), log(safe_x)))
    return gx, gy


POW = _pointwise("pow", _pow_bw, operator.pow, inputs=("x", "y"), saves=("x", "y"))


def rsub(a, b) -> Tensor:
    return sub(b, a)


def rdiv(a, b) -> Tensor:
    return div(b, a)


def rpow(a, b) -> Tensor:
    return pow(b, a)


# ----------------------------------------------------------------------------- unary math
def _unary(prim, x, attrs=None):
    """A registered one-input primitive on ``x`` (integers become the default float; ``attrs``
    is its one attribute, if any)."""
    x = as_t(x)
    if x.array.dtype.kind != "f" and prim is not ABS:
        x = make(x.array.astype(get_default_dtype()))
    out = prim.forward(x.array) if attrs is None else prim.forward(x.array, attrs)
    return record(prim, out, (x,), (x,) if prim.saves else (), prim.save_output, attrs)


def _ufunc(name: str):
    """The forward ``xp.<name>(d)`` of the array's own library."""
    def forward(d):
        return getattr(get_array_module(d), name)(d)
    forward.__name__ = forward.__qualname__ = f"{name}_forward"
    return forward


def _unary_row(name, backward, forward, save: str, **kw):
    """Register a one-input elementwise primitive whose rule reads its input (``save='x'``)
    or its output (``save='output'``)."""
    return _pointwise(name, backward, forward, inputs=("x",),
                      saves=("x",) if save == "x" else (), save_output=save == "output", **kw)


def exp(x) -> Tensor:
    return _unary(EXP, x)


def _exp_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, y),)


EXP = _unary_row("exp", _exp_bw, _ufunc("exp"), "output")


def log(x) -> Tensor:
    return _unary(LOG, x)


def _log_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, x),)


LOG = _unary_row("log", _log_bw, _ufunc("log"), "x")


def log1p(x) -> Tensor:
    return _unary(LOG1P, x)


def _log1p_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, add(x, 1.0)),)


LOG1P = _unary_row("log1p", _log1p_bw, _ufunc("log1p"), "x")


def expm1(x) -> Tensor:
    return _unary(EXPM1, x)


def _expm1_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, add(y, 1.0)),)


EXPM1 = _unary_row("expm1", _expm1_bw, _ufunc("expm1"), "output")


def sqrt(x) -> Tensor:
    return _unary(SQRT, x)


def _sqrt_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (div(g, mul(y, 2.0)),)


SQRT = _unary_row("sqrt", _sqrt_bw, _ufunc("sqrt"), "output")


def abs(x) -> Tensor:  # noqa: A001
    """|x|; the gradient at 0 is 0."""
    return _unary(ABS, x)


def _abs_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, make(x.xp.sign(x.array).astype(x.dtype))),)


ABS = _unary_row("abs", _abs_bw, _ufunc("abs"), "x")


def sign(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.sign(x.array))


def sin(x) -> Tensor:
    return _unary(SIN, x)


def _sin_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, cos(x)),)


SIN = _unary_row("sin", _sin_bw, _ufunc("sin"), "x")


def cos(x) -> Tensor:
    return _unary(COS, x)


def _cos_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (neg(mul(g, sin(x))),)


COS = _unary_row("cos", _cos_bw, _ufunc("cos"), "x")


def tan(x) -> Tensor:
    return _unary(TAN, x)


def _tan_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, add(mul(y, y), 1.0)),)


TAN = _unary_row("tan", _tan_bw, _ufunc("tan"), "output")


def _fused_bw(kind: str, y: Tensor, g: Tensor):
    """The one-pass kernel's gradient (a Tensor), or None: only when no graph is being
    recorded (with create_graph the Tensor-op rule runs, so it differentiates again) and a
    kernel takes the arrays."""
    if _GRAD.enabled:
        return None
    kernel = getattr(backends.kernels_for(y.array, g.array), kind + "_backward")
    d = None if kernel is None else kernel(y.array, g.array)
    return None if d is None else make(d)


def tanh(x) -> Tensor:
    return _unary(TANH, x)


def _tanh_bw(ctx, g):
    (y,) = ctx.saved_tensors
    fused = _fused_bw("tanh", y, g)
    if fused is not None:
        return (fused,)
    return (mul(g, rsub(mul(y, y), 1.0)),)


TANH = _unary_row("tanh", _tanh_bw, _ufunc("tanh"), "output")


def _np_sigmoid(d):
    # split by sign so exp never overflows
    xp = get_array_module(d)
    e = xp.exp(-xp.abs(d))
    return xp.where(d >= 0, 1 / (1 + e), e / (1 + e)).astype(d.dtype, copy=False)


def sigmoid(x) -> Tensor:
    return _unary(SIGMOID, x)


def _sigmoid_bw(ctx, g):
    (y,) = ctx.saved_tensors
    fused = _fused_bw("sigmoid", y, g)
    if fused is not None:
        return (fused,)
    return (mul(g, mul(y, rsub(y, 1.0))),)


SIGMOID = _unary_row("sigmoid", _sigmoid_bw, _np_sigmoid, "output")


def relu(x) -> Tensor:
    """max(x, 0); relu'(0) = 0."""
    return _unary(RELU, x)


def _relu_bw(ctx, g):
    (y,) = ctx.saved_tensors
    fused = _fused_bw("relu", y, g)
    if fused is not None:
        return (fused,)
    return (mul(g, make((y.array > 0).astype(y.dtype))),)


def _relu_fw(x):
    return backends.kernels_for(x).relu_forward(x)


RELU = _unary_row("relu", _relu_bw, _relu_fw, "output")


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _unary(LEAKY_RELU, x, negative_slope)


def _leaky_relu_fw(d, negative_slope):
    return get_array_module(d).where(d > 0, d, d * negative_slope)


def _leaky_relu_bw(ctx, g):
    (x,) = ctx.saved_tensors
    slope = make(x.xp.where(x.array > 0, 1.0, ctx.attrs).astype(x.dtype))
    return (mul(g, slope),)


LEAKY_RELU = _unary_row("leaky_relu", _leaky_relu_bw, _leaky_relu_fw, "x",
                        attrs="negative_slope")


def elu(x, alpha: float = 1.0) -> Tensor:
    x = as_t(x)
    # where, not minimum(x, 0): minimum would split the gradient at the tie x = 0, giving
    # elu'(0) = alpha / 2; this gives alpha, as PyTorch (and keeps expm1 finite for large x)
    neg_part = mul(expm1(where(x.array > 0, 0.0, x)), alpha)
    return where(x.array > 0, x, neg_part)


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, computed stably; linear above ``threshold`` as in PyTorch.

    A primitive (not relu + log1p(exp(-|x|))): that composite has the kinks of relu and abs at
    0, where their conventional zero gradients would give softplus'(0) = 0 instead of 1/2."""
    x = as_t(x)
    if x.array.dtype.kind != "f":
        x = make(x.array.astype(get_default_dtype()))
    return record(SOFTPLUS, _softplus_fw(x.array, beta, threshold), (x,), (x,),
                  attrs=(beta, threshold))


def _softplus_fw(d, beta, threshold):
    xp = get_array_module(d)
    bx = d * beta if beta != 1 else d
    soft = xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))
    if beta != 1:
        soft = soft / beta
    return xp.where(bx > threshold, d, soft).astype(d.dtype, copy=False)


def _softplus_bw(ctx, g):
    (x,) = ctx.saved_tensors
    beta, threshold = ctx.attrs
    bx = mul(x, beta) if beta != 1 else x
    return (mul(g, where(bx.array > threshold, 1.0, sigmoid(bx))),)


SOFTPLUS = _unary_row("softplus", _softplus_bw, _softplus_fw, "x", attrs=("beta", "threshold"))


def erf(x) -> Tensor:
    return _unary(ERF, x)


def _erf_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))),)


def _erf_fw(x):
    return backends.kernels_for(x).erf(x)


ERF = _unary_row("erf", _erf_bw, _erf_fw, "x")


def gelu(x, approximate: str = "none") -> Tensor:
    """x * Phi(x) (exact, with erf) or the tanh approximation, as PyTorch's ``gelu``."""
    x = as_t(x)
    if approximate == "tanh":
        inner = mul(add(x, mul(pow(x, 3), 0.044715)), math.sqrt(2.0 / math.pi))
        return mul(mul(x, 0.5), add(tanh(inner), 1.0))
    return mul(mul(x, 0.5), add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0))


# ----------------------------------------------------------------------------- selection
def where(condition, a, b) -> Tensor:
    """``a`` where ``condition`` else ``b``. NaN trap: a NaN/inf in the branch not taken still
    poisons the gradient of ops feeding it (0 * inf); guard the op's *input* with a second
    ``where`` (see README, 'conventions')."""
    cond = condition.array if isinstance(condition, Tensor) else condition
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = pair(a, b, "where")
    else:
        b, a = pair(b, a, "where")
    xp = get_array_module(a.array)
    cond = xp.asarray(cond, dtype=bool)
    try:
        out = _where_fw(a.array, b.array, cond)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, x {a.shape} and y {b.shape} cannot "
                         f"be broadcast together") from None
    return record(WHERE, out, (a, b), attrs=cond)


def _where_fw(a, b, condition):
    return get_array_module(a).where(condition, a, b)


def _where_bw(ctx, g):
    cond = ctx.attrs
    na, nb = ctx.needs_input_grad
    zero = make(g.xp.zeros((), g.dtype))
    return (where(cond, g, zero) if na else None), (where(cond, zero, g) if nb else None)


def _where_infer(in_meta, condition):
    (shape, dtype), = BROADCAST(in_meta)
    return ((numpy.broadcast_shapes(condition.shape, shape), dtype),)


WHERE = _pointwise("where", _where_bw, _where_fw, attrs="condition", infer=_where_infer)


def maximum(a, b) -> Tensor:
    """Elementwise max; at ties each side gets half the gradient."""
    return _binary(MAXIMUM, a, b)


def minimum(a, b) -> Tensor:
    """Elementwise min; at ties each side gets half the gradient."""
    return _binary(MINIMUM, a, b)


def _ufunc2(name: str):
    """The forward ``xp.<name>(x, y)`` of the arrays' own library."""
    def forward(x, y):
        return getattr(get_array_module(x), name)(x, y)
    forward.__name__ = forward.__qualname__ = f"{name}_forward"
    return forward


def _tie_split(ctx, g, first_wins):
    a, b = ctx.saved_tensors
    xp = g.xp
    wa = xp.where(first_wins(a.array, b.array), 1.0, xp.where(a.array == b.array, 0.5, 0.0))
    wa = make(wa.astype(g.dtype))
    na, nb = ctx.needs_input_grad
    return (mul(g, wa) if na else None), (mul(g, make(1 - wa.array)) if nb else None)


def _max_bw(ctx, g):
    return _tie_split(ctx, g, lambda x, y: x > y)


def _min_bw(ctx, g):
    return _tie_split(ctx, g, lambda x, y: x < y)


MAXIMUM = _pointwise("maximum", _max_bw, _ufunc2("maximum"), saves=("a", "b"))
MINIMUM = _pointwise("minimum", _min_bw, _ufunc2("minimum"), saves=("a", "b"))


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamp into [min, max]; gradient 1 inside the closed interval, 0 outside (PyTorch)."""
    x = as_t(x)
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo = min.array if isinstance(min, Tensor) else min
    hi = max.array if isinstance(max, Tensor) else max
    return record(CLIP, _clip_fw(x.array, lo, hi), (x,), (x,), attrs=(lo, hi))


def _clip_fw(d, lo, hi):
    return get_array_module(d).clip(d, lo, hi)


def _clip_bw(ctx, g):
    (x,) = ctx.saved_tensors
    lo, hi = ctx.attrs
    keep = x.xp.ones(x.shape, bool)
    if lo is not None:
        keep &= x.array >= lo
    if hi is not None:
        keep &= x.array <= hi
    return (mul(g, make(keep.astype(g.dtype))),)


def _clip_infer(in_meta, lo, hi):
    (shape, dtype), = in_meta
    bounds = [v for v in (lo, hi) if v is not None]
    return ((numpy.broadcast_shapes(shape, *[numpy.shape(v) for v in bounds]),
             numpy.result_type(dtype, *bounds)),)


CLIP = _unary_row("clip", _clip_bw, _clip_fw, "x", attrs=("min", "max"), infer=_clip_infer)


# ----------------------------------------------------------------------------- no gradient
def _compare(fn):
    def op(a, b):
        a, b = pair(a, b, fn)
        try:
            return make(getattr(a.xp, fn)(a.array, b.array))
        except ValueError:
            raise ValueError(f"{fn}: shapes {a.shape} and {b.shape} cannot be broadcast "
                             f"together") from None
    op.__name__ = fn
    op.__doc__ = f"Elementwise ``{fn}`` (a bool tensor, no gradient)."
    return op


eq = _compare("equal")
ne = _compare("not_equal")
lt = _compare("less")
le = _compare("less_equal")
gt = _compare("greater")
ge = _compare("greater_equal")
logical_and = _compare("logical_and")
logical_or = _compare("logical_or")
logical_xor = _compare("logical_xor")


def logical_not(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.logical_not(x.array))


def isnan(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isnan(x.array))


def isfinite(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isfinite(x.array))


def floor(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.floor(x.array))


def round(x) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.round(x.array))
