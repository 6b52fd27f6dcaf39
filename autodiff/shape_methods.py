"""Tensor methods of the shape, structure, product and sampling ops added for the PyTorch port
(PyTorch's names), bound by ``methods.py`` with the rest."""
from __future__ import annotations

from . import sampling
from .ops import diagonals as D, products as P, shape as S, stacking as K


def _diag(self, diagonal: int = 0):
    return D.diag(self, diagonal)


def _cross(self, other, dim: int | None = None):
    return P.cross(self, other, dim)


METHODS = {
    "roll": S.roll, "rot90": S.rot90, "fliplr": S.fliplr, "flipud": S.flipud,
    "unflatten": S.unflatten, "unfold": S.unfold, "movedim": S.movedim,
    "moveaxis": S.moveaxis, "swapdims": S.swapdims,
    "tensor_split": K.tensor_split,
    "tril": D.tril, "triu": D.triu, "diagonal": D.diagonal, "diag": _diag,
    "diag_embed": D.diag_embed, "trace": D.trace,
    "kron": P.kron, "inner": P.inner, "cross": _cross,
    **sampling.METHODS,
}
