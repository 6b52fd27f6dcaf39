"""Elementwise primitives and their VJP rules, written with Tensor ops (so they differentiate
again), each registered beside its rule. Broadcast gradients are reduced to each input's shape
by the engine, not here."""
from __future__ import annotations

import functools
import math
import operator

import numpy

from .. import backends, tape
from ..backends import get_array_module
from ..dtypes import get_default_dtype, result_type, with_scalar
from ..grad_mode import STATE as _GRAD
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, astype, pair
from .registry import BROADCAST, SAME, primitive


def _binary(prim, a, b):
    """A registered two-input primitive on (a, b), saving both when its rule reads them."""
    a, b = pair(a, b, prim.name)
    try:
        out = prim.forward(a.array, b.array)
    except ValueError:
        raise _broadcast_error(prim.name, a, b) from None
    return record(prim, out, (a, b), (a, b) if prim.saves else (), prim.save_output)


def _pointwise(name, backward, forward, inputs=("a", "b"), **kw):
    """Register an elementwise primitive (output shape: the inputs' broadcast, unless
    ``infer`` says otherwise)."""
    kw.setdefault("infer", BROADCAST if len(inputs) > 1 else SAME)
    return primitive(name, backward, forward=forward, inputs=inputs, elementwise=True, **kw)


def _broadcast_error(name, a, b) -> ValueError:
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


# ----------------------------------------------------------------------------- piecewise constants
# A rule that builds a constant from its inputs (a sign, a mask, tie weights) builds it with
# `step`, not `make`: the gradient `g * mask` then still depends on the inputs (with derivative
# 0), as PyTorch's sgn/threshold_backward do, so under create_graph differentiating it again
# gives 0 instead of raising "does not require grad" when g itself is a constant.
def zero_backward(ctx, *grads):
    """The VJP of a piecewise-constant op: zeros for every input that needs a gradient (as
    PyTorch's ``zeros_like(grad)``, not None: the input was used)."""
    xp = grads[0].xp
    # made by an op of the tape (one with no operands): a compiled step folds it to a constant
    return tuple(make(tape._apply(functools.partial(xp.zeros, shape, dtype))) if need else None
                 for need, (shape, dtype) in zip(ctx.needs_input_grad, ctx.in_meta))


def step(fn, *tensors: Tensor) -> Tensor:
    """``fn(*arrays)``, a piecewise-constant function of ``tensors`` (a mask, a sign), in their
    promoted dtype, recorded with derivative 0 (see the comment above)."""
    return record(STEP, _step_fw([t.array for t in tensors], fn), tensors, attrs=fn)


def _step_fw(arrays, fn):
    return fn(*arrays).astype(numpy.result_type(*[a.dtype for a in arrays]), copy=False)


STEP = _pointwise("step", zero_backward, _step_fw, inputs=("*tensors",), attrs="fn",
                  infer=BROADCAST)


def _zeros_of(*arrays):
    xp = get_array_module(*arrays)
    return xp.zeros(numpy.broadcast_shapes(*[a.shape for a in arrays]), bool)


def masked_grad(g: Tensor, keep, *sources: Tensor) -> Tensor:
    """``g`` where the bool array ``keep`` holds, else exactly 0 (even where ``g`` is inf or
    NaN: PyTorch's threshold/clamp backward), kept on the graph of ``sources``."""
    zero = step(_zeros_of, *sources) if _GRAD.enabled else make(g.xp.zeros((), g.dtype))
    return where(keep, g, zero)


# ----------------------------------------------------------------------------- arithmetic
# The four arithmetic ops are the hottest path of the engine: inlined rather than going
# through _binary, to keep per-op overhead low.
def add(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor or \
            a.array.dtype is not b.array.dtype:  # promotion only when the dtypes differ
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
    if a.__class__ is not Tensor or b.__class__ is not Tensor or \
            a.array.dtype is not b.array.dtype:  # promotion only when the dtypes differ
        _refuse_bool_sub(a, b)
        a, b = pair(a, b, "sub")
    try:
        out = a.array - b.array
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    except TypeError:  # NumPy and CuPy arrays do not mix: say so (the fast path skips pair)
        pair(a, b, "sub")
        raise
    return record(SUB, out, (a, b))


def _refuse_bool_sub(a, b) -> None:
    """PyTorch refuses ``-`` with a bool tensor (two bool ones NumPy refuses itself)."""
    for t in (a, b):
        if isinstance(t, Tensor) and t.array.dtype.kind == "b":
            raise TypeError("sub: subtraction, the `-` operator, with a bool tensor is not "
                            "supported (as in PyTorch); to invert a mask use `~` or "
                            "logical_not()")


def _sub_bw(ctx, g):
    return g, (neg(g) if ctx.needs_input_grad[1] else None)


SUB = _pointwise("sub", _sub_bw, operator.sub)


def mul(a, b) -> Tensor:
    if a.__class__ is not Tensor or b.__class__ is not Tensor or \
            a.array.dtype is not b.array.dtype:  # promotion only when the dtypes differ
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


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    """``input / other``; ``rounding_mode`` "trunc" or "floor" rounds the quotient (integers
    stay integers; the gradient is then 0, as PyTorch's)."""
    a, b = input, other
    if rounding_mode is None:
        return _binary(DIV, a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                         f"but found {rounding_mode!r}")
    a, b = pair(a, b, "div")
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        _check_integer_divisor(b, "div")
    try:
        out = _div_rounding_fw(a.array, b.array, rounding_mode)
    except ValueError:
        raise _broadcast_error("div", a, b) from None
    return record(DIV_ROUNDING, out, (a, b), attrs=rounding_mode)


def _check_integer_divisor(b: Tensor, op: str) -> None:
    if bool((b.array == 0).any()):
        raise RuntimeError(f"ZeroDivisionError: {op}: integer division by zero (the divisor "
                           f"has zeros)")  # PyTorch's type and message


def _div_rounding_fw(x, y, rounding_mode):
    xp = get_array_module(x, y)
    if rounding_mode == "floor":  # Python's floor division (exact for integers)
        return xp.floor_divide(x, y)
    if x.dtype.kind in "iub" and y.dtype.kind in "iub":
        return (x - xp.fmod(x, y)) // y
    return xp.trunc(x / y)


DIV_ROUNDING = _pointwise("div_rounding", zero_backward, _div_rounding_fw,
                          attrs="rounding_mode")


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
    if isinstance(y, numpy.number):
        y = y.item()  # NumPy scalars take part as Python scalars (as in PyTorch)
    if isinstance(y, (int, float)) and not isinstance(y, bool) and isinstance(x, Tensor):
        if x.array.dtype.kind in "iub":  # PyTorch's promotion: bool ** 3 is int64, int ** 2.5 float
            x = astype(x, with_scalar(x.array.dtype, y))
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
    # PyTorch's pow_backward: c x**(c-1), and exactly 0 for c == 0 (also at x = 0, where
    # 0 * x**-1 would be NaN)
    (x,) = ctx.saved_tensors
    c = ctx.attrs
    if c == 0:
        return (make(g.xp.zeros(x.shape, x.dtype)),)
    if c == 1 and not _GRAD.enabled:  # under create_graph x**0 keeps the gradient on x's graph
        return (g,)
    return (mul(g, mul(pow(x, c - 1), c)),)


POW_SCALAR = _pointwise("pow_scalar", _pow_scalar_bw, _scalar_power, inputs=("x",),
                        attrs="exponent", saves=("x",))


def _pow_bw(ctx, g):
    # PyTorch's pow_backward_self / pow_backward_exponent, op for op, so that the second
    # derivatives agree at the singular points too
    x, y, out = ctx.saved_tensors
    nx, ny = ctx.needs_input_grad
    gx = gy = None
    if nx:  # y x**(y-1), exactly 0 where y == 0 (also at x = 0)
        gx = where(y.array == 0, 0.0, mul(g, mul(y, pow(x, sub(y, 1)))))
    if ny:
        # x**y log x; at x == 0: 0 for y >= 0 (the limit from x > 0), and for y < 0
        # inf * -inf = -inf (the limit of x**y log x as x -> +0)
        gy = mul(g, where((x.array == 0) & (y.array >= 0), 0.0, mul(out, log(x))))
    return gx, gy


POW = _pointwise("pow", _pow_bw, operator.pow, inputs=("x", "y"), saves=("x", "y"),
                 save_output=True)


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
    return (mul(g, step(sign_array, x)),)  # g * sgn(x), as PyTorch (NaN, inf in g propagate)


def sign_array(d):
    """PyTorch's sign, (0 < d) - (d < 0): 0 at NaN (NumPy's is NaN); bools unchanged."""
    xp = get_array_module(d)
    if d.dtype.kind == "b":
        return d.copy()
    s = xp.sign(d, out=xp.empty_like(d))  # out=: an array also for 0-d d
    if d.dtype.kind == "f":
        xp.copyto(s, 0, where=d != d)     # cheaper than where(): no third array
    return s


ABS = _unary_row("abs", _abs_bw, _ufunc("abs"), "x")


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
    d = None if kernel is None else tape._apply(kernel, y.array, g.array)   # compile sees it
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
    # PyTorch's threshold_backward (g at NaN); the mask an op of the tape (compile remakes it)
    return (masked_grad(g, tape._apply(_above_zero, y.array), y),)


def _above_zero(a):
    return ~(a <= 0)


def _relu_fw(x):
    return backends.kernels_for(x).relu_forward(x)


RELU = _unary_row("relu", _relu_bw, _relu_fw, "output")


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _unary(LEAKY_RELU, x, negative_slope)


def _leaky_relu_fw(d, negative_slope):
    return get_array_module(d).where(d > 0, d, d * negative_slope)


def _leaky_relu_bw(ctx, g):
    (x,) = ctx.saved_tensors
    return (mul(g, step(functools.partial(_leaky_slope, ctx.attrs), x)),)


def _leaky_slope(negative_slope, d):
    return get_array_module(d).where(d > 0, 1.0, negative_slope)


LEAKY_RELU = _unary_row("leaky_relu", _leaky_relu_bw, _leaky_relu_fw, "x",
                        attrs="negative_slope")


def elu(x, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (exp(x) - 1) otherwise; elu'(0) = alpha and elu''(0) = 0, as
    PyTorch's elu_backward (x <= 0) and elu_double_backward (x < 0)."""
    return _unary(ELU, x, alpha)


def _elu_fw(d, alpha):
    xp = get_array_module(d)
    return xp.where(d > 0, d, alpha * xp.expm1(xp.minimum(d, 0)))  # minimum: no overflow


def _elu_bw(ctx, g):
    (x,) = ctx.saved_tensors
    d = x.array
    # the slope's inner where is open at 0, so its own derivative there is 0
    slope = where(~(d <= 0), 1.0, mul(exp(where(d < 0, x, 0.0)), ctx.attrs))
    return (mul(g, slope),)


ELU = _unary_row("elu", _elu_bw, _elu_fw, "x", attrs="alpha")


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
    # softplus''(x) is 0 from the threshold on (PyTorch's softplus_double_backward: x < th)
    d = bx.array
    inner = where(~(d >= threshold), bx, make(d))
    return (mul(g, where(d > threshold, 1.0, sigmoid(inner))),)


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
    return _select(WHERE, condition, a, b)


def _select(prim, condition, a, b) -> Tensor:
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
    return record(prim, out, (a, b), (a, b) if prim.saves else (), attrs=cond)


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


def piecewise_where(condition, a, b) -> Tensor:
    """``where(condition, a, b)`` for the pieces of one function split at a kink (hardtanh,
    the shrinks, threshold): the same values and gradients, but the gradients stay on the graph
    of ``a`` and ``b``, with derivative 0 through the switch (as PyTorch's dedicated backwards,
    ``hardtanh_backward``, ``threshold_backward``...), so a Hessian-vector product gives 0 where
    ``where`` (like PyTorch's) leaves a constant that does not require grad."""
    return _select(PIECEWISE_WHERE, condition, a, b)


def _piecewise_where_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    return (masked_grad(g, ctx.attrs, a, b) if na else None,
            masked_grad(g, ~ctx.attrs, a, b) if nb else None)


PIECEWISE_WHERE = _pointwise("piecewise_where", _piecewise_where_bw, _where_fw,
                             attrs="condition", infer=_where_infer, saves=("a", "b"))


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


def _tie_split(ctx, g, loses):
    """PyTorch's rule: g/2 to each side at a tie, exactly 0 to the losing side (even where g
    is inf), g to the winner and to both sides where either is NaN."""
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    shared = where(a.array == b.array, mul(g, 0.5), g)
    return (masked_grad(shared, ~loses(a.array, b.array), a, b) if na else None,
            masked_grad(shared, ~loses(b.array, a.array), a, b) if nb else None)


def _max_bw(ctx, g):
    return _tie_split(ctx, g, operator.lt)


def _min_bw(ctx, g):
    return _tie_split(ctx, g, operator.gt)


def _maximum_fw(x, y):
    # operands swapped: at a tie NumPy returns its second operand, PyTorch its first (x), which
    # tells -0.0 from 0.0 (copysign, atan2, 1/x see the difference)
    return get_array_module(x, y).maximum(y, x)


def _minimum_fw(x, y):
    return get_array_module(x, y).minimum(y, x)


MAXIMUM = _pointwise("maximum", _max_bw, _maximum_fw, saves=("a", "b"))
MINIMUM = _pointwise("minimum", _min_bw, _minimum_fw, saves=("a", "b"))


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamp into [min, max]; gradient 1 inside the closed interval, 0 outside (PyTorch).
    Tensor bounds are inputs and get gradients where they are the result (``_clamp_tensors``);
    Python numbers and arrays are constants."""
    x = as_t(x)
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensors(x, min, max)
    # PyTorch's promotion: clamp(int tensor, 0.5) is in the default float dtype
    x = astype(x, result_type(x, *[v for v in (min, max) if v is not None]))
    return record(CLIP, _clip_fw(x.array, min, max), (x,), (x,), attrs=(min, max))


def clamp_min(input, min) -> Tensor:  # noqa: A002
    """``clamp(input, min=min)``."""
    return clip(input, min=min)


def clamp_max(input, max) -> Tensor:  # noqa: A002
    """``clamp(input, max=max)``."""
    return clip(input, max=max)


def _clip_fw(d, lo, hi):
    # min(max(d, lo), hi) keeping d at a tie, as PyTorch (-0.0 stays -0.0; NumPy's clip and
    # maximum(d, lo) return the bound): see _maximum_fw
    xp = get_array_module(d)
    out = d if lo is None else xp.maximum(lo, d)
    return out if hi is None else xp.minimum(hi, out)


def _clip_bw(ctx, g):
    (x,) = ctx.saved_tensors
    lo, hi = ctx.attrs
    return (masked_grad(g, _within(x.array, lo, hi), x),)


def _within(d, lo, hi):
    """lo <= d <= hi (False at NaN), a bound None meaning none."""
    if lo is None:
        return d <= hi
    return d >= lo if hi is None else (d >= lo) & (d <= hi)


def _clip_infer(in_meta, lo, hi):
    (shape, dtype), = in_meta
    bounds = [v for v in (lo, hi) if v is not None]
    return ((numpy.broadcast_shapes(shape, *[numpy.shape(v) for v in bounds]),
             numpy.result_type(dtype, *bounds)),)


CLIP = _unary_row("clip", _clip_bw, _clip_fw, "x", attrs=("min", "max"), infer=_clip_infer)


def _clamp_tensors(x: Tensor, lo, hi) -> Tensor:
    """clamp with Tensor bounds: a missing bound is the dtype's extreme (a constant)."""
    bounds = []
    for v, sign in ((lo, -1), (hi, 1)):
        if v is None:
            kind = numpy.finfo if x.dtype.kind == "f" else numpy.iinfo
            v = math.inf * sign if x.dtype.kind == "f" else (kind(x.dtype).max if sign > 0
                                                            else kind(x.dtype).min)
        bounds.append(pair(x, v, "clamp")[1])
    return ternary(CLAMP, (x, *bounds), ("input", "min", "max"))


def ternary(prim, tensors: tuple, labels: tuple) -> Tensor:
    """A registered three-input primitive on ``tensors``, saving them; a broadcast error
    names each by its ``labels``."""
    try:
        out = prim.forward(*[t.array for t in tensors])
    except ValueError:
        shapes = ", ".join(f"{t.shape} ({n})" for t, n in zip(tensors, labels))
        raise ValueError(f"{prim.name}: shapes {shapes} cannot be broadcast together") from None
    return record(prim, out, tensors, tensors)


def _clamp_bw(ctx, g):
    # PyTorch's clamp_backward and clamp_backward_min_max: x where lo <= x <= hi; min where
    # x < min < max; max where x > max or max < min (so with min > max the result is max's)
    x, lo, hi = ctx.saved_tensors
    X, L, H = x.array, lo.array, hi.array
    nx, nlo, nhi = ctx.needs_input_grad
    return (masked_grad(g, (X >= L) & (X <= H), x, lo, hi) if nx else None,
            masked_grad(g, (X < L) & (L < H), x, lo, hi) if nlo else None,
            masked_grad(g, (X > H) | (H < L), x, lo, hi) if nhi else None)


CLAMP = _pointwise("clamp", _clamp_bw, _clip_fw, inputs=("x", "min", "max"),
                   saves=("x", "min", "max"))


# ----------------------------------------------------------------------------- no gradient
def _compare(fn):
    def op(input, other):  # noqa: A002 - PyTorch's parameter names
        a, b = pair(input, other, fn)
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


def logical_not(input) -> Tensor:  # noqa: A002 - PyTorch's parameter name
    x = as_t(input)
    return make(x.xp.logical_not(x.array))


def isnan(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isnan(x.array))


def isfinite(x) -> Tensor:
    x = as_t(x)
    return make(x.xp.isfinite(x.array))

