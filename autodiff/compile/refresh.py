"""Primitives whose node attributes hold arrays computed by the forward (a softmax kept for
the backward, batch statistics): a replay remakes them with the outputs.

``REFRESH[name] = (fn, positions)``: ``fn(arrays, attrs) -> (outputs, attrs)`` runs the op's
forward on raw arrays and returns the outputs and the node attributes as the op records them;
``positions`` are the attributes it computes (the others come from the trace).
"""
from __future__ import annotations

from ..ops.loss import _ce_forward

__all__ = ["REFRESH"]


def _cross_entropy(arrays: list, attrs: tuple):
    (x2,) = arrays
    tf, ignore_index, reduction, tshape = attrs[:4]
    out, prob, count = _ce_forward(x2, tf, ignore_index, reduction, tshape)
    return (out,), (tf, ignore_index, reduction, tshape, prob, count)


REFRESH = {"cross_entropy": (_cross_entropy, (4, 5))}
