"""Primitives of the dense layers: ``linear`` (``input @ weight.T + bias`` in one node),
``dropout`` (the input times a constant mask), ``embedding`` (rows of a table) and
``embedding_grad_scale`` (the identity whose gradient is scaled per lookup).
``nn.functional`` checks the arguments, draws dropout's mask and builds the scales.
"""
from __future__ import annotations

from numpy import result_type

from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor, make
from ._util import same_dtype
from .elementwise import mul
from .index import index_add_into
from .linalg import matmul, outer
from .reduce import sum as _sum
from .registry import SAME, primitive
from .shape import reshape, transpose

__all__ = ["linear", "dropout", "embedding", "embedding_grad_scale"]


# ----------------------------------------------------------------------------- linear
def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ w.T (+ b)``: x (..., in), w (out, in), b (out,) or (); shapes already checked;
    one dtype (as in PyTorch, no promotion)."""
    same_dtype("linear", ("input", x), ("weight", w), ("bias", b))
    if b is None:
        return record(LINEAR, _linear_fw([x.array, w.array]), (x, w), (x, w))
    return record(LINEAR, _linear_fw([x.array, w.array, b.array]), (x, w, b), (x, w, b))


def _linear_fw(arrays):
    out = arrays[0] @ arrays[1].T
    if len(arrays) == 3:
        out += arrays[2]
    return out


def _linear_bw(ctx, g):
    x, w = ctx.saved_tensors[:2]
    need = ctx.needs_input_grad
    gx = matmul(g, w) if need[0] else None
    gw = gb = None
    if need[1] or (len(need) > 2 and need[2]):
        g2 = g if g.ndim == 2 else reshape(g, (-1, g.shape[-1]))
        if need[1]:
            x2 = x if x.ndim == 2 else reshape(x, (-1, x.shape[-1]))
            gw = matmul(transpose(g2), x2) if x.ndim >= 2 else outer(g, x)
        if len(need) > 2 and need[2]:
            gb = _sum(g2, axis=0) if g.ndim >= 2 else g
    return (gx, gw) if len(need) == 2 else (gx, gw, gb)


def _linear_infer(in_meta):
    (xs, _), (ws, _) = in_meta[:2]
    return ((tuple(xs[:-1]) + (ws[0],), result_type(*[d for _, d in in_meta])),)


#: inputs (input, weight) or (input, weight, bias): the rule reads input and weight
LINEAR = primitive("linear", _linear_bw, forward=_linear_fw, inputs="*tensors",
                   saves="*tensors", infer=_linear_infer)


# ----------------------------------------------------------------------------- constant scales
def dropout(x: Tensor, mask) -> Tensor:
    """``x * mask`` for the constant array ``mask`` (zeros and 1/(1-p))."""
    return record(DROPOUT, x.array * mask, (x,), attrs=mask)


def _mul_attrs_bw(ctx, g):
    """The gradient times the constant array ``ctx.attrs``."""
    return (mul(g, make(ctx.attrs)),)


def embedding_grad_scale(x: Tensor, scale) -> Tensor:
    """``x`` itself, with the gradient multiplied by the constant array ``scale``."""
    return record(EMBEDDING_GRAD_SCALE, x.array, (x,), attrs=scale)


def _mul_fw(x, mask):
    return x * mask


def _identity_fw(x, scale):
    return x


DROPOUT = primitive("dropout", _mul_attrs_bw, forward=_mul_fw, inputs="x", attrs="mask",
                    infer=SAME)
EMBEDDING_GRAD_SCALE = primitive("embedding_grad_scale", _mul_attrs_bw, forward=_identity_fw,
                                 inputs="x", attrs="scale", infer=SAME)


# ----------------------------------------------------------------------------- embedding
def embedding(w: Tensor, idx, bad=None) -> Tensor:
    """The rows of ``w`` at the integer array ``idx`` (checked); NaN rows where the boolean
    mask ``bad`` is set (out-of-range ids on a GPU, see ``nn/input_checks.py``)."""
    out = _embedding_fw(w.array, idx, w.shape)
    if bad is not None:
        xp = get_array_module(out)
        out = xp.where(bad[..., None], xp.asarray(float("nan"), dtype=out.dtype), out)
    return record(EMBEDDING, out, (w,), attrs=(idx, w.shape))


def _embedding_fw(w, idx, shape):
    return get_array_module(w).take(w, idx, axis=0)


def _embedding_bw(ctx, g):
    """The rows of the gradient added into a zero table at their indices (a scatter-add,
    differentiable again: its VJP gathers the rows)."""
    idx, shape = ctx.attrs
    return (index_add_into(g, shape, (idx,), True),)


def _embedding_infer(in_meta, idx, shape):
    return ((tuple(idx.shape) + (shape[1],), in_meta[0][1]),)


EMBEDDING = primitive("embedding", _embedding_bw, forward=_embedding_fw, inputs="weight",
                      attrs=("indices", "shape"), infer=_embedding_infer)
