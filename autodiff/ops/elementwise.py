"""Elementwise primitives and their VJP rules, written with Tensor ops (so they differentiate
again). Broadcast gradients are reduced to each input's shape by the engine, not here."""
from __future__ import annotations

import math

import numpy

from ..backends import get_array_module

from ..grad_mode import STATE as _GRAD
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, pair


def _binary(name, fn, a, b, backward, saved_ab=True):
    a, b = pair(a, b, name)
    try:
        out = fn(a.data, b.data)
    except ValueError:
        raise _broadcast_error(name, a, b) from None
    return record(name, backward, out, (a, b), (a, b) if saved_ab else ())


def _broadcast_error(name, a, b) -> ValueError:
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


# ----------------------------------------------------------------------------- arithmetic
# The four arithmetic ops are the hottest path of the engine: inlined rather than going
# through _binary, to keep per-op overhead low.
def add(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "add")
    try:
        out = a.data + b.data
    except ValueError:
        raise _broadcast_error("add", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "add")
        raise
    return record("add", _add_bw, out, (a, b))


def _add_bw(ctx, g):
    return g, g


def sub(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "sub")
    try:
        out = a.data - b.data
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "sub")
        raise
    return record("sub", _sub_bw, out, (a, b))


def _sub_bw(ctx, g):
    return g, (neg(g) if ctx.needs_input_grad[1] else None)


def mul(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor:
        a, b = pair(a, b, "mul")
    try:
        out = a.data * b.data
    except ValueError:
        raise _broadcast_error("mul", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "mul")
        raise
    return record("mul", _mul_bw, out, (a, b), (a, b))


def _mul_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (mul(g, b) if na else None), (mul(g, a) if nb else None)


def div(a, b) -> Tensor:
    return _binary("div", _np_div, a, b, _div_bw)


def _np_div(x, y):
    if x.dtype.kind != "f" and y.dtype.kind != "f":
        from ..dtypes import get_default_dtype
        return (x / y).astype(get_default_dtype())
    return x / y


def _div_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = div(g, b) if na else None
    gb = neg(div(mul(g, a), mul(b, b))) if nb else None
    return ga, gb


def neg(x) -> Tensor:
    x = as_t(x)
    return record("neg", _neg_bw, -x.data, (x,))


def _neg_bw(ctx, g):
    return (neg(g),)


def pow(x, y) -> Tensor:  # noqa: A001
    """``x ** y``; a Python-number exponent is kept as a constant (no gradient for it)."""
    if isinstance(y, (int, float)) and not isinstance(y, bool) and isinstance(x, Tensor):
        if isinstance(y, float) and x.data.dtype.kind in "iub":
            from ..dtypes import get_default_dtype
            x = make(x.data.astype(get_default_dtype()))
        return record("pow", _pow_scalar_bw, _scalar_power(x.data, y), (x,), (x,), attrs=y)
    return _binary("pow", _np_pow, x, y, _pow_bw)


def _scalar_power(d, c):
    # NumPy's power ufunc is ~10x slower than multiplication for small integer exponents
    if c == 2:
        return d * d
    if c == 3:
        return d * d * d
    if c == 1:
        return d.copy()
    return d ** c


def _np_pow(x, y):
    return x ** y


def _pow_scalar_bw(ctx, g):
    (x,) = ctx.saved_tensors
    c = ctx.attrs
    if c == 0:
        return (mul(g, 0.0),)
    if c == 1:
        return (g,)
    return (mul(g, mul(pow(x, c - 1), c)),)


def _pow_bw(ctx, g):
    x, y = ctx.saved_tensors
    nx, ny = ctx.needs_input_grad
    gx = mul(g, mul(y, pow(x, sub(y, 1)))) if nx else None
    gy = None
    if ny:
        # d/dy x**y = x**y log x; taken as 0 where x == 0 (PyTorch's convention)
        safe_x = where(x.data == 0, 1.0, x)
        gy = mul(g, mul(pow(x, y), log(safe_x)))
    return gx, gy


def rsub(a, b) -> Tensor:
    return sub(b, a)


def rdiv(a, b) -> Tensor:
    return div(b, a)


def rpow(a, b) -> Tensor:
    return pow(b, a)


# ----------------------------------------------------------------------------- unary math
def _fused(y: Tensor, g: Tensor):
    """The module of fused one-pass backward kernels that applies to (y, g), or None.

    Only when no graph is being recorded (with create_graph the Tensor-op rule runs so it can
    be differentiated again): ``cuda_kernels`` on CuPy, ``cpu_kernels`` (numba) on NumPy."""
    if _GRAD.enabled:
        return None
    cpu, cuda = _kernel_modules()
    if g.data.__class__.__module__.startswith("cupy"):
        return cuda
    return cpu if cpu.applies(y.data, g.data) else None


_KERNELS: list = []      # (cpu_kernels, cuda_kernels), imported on first use


def _kernel_modules() -> tuple:
    if not _KERNELS:
        from ..backends import cpu_kernels, cuda_kernels
        _KERNELS.extend((cpu_kernels, cuda_kernels))
    return _KERNELS[0], _KERNELS[1]


def _unary(name, x, fn, backward, save_input=False, save_output=False, attrs=None):
    x = as_t(x)
    if x.data.dtype.kind != "f" and name not in ("abs", "sign"):
        from ..dtypes import get_default_dtype
        x = make(x.data.astype(get_default_dtype()))
    return record(name, backward, fn(x.xp, x.data), (x,), (x,) if save_input else (),
                  save_output=save_output, attrs=attrs)


def exp(x) -> Tensor:
    return _unary("exp", x, lambda xp, d: xp.exp(d), _exp_bw, save_output=True)


def _exp_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, y),)


def log(x) -> Tensor:
    return _unary("log", x, lambda xp, d: xp.log(d), _log_bw, save_input=True)


def _log_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, x),)


def log1p(x) -> Tensor:
    return _unary("log1p", x, lambda xp, d: xp.log1p(d), _log1p_bw, save_input=True)


def _log1p_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (div(g, add(x, 1.0)),)


def expm1(x) -> Tensor:
    return _unary("expm1", x, lambda xp, d: xp.expm1(d), _expm1_bw, save_output=True)


def _expm1_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, add(y, 1.0)),)


def sqrt(x) -> Tensor:
    return _unary("sqrt", x, lambda xp, d: xp.sqrt(d), _sqrt_bw, save_output=True)


def _sqrt_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (div(g, mul(y, 2.0)),)


def abs(x) -> Tensor:  # noqa: A001
    """|x|; the gradient at 0 is 0."""
    return _unary("abs", x, lambda xp, d: xp.abs(d), _abs_bw, save_input=True)


def _abs_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, make(x.xp.sign(x.data).astype(x.dtype))),)


def sign(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.sign(x.data))


def sin(x) -> Tensor:
    return _unary("sin", x, lambda xp, d: xp.sin(d), _sin_bw, save_input=True)


def _sin_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, cos(x)),)


def cos(x) -> Tensor:
    return _unary("cos", x, lambda xp, d: xp.cos(d), _cos_bw, save_input=True)


def _cos_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (neg(mul(g, sin(x))),)


def tan(x) -> Tensor:
    return _unary("tan", x, lambda xp, d: xp.tan(d), _tan_bw, save_output=True)


def _tan_bw(ctx, g):
    (y,) = ctx.saved_tensors
    return (mul(g, add(mul(y, y), 1.0)),)


def tanh(x) -> Tensor:
    return _unary("tanh", x, lambda xp, d: xp.tanh(d), _tanh_bw, save_output=True)


def _tanh_bw(ctx, g):
    (y,) = ctx.saved_tensors
    k = _fused(y, g)
    if k is not None:
        return (make(k.tanh_backward(y.data, g.data)),)
    return (mul(g, rsub(mul(y, y), 1.0)),)


def _np_sigmoid(xp, d):
    # split by sign so exp never overflows
    e = xp.exp(-xp.abs(d))
    return xp.where(d >= 0, 1 / (1 + e), e / (1 + e)).astype(d.dtype, copy=False)


def sigmoid(x) -> Tensor:
    return _unary("sigmoid", x, _np_sigmoid, _sigmoid_bw, save_output=True)


def _sigmoid_bw(ctx, g):
    (y,) = ctx.saved_tensors
    k = _fused(y, g)
    if k is not None:
        return (make(k.sigmoid_backward(y.data, g.data)),)
    return (mul(g, mul(y, rsub(y, 1.0))),)


def _relu_fw(xp, d):
    if type(d) is numpy.ndarray:
        return _kernel_modules()[0].relu_forward(d)
    return xp.maximum(d, 0)


def relu(x) -> Tensor:
    """max(x, 0); relu'(0) = 0."""
    return _unary("relu", x, _relu_fw, _relu_bw, save_output=True)


def _relu_bw(ctx, g):
    (y,) = ctx.saved_tensors
    k = _fused(y, g)
    if k is not None:
        return (make(k.relu_backward(y.data, g.data)),)
    return (mul(g, make((y.data > 0).astype(y.dtype))),)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _unary("leaky_relu", x, lambda xp, d: xp.where(d > 0, d, d * negative_slope),
                  _leaky_relu_bw, save_input=True, attrs=negative_slope)


def _leaky_relu_bw(ctx, g):
    (x,) = ctx.saved_tensors
    slope = make(x.xp.where(x.data > 0, 1.0, ctx.attrs).astype(x.dtype))
    return (mul(g, slope),)


def elu(x, alpha: float = 1.0) -> Tensor:
    x = as_t(x)
    # where, not minimum(x, 0): minimum would split the gradient at the tie x = 0, giving
    # elu'(0) = alpha / 2; this gives alpha, as PyTorch (and keeps expm1 finite for large x)
    neg_part = mul(expm1(where(x.data > 0, 0.0, x)), alpha)
    return where(x.data > 0, x, neg_part)


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, computed stably; linear above ``threshold`` as in PyTorch.

    A primitive (not relu + log1p(exp(-|x|))): that composite has the kinks of relu and abs at
    0, where their conventional zero gradients would give softplus'(0) = 0 instead of 1/2."""
    x = as_t(x)
    if x.data.dtype.kind != "f":
        from ..dtypes import get_default_dtype
        x = make(x.data.astype(get_default_dtype()))
    xp = x.xp
    bx = x.data * beta if beta != 1 else x.data
    soft = xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))
    if beta != 1:
        soft = soft / beta
    out = xp.where(bx > threshold, x.data, soft).astype(x.dtype, copy=False)
    return record("softplus", _softplus_bw, out, (x,), (x,), attrs=(beta, threshold))


def _softplus_bw(ctx, g):
    (x,) = ctx.saved_tensors
    beta, threshold = ctx.attrs
    bx = mul(x, beta) if beta != 1 else x
    return (mul(g, where(bx.data > threshold, 1.0, sigmoid(bx))),)


def erf(x) -> Tensor:
    return _unary("erf", x, _np_erf, _erf_bw, save_input=True)


def _np_erf(xp, d):
    if xp.__name__ == "numpy":
        try:
            from scipy.special import erf as _erf
        except ImportError:
            import numpy
            _erf = numpy.vectorize(math.erf, otypes=[d.dtype])
        return _erf(d).astype(d.dtype, copy=False)
    from cupyx.scipy.special import erf as _erf
    return _erf(d)


def _erf_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))),)


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
    cond = condition.data if isinstance(condition, Tensor) else condition
    if isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = pair(a, b, "where")
    else:
        b, a = pair(b, a, "where")
    xp = get_array_module(a.data)
    cond = xp.asarray(cond, dtype=bool)
    try:
        out = xp.where(cond, a.data, b.data)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, x {a.shape} and y {b.shape} cannot "
                         f"be broadcast together") from None
    return record("where", _where_bw, out, (a, b), attrs=cond)


def _where_bw(ctx, g):
    cond = ctx.attrs
    na, nb = ctx.needs_input_grad
    zero = make(g.xp.zeros((), g.dtype))
    return (where(cond, g, zero) if na else None), (where(cond, zero, g) if nb else None)


def maximum(a, b) -> Tensor:
    """Elementwise max; at ties each side gets half the gradient."""
    return _binary("maximum", get_array_module_op("maximum"), a, b, _max_bw)


def minimum(a, b) -> Tensor:
    """Elementwise min; at ties each side gets half the gradient."""
    return _binary("minimum", get_array_module_op("minimum"), a, b, _min_bw)


def get_array_module_op(name):
    def fn(x, y):
        return getattr(get_array_module(x), name)(x, y)
    return fn


def _tie_split(ctx, g, first_wins):
    a, b = ctx.saved_tensors
    xp = g.xp
    wa = xp.where(first_wins(a.data, b.data), 1.0, xp.where(a.data == b.data, 0.5, 0.0))
    wa = make(wa.astype(g.dtype))
    na, nb = ctx.needs_input_grad
    return (mul(g, wa) if na else None), (mul(g, make(1 - wa.data)) if nb else None)


def _max_bw(ctx, g):
    return _tie_split(ctx, g, lambda x, y: x > y)


def _min_bw(ctx, g):
    return _tie_split(ctx, g, lambda x, y: x < y)


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamp into [min, max]; gradient 1 inside the closed interval, 0 outside (PyTorch)."""
    x = as_t(x)
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo = min.data if isinstance(min, Tensor) else min
    hi = max.data if isinstance(max, Tensor) else max
    return record("clip", _clip_bw, x.xp.clip(x.data, lo, hi), (x,), (x,), attrs=(lo, hi))


def _clip_bw(ctx, g):
    (x,) = ctx.saved_tensors
    lo, hi = ctx.attrs
    keep = x.xp.ones(x.shape, bool)
    if lo is not None:
        keep &= x.data >= lo
    if hi is not None:
        keep &= x.data <= hi
    return (mul(g, make(keep.astype(g.dtype))),)


# ----------------------------------------------------------------------------- no gradient
def _compare(fn):
    def op(a, b):
        a, b = pair(a, b, fn)
        try:
            return make(getattr(a.xp, fn)(a.data, b.data))
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
    return make(x.xp.logical_not(x.data))


def isnan(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isnan(x.data))


def isfinite(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isfinite(x.data))


def floor(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.floor(x.data))


def round(x) -> Tensor:  # noqa: A001
    x = as_t(x)
    return make(x.xp.round(x.data))
