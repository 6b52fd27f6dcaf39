"""Differentiable collectives (PyTorch's ``torch.distributed.nn.functional``).

``all_reduce(x)`` returns a new tensor ``y = sum over ranks of x`` that is recorded on the tape:
every rank's ``y`` depends on every rank's ``x``, so the gradient of the job's total loss with
respect to this rank's ``x`` is the sum over ranks of the gradients arriving at their ``y``,
that is, the backward is again an ``all_reduce`` (written with this same function, so
``create_graph=True`` works). All ranks must run the backward, as they ran the forward.
"""
from __future__ import annotations

from ..tape import record
from ..tensor import Tensor, make
from . import collectives
from .group import ReduceOp

__all__ = ["all_reduce"]


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None) -> Tensor:
    """Out-of-place, differentiable all-reduce (``SUM`` or ``AVG``)."""
    op = op if isinstance(op, ReduceOp) else ReduceOp(str(op).lower())
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise NotImplementedError(f"distributed.functional.all_reduce: ReduceOp.{op.name} has "
                                  f"no gradient here (use SUM or AVG)")
    out = make(tensor.data.copy())
    collectives.all_reduce(out, op, group)
    return record("all_reduce", _all_reduce_bw, out.data, (tensor,), attrs=(op, group))


def _all_reduce_bw(ctx, g):
    op, group = ctx.attrs
    return (all_reduce(g, op, group),)
