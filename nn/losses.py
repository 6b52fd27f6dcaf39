"""Loss functions (functional forms): mse, l1, smooth_l1, cross_entropy, nll, bce, hinge, kl_div...

PyTorch's names, signatures and semantics; ``reduction`` is ``'mean'``, ``'sum'`` or ``'none'``
(``kl_div`` also takes ``'batchmean'``). Shape mismatches and out-of-range labels raise a
``ValueError`` naming the loss and the shapes.

``nll_loss`` (hence ``cross_entropy`` with class labels), ``binary_cross_entropy`` and
``binary_cross_entropy_with_logits`` run the primitives of ``autodiff/ops/loss.py`` (here: their
argument checks, label validation, weights and reductions); the others are composites.
"""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.ops import loss as _loss
from autodiff.tensor import Tensor, make

from .input_checks import array_like, checks_now, deferred_check, poison

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "hinge_loss",
           "hinge_embedding_loss", "multi_margin_loss", "kl_div"]

_REDUCTIONS = ("mean", "sum", "none")


def _t(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if like is not None:
        return make(like.xp.asarray(x, dtype=like.dtype if like.dtype.kind == "f" else None))
    return ad.tensor(x)


def _check_reduction(name: str, reduction: str, allowed=_REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ad.mean(loss)
    if reduction == "sum":
        return ad.sum(loss)
    return loss


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: input shape {tuple(input.shape)} and target shape "
                         f"{tuple(target.shape)} differ; they must be equal")


def _pair(name: str, input, target) -> tuple[Tensor, Tensor]:
    input = _t(input)
    target = _t(target, input)
    _same_shape(name, input, target)
    return input, target


# ------------------------------------------------------------------------------------ regression
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(input - target)^2."""
    _check_reduction("mse_loss", reduction)
    input, target = _pair("mse_loss", input, target)
    d = ad.sub(input, target)
    return _reduce(ad.mul(d, d), reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """|input - target| (gradient 0 where they are equal)."""
    _check_reduction("l1_loss", reduction)
    input, target = _pair("l1_loss", input, target)
    return _reduce(ad.abs(ad.sub(input, target)), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (l1 when beta == 0)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair("smooth_l1_loss", input, target)
    d = ad.sub(input, target)
    a = ad.abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    quad = ad.mul(ad.mul(d, d), 0.5 / beta)
    lin = ad.sub(a, 0.5 * beta)
    return _reduce(ad.where(a.array < beta, quad, lin), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """delta * smooth_l1(beta=delta)."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return ad.mul(smooth_l1_loss(input, target, reduction, delta), delta)


# ------------------------------------------------------------------------------------ nll / CE
def _labels(name: str, input: Tensor, target, ignore_index: int):
    """Validate class labels against input (N, C, d1...) / (C,). Returns the label array on
    the input's device, the mask of counted labels, C, and the mask of out-of-range labels
    where the range check is deferred (a GPU outside anomaly mode: see ``input_checks``),
    else None."""
    t = array_like(target, input)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-label targets must be integers, got dtype {t.dtype}")
    if input.ndim == 1:
        expected = ()
    else:
        expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(t.shape) != expected:
        raise ValueError(f"{name}: input shape {tuple(input.shape)} expects a target of shape "
                         f"{expected}, got target shape {tuple(t.shape)}")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    valid = t != ignore_index
    bad = deferred_check(t, valid & ((t < 0) | (t >= C)), lambda v: ValueError(
        f"{name}: target label {v} is out of range for {C} classes (input shape "
        f"{tuple(input.shape)})"))
    return t, valid, C, bad


def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1...) -> (N*d1*..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return ad.reshape(x, (1, -1))
    if x.ndim == 2:
        return x
    return ad.reshape(ad.movedim(x, 1, -1), (-1, x.shape[1]))


def _class_weight(name: str, weight, C: int, like: Tensor):
    if weight is None:
        return None
    w = array_like(weight, like, like.dtype)
    if tuple(w.shape) != (C,):
        raise ValueError(f"{name}: weight must have shape ({C},) (one per class), got "
                         f"{tuple(w.shape)}")
    return w


def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """-weight[t] * input[i, t] for log-probabilities ``input`` (N, C, d1...) and labels
    ``target`` (N, d1...). With ``weight``, 'mean' divides by the sum of the weights of the
    (non-ignored) targets, as PyTorch."""
    _check_reduction("nll_loss", reduction)
    return _nll(_t(input), target, weight, ignore_index, reduction, "nll_loss")


def _nll(input: Tensor, target, weight, ignore_index: int, reduction: str,
         name: str) -> Tensor:
    t, _, C, _ = _labels(name, input, target, ignore_index)
    w = _class_weight(name, weight, C, input)
    x2 = _classes_last(input)
    # out-of-range labels (GPU): read row 0, poisoned with NaN; remade at a compiled replay
    safe, coef, total = _loss.nll_targets(t, w, ignore_index, C, input.dtype,
                                          reduction == "mean", name)
    return _loss.nll_loss(x2, safe, coef, total, reduction, t.shape)


def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from logits ``input`` (N, C, d1...) or (C,), with integer class labels
    (N, d1...) or class probabilities (same shape as ``input``) as ``target``.

    Class ``weight`` and ``ignore_index`` follow PyTorch (for labels, 'mean' is the weighted
    mean: divided by the summed weights of the targets; for probabilities it is divided by the
    number of samples). ``label_smoothing`` mixes the target with the uniform distribution.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    input = _t(input)
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have at least 1 dim (classes), got a scalar")
    cdim = 0 if input.ndim == 1 else 1
    C = input.shape[cdim]
    tdata = array_like(target, input)
    if tdata.dtype.kind in "iu" and weight is None and label_smoothing == 0 and \
            input.dtype.kind == "f":
        fused = _fused_cross_entropy(input, target, ignore_index, reduction)
        if fused is not None:
            return fused
    logp = ad.log_softmax(input, dim=cdim)
    if tdata.dtype.kind == "f":
        target = _t(target, input)
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                             f"{tuple(input.shape)}, got target shape {tuple(target.shape)}")
        if ignore_index >= 0:
            raise ValueError(f"cross_entropy: ignore_index ({ignore_index}) is not supported "
                             f"for probability targets")
        if label_smoothing > 0:
            target = ad.add(ad.mul(target, 1.0 - label_smoothing), label_smoothing / C)
        prod = ad.mul(logp, target)
        w = _class_weight("cross_entropy", weight, C, input)
        if w is not None:
            prod = ad.mul(prod, make(w.reshape((C,) + (1,) * (input.ndim - cdim - 1))))
        loss = ad.neg(ad.sum(prod, cdim))
        return _reduce(loss, reduction)  # 'mean': over the samples (N d1 ...), as PyTorch
    nll = _nll(logp, target, weight, ignore_index, reduction, "cross_entropy")
    if label_smoothing <= 0:
        return nll
    # smoothing term: -sum_c w_c log p_c per sample, masked where ignored
    t, valid, _, _ = _labels("cross_entropy", input, target, ignore_index)
    w = _class_weight("cross_entropy", weight, C, input)
    lp = logp
    if w is not None:
        lp = ad.mul(lp, make(w.reshape((C,) + (1,) * (input.ndim - cdim - 1))))
    smooth = ad.neg(ad.sum(lp, cdim))
    smooth = ad.where(valid, smooth, 0.0)  # not a product: 0 * inf would be nan if all ignored
    if reduction == "mean":
        xp = input.xp
        counted = valid.astype(input.dtype)
        if w is not None:
            counted = counted * w[xp.where(valid, t, 0)]
        denom = counted.sum()       # stays on the device: no synchronisation
        # nan when every target is ignored, as PyTorch
        inv = xp.where(denom > 0, 1.0 / xp.where(denom > 0, denom, 1), numpy.nan)
        smooth = ad.mul(ad.sum(smooth), make(inv.astype(input.dtype)))
    else:
        smooth = _reduce(smooth, reduction)
    return ad.add(ad.mul(nll, 1.0 - label_smoothing), ad.mul(smooth, label_smoothing / C))


def _fused_cross_entropy(input: Tensor, target, ignore_index: int,
                         reduction: str) -> Tensor | None:
    """Cross-entropy with class labels as one primitive over the backend's fused softmax-CE
    kernels (``kernels_for``), or None where the backend has none."""
    t, valid, _, _ = _labels("cross_entropy", input, target, ignore_index)
    return _loss.cross_entropy(_classes_last(input), t.reshape(-1), ignore_index, reduction,
                               t.shape)


# ------------------------------------------------------------------------------------ binary
def _weight_like(name: str, weight, input: Tensor):
    if weight is None:
        return None
    w = _t(weight, input)
    try:
        numpy.broadcast_shapes(tuple(w.shape), tuple(input.shape))
    except ValueError:
        raise ValueError(f"{name}: weight of shape {tuple(w.shape)} does not broadcast to the "
                         f"input shape {tuple(input.shape)}") from None
    return w


def binary_cross_entropy(input: Tensor, target: Tensor, weight=None,
                         reduction: str = "mean") -> Tensor:
    """-w (t log x + (1 - t) log(1 - x)) for probabilities ``input``; the logs are clamped at
    -100 as PyTorch, so x = 0 or 1 gives a finite loss."""
    _check_reduction("binary_cross_entropy", reduction)
    input, target = _pair("binary_cross_entropy", input, target)
    x = input.array
    # on a GPU outside anomaly mode a value outside [0, 1] is not looked for: its log is NaN
    if x.size and checks_now(x) and bool(((x < 0) | (x > 1)).any()):
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1]; "
                         "use binary_cross_entropy_with_logits for logits")
    out = _loss.binary_cross_entropy(input, target)
    w = _weight_like("binary_cross_entropy", weight, input)
    if w is not None:
        out = ad.mul(out, w)
    return _reduce(out, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy of sigmoid(input), computed stably:
    max(x, 0) - x t + log1p(exp(-|x|)), evaluated as (1 - t) softplus(x) + t softplus(-x) so
    that nothing cancels for large |x| (with ``pos_weight`` p the second term is scaled by p,
    as PyTorch). The gradient is sigmoid(x) - t exactly (at x = 0 too)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    input, target = _pair("binary_cross_entropy_with_logits", input, target)
    pw = None if pos_weight is None else \
        _weight_like("binary_cross_entropy_with_logits", pos_weight, input)
    out = _loss.binary_cross_entropy_with_logits(input, target, pw)
    w = _weight_like("binary_cross_entropy_with_logits", weight, input)
    if w is not None:
        out = ad.mul(out, w)
    return _reduce(out, reduction)


# ------------------------------------------------------------------------------------ margins
def hinge_loss(input: Tensor, target: Tensor, margin: float = 1.0,
               reduction: str = "mean") -> Tensor:
    """Binary hinge loss max(0, margin - y s) for scores ``input`` and labels y in {-1, +1}."""
    _check_reduction("hinge_loss", reduction)
    input, target = _pair("hinge_loss", input, target)
    td = target.array
    bad = deferred_check(td, (td != 1) & (td != -1), lambda v: ValueError(
        f"hinge_loss: target labels must be -1 or +1, got {v}"))
    loss = ad.relu(ad.sub(margin, ad.mul(input, target)))
    if bad is not None:
        loss = ad.where(bad, float("nan"), loss)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """PyTorch's HingeEmbeddingLoss: x where y = 1, max(0, margin - x) where y = -1 (and,
    as PyTorch computes it, their sum for any other label)."""
    _check_reduction("hinge_embedding_loss", reduction)
    input, target = _pair("hinge_embedding_loss", input, target)
    td = target.array
    neg = ad.relu(ad.sub(margin, input))
    loss = ad.add(ad.where(td != -1, input, 0.0), ad.where(td != 1, neg, 0.0))
    return _reduce(loss, reduction)


def multi_margin_loss(input: Tensor, target, p: int = 1, margin: float = 1.0, weight=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge (PyTorch's MultiMarginLoss): for each sample,
    sum_{j != y} w_y max(0, margin - x_y + x_j)^p / C, for input (N, C) or (C,)."""
    _check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p = 1 and p = 2 are supported, got {p}")
    input = _t(input)
    if input.ndim not in (1, 2):
        raise ValueError(f"multi_margin_loss: input must be (N, C) or (C,), got shape "
                         f"{tuple(input.shape)}")
    t, _, C, bad = _labels("multi_margin_loss", input, target, ignore_index=-(1 << 62))
    x2 = ad.reshape(input, (-1, C))
    tf = t.reshape(-1)
    xp = input.xp
    if bad is not None:             # out-of-range labels (GPU): read class 0, poison with NaN
        tf = xp.where(bad.reshape(-1), 0, tf)
    rows = xp.arange(tf.shape[0])
    xy = ad.reshape(ad.getitem(x2, (rows, tf)), (-1, 1))
    m = ad.relu(ad.add(ad.sub(margin, xy), x2))
    if p == 2:
        m = ad.mul(m, m)
    not_y = make((xp.arange(C)[None, :] != tf[:, None]).astype(input.dtype))
    m = ad.mul(m, not_y)
    w = _class_weight("multi_margin_loss", weight, C, input)
    if w is not None:
        m = ad.mul(m, make(w[tf].reshape(-1, 1)))
    loss = ad.div(ad.sum(m, 1), float(C))
    if bad is not None:
        loss = ad.where(bad.reshape(-1), float("nan"), loss)
    if input.ndim == 1:
        loss = ad.reshape(loss, ())
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------------ kl
def kl_div(input: Tensor, target: Tensor, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence pointwise: target (log target - input) for log-probabilities ``input``
    (0 where target == 0). 'batchmean' divides the sum by the batch size (the true KL);
    'mean' averages over every element, as PyTorch."""
    _check_reduction("kl_div", reduction, _REDUCTIONS + ("batchmean",))
    input, target = _pair("kl_div", input, target)
    if log_target:
        loss = ad.mul(ad.exp(target), ad.sub(target, input))
    else:
        td = target.array
        pos = td > 0
        safe = ad.where(pos, target, 1.0)
        loss = ad.where(pos, ad.mul(target, ad.sub(ad.log(safe), input)),
                        ad.mul(ad.mul(target, input), -1.0))
    if reduction == "batchmean":
        n = input.shape[0] if input.ndim else 1
        return ad.div(ad.sum(loss), float(n))
    return _reduce(loss, reduction)
