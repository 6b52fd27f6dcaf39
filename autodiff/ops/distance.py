"""Vector p-norms and pairwise distances with PyTorch's gradient conventions: ``vector_norm``
(every order of ``torch.linalg.vector_norm``) and ``cdist``. Where a norm is 0 its gradient is
0 (PyTorch's choice), kept by selecting rather than multiplying (``where`` around a guarded
input), so first and second derivatives stay finite and on the graph."""
from __future__ import annotations

import math

from ..tensor import Tensor
from ._util import as_t
from .elementwise import abs as _abs, mul, pow as _pow, sqrt, where
from .linalg import matmul
from .reduce import amax, amin, norm as _norm2, sum as _sum
from .shape import astype, swapaxes, unsqueeze


def _where_positive(s: Tensor, f, at_zero: float = 0.0) -> Tensor:
    """``f(s)`` where ``s > 0`` and ``at_zero`` elsewhere, with a zero gradient there (the
    infinite slope of a root or of |x|^p, p < 1, at 0 never meets the zero it would
    multiply)."""
    pos = s.array > 0
    return where(pos, f(where(pos, s, 1.0)), at_zero)


def vector_norm(x, ord: float = 2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.vector_norm``: (sum |x|^ord)^(1/ord) over ``dim`` (all dims by default);
    ord 0 counts the non-zeros (a zero gradient), inf/-inf take the largest/smallest
    magnitude. The gradient at a zero norm is 0."""
    x = as_t(x)
    if dtype is not None:
        x = astype(x, dtype)
    if x.dtype.kind not in "fc":
        raise TypeError(f"vector_norm: expected a floating point tensor, got {x.dtype}")
    ord = float(ord)
    axes = dim
    if ord == 2:
        return _norm2(x, dim=axes, keepdim=keepdim)
    if ord == math.inf:
        return amax(_abs(x), axes, keepdim)
    if ord == -math.inf:
        return amin(_abs(x), axes, keepdim)
    if ord == 0:
        # x * 0 ties the count to x: a zero gradient that stays on the graph, as PyTorch's
        return _sum(where(x.array != 0, 1.0, mul(x, 0.0)), axes, keepdim)
    if ord == 1:
        return _sum(_abs(x), axes, keepdim)
    a = _abs(x)
    # |x|^p for p < 1 has an infinite slope at 0, where PyTorch's gradient is 0
    powers = _pow(a, ord) if ord > 1 else \
        _where_positive(a, lambda v: _pow(v, ord), 0.0 if ord > 0 else math.inf)
    return _where_positive(_sum(powers, axes, keepdim), lambda v: _pow(v, 1.0 / ord))


def cdist(x1, x2, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """``torch.cdist``: the p-norm distance between each row of ``x1`` (..., P, M) and each
    row of ``x2`` (..., R, M), batch dims broadcast: (..., P, R). For p = 2 PyTorch's
    ``compute_mode`` picks the matrix-product form (|a|^2 + |b|^2 - 2 a.b, used by default
    when P or R exceeds 25) or the direct differences. The gradient at a zero distance is 0."""
    x1, x2 = as_t(x1), as_t(x2)
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: expects x1 (..., P, M) and x2 (..., R, M) with the same M, "
                         f"got shapes {x1.shape} and {x2.shape}")
    if x1.dtype.kind != "f" or x2.dtype.kind != "f":
        raise TypeError(f"cdist: only supports floating-point dtypes, got {x1.dtype} and "
                        f"{x2.dtype}")
    if p < 0:
        raise ValueError(f"cdist: only supports non-negative p values, got {p}")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
             "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise ValueError(f"cdist: compute_mode must be one of {modes}, got {compute_mode!r}")
    big = x1.shape[-2] > 25 or x2.shape[-2] > 25
    if p == 2 and (compute_mode == modes[1] or (compute_mode == modes[0] and big)):
        sq1 = _sum(mul(x1, x1), -1, True)
        sq2 = swapaxes(_sum(mul(x2, x2), -1, True), -1, -2)
        s = sq1 + sq2 - 2.0 * matmul(x1, swapaxes(x2, -1, -2))
        return _where_positive(s, sqrt)
    return vector_norm(unsqueeze(x1, -2) - unsqueeze(x2, -3), p, -1)
