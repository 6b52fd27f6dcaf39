"""NumPy references for the losses, written out from the formulas in PyTorch's documentation
(torch.nn.*Loss pages), in float64, independent of autodiff.

Each takes NumPy arrays and the keyword arguments of the PyTorch function of the same name;
``reduction`` is applied by ``reduce`` (``'mean'`` of the per-element loss unless the loss's
documentation defines another denominator, which is then written out in that function).
"""
from __future__ import annotations

import numpy as np
from ref_nn import log_softmax


def reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    """'none' -> the per-element loss, 'sum' -> its sum, 'mean' -> its plain mean."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


# ------------------------------------------------------------------------------------ regression
def mse_loss(input, target, reduction="mean"):
    return reduce((input - target) ** 2, reduction)


def l1_loss(input, target, reduction="mean"):
    return reduce(np.abs(input - target), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta; L1 when beta = 0."""
    a = np.abs(input - target)
    if beta == 0:
        return reduce(a, reduction)
    return reduce(np.where(a < beta, 0.5 * a ** 2 / beta, a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)."""
    a = np.abs(input - target)
    return reduce(np.where(a < delta, 0.5 * a ** 2, delta * (a - 0.5 * delta)), reduction)


# ------------------------------------------------------------------------------------ nll / CE
def _class_axis(x: np.ndarray) -> int:
    return 0 if x.ndim == 1 else 1


def _onehot(target: np.ndarray, C: int, axis: int, ignore_index: int) -> np.ndarray:
    """One-hot of class labels along ``axis`` (all zeros where ignored)."""
    shape = [1] * (target.ndim + 1)
    shape[axis] = C
    classes = np.arange(C).reshape(shape)
    t = np.expand_dims(target, axis)
    return ((classes == t) & (t != ignore_index)).astype(np.float64)


def _weights(weight, C: int, ndim: int, axis: int) -> np.ndarray:
    """Class weights shaped to broadcast along the class axis (ones when None)."""
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    shape = [1] * ndim
    shape[axis] = C
    return w.reshape(shape)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """l_n = -w_{y_n} x_{n, y_n} (0 where y_n = ignore_index); 'mean' divides the sum by
    sum_n w_{y_n} over the targets not ignored (nan when that is 0)."""
    axis = _class_axis(input)
    C = input.shape[axis]
    w = _weights(weight, C, input.ndim, axis)
    hot = _onehot(target, C, axis, ignore_index)
    loss = -(w * hot * input).sum(axis)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return loss.sum() / (w * hot).sum()
    return reduce(loss, reduction)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """l_n = -sum_c w_c q_{n,c} log softmax(x_n)_c.

    Class labels y: q = (1 - eps) onehot(y) + eps / C (rows where y = ignore_index give 0);
    'mean' divides by sum_n w_{y_n} over the targets not ignored.
    Class probabilities: q = (1 - eps) target + eps / C; 'mean' divides by the number of
    samples (N d1 d2 ..., every element but the class dim).
    """
    axis = _class_axis(input)
    C = input.shape[axis]
    w = _weights(weight, C, input.ndim, axis)
    logp = log_softmax(input, axis)
    eps = label_smoothing
    if np.issubdtype(np.asarray(target).dtype, np.floating):
        q = (1 - eps) * target + eps / C
        loss = -(w * q * logp).sum(axis)
        if reduction == "mean":
            return loss.sum() / (input.size // C)
        return reduce(loss, reduction)
    hot = _onehot(target, C, axis, ignore_index)
    kept = np.expand_dims(target != ignore_index, axis)
    q = ((1 - eps) * hot + eps / C) * kept
    loss = -(w * q * logp).sum(axis)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return loss.sum() / (w * hot).sum()
    return reduce(loss, reduction)


# ------------------------------------------------------------------------------------ binary
def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped to >= -100."""
    w = 1.0 if weight is None else weight
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(input), -100)
        l1x = np.maximum(np.log(1 - input), -100)
    return reduce(-w * (target * lx + (1 - target) * l1x), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """-w (p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), p (pos_weight) broadcast along
    the last (class) dim; log sigmoid(x) = -log(1 + e^-x) and log(1 - sigmoid(x)) =
    -log(1 + e^x), evaluated with logaddexp."""
    w = 1.0 if weight is None else weight
    p = 1.0 if pos_weight is None else pos_weight
    log_sig = -np.logaddexp(0.0, -input)
    log_one_minus_sig = -np.logaddexp(0.0, input)
    return reduce(-w * (p * target * log_sig + (1 - target) * log_one_minus_sig), reduction)


# ------------------------------------------------------------------------------------ margins
def hinge_loss(input, target, margin=1.0, reduction="mean"):
    """Binary hinge (no PyTorch counterpart): max(0, margin - y x), y in {-1, +1}."""
    return reduce(np.maximum(0.0, margin - target * input), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x_n where y_n = 1, max(0, margin - x_n) where y_n = -1."""
    assert np.isin(target, (-1.0, 1.0)).all(), "the documented formula covers y in {-1, 1}"
    return reduce(np.where(target == 1, input, np.maximum(0.0, margin - input)), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """sum_{i != y} w_y max(0, margin - x_y + x_i)^p / C per sample.

    PyTorch's documentation puts w_y inside the max (so w_y^p for p = 2); its implementation
    (and this one) multiplies the p-th power by w_y: the two differ only for p = 2 with
    weights, and the PyTorch oracle test confirms the implementation's form.
    """
    x = np.atleast_2d(input)
    y = np.atleast_1d(target)
    N, C = x.shape
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    xy = x[np.arange(N), y][:, None]
    h = np.maximum(0.0, margin - xy + x) ** p
    h[np.arange(N), y] = 0.0
    loss = w[y] * h.sum(1) / C
    return reduce(loss.reshape(np.shape(target)), reduction)


# ------------------------------------------------------------------------------------ KL
def kl_div(input, target, reduction="mean", log_target=False):
    """y (log y - x) pointwise for log-probabilities x (0 where y = 0); with log_target the
    target is log y: e^t (t - x). 'batchmean' is the sum over the batch size."""
    if log_target:
        loss = np.exp(target) * (target - input)
    else:
        safe = np.where(target > 0, target, 1.0)
        loss = np.where(target > 0, target * (np.log(safe) - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return reduce(loss, reduction)
