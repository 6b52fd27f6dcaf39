"""Style-transfer losses: Gram-matrix style loss, content loss, total variation, histogram loss.

All are differentiable functions of Tensors (built on Tensor ops, so ``create_graph`` works) and
take feature maps of shape ``(N, C, H, W)`` or ``(C, H, W)``; the style and histogram losses also
take lists of such maps (one per layer) and sum over layers. Targets (reference features) are
treated as constants.

* ``gram_matrix(F)`` = ``F F^T / (C H W)`` with ``F`` the ``(C, H*W)`` matrix of one image.
* ``style_loss`` = sum over layers of the mean squared difference of Gram matrices.
* ``content_loss`` = mean squared difference of features.
* ``total_variation_loss`` = sum over both spatial directions of the mean ``|difference|^p`` of
  neighbouring pixels.
* ``histogram_loss`` (Risser et al.; Luan et al., "Deep Painterly Harmonization"): per channel
  the output's values are histogram-matched to the reference -- each value is replaced by the
  reference quantile of the same rank -- and the loss is the mean squared difference to these
  remapped values, which are treated as constants. When the output has N values per channel and
  the reference M, the reference histogram is rescaled by the ratio ``N / M`` so both hold the
  same mass: the value of rank ``r`` (0-based) maps to position ``(r + 0.5) * M / N - 0.5`` of
  the sorted reference, interpolated linearly and clamped to its ends. With ``N == M`` this is
  exactly the sorted reference.
"""
from __future__ import annotations

from typing import Sequence

import autodiff as ad
from autodiff import Tensor
from autodiff.backends import on_host

__all__ = ["gram_matrix", "style_loss", "content_loss", "total_variation_loss",
           "histogram_remap", "histogram_loss"]


def _layers(x) -> list:
    return [x] if isinstance(x, Tensor) else list(x)


def _const(t) -> Tensor:
    return t.detach() if isinstance(t, Tensor) else ad.as_tensor(t)


def gram_matrix(features: Tensor) -> Tensor:
    """``F F^T / (C H W)`` per image: ``(N, C, H, W) -> (N, C, C)``, ``(C, H, W) -> (C, C)``."""
    if features.ndim not in (3, 4):
        raise ValueError(f"gram_matrix: features must be (N, C, H, W) or (C, H, W), got shape "
                         f"{features.shape}")
    batched = features.ndim == 4
    f = features if batched else features.reshape((1,) + tuple(features.shape))
    n, c, h, w = f.shape
    m = f.reshape(n, c, h * w)
    g = ad.matmul(m, m.transpose(1, 2)) / float(c * h * w)
    return g if batched else g.reshape(c, c)


def style_loss(feats, target_feats, weights: Sequence[float] | None = None) -> Tensor:
    """Sum over layers of ``weight * mean((gram(f) - gram(t))^2)``; ``feats`` and
    ``target_feats`` are one feature map or lists of them (targets are constants). A target
    whose batch size is 1 is broadcast over the output's batch."""
    fs, ts = _layers(feats), _layers(target_feats)
    if len(fs) != len(ts):
        raise ValueError(f"style_loss: {len(fs)} feature maps but {len(ts)} targets")
    weights = [1.0] * len(fs) if weights is None else list(weights)
    total = None
    for f, t, wgt in zip(fs, ts, weights):
        d = gram_matrix(f) - gram_matrix(_const(t))
        term = (d * d).mean() * float(wgt)
        total = term if total is None else total + term
    return total


def content_loss(feats, target_feats) -> Tensor:
    """Mean squared difference of feature maps (summed over layers for lists); targets are
    constants."""
    fs, ts = _layers(feats), _layers(target_feats)
    if len(fs) != len(ts):
        raise ValueError(f"content_loss: {len(fs)} feature maps but {len(ts)} targets")
    total = None
    for f, t in zip(fs, ts):
        d = f - _const(t)
        term = (d * d).mean()
        total = term if total is None else total + term
    return total


def total_variation_loss(img: Tensor, p: float = 2.0) -> Tensor:
    """``mean(|x[..., i+1, :] - x[..., i, :]|^p) + mean(|x[..., :, j+1] - x[..., :, j]|^p)``
    over the last two (spatial) axes."""
    if img.ndim < 2:
        raise ValueError(f"total_variation_loss: need at least 2 dims, got shape {img.shape}")
    dh = img[..., 1:, :] - img[..., :-1, :]
    dw = img[..., :, 1:] - img[..., :, :-1]

    def pw(d):
        if p == 2:
            return (d * d).mean()
        if p == 1:
            return ad.abs(d).mean()
        return (ad.abs(d) ** p).mean()

    return pw(dh) + pw(dw)


def _channel_matrix(x, xp):
    """(C, K) view of a (C, H, W) or (N, C, H, W) array: each channel's values."""
    if x.ndim == 4:
        return xp.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    if x.ndim == 3:
        return x.reshape(x.shape[0], -1)
    raise ValueError(f"histogram: features must be (N, C, H, W) or (C, H, W), got shape "
                     f"{x.shape}")


def histogram_remap(features: Tensor, reference) -> Tensor:
    """The values of ``features`` histogram-matched, per channel, to ``reference`` (see the
    module docstring for the ratio correction); a constant tensor shaped like ``features``."""
    x = features.array
    xp = features.xp
    r = reference.array if isinstance(reference, Tensor) else xp.asarray(reference)
    X = _channel_matrix(x, xp)
    R = xp.sort(_channel_matrix(r, xp).astype(x.dtype), axis=1)
    c, n = X.shape
    if R.shape[0] != c:
        raise ValueError(f"histogram: features have {c} channels, the reference {R.shape[0]}")
    m = R.shape[1]
    # stable, so ties keep their order (CuPy's sorts are always stable and take no ``kind``)
    order = xp.argsort(X, axis=1, kind="stable") if on_host(xp) else xp.argsort(X, axis=1)
    pos = (xp.arange(n, dtype=x.dtype) + 0.5) * (m / n) - 0.5
    pos = xp.clip(pos, 0, m - 1)
    lo = xp.floor(pos).astype(xp.int64)
    hi = xp.minimum(lo + 1, m - 1)
    frac = (pos - lo).astype(x.dtype)
    vals = R[:, lo] * (1 - frac) + R[:, hi] * frac          # (C, N): value of each rank
    ranks = xp.argsort(order, axis=1)                      # inverse permutation
    out = xp.take_along_axis(vals, ranks, axis=1)
    if x.ndim == 4:
        out = xp.moveaxis(out.reshape(x.shape[1], x.shape[0], *x.shape[2:]), 0, 1)
    return ad.tensor(xp.ascontiguousarray(out.reshape(x.shape)), dtype=x.dtype)


def histogram_loss(features, reference, weights: Sequence[float] | None = None) -> Tensor:
    """Sum over layers of ``weight * mean((f - histogram_remap(f, ref))^2)``; the remapped
    target is a constant, so the gradient is ``2 (f - remap(f)) / numel``."""
    fs, rs = _layers(features), _layers(reference)
    if len(fs) != len(rs):
        raise ValueError(f"histogram_loss: {len(fs)} feature maps but {len(rs)} references")
    weights = [1.0] * len(fs) if weights is None else list(weights)
    total = None
    for f, r, wgt in zip(fs, rs, weights):
        d = f - histogram_remap(f, r)
        term = (d * d).mean() * float(wgt)
        total = term if total is None else total + term
    return total
