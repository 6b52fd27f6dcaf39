"""Primitives whose node attributes hold arrays computed by the forward (a softmax kept for
the backward, batch statistics): a replay remakes them with the outputs.

``REFRESH[name] = (fn, positions)``: ``fn(arrays, attrs) -> (outputs, attrs)`` runs the op's
forward on raw arrays and returns the outputs and the node attributes as the op records them;
``positions`` are the attributes it computes (the others come from the trace); each array among
them gets a slot of its own, so a step may read it (batch norm's statistics feed the running
averages).
"""
from __future__ import annotations

from ..backends import kernels_for
from ..ops import norm, pool
from ..ops import recurrent
from ..ops.loss import _ce_forward

__all__ = ["REFRESH"]


def _cross_entropy(arrays: list, attrs: tuple):
    (x2,) = arrays
    tf, ignore_index, reduction, tshape = attrs[:4]
    out, prob, count = _ce_forward(x2, tf, ignore_index, reduction, tshape)
    return (out,), (tf, ignore_index, reduction, tshape, prob, count)


def _conv2d(arrays: list, attrs: tuple):
    x, w = arrays[:2]
    bias = arrays[2] if len(arrays) > 2 else None
    geom, groups = attrs[:2]
    out, cols = kernels_for(*arrays).conv2d_forward(x, w, bias, geom, groups)
    return (out,), (geom, groups, cols)


def _batch_norm(arrays: list, attrs: tuple):
    eps, has_w, has_b = attrs[:3]
    out, mean, invstd, var = norm._forward(arrays, eps, has_w, has_b)
    return (out,), (eps, has_w, has_b, mean, invstd, var)


def _max_pool2d(arrays: list, attrs: tuple):
    out, idx = pool._forward(arrays[0], attrs[0])
    return (out,), (attrs[0], idx)


def _rnn(arrays: list, attrs: tuple):
    relu = attrs[0]
    hs, hT = recurrent._rnn_fw(*arrays, relu)
    return (recurrent._stack(hs), hT), (relu, hs)


def _gru(arrays: list, attrs: tuple):
    hs, hT, cache = recurrent._gru_fw(arrays)
    return (recurrent._stack(hs), hT), (hs, cache)


def _lstm(arrays: list, attrs):
    out, hT, cT, state = recurrent._lstm_fw(*arrays)
    return (out, hT, cT), state


# positions None: the op's attributes are all computed
REFRESH = {"cross_entropy": (_cross_entropy, (4, 5)), "conv2d": (_conv2d, (2,)),
           "conv2d_bias": (_conv2d, (2,)), "batch_norm": (_batch_norm, (3, 4, 5)), "max_pool2d": (_max_pool2d, (1,)),
           "rnn_relu_sequence": (_rnn, (1,)), "rnn_tanh_sequence": (_rnn, (1,)),
           "lstm_sequence": (_lstm, None), "gru_sequence": (_gru, None)}
