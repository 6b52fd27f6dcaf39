"""The batch-normalisation primitive (training mode: batch statistics), on the backend's
``batch_norm_forward``/``batch_norm_backward`` kernels (numba on NumPy, CUDA on CuPy).
``nn.functional.batch_norm`` checks the arguments, updates the running statistics and
composes the eval mode from elementwise ops; ``layer_norm`` is a composite there too.
"""
from __future__ import annotations

from .. import backends
from ..grad_mode import STATE
from ..tape import record
from ..tensor import Tensor, make
from .elementwise import add, div, mul, sqrt, sub
from .reduce import mean as _mean, sum as _sum
from .registry import SAME, primitive
from .shape import reshape

__all__ = ["batch_norm"]


def batch_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float) -> tuple:
    """(the normalised ``x`` (N, C, ...) over every dim but 1, scaled and shifted; the batch
    mean and biased variance per channel as raw float arrays)."""
    inputs = [x]
    if weight is not None:
        inputs.append(weight)
    if bias is not None:
        inputs.append(bias)
    out, mean, invstd, var = _forward([t.array for t in inputs], eps, weight is not None,
                                      bias is not None)
    y = record(BATCH_NORM, out, tuple(inputs), tuple(inputs),
               attrs=(eps, weight is not None, bias is not None, mean, invstd, var))
    return y, mean, var


def _forward(arrays, eps, has_w, has_b):
    x = arrays[0]
    w = arrays[1] if has_w else None
    b = arrays[-1] if has_b else None
    out, mean, invstd, var = backends.kernels_for(x).batch_norm_forward(x, w, b, eps,
                                                                        return_var=True)
    return out.astype(x.dtype, copy=False), mean, invstd, var


def _batch_norm_fw(arrays, eps, has_w, has_b, mean=None, invstd=None, var=None):
    return _forward(arrays, eps, has_w, has_b)[0]


def _channel_shape(x) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _batch_norm_bw(ctx, g):
    eps, has_w, has_b, mean_a, invstd_a = ctx.attrs[:5]
    saved = ctx.saved_tensors
    x = saved[0]
    w = saved[1] if has_w else None
    need = ctx.needs_input_grad
    if not STATE.enabled:
        # first order: two passes of raw array math (per-channel sums, then grad_input)
        gx, s2, s1 = backends.kernels_for(x.array).batch_norm_backward(
            x.array, g.array, w.array if has_w else None, mean_a, invstd_a, bool(need[0]))
        dt = x.dtype
        grads = [make(gx) if need[0] else None]
        if has_w:
            grads.append(make(s2.astype(dt)) if need[1] else None)
        if has_b:
            grads.append(make(s1.astype(dt)) if need[-1] else None)
        return tuple(grads)
    # create_graph: rebuild the statistics from x with Tensor ops so that the result is
    # differentiable in x as well
    axes = (0,) + tuple(range(2, x.ndim))
    mean = _mean(x, axes, True)
    centred = sub(x, mean)
    invstd = div(1.0, sqrt(add(_mean(mul(centred, centred), axes, True), eps)))
    xhat = mul(centred, invstd)
    n = x.array.size // x.shape[1]
    grads = []
    if need[0]:
        gxhat = mul(g, reshape(w, _channel_shape(x))) if has_w else g
        s1 = _sum(gxhat, axes, True)
        s2 = _sum(mul(gxhat, xhat), axes, True)
        inner = sub(sub(mul(gxhat, float(n)), s1), mul(xhat, s2))
        grads.append(mul(inner, div(invstd, float(n))))
    else:
        grads.append(None)
    if has_w:
        grads.append(_sum(mul(g, xhat), axes) if need[1] else None)
    if has_b:
        grads.append(_sum(g, axes) if need[-1] else None)
    return tuple(grads)


#: inputs (input[, weight][, bias]); the rule reads input and weight (the first two saved)
BATCH_NORM = primitive("batch_norm", _batch_norm_bw, forward=_batch_norm_fw, inputs="*tensors",
                       attrs=("eps", "has_weight", "has_bias", "mean", "invstd", "var"),
                       saves="*tensors", infer=SAME)
