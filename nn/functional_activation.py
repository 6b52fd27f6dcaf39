"""Functional activations beyond the core ones (PyTorch's ``torch.nn.functional`` names,
signatures and gradient conventions): celu, selu, silu, mish, hardtanh, relu6, hardswish,
hardsigmoid, logsigmoid, softsign, softmin, glu, tanhshrink, softshrink, hardshrink, threshold,
prelu, rrelu.

Each is a composition of differentiable engine ops (so double backward works). Where PyTorch's
derivative at a kink differs from what a naive composition gives, the composition is written
with ``piecewise_where`` (``where`` whose gradient stays on the graph, so Hessian-vector
products give PyTorch's 0 instead of raising) on the same comparison PyTorch's backward uses: hardtanh/relu6/hardsigmoid have
gradient 0 *at* their bounds (PyTorch's ``hardtanh_backward`` tests strictly), hardswish 0 at -3
and 1 at 3, softshrink/hardshrink 0 at +-lambd, threshold 0 at the threshold, prelu/rrelu the
slope at 0.
"""
from __future__ import annotations

import math
import warnings

import autodiff as ad
from autodiff.random import generator
from autodiff.tensor import Tensor, make

from .functional_core import _inplace, _t, elu, leaky_relu, relu

__all__ = ["celu", "selu", "silu", "mish", "hardtanh", "relu6", "hardswish", "hardsigmoid",
           "logsigmoid", "softsign", "softmin", "glu", "tanhshrink", "softshrink",
           "hardshrink", "threshold", "prelu", "rrelu", "relu_", "elu_", "leaky_relu_", "celu_",
           "selu_", "hardtanh_", "rrelu_", "threshold_"]

# SELU's constants (Klambauer et al. 2017), as PyTorch spells them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu_family(x: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    """scale * x for x > 0, scale * alpha * (exp(x * input_scale) - 1) otherwise (PyTorch's
    ``elu`` kernel; its derivative at 0 is the x <= 0 branch's, its second derivative there 0,
    both from ``ad.elu``'s, whose negative branch needs x * input_scale <= 0 for x <= 0)."""
    pos = x.array > 0
    u = ad.mul(x, input_scale) if input_scale != 1 else x
    e = ad.elu(u, 1.0) if input_scale > 0 else ad.expm1(u)
    return ad.piecewise_where(pos, ad.mul(x, scale) if scale != 1 else x,
                              ad.mul(e, scale * alpha))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the formula divides by it)")
    if inplace:
        return _inplace("celu", input, lambda x: celu(x, alpha))
    return _elu_family(_t(input), alpha, 1.0, 1.0 / alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))) with SELU's fixed alpha and scale."""
    if inplace:
        return _inplace("selu", input, selu)
    return _elu_family(_t(input), SELU_ALPHA, SELU_SCALE, 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (the swish)."""
    if inplace:
        return _inplace("silu", input, silu)
    input = _t(input)
    return ad.mul(input, ad.sigmoid(input))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)); softplus without a linear threshold, as PyTorch's kernel."""
    if inplace:
        return _inplace("mish", input, mish)
    input = _t(input)
    return ad.mul(input, ad.tanh(ad.softplus(input, 1.0, math.inf)))


def _interior(x: Tensor, lo: float, hi: float, edge) -> Tensor:
    """``x`` strictly inside (lo, hi), the constant ``edge`` array elsewhere: gradient 1 inside,
    0 on and beyond the bounds."""
    inside = (x.array > lo) & (x.array < hi)
    return ad.piecewise_where(inside, x, make(edge.astype(x.dtype, copy=False)))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Clamp into [min_val, max_val]; the gradient is 0 at the bounds (PyTorch's
    ``hardtanh_backward``), unlike ``clamp``'s 1."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    if inplace:
        return _inplace("hardtanh", input, lambda x: hardtanh(x, min_val, max_val))
    x = _t(input)
    return _interior(x, min_val, max_val, x.xp.clip(x.array, min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6) (= hardtanh(x, 0, 6))."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3; gradient 1/6 on the open interval (-3, 3)."""
    if inplace:
        return _inplace("hardsigmoid", input, hardsigmoid)
    x = _t(input)
    return ad.div(relu6(ad.add(x, 3.0)), 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6; gradient 0 up to -3, x/3 + 1/2 on (-3, 3), 1 from 3 on (PyTorch's
    ``hardswish_backward``)."""
    if inplace:
        return _inplace("hardswish", input, hardswish)
    x = _t(input)
    d = x.array
    mid = ad.div(ad.mul(x, ad.add(x, 3.0)), 6.0)
    return ad.piecewise_where(d <= -3, 0.0, ad.piecewise_where(d < 3, mid, x))


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return ad.neg(ad.softplus(ad.neg(_t(input)), 1.0, math.inf))


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    input = _t(input)
    return ad.div(input, ad.add(ad.abs(input), 1.0))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    input = _t(input)
    return ad.sub(input, ad.tanh(input))


def _check_lambd(name: str, lambd: float) -> None:
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be greater or equal to 0, but found to be "
                         f"{lambd}")


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 in between (gradient 0 at +-lambd)."""
    _check_lambd("softshrink", lambd)
    x = _t(input)
    d = x.array
    return ad.piecewise_where(d > lambd, ad.sub(x, lambd),
                              ad.piecewise_where(d < -lambd, ad.add(x, lambd), 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0 (gradient 0 at +-lambd)."""
    _check_lambd("hardshrink", lambd)
    x = _t(input)
    return ad.piecewise_where((x.array > lambd) | (x.array < -lambd), x, 0.0)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value`` (gradient 0 at the threshold)."""
    if inplace:
        return _inplace("threshold", input, lambda x: _threshold(x, threshold, value))
    return _threshold(_t(input), threshold, value)


def _threshold(x: Tensor, th: float, value: float) -> Tensor:
    return ad.piecewise_where(x.array > th, x, make(x.xp.full(x.shape, value, x.dtype)))


def _get_softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  f"to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """softmax(-x) over ``dim``. ``dim=None`` picks PyTorch's legacy implicit dim (0 for 0-, 1-
    and 3-D inputs, else 1) with its deprecation warning."""
    input = _t(input)
    if dim is None:
        dim = _get_softmax_dim("softmin", input.ndim)
    if dtype is not None:
        input = input.astype(dtype)
    return ad.softmax(ad.neg(input), dim=dim)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), with a, b the two halves of ``input`` along ``dim``."""
    input = _t(input)
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"glu: dim {dim} is out of range for an input of shape "
                         f"{tuple(input.shape)}")
    n = input.shape[dim]
    if n % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim % input.ndim}"
                         f" is size {n} (input shape {tuple(input.shape)})")
    a, b = ad.split(input, n // 2, dim)
    return ad.mul(a, ad.sigmoid(b))


def _channel_view(name: str, x: Tensor, w: Tensor) -> Tensor:
    """``w`` (the (C,) or (1,) or 0-d slopes) shaped to broadcast over ``x``'s channel dim 1."""
    if w.ndim > 1:
        raise ValueError(f"{name}: weight must be 0-D or 1-D, got shape {tuple(w.shape)}")
    n = w.array.size
    if n != 1:
        if x.ndim == 0:
            raise ValueError(f"{name}: a 0-d input takes a single weight, got shape "
                             f"{tuple(w.shape)}")
        channels = x.shape[1] if x.ndim >= 2 else 1
        if n != channels:
            raise ValueError(f"{name}: mismatch of parameter numbers and input channel size: "
                             f"weight has {n} parameters, input of shape {tuple(x.shape)} has "
                             f"{channels} channels (dim 1)")
        return ad.reshape(w, (n,) + (1,) * (x.ndim - 2))
    return ad.reshape(w, ())


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, weight * x otherwise; ``weight`` is one slope or one per channel (dim 1)."""
    x, w = _t(input), _t(weight)
    return ad.piecewise_where(x.array > 0, x, ad.mul(x, _channel_view("prelu", x, w)))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each non-positive element is multiplied by a slope
    drawn uniformly from [lower, upper] (autodiff's generator); in eval by (lower + upper) / 2."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, got lower={lower}, "
                         f"upper={upper}")
    if inplace:
        return _inplace("rrelu", input, lambda x: rrelu(x, lower, upper, training))
    x = _t(input)
    if training:
        slope = make(generator(x.xp).uniform(lower, upper, x.shape).astype(x.dtype))
    else:
        slope = (lower + upper) / 2
    return ad.piecewise_where(x.array > 0, x, ad.mul(x, slope))


# PyTorch's in-place spellings: the function with inplace=True
def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _inplace("threshold_", input, lambda x: _threshold(x, threshold, value))
