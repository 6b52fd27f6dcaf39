"""Differentiable collectives (PyTorch's ``torch.distributed.nn.functional``).

``all_reduce(x)`` returns a new tensor ``y = sum over ranks of x`` that is recorded on the tape:
every rank's ``y`` depends on every rank's ``x``, so the gradient of the job's total loss with
respect to this rank's ``x`` is the sum over ranks of the gradients arriving at their ``y``,
that is, the backward is again an ``all_reduce`` (the same Function, so ``create_graph=True``
works). All ranks must run the backward, as they ran the forward.
"""
from __future__ import annotations

from ..function import Function
from ..tensor import Tensor, make
from . import collectives
from .group import ReduceOp

__all__ = ["all_reduce"]


class _AllReduce(Function):
    @staticmethod
    def forward(ctx, x: Tensor, op: ReduceOp, group) -> Tensor:
        ctx.op, ctx.group = op, group
        out = make(x.array.copy())
        collectives.all_reduce(out, op, group)
        return out

    @staticmethod
    def backward(ctx, g: Tensor):
        return _AllReduce.apply(g, ctx.op, ctx.group), None, None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None) -> Tensor:
    """Out-of-place, differentiable all-reduce (``SUM`` or ``AVG``)."""
    op = op if isinstance(op, ReduceOp) else ReduceOp(str(op).lower())
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise NotImplementedError(f"distributed.functional.all_reduce: ReduceOp.{op.name} has "
                                  f"no gradient here (use SUM or AVG)")
    return _AllReduce.apply(tensor, op, group)
