"""API cases for the products, norms and distances of the PyTorch port: cdist (every p, both
of PyTorch's compute modes), kron, tensordot, inner, cross, outer and ``autodiff.linalg``
(vector_norm, matrix_norm, norm, cross, diagonal, vecdot). References: the definitions in
NumPy (differences summed with ``|.|^p``, ``np.kron``, ``np.tensordot``, ``np.cross``)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import A, Case, U


def _pdist(x1, x2, p):
    d = np.abs(x1[..., :, None, :] - x2[..., None, :, :])
    if p == 0:
        return (d != 0).sum(-1).astype(float)
    if p == np.inf:
        return d.max(-1)
    return (d ** p).sum(-1) ** (1 / p)


def _vnorm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis, keepdims=keepdims)
    if p == -np.inf:
        return a.min(axis, keepdims=keepdims)
    if p == 0:
        return (a != 0).sum(axis, keepdims=keepdims).astype(float)
    return (a ** p).sum(axis, keepdims=keepdims) ** (1 / p)


def _cross(a, b, dim):
    a, b = np.broadcast_arrays(a, b)
    return np.moveaxis(np.cross(np.moveaxis(a, dim, -1), np.moveaxis(b, dim, -1)), -1, dim)


_INF = float("inf")
# the mm form (|a|^2 + |b|^2 - 2 a.b) cancels: its values agree to ~1e-15 absolute, not 1e-10
_MM_TOL = dict(rtol=1e-9, atol=1e-12)

CASES = [
    *[Case("cdist", lambda a, b, p=p: ad.cdist(a, b, p), lambda a, b, p=p: _pdist(a, b, p),
           (U(3, 4), U(5, 4, seed=1)), torch_fn=lambda torch, a, b, p=p: torch.cdist(a, b, p),
           tag=f"p{p}") for p in (2.0, 1.0, 3.0, 0.5, _INF)],
    Case("cdist", lambda a, b: ad.cdist(a, b, 0.0), lambda a, b: _pdist(a, b, 0), (U(3, 2), U(
        2, 2, seed=1)), torch_fn=lambda torch, a, b: torch.cdist(a, b, 0.0), tag="p0"),
    Case("cdist", lambda a, b: ad.cdist(a, b), lambda a, b: _pdist(a, b, 2),
         (U(2, 3, 4), U(5, 4, seed=1)), torch_fn=lambda torch, a, b: torch.cdist(a, b),
         tag="batch_broadcast"),
    Case("cdist", lambda a, b: ad.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
         lambda a, b: _pdist(a, b, 2), (U(2, 3, 4), U(2, 2, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
         tag="mm", **_MM_TOL),
    # more than 25 rows: the default mode takes the mm form too
    Case("cdist", lambda a, b: ad.cdist(a, b), lambda a, b: _pdist(a, b, 2),
         (U(26, 2), U(2, 2, seed=1)), torch_fn=lambda torch, a, b: torch.cdist(a, b),
         tag="default_mm", **_MM_TOL),
    # products
    Case("kron", ad.kron, np.kron, (U(2, 3), U(4, seed=1)),
         torch_fn=lambda torch, a, b: torch.kron(a, b)),
    Case("kron", ad.kron, np.kron, (U(2, 1, 2), U(2, 3, seed=1)),
         torch_fn=lambda torch, a, b: torch.kron(a, b), tag="3d"),
    Case("Tensor.kron", lambda a, b: a.kron(b), np.kron, (U(2), U(3, seed=1)),
         torch_fn=lambda torch, a, b: a.kron(b)),
    Case("tensordot", lambda a, b: ad.tensordot(a, b), lambda a, b: np.tensordot(a, b),
         (U(2, 3, 4), U(3, 4, 2, seed=1)), torch_fn=lambda torch, a, b: torch.tensordot(a, b)),
    Case("tensordot", lambda a, b: ad.tensordot(a, b, dims=([2, 0], [0, 1])),
         lambda a, b: np.tensordot(a, b, ([2, 0], [0, 1])), (U(2, 3, 4), U(4, 2, 5, seed=1)),
         torch_fn=lambda torch, a, b: torch.tensordot(a, b, dims=([2, 0], [0, 1])),
         tag="lists"),
    Case("inner", ad.inner, np.inner, (U(2, 3), U(4, 3, seed=1)),
         torch_fn=lambda torch, a, b: torch.inner(a, b)),
    Case("inner", ad.inner, np.inner, (U(), U(2, 3, seed=1)),
         torch_fn=lambda torch, a, b: torch.inner(a, b), tag="scalar"),
    Case("Tensor.inner", lambda a, b: a.inner(b), np.inner, (U(3), U(3, seed=1)),
         torch_fn=lambda torch, a, b: a.inner(b)),
    Case("outer", ad.outer, np.outer, (U(3), U(2, seed=1)),
         torch_fn=lambda torch, a, b: torch.outer(a, b)),
    Case("cross", lambda a, b: ad.cross(a, b, dim=0), lambda a, b: _cross(a, b, 0),
         (U(3, 2), U(3, 1, seed=1)), torch_fn=lambda torch, a, b: torch.cross(a, b, dim=0)),
    Case("Tensor.cross", lambda a, b: a.cross(b, 1), lambda a, b: _cross(a, b, 1),
         (U(2, 3), U(2, 3, seed=1)), torch_fn=lambda torch, a, b: a.cross(b, 1)),
    Case("linalg.cross", ad.linalg.cross, lambda a, b: _cross(a, b, -1),
         (U(2, 3, 3), U(1, 1, 3, seed=1)), torch_fn=lambda torch, a, b: torch.linalg.cross(a, b)),
    # autodiff.linalg norms (A: entries clear of 0, where |x| has its kink)
    *[Case("linalg.vector_norm", lambda x, p=p: ad.linalg.vector_norm(x, p, dim=1),
           lambda x, p=p: _vnorm(x, p, 1), (A(2, 3, 2),),
           torch_fn=lambda torch, x, p=p: torch.linalg.vector_norm(x, p, dim=1), tag=f"ord{p}")
      for p in (2, 1, 3, 0.5, -1, _INF, -_INF, 0)],
    Case("linalg.vector_norm", lambda x: ad.linalg.vector_norm(x, 3, (0, 2), keepdim=True),
         lambda x: _vnorm(x, 3, (0, 2), True), (A(2, 3, 2),),
         torch_fn=lambda torch, x: torch.linalg.vector_norm(x, 3, (0, 2), keepdim=True),
         tag="dims_keepdim"),
    Case("linalg.vector_norm", lambda x: ad.linalg.vector_norm(x), lambda x: _vnorm(x, 2),
         (A(2, 3),), torch_fn=lambda torch, x: torch.linalg.vector_norm(x), tag="all"),
    *[Case("linalg.matrix_norm", lambda x, o=o: ad.linalg.matrix_norm(x, o),
           lambda x, o=o: np.stack([np.linalg.norm(m, o) for m in x]), (A(2, 3, 4),),
           torch_fn=lambda torch, x, o=o: torch.linalg.matrix_norm(x, o), tag=str(o))
      for o in ("fro", 1, -1, _INF, -_INF)],
    Case("linalg.norm", lambda x: ad.linalg.norm(x), lambda x: np.linalg.norm(x.ravel()),
         (A(2, 3, 2),), torch_fn=lambda torch, x: torch.linalg.norm(x), tag="default"),
    Case("linalg.norm", lambda x: ad.linalg.norm(x, 1), lambda x: np.linalg.norm(x, 1),
         (A(3, 4),), torch_fn=lambda torch, x: torch.linalg.norm(x, 1), tag="matrix1"),
    Case("linalg.norm", lambda x: ad.linalg.norm(x, 3, dim=-1, keepdim=True),
         lambda x: _vnorm(x, 3, -1, True), (A(2, 3),),
         torch_fn=lambda torch, x: torch.linalg.norm(x, 3, dim=-1, keepdim=True), tag="dim"),
    Case("linalg.diagonal", lambda x: ad.linalg.diagonal(x, offset=1),
         lambda x: np.diagonal(x, 1, -2, -1), (U(2, 3, 4),),
         torch_fn=lambda torch, x: torch.linalg.diagonal(x, offset=1)),
    Case("linalg.vecdot", lambda a, b: ad.linalg.vecdot(a, b, dim=0),
         lambda a, b: (a * b).sum(0), (U(3, 2), U(3, 1, seed=1)),
         torch_fn=lambda torch, a, b: torch.linalg.vecdot(a, b, dim=0)),
]
