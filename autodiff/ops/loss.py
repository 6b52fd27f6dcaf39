"""Loss primitives with hand-written VJP rules in Tensor ops (so double backward works):
``nll_loss`` (picked log-probabilities times per-target coefficients), ``cross_entropy``
(softmax + NLL with class labels in one node, on the backend's fused kernels),
``binary_cross_entropy`` and ``binary_cross_entropy_with_logits`` (elementwise, reduction
left to the caller). ``nn.functional`` validates labels and weights, builds the coefficients
and composes the reductions; inputs come as (rows, classes) matrices.
"""
from __future__ import annotations

import functools

from .. import backends
from ..backends import get_array_module
from ..grad_mode import STATE
from ..tape import record
from .derived import derived
from ..tensor import Tensor, make
from .elementwise import add, clip, div, log, log1p, mul, neg, sigmoid, softplus, sub
from .reduce import softmax
from .registry import BROADCAST, primitive
from .shape import reshape

__all__ = ["nll_targets", "nll_loss", "cross_entropy", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]


def _reduced(rows, reduction: str, tshape: tuple):
    """Per-row losses summed ('mean', 'sum'; the mean's divisor is applied by the caller) or
    shaped as the targets ('none')."""
    return rows.reshape(tshape) if reduction == "none" else rows.sum()


def _scalar_or_target_infer(in_meta, *attrs, reduction: str, tshape: tuple):
    return ((tuple(tshape) if reduction == "none" else (), in_meta[0][1]),)


# ----------------------------------------------------------------------------- nll
def nll_targets(t, weight, ignore_index: int, classes: int, dtype, mean: bool, name: str):
    """(row labels with the ignored (and out-of-range) ones at 0, per-row coefficients: the
    label's class weight, 0 where ignored, NaN where out of range; their sum for 'mean', else
    None) of the labels ``t`` (flattened) and class ``weight`` (or None). Made by one
    :func:`~autodiff.ops.derived.derived` op, so a compiled step remakes them from the target
    at each replay, checking the labels on the host (the caller checked them eagerly)."""
    fn = functools.partial(_nll_targets, ignore_index=ignore_index, classes=classes,
                           dtype=dtype, mean=mean, name=name)
    return derived(fn, t) if weight is None else derived(fn, t, weight)


def _nll_targets(t, weight=None, *, ignore_index, classes, dtype, mean, name):
    xp = get_array_module(t)
    tf = t.reshape(-1)          # here: a view made outside would not be the target's slot
    valid = tf != ignore_index
    bad = valid & ((tf < 0) | (tf >= classes))
    if (backends.on_host(tf) or STATE.anomaly) and bad.any():     # as input_checks.checks_now
        raise ValueError(f"{name}: target label {int(tf[bad][0])} is out of range for "
                         f"{classes} classes")
    valid &= ~bad
    safe = xp.where(valid, tf, 0)
    coef = valid.astype(dtype)
    if weight is not None:
        coef = coef * weight[safe]
    coef = xp.where(bad, xp.asarray(float("nan"), dtype=coef.dtype), coef)  # a GPU's labels
    return safe, coef, (coef.sum() if mean else None)


def nll_loss(x2: Tensor, safe, coef, total, reduction: str, tshape: tuple) -> Tensor:
    """-coef[i] * x2[i, safe[i]] per row of log-probabilities ``x2`` (rows, C): summed and
    divided by ``total`` ('mean'; 0/0 gives NaN, as PyTorch), summed ('sum', total None), or
    shaped ``tshape`` ('none')."""
    return record(NLL, _nll_fw(x2.array, safe, coef, total, reduction, tshape), (x2,),
                  attrs=(safe, coef, total, reduction, tuple(tshape)))


def _nll_fw(x2, safe, coef, total, reduction, tshape):
    xp = get_array_module(x2)
    vals = -(x2[xp.arange(safe.shape[0]), safe] * coef)
    out = _reduced(vals, reduction, tshape)
    if total is not None:
        with backends.kernels_for(out).quiet_float_errors(out):
            out = out / total
    return xp.asarray(out, dtype=x2.dtype)


def _nll_bw(ctx, g):
    safe, coef, total, reduction, tshape = ctx.attrs
    xp = get_array_module(coef)
    if total is not None:          # no counted target: a zero gradient, not NaN
        coef = xp.where(total > 0, coef / xp.where(total > 0, total, 1), 0)
    scatter = xp.zeros(ctx.in_meta[0][0], g.dtype)
    scatter[xp.arange(safe.shape[0]), safe] = -coef
    if reduction == "none":
        g = reshape(g, (-1, 1))
    return (mul(g, make(scatter)),)


def _nll_infer(in_meta, safe, coef, total, reduction, tshape):
    return _scalar_or_target_infer(in_meta, reduction=reduction, tshape=tshape)


NLL = primitive("nll_loss", _nll_bw, forward=_nll_fw, inputs="input",
                attrs=("target", "coef", "total", "reduction", "target_shape"), infer=_nll_infer)


# ----------------------------------------------------------------------------- cross-entropy
def cross_entropy(x2: Tensor, tf, ignore_index: int, reduction: str, tshape: tuple):
    """Softmax cross-entropy of logits ``x2`` (rows, C) with labels ``tf`` (rows,) on the
    backend's fused kernels; None where the backend has none (the caller composes it)."""
    k = backends.kernels_for(x2.array, tf)
    if k.softmax_cross_entropy_forward is None:
        return None
    out, prob, count = _ce_forward(x2.array, tf, ignore_index, reduction, tshape)
    return record(CROSS_ENTROPY, out, (x2,), (x2,),
                  attrs=(tf, ignore_index, reduction, tuple(tshape), prob, count))


def _ce_forward(x2, tf, ignore_index, reduction, tshape):
    """(loss, softmax, the 'mean' divisor clamped at 1 or None)."""
    loss, prob = backends.kernels_for(x2, tf).softmax_cross_entropy_forward(x2, tf, ignore_index)
    out = _reduced(loss, reduction, tshape)
    count = None
    if reduction == "mean":
        xp = get_array_module(x2)
        n = (tf != ignore_index).sum(dtype=x2.dtype)
        with backends.kernels_for(out).quiet_float_errors(out):
            out = out / n           # 0/0 = nan when every target is ignored, as PyTorch
        count = xp.asarray(xp.maximum(n, 1))       # ... and gradient 0
    return get_array_module(x2).asarray(out, dtype=x2.dtype), prob, count


def _ce_fw(x2, tf, ignore_index, reduction, tshape, prob=None, count=None):
    return _ce_forward(x2, tf, ignore_index, reduction, tshape)[0]


def _ce_bw(ctx, g):
    tf, ignore_index, reduction, tshape, prob, count = ctx.attrs
    # the upstream gradient of each row's loss: (N,) for 'none', a 0-d array otherwise
    gr = g if g.ndim == 0 else reshape(g, (-1,))
    if count is not None:
        gr = div(gr, make(count))
    if not STATE.enabled:                # first order: the kernel
        k = backends.kernels_for(prob, tf)
        return (make(k.softmax_cross_entropy_backward(prob, tf, gr.array, ignore_index)),)
    # create_graph: softmax(x) - onehot(t) on the kept rows, with Tensor ops; the one-hot
    # rows are derived from the labels by an op of the tape (compile remakes them per replay)
    (x2,) = ctx.saved_tensors
    onehot, rows = derived(functools.partial(_onehot_rows, shape=x2.shape, dtype=x2.dtype,
                                             ignore_index=ignore_index), tf)
    diff = mul(sub(softmax(x2, 1), make(onehot)), make(rows))
    return (mul(diff, gr if gr.ndim == 0 else reshape(gr, (-1, 1))),)


def _onehot_rows(tf, *, shape, dtype, ignore_index):
    """(one-hot rows of the labels ``tf``, (rows, 1) with 1 where a label counts)."""
    xp = get_array_module(tf)
    valid = tf != ignore_index
    onehot = xp.zeros(shape, dtype)
    onehot[xp.arange(tf.shape[0]), xp.where(valid, tf, 0)] = valid
    return onehot, valid.astype(dtype)[:, None]


def _ce_infer(in_meta, tf, ignore_index, reduction, tshape, prob=None, count=None):
    return _scalar_or_target_infer(in_meta, reduction=reduction, tshape=tshape)


CROSS_ENTROPY = primitive("cross_entropy", _ce_bw, forward=_ce_fw, inputs="input",
                          attrs=("target", "ignore_index", "reduction", "target_shape",
                                 "softmax", "count"),
                          saves="input", infer=_ce_infer)


# ----------------------------------------------------------------------------- binary
def binary_cross_entropy(x: Tensor, t: Tensor) -> Tensor:
    """-(t log x + (1 - t) log(1 - x)) elementwise, the logs clamped at -100 (PyTorch)."""
    return record(BCE, _bce_fw(x.array, t.array), (x, t), (x, t))


def _bce_fw(x, t):
    xp = get_array_module(x)
    with backends.kernels_for(x).quiet_float_errors(x):
        lx, l1x = xp.maximum(xp.log(x), -100), xp.maximum(xp.log1p(-x), -100)
    return -(t * lx + (1 - t) * l1x)


def _bce_bw(ctx, g):
    x, t = ctx.saved_tensors
    nx, nt = ctx.needs_input_grad
    gx = gt = None
    if nx:
        denom = clip(mul(x, sub(1.0, x)), 1e-12)
        gx = mul(g, div(sub(x, t), denom))
    if nt:     # log(1 - x) - log(x), clamped as in the forward: differentiable in x again
        gt = mul(g, sub(clip(log1p(neg(x)), -100), clip(log(x), -100)))
    return gx, gt


BCE = primitive("binary_cross_entropy", _bce_bw, forward=_bce_fw, inputs=("input", "target"),
                saves=("input", "target"),
                elementwise=True, infer=BROADCAST)


def binary_cross_entropy_with_logits(x: Tensor, t: Tensor, pos_weight: Tensor | None = None):
    """(1 - t) softplus(x) + p t softplus(-x) elementwise (p = ``pos_weight``, else 1): equal to
    max(x, 0) - x t + log1p(exp(-|x|)) and to PyTorch's pos_weight form, without cancellation
    for large |x|. The gradient is sigmoid(x) - t exactly (at x = 0 too)."""
    inputs = (x, t) if pos_weight is None else (x, t, pos_weight)
    return record(BCE_LOGITS, _bce_logits_fw([a.array for a in inputs]), inputs, inputs)


def _bce_logits_fw(arrays):
    x, t = arrays[0], arrays[1]
    xp = get_array_module(x)
    tail = xp.log1p(xp.exp(-xp.abs(x)))
    sp_neg = xp.maximum(-x, 0) + tail
    if len(arrays) == 3:
        sp_neg = arrays[2] * sp_neg
    return xp.asarray((1 - t) * (xp.maximum(x, 0) + tail) + t * sp_neg, dtype=x.dtype)


def _bce_logits_bw(ctx, g):
    saved = ctx.saved_tensors
    x, t = saved[0], saved[1]
    pw = saved[2] if len(saved) > 2 else None
    need = ctx.needs_input_grad
    s = sigmoid(x)
    out = []
    if pw is None:
        out.append(mul(g, sub(s, t)) if need[0] else None)
        out.append(mul(g, neg(x)) if need[1] else None)
        return tuple(out)
    lw = add(mul(sub(pw, 1.0), t), 1.0)
    # d/dx = (1 - t) - lw * sigmoid(-x) = (1 - t) - lw (1 - s)
    out.append(mul(g, sub(sub(1.0, t), mul(lw, sub(1.0, s)))) if need[0] else None)
    spn = softplus(neg(x))
    out.append(mul(g, add(neg(x), mul(sub(pw, 1.0), spn))) if need[1] else None)
    out.append(mul(g, mul(t, spn)) if need[2] else None)
    return tuple(out)


def _bce_logits_infer(in_meta):
    return ((BROADCAST(in_meta)[0][0], in_meta[0][1]),)


#: inputs (input, target) or (input, target, pos_weight)
BCE_LOGITS = primitive("binary_cross_entropy_with_logits", _bce_logits_bw,
                       forward=_bce_logits_fw, inputs="*tensors", saves="*tensors",
                       elementwise=True, infer=_bce_logits_infer)
