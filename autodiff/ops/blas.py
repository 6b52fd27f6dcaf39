"""PyTorch's BLAS-style products: ``mm``, ``bmm``, ``mv`` (``matmul`` with the operand ranks
checked) and ``addmm``, ``baddbmm``, ``addmv`` (``beta * input + alpha * product``).

Composites of ``matmul`` and elementwise ops: their gradients, first and second order, are
those of the parts. As in PyTorch, with ``beta=0`` the values of ``input`` are ignored (NaN and
inf in it do not reach the result) and its gradient is zero.
"""
from __future__ import annotations

import numpy

from ..tensor import Tensor
from ._util import as_t
from .elementwise import add, mul, where
from .linalg import matmul

__all__ = ["mm", "bmm", "mv", "addmm", "baddbmm", "addmv"]


def _ranked(op: str, *named: tuple[str, Tensor, int]) -> list[Tensor]:
    """The operands as Tensors, each checked to have its required number of dimensions."""
    out = []
    for name, x, ndim in named:
        x = as_t(x)
        if x.ndim != ndim:
            raise RuntimeError(f"{op}: {name} must be a {ndim}-D tensor, got shape "
                               f"{tuple(x.shape)}")
        out.append(x)
    return out


def _product(op: str, a: Tensor, b: Tensor, inner: tuple[int, int]) -> Tensor:
    """``a @ b`` after checking the inner dimensions (and, for batches, the batch sizes)."""
    if a.shape[inner[0]] != b.shape[inner[1]] or (a.ndim == 3 and a.shape[0] != b.shape[0]):
        raise RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           f"multiplied")
    return matmul(a, b)


def mm(input, mat2) -> Tensor:  # noqa: A002  (PyTorch's argument names)
    """Matrix product of two 2-D tensors, ``(n, m) @ (m, p) -> (n, p)``."""
    a, b = _ranked("mm", ("input", input, 2), ("mat2", mat2, 2))
    return _product("mm", a, b, (1, 0))


def bmm(input, mat2) -> Tensor:  # noqa: A002
    """Batched matrix product of two 3-D tensors with the same batch size (no broadcasting)."""
    a, b = _ranked("bmm", ("input", input, 3), ("mat2", mat2, 3))
    return _product("bmm", a, b, (2, 1))


def mv(input, vec) -> Tensor:  # noqa: A002
    """Matrix-vector product, ``(n, m) @ (m,) -> (n,)``."""
    a, v = _ranked("mv", ("input", input, 2), ("vec", vec, 1))
    return _product("mv", a, v, (1, 0))


def _scaled_sum(op: str, input, product: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * product``, ``input`` broadcast to the product's shape."""
    x = as_t(input)
    try:
        fits = numpy.broadcast_shapes(x.shape, product.shape) == product.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: input of shape {tuple(x.shape)} cannot be broadcast to the "
                           f"product's shape {tuple(product.shape)}")
    if alpha != 1:
        product = mul(product, alpha)
    if beta == 0:   # input's values are ignored, its gradient is zero
        return add(product, where(x.xp.zeros(x.array.shape, dtype=bool), x, 0))
    return add(x if beta == 1 else mul(x, beta), product)


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1``, ``mat2``."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)
