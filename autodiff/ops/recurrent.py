"""Recurrent primitives: the whole time loop of a layer in one node (``rnn_tanh_sequence``,
``rnn_relu_sequence``, ``lstm_sequence``, ``gru_sequence``) and the one-hot input projection as
a row gather (``index_projection``). PyTorch's equations and gate orders:

* RNN:  ``h' = act(xw_t + h W_hh^T)``
* LSTM: gates ``i, f, g, o``; ``c' = f * c + i * g``, ``h' = o * tanh(c')``
* GRU:  gates ``r, z, n``; ``n = tanh(xw_n + r * (h W_hn^T + b_hn))``,
  ``h' = (1 - z) * n + z * h``

with ``xw = x W_ih^T + b`` projected for all steps before the loop (``nn.functional``). Per
step one fused gate matrix product and a few array operations; the backward (BPTT) runs on the
raw arrays and takes ``dW_hh`` in one product over all steps. The equations are written once,
over an adapter ``K``: raw arrays (:class:`_ArrayOps`) for the forward and first-order
backward, Tensor ops (:class:`_TensorOps`) under ``create_graph``, which recompute the forward
and run the same equations recorded, so higher derivatives work. Where the backend has fused
kernels (``kernels_for(...).lstm_sequence_forward``: numba on NumPy) the LSTM runs on them.
"""
from __future__ import annotations

from typing import Optional

from .. import backends
from ..backends import get_array_module
from ..grad_mode import STATE
from ..tape import record, record_multi
from ..tensor import Tensor, make
from .elementwise import relu, sigmoid, tanh
from .index import index_add_into
from .linalg import matmul
from .reduce import sum as _sum
from .registry import primitive
from .shape import cat, reshape, stack, transpose

__all__ = ["rnn_sequence", "lstm_sequence", "gru_sequence", "index_projection"]


# ------------------------------------------------------------------------------ array adapters
class _ArrayOps:
    """The kernels' operations on raw arrays (NumPy or CuPy), the fast path."""

    def __init__(self, xp) -> None:
        self.xp = xp

    def tanh(self, x):
        return self.xp.tanh(x)

    def sigmoid(self, x):
        # 0.5 * (1 + tanh(x / 2)): stable for any x, one transcendental call
        y = self.xp.tanh(x * 0.5)
        y *= 0.5
        y += 0.5
        return y

    def relu(self, x):
        return self.xp.maximum(x, 0)

    def relu_mask(self, h):
        return (h > 0).astype(h.dtype)

    def mm(self, a, b):
        return a @ b

    def t(self, w):
        return w.T

    def cat(self, xs):
        return self.xp.concatenate(xs, axis=1)

    def stack(self, xs):
        return self.xp.stack(xs)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def sum01(self, x):
        return x.sum(axis=(0, 1))


class _TensorOps:
    """The same operations as Tensor ops (recorded: used under ``create_graph``)."""

    xp = None

    tanh = staticmethod(tanh)
    sigmoid = staticmethod(sigmoid)
    relu = staticmethod(relu)
    mm = staticmethod(matmul)

    @staticmethod
    def relu_mask(h):
        return make((h.array > 0).astype(h.dtype))

    @staticmethod
    def t(w):
        return transpose(w, 0, 1)

    @staticmethod
    def cat(xs):
        return cat(xs, dim=1)

    @staticmethod
    def stack(xs):
        return stack(xs)

    @staticmethod
    def reshape(x, shape):
        return reshape(x, shape)

    @staticmethod
    def sum01(x):
        return _sum(x, axis=(0, 1))


# ------------------------------------------------------------------------------ kernels
# Each forward returns (list of h_t, h_T, [c_T,] cache); each backward returns the gradients of
# (xw, h0, [c0,] w_hh, [b_hh]). They are written once for arrays and Tensors alike.

def _rnn_forward(K, xw, h0, w_hh, relu: bool):
    wt = K.t(w_hh)
    h = h0
    hs = []
    for t in range(xw.shape[0]):
        pre = xw[t] + K.mm(h, wt)
        h = K.relu(pre) if relu else K.tanh(pre)
        hs.append(h)
    return hs, h, None


def _rnn_backward(K, hs, h0, w_hh, g_hs, g_hT, relu: bool):
    T = len(hs)
    dh_next = g_hT
    dps = [None] * T
    for t in range(T - 1, -1, -1):
        dh = g_hs[t] + dh_next
        h = hs[t]
        dp = dh * K.relu_mask(h) if relu else dh * (1 - h * h)
        dps[t] = dp
        dh_next = K.mm(dp, w_hh)
    dxw = K.stack(dps)
    dw = _weight_grad(K, dxw, h0, hs)
    return dxw, dh_next, dw


def _weight_grad(K, dgates, h0, hs):
    """sum_t dgates_t^T h_{t-1} as one product over all steps."""
    T, B, G = dgates.shape
    H = h0.shape[-1]
    hprev = K.stack([h0] + list(hs[:-1]))
    return K.mm(K.t(K.reshape(dgates, (T * B, G))), K.reshape(hprev, (T * B, H)))


def _lstm_forward(K, xw, h0, c0, w_hh):
    wt = K.t(w_hh)
    H = h0.shape[-1]
    h, c = h0, c0
    hs, cache = [], []
    for t in range(xw.shape[0]):
        gates = xw[t] + K.mm(h, wt)
        i = K.sigmoid(gates[:, :H])
        f = K.sigmoid(gates[:, H:2 * H])
        g = K.tanh(gates[:, 2 * H:3 * H])
        o = K.sigmoid(gates[:, 3 * H:])
        c_prev = c
        c = f * c_prev + i * g
        tc = K.tanh(c)
        h = o * tc
        hs.append(h)
        cache.append((i, f, g, o, c_prev, tc))
    return hs, h, c, cache


def _lstm_backward(K, hs, cache, h0, w_hh, g_hs, g_hT, g_cT):
    T = len(hs)
    dh_next, dc_next = g_hT, g_cT
    dgs = [None] * T
    for t in range(T - 1, -1, -1):
        i, f, g, o, c_prev, tc = cache[t]
        dh = g_hs[t] + dh_next
        do = dh * tc
        dc = dc_next + dh * o * (1 - tc * tc)
        di = dc * g
        dg = dc * i
        df = dc * c_prev
        dc_next = dc * f
        dgates = K.cat([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g),
                        do * o * (1 - o)])
        dgs[t] = dgates
        dh_next = K.mm(dgates, w_hh)
    dxw = K.stack(dgs)
    dw = _weight_grad(K, dxw, h0, hs)
    return dxw, dh_next, dc_next, dw


def _gru_forward(K, xw, h0, w_hh, b_hh):
    wt = K.t(w_hh)
    H = h0.shape[-1]
    h = h0
    hs, cache = [], []
    for t in range(xw.shape[0]):
        hh = K.mm(h, wt)
        if b_hh is not None:
            hh = hh + b_hh
        x = xw[t]
        r = K.sigmoid(x[:, :H] + hh[:, :H])
        z = K.sigmoid(x[:, H:2 * H] + hh[:, H:2 * H])
        hn = hh[:, 2 * H:]
        n = K.tanh(x[:, 2 * H:] + r * hn)
        h_prev = h
        h = n + z * (h_prev - n)
        hs.append(h)
        cache.append((r, z, n, hn, h_prev))
    return hs, h, cache


def _gru_backward(K, hs, cache, h0, w_hh, g_hs, g_hT, has_bias: bool):
    T = len(hs)
    dh_next = g_hT
    dxs, dhhs = [None] * T, [None] * T
    for t in range(T - 1, -1, -1):
        r, z, n, hn, h_prev = cache[t]
        dh = g_hs[t] + dh_next
        dz = dh * (h_prev - n)
        dnp = dh * (1 - z) * (1 - n * n)
        drp = dnp * hn * r * (1 - r)
        dzp = dz * z * (1 - z)
        dxs[t] = K.cat([drp, dzp, dnp])
        dhh = K.cat([drp, dzp, dnp * r])
        dhhs[t] = dhh
        dh_next = dh * z + K.mm(dhh, w_hh)
    dxw = K.stack(dxs)
    dhh_all = K.stack(dhhs)
    dw = _weight_grad(K, dhh_all, h0, hs)
    db = K.sum01(dhh_all) if has_bias else None
    return dxw, dh_next, dw, db


def _grads_needed(ctx, grads):
    return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))


def _rnn_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, relu: bool):
    hs, hT = _rnn_fw(xw.array, h0.array, w_hh.array, relu)
    res = record_multi(RNN_RELU if relu else RNN_TANH, (_stack(hs), hT), (xw, h0, w_hh),
                       saved=(xw, h0, w_hh), attrs=(relu, hs))
    return res[0], res[1]


def _stack(arrays):
    return get_array_module(arrays[0]).stack(arrays)


def _rnn_fw(xw, h0, w_hh, relu, hs=None):
    hs, hT, _ = _rnn_forward(_ArrayOps(get_array_module(xw)), xw, h0, w_hh, relu)
    return hs, hT


def _rnn_run(xw, h0, w_hh, relu, hs=None):
    hs, hT = _rnn_fw(xw, h0, w_hh, relu)
    return _stack(hs), hT


def _rnn_sequence_bw(ctx, g_out, g_hT):
    relu, hs = ctx.attrs
    xw, h0, w_hh = ctx.saved_tensors
    if STATE.enabled:          # create_graph: the same equations, recorded
        K = _TensorOps()
        hs_t, _, _ = _rnn_forward(K, xw, h0, w_hh, relu)
        grads = _rnn_backward(K, hs_t, h0, w_hh, g_out, g_hT, relu)
    else:
        K = _ArrayOps(get_array_module(g_out.array))
        grads = tuple(make(a) for a in _rnn_backward(K, hs, h0.array, w_hh.array, g_out.array,
                                                     g_hT.array, relu))
    return _grads_needed(ctx, grads)


def rnn_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, relu: bool) -> tuple:
    """Run ``h_t = act(xw[t] + h_{t-1} W_hh^T)`` (tanh, or ReLU when ``relu``) over all steps
    of ``xw`` (T, B, H), biases already folded into ``xw``. Returns (outputs (T, B, H), h_T)."""
    return _rnn_sequence(xw, h0, w_hh, relu)


def _seq_infer(in_meta, *attrs):
    """(outputs (T, B, H), h_T (B, H)) from xw (T, B, G) and h0 (B, H)."""
    (T, B, _), dtype = in_meta[0]
    return (((T, B, in_meta[1][0][1]), dtype), (in_meta[1][0], dtype))


def _lstm_infer(in_meta, *attrs):
    """(outputs, h_T, c_T)."""
    return _seq_infer(in_meta) + ((in_meta[1][0], in_meta[0][1]),)


RNN_TANH = primitive("rnn_tanh_sequence", _rnn_sequence_bw, forward=_rnn_run,
                     inputs=("xw", "h0", "w_hh"), attrs=("relu", "hs"),
                     saves=("xw", "h0", "w_hh"), infer=_seq_infer, outputs=2)
RNN_RELU = primitive("rnn_relu_sequence", _rnn_sequence_bw, forward=_rnn_run,
                     inputs=("xw", "h0", "w_hh"), attrs=("relu", "hs"),
                     saves=("xw", "h0", "w_hh"), infer=_seq_infer, outputs=2)


def lstm_sequence(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> tuple:
    """Run the LSTM recurrence over ``xw`` (T, B, 4H) (input projection plus both biases).
    Returns (outputs (T, B, H), h_T, c_T). The backend's fused kernels run where it has them
    (numba on NumPy), else the generic array equations."""
    out, hT, cT, state = _lstm_fw(xw.array, h0.array, c0.array, w_hh.array)
    return record_multi(LSTM, (out, hT, cT), (xw, h0, c0, w_hh),
                        saved=(xw, h0, c0, w_hh), attrs=state)


def _lstm_fw(xw, h0, c0, w_hh, state=None):
    """(outputs, h_T, c_T, state for the backward: (fused kernel namespace or None, ...))."""
    k = backends.kernels_for(xw, h0, c0, w_hh)
    if k.lstm_sequence_forward is not None:
        out, hT, cT, st = k.lstm_sequence_forward(xw, h0, c0, w_hh)
        return out, hT, cT, (k, st)
    hs, hT, cT, cache = _lstm_forward(_ArrayOps(get_array_module(xw)), xw, h0, c0, w_hh)
    return _stack(hs), hT, cT, (None, (hs, cache))


def _lstm_run(xw, h0, c0, w_hh, state=None):
    return _lstm_fw(xw, h0, c0, w_hh)[:3]


def _lstm_sequence_bw(ctx, g_out, g_hT, g_cT):
    k, state = ctx.attrs
    xw, h0, c0, w_hh = ctx.saved_tensors
    if STATE.enabled:
        K = _TensorOps()
        hs_t, _, _, cache_t = _lstm_forward(K, xw, h0, c0, w_hh)
        grads = _lstm_backward(K, hs_t, cache_t, h0, w_hh, g_out, g_hT, g_cT)
    elif k is not None:
        grads = tuple(make(a) for a in k.lstm_sequence_backward(state, w_hh.array, g_out.array,
                                                               g_hT.array, g_cT.array))
    else:
        hs, cache = state
        K = _ArrayOps(get_array_module(g_out.array))
        grads = tuple(make(a) for a in _lstm_backward(K, hs, cache, h0.array, w_hh.array,
                                                      g_out.array, g_hT.array, g_cT.array))
    return _grads_needed(ctx, grads)


LSTM = primitive("lstm_sequence", _lstm_sequence_bw, forward=_lstm_run,
                 inputs=("xw", "h0", "c0", "w_hh"), attrs="state",
                 saves=("xw", "h0", "c0", "w_hh"), infer=_lstm_infer, outputs=3)


def gru_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor] = None) -> tuple:
    """Run the GRU recurrence over ``xw = x W_ih^T + b_ih`` (T, B, 3H); ``b_hh`` stays inside
    (the reset gate multiplies ``h W_hn^T + b_hn``). Returns (outputs (T, B, H), h_T)."""
    inputs = (xw, h0, w_hh) if b_hh is None else (xw, h0, w_hh, b_hh)
    hs, hT, cache = _gru_fw([t.array for t in inputs])
    res = record_multi(GRU, (_stack(hs), hT), inputs, saved=inputs, attrs=(hs, cache))
    return res[0], res[1]


def _gru_fw(arrays):
    xw, h0, w_hh = arrays[:3]
    return _gru_forward(_ArrayOps(get_array_module(xw)), xw, h0, w_hh,
                        arrays[3] if len(arrays) > 3 else None)


def _gru_run(arrays, hs=None, cache=None):
    hs, hT, _ = _gru_fw(arrays)
    return _stack(hs), hT


def _gru_sequence_bw(ctx, g_out, g_hT):
    hs, cache = ctx.attrs
    saved = ctx.saved_tensors
    xw, h0, w_hh = saved[:3]
    b_hh = saved[3] if len(saved) > 3 else None
    if STATE.enabled:
        K = _TensorOps()
        hs_t, _, cache_t = _gru_forward(K, xw, h0, w_hh, b_hh)
        grads = _gru_backward(K, hs_t, cache_t, h0, w_hh, g_out, g_hT, b_hh is not None)
    else:
        K = _ArrayOps(get_array_module(g_out.array))
        grads = tuple(None if a is None else make(a) for a in _gru_backward(
            K, hs, cache, h0.array, w_hh.array, g_out.array, g_hT.array, b_hh is not None))
    return _grads_needed(ctx, grads[:len(saved)])


#: inputs (xw, h0, w_hh) or (xw, h0, w_hh, b_hh)
GRU = primitive("gru_sequence", _gru_sequence_bw, forward=_gru_run, inputs="*tensors",
                attrs=("hs", "cache"), saves="*tensors", infer=_seq_infer, outputs=2)


# ------------------------------------------------------------------------------ one-hot input
def index_projection(idx, w_ih: Tensor, b_ih: Optional[Tensor] = None,
                     b_hh: Optional[Tensor] = None, bad=None) -> Tensor:
    """``one_hot(idx) W_ih^T (+ b_ih) (+ b_hh)`` for the checked row numbers ``idx`` in
    [0, V), as a row gather of ``W_ih^T`` (``idx.shape + (G,)``); NaN rows where the mask
    ``bad`` is set. The weight gradient is a scatter-add of the output gradient's rows."""
    inputs = (w_ih,) + tuple(b for b in (b_ih, b_hh) if b is not None)
    out = _projection_fw([t.array for t in inputs], idx)
    if bad is not None:
        xp = get_array_module(out)
        out = xp.where(bad[..., None], xp.asarray(float("nan"), dtype=out.dtype), out)
    return record(INDEX_PROJECTION, out, inputs, attrs=(idx, w_ih.shape[1], len(inputs) - 1))


def _projection_fw(arrays, idx, V=None, nb=None):
    table = arrays[0].T                                        # (V, G)
    if len(arrays) == 3:
        table = table + (arrays[1] + arrays[2])                # as x W^T + (b_ih + b_hh)
    elif len(arrays) == 2:
        table = table + arrays[1]
    k = backends.kernels_for(table, idx)
    if k.index_projection_forward is not None:
        return k.index_projection_forward(table, idx)
    return get_array_module(table).take(table, idx, axis=0)


def _index_projection_bw(ctx, g):
    idx, V, nb = ctx.attrs
    G = g.shape[-1]
    flat = idx.reshape(-1)
    k = backends.kernels_for(g.array, flat)
    if not STATE.enabled and k.index_projection_backward is not None:
        gw, gb = k.index_projection_backward(flat, g.array.reshape(-1, G), V, bool(nb))
        gw, gb = make(gw), (make(gb) if nb else None)
    else:            # scatter-add of the rows (recorded under create_graph: its VJP gathers)
        g2 = reshape(g, (-1, G))
        gw = transpose(index_add_into(g2, (V, G), (flat,), True), 0, 1)
        gb = _sum(g2, axis=0) if nb else None
    return (gw,) + (gb,) * nb


def _projection_infer(in_meta, idx, V, nb):
    return ((tuple(idx.shape) + (in_meta[0][0][0],), in_meta[0][1]),)


#: inputs (w_ih[, b_ih][, b_hh])
INDEX_PROJECTION = primitive("index_projection", _index_projection_bw, forward=_projection_fw,
                             inputs="*tensors", attrs=("indices", "classes", "biases"),
                             infer=_projection_infer)
