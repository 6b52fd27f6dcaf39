"""Vector normalisation and distances of ``torch.nn.functional``: normalize, cosine_similarity,
pairwise_distance (PyTorch's signatures and formulas, composed of differentiable ops)."""
from __future__ import annotations

import math

import numpy

import autodiff as ad
from autodiff.tensor import Tensor, make

from .functional_core import _t

__all__ = ["normalize", "cosine_similarity", "pairwise_distance"]


def _check_dim(name: str, x: Tensor, dim: int) -> int:
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor of shape "
                         f"{tuple(x.shape)}")
    return dim % n


def vector_norm(x: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    """The p-norm over ``dim`` for every p of ``torch.linalg.vector_norm``: p = 0 counts the
    non-zeros (zero gradient), +-inf the largest/smallest magnitude, others (sum |x|^p)^(1/p)."""
    if p == 0:
        nonzero = ad.where(x.array != 0, 1.0, ad.mul(x, 0.0))
        return ad.sum(nonzero, dim=dim, keepdim=keepdim)
    if p == -math.inf:
        return ad.amin(ad.abs(x), dim, keepdim)
    return ad.norm(x, p=p, dim=dim, keepdim=keepdim)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    input = _t(input)
    dim = _check_dim("normalize", input, dim)
    denom = ad.clip(vector_norm(input, p, dim, True), min=eps)
    return ad.div(input, denom)


def _clamp_value_only(n: Tensor, eps: float) -> Tensor:
    """``max(n, eps)`` in value, with the gradient of ``n`` (PyTorch clamps the norms in place
    under no_grad in cosine_similarity)."""
    return ad.add(n, make(n.xp.maximum(n.array, eps) - n.array))


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim``, after broadcasting
    x1 and x2; each input is divided by its own norm first (PyTorch's stable order)."""
    x1, x2 = _t(x1), _t(x2)
    try:
        shape = numpy.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} cannot be broadcast together") from None
    x1, x2 = ad.broadcast_to(x1, shape), ad.broadcast_to(x2, shape)
    dim = _check_dim("cosine_similarity", x1, dim)
    n1 = _clamp_value_only(ad.norm(x1, dim=dim, keepdim=True), eps)
    n2 = _clamp_value_only(ad.norm(x2, dim=dim, keepdim=True), eps)
    return ad.sum(ad.mul(ad.div(x1, n1), ad.div(x2, n2)), dim=dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim (of the higher-dimensional input)."""
    if p < 0:
        raise ValueError(f"pairwise_distance: only supports non-negative p, got {p}")
    x1, x2 = _t(x1), _t(x2)
    try:
        diff = ad.add(ad.sub(x1, x2), eps)
    except ValueError:
        raise ValueError(f"pairwise_distance: x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} cannot be broadcast together") from None
    return vector_norm(diff, p, max(x1.ndim, x2.ndim) - 1, keepdim)
