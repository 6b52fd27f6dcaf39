"""Functional recurrent cells (tanh/ReLU RNN, LSTM, GRU) and their fused sequence kernels.

The equations and gate orders are PyTorch's:

* RNN:  ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``
* LSTM: gates ``i, f, g, o`` (rows of ``W_ih``/``W_hh`` in that order);
  ``c' = f * c + i * g``, ``h' = o * tanh(c')``
* GRU:  gates ``r, z, n``; ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``,
  ``h' = (1 - z) * n + z * h``

Speed: a layer projects the inputs of *all* time steps in one matrix product before the time
loop (``xw = x W_ih^T + b``), and the loop itself runs inside one recorded primitive per layer
(``rnn_tanh_sequence``, ``lstm_sequence``, ``gru_sequence``): per step one fused gate matrix
product and a few array operations, with the backward (BPTT) written on the raw arrays and the
weight gradient ``dW_hh`` taken in one product over all steps at the end. The cells are the
same primitives with one time step.

On NumPy the LSTM's pointwise step work is fused with numba when it is installed (optional;
the generic array kernels run otherwise): NumPy computes the gate tanh's vectorised, one
compiled pass makes the sigmoids and the cell update, one the whole pointwise backward.

Higher derivatives: when the backward runs with ``create_graph=True`` the primitives recompute
the forward and run the *same* equations with Tensor operations, so ``gradgradcheck`` and
Hessian-vector products work through them.
"""
from __future__ import annotations

from typing import Optional

import autodiff as ad
from autodiff.backends import get_array_module
from autodiff.backends.jit import HAVE_NUMBA, njit
from autodiff.backends.pool import pooled_empty
from autodiff.tape import record_multi_rule as record_multi  # issue 12 phase 2: into ops
from autodiff.tape import record_rule as record
from autodiff.ops.index import index_add_into
from autodiff.tensor import Tensor, make

from .input_checks import poison, row_ids

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_tanh_sequence",
           "rnn_relu_sequence", "lstm_sequence", "gru_sequence", "input_projection",
           "index_projection"]


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

    tanh = staticmethod(ad.tanh)
    sigmoid = staticmethod(ad.sigmoid)
    relu = staticmethod(ad.relu)
    mm = staticmethod(ad.matmul)

    @staticmethod
    def relu_mask(h):
        return make((h.data > 0).astype(h.dtype))

    @staticmethod
    def t(w):
        return ad.transpose(w, 0, 1)

    @staticmethod
    def cat(xs):
        return ad.cat(xs, dim=1)

    @staticmethod
    def stack(xs):
        return ad.stack(xs)

    @staticmethod
    def reshape(x, shape):
        return ad.reshape(x, shape)

    @staticmethod
    def sum01(x):
        return ad.sum(x, axis=(0, 1))


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


# ------------------------------------------------------------------------------ numba LSTM
# On NumPy arrays the LSTM's pointwise work per step (4 activations, the cell update and their
# derivatives: ~25 array passes) costs more than the gate matrix product; with numba it is one
# fused pass per step forward and one backward. Without numba the generic kernels above run.
USE_NUMBA = HAVE_NUMBA
_jit = njit


@_jit
def _lstm_fw_pre(gates, xw, scale):  # pragma: no cover - compiled
    """gates += xw * scale (the input projection, half-scaled for the sigmoid gates)."""
    B, G = gates.shape
    for b in range(B):
        a = gates[b]
        x = xw[b]
        for k in range(G):
            a[k] = a[k] + x[k] * scale[k]


@_jit
def _lstm_fw_point(acts, c_prev, c):  # pragma: no cover - compiled
    """acts holds tanh of the (half-scaled for i, f, o) gate pre-activations: turn i, f, o into
    sigmoids in place (sigmoid(x) = (1 + tanh(x / 2)) / 2) and write c = f * c_prev + i * g.
    The transcendental functions stay in NumPy, which vectorises them. (Row views keep the
    inner loops free of aliasing checks, so LLVM vectorises them.)"""
    B, G = acts.shape
    H = G // 4
    for b in range(B):
        a = acts[b]
        ai = a[:H]
        af = a[H:2 * H]
        ag = a[2 * H:3 * H]
        ao = a[3 * H:]
        cp = c_prev[b]
        cb = c[b]
        for j in range(H):
            i = 0.5 * ai[j] + 0.5
            f = 0.5 * af[j] + 0.5
            ai[j] = i
            af[j] = f
            ao[j] = 0.5 * ao[j] + 0.5
            cb[j] = f * cp[j] + i * ag[j]


@_jit
def _lstm_bw_point(acts, c_prev, tc, g_h, dh_next, dc, dgates):  # pragma: no cover
    """The pointwise LSTM backward of one step; ``dc`` holds dL/dc_t on entry and is
    overwritten with dL/dc_{t-1}."""
    B, G = acts.shape
    H = G // 4
    for b in range(B):
        a = acts[b]
        ai = a[:H]
        af = a[H:2 * H]
        ag = a[2 * H:3 * H]
        ao = a[3 * H:]
        d = dgates[b]
        di = d[:H]
        df = d[H:2 * H]
        dg = d[2 * H:3 * H]
        do = d[3 * H:]
        cp = c_prev[b]
        tb = tc[b]
        gh = g_h[b]
        dn = dh_next[b]
        dcb = dc[b]
        for j in range(H):
            i = ai[j]
            f = af[j]
            g = ag[j]
            o = ao[j]
            t = tb[j]
            dh = gh[j] + dn[j]
            dcc = dcb[j] + dh * o * (1 - t * t)
            di[j] = dcc * g * i * (1 - i)
            df[j] = dcc * cp[j] * f * (1 - f)
            dg[j] = dcc * i * (1 - g * g)
            do[j] = dh * t * o * (1 - o)
            dcb[j] = dcc * f


@_jit
def _scatter_rows(ids, g, acc, bacc):  # pragma: no cover - compiled
    """acc[ids[r]] += g[r] for every row r (the gradient of a row gather); bacc += sum_r g[r]
    (a float64 accumulator)."""
    N, G = g.shape
    for r in range(N):
        a = acc[ids[r]]
        x = g[r]
        for k in range(G):
            a[k] += x[k]
            bacc[k] += x[k]


def _use_numba(*arrays) -> bool:
    import numpy as np
    return USE_NUMBA and all(type(a) is np.ndarray for a in arrays)


def _lstm_forward_numba(xw, h0, c0, w_hh):
    """Returns (hbuf, cache): hbuf (T + 1, B, H) holds h_0 and the outputs h_1..h_T (the
    outputs are hbuf[1:], the previous states of every step hbuf[:-1])."""
    import numpy as np
    T, B, G = xw.shape
    H = G // 4
    dt = xw.dtype
    xw = np.ascontiguousarray(xw)
    c0 = np.ascontiguousarray(c0, dtype=dt)
    scale = np.full(G, 0.5, dt)
    scale[2 * H:3 * H] = 1.0
    # h @ W^T with W (G, H) row-major, a transposed view: OpenBLAS is faster on it than on a
    # contiguous (H, G) copy
    wt = np.ascontiguousarray(w_hh * scale[:, None], dtype=dt).T
    acts = pooled_empty((T, B, G), dt)
    cs = pooled_empty((T, B, H), dt)
    tcs = pooled_empty((T, B, H), dt)
    hbuf = pooled_empty((T + 1, B, H), dt)
    hbuf[0] = h0
    c = c0
    for t in range(T):
        a = acts[t]
        np.matmul(hbuf[t], wt, out=a)
        _lstm_fw_pre(a, xw[t], scale)                  # sigmoid(x) = (1 + tanh(x/2)) / 2
        np.tanh(a, out=a)
        _lstm_fw_point(a, c, cs[t])
        np.tanh(cs[t], out=tcs[t])
        np.multiply(a[:, 3 * H:], tcs[t], out=hbuf[t + 1])
        c = cs[t]
    return hbuf, (acts, cs, tcs, c0)


def _lstm_backward_numba(hbuf, cache, w_hh, g_hs, g_hT, g_cT):
    import numpy as np
    acts, cs, tcs, c0 = cache
    T, B, G = acts.shape
    H = G // 4
    dt = acts.dtype
    w = np.ascontiguousarray(w_hh, dtype=dt)
    g_hs = np.ascontiguousarray(g_hs, dtype=dt)
    dgates = pooled_empty((T, B, G), dt)
    dh = np.array(g_hT, dtype=dt, order="C")
    dc = np.array(g_cT, dtype=dt, order="C")
    for t in range(T - 1, -1, -1):
        _lstm_bw_point(acts[t], cs[t - 1] if t > 0 else c0, tcs[t], g_hs[t], dh, dc,
                       dgates[t])
        np.matmul(dgates[t], w, out=dh)
    dw = dgates.reshape(T * B, G).T @ hbuf[:-1].reshape(T * B, H)
    return dgates, dh, dc, dw


# ------------------------------------------------------------------------------ primitives
def _check(xw: Tensor, h0: Tensor, w_hh: Tensor, gates: int, name: str) -> None:
    if xw.ndim != 3 or h0.ndim != 2:
        raise ValueError(f"{name}: expects xw of shape (T, B, {gates}*H) and h0 of shape (B, H),"
                         f" got {xw.shape} and {h0.shape}")
    T, B, G = xw.shape
    H = h0.shape[1]
    if G != gates * H or h0.shape[0] != B or w_hh.shape != (gates * H, H):
        raise ValueError(f"{name}: inconsistent shapes xw {xw.shape}, h0 {h0.shape}, w_hh "
                         f"{w_hh.shape} (expected ({gates}*H, H) with H={H})")


def _grads_needed(ctx, grads):
    return tuple(g if need else None for g, need in zip(grads, ctx.needs_input_grad))


def _rnn_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, relu: bool):
    name = "rnn_relu_sequence" if relu else "rnn_tanh_sequence"
    _check(xw, h0, w_hh, 1, name)
    K = _ArrayOps(get_array_module(xw.data))
    hs, hT, _ = _rnn_forward(K, xw.data, h0.data, w_hh.data, relu)
    out = K.stack(hs)
    res = record_multi(name, _rnn_sequence_bw, (out, hT), (xw, h0, w_hh),
                       saved=(xw, h0, w_hh), attrs=(relu, hs))
    return res[0], res[1]


def _rnn_sequence_bw(ctx, g_out, g_hT):
    relu, hs = ctx.attrs
    xw, h0, w_hh = ctx.saved_tensors
    if ad.is_grad_enabled():          # create_graph: the same equations, recorded
        K = _TensorOps()
        hs_t, _, _ = _rnn_forward(K, xw, h0, w_hh, relu)
        grads = _rnn_backward(K, hs_t, h0, w_hh, g_out, g_hT, relu)
    else:
        K = _ArrayOps(get_array_module(g_out.data))
        grads = tuple(make(a) for a in _rnn_backward(K, hs, h0.data, w_hh.data, g_out.data,
                                                     g_hT.data, relu))
    return _grads_needed(ctx, grads)


def rnn_tanh_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor) -> tuple:
    """Run ``h_t = tanh(xw[t] + h_{t-1} W_hh^T)`` over all steps of ``xw`` (T, B, H), biases
    already folded into ``xw``. Returns (outputs (T, B, H), h_T)."""
    return _rnn_sequence(xw, h0, w_hh, relu=False)


def rnn_relu_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor) -> tuple:
    """:func:`rnn_tanh_sequence` with ReLU."""
    return _rnn_sequence(xw, h0, w_hh, relu=True)


def lstm_sequence(xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor) -> tuple:
    """Run the LSTM recurrence over ``xw`` (T, B, 4H) (input projection plus both biases).
    Returns (outputs (T, B, H), h_T, c_T)."""
    _check(xw, h0, w_hh, 4, "lstm_sequence")
    if c0.shape != h0.shape:
        raise ValueError(f"lstm_sequence: c0 has shape {c0.shape}, h0 {h0.shape}")
    if _use_numba(xw.data, h0.data, c0.data, w_hh.data):
        hs, cache = _lstm_forward_numba(xw.data, h0.data, c0.data, w_hh.data)
        out, hT, cT = hs[1:], hs[-1].copy(), cache[1][-1].copy()
        cache = ("numba", cache)
    else:
        K = _ArrayOps(get_array_module(xw.data))
        hs, hT, cT, cache = _lstm_forward(K, xw.data, h0.data, c0.data, w_hh.data)
        out = K.stack(hs)
    return record_multi("lstm_sequence", _lstm_sequence_bw, (out, hT, cT), (xw, h0, c0, w_hh),
                        saved=(xw, h0, c0, w_hh), attrs=(hs, cache))


def _lstm_sequence_bw(ctx, g_out, g_hT, g_cT):
    hs, cache = ctx.attrs
    xw, h0, c0, w_hh = ctx.saved_tensors
    if ad.is_grad_enabled():
        K = _TensorOps()
        hs_t, _, _, cache_t = _lstm_forward(K, xw, h0, c0, w_hh)
        grads = _lstm_backward(K, hs_t, cache_t, h0, w_hh, g_out, g_hT, g_cT)
    elif isinstance(cache, tuple) and cache and cache[0] == "numba":
        grads = tuple(make(a) for a in _lstm_backward_numba(hs, cache[1], w_hh.data,
                                                            g_out.data, g_hT.data, g_cT.data))
    else:
        K = _ArrayOps(get_array_module(g_out.data))
        grads = tuple(make(a) for a in _lstm_backward(K, hs, cache, h0.data, w_hh.data,
                                                      g_out.data, g_hT.data, g_cT.data))
    return _grads_needed(ctx, grads)


def gru_sequence(xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor] = None) -> tuple:
    """Run the GRU recurrence over ``xw = x W_ih^T + b_ih`` (T, B, 3H); ``b_hh`` stays inside
    (the reset gate multiplies ``h W_hn^T + b_hn``). Returns (outputs (T, B, H), h_T)."""
    _check(xw, h0, w_hh, 3, "gru_sequence")
    K = _ArrayOps(get_array_module(xw.data))
    hs, hT, cache = _gru_forward(K, xw.data, h0.data, w_hh.data,
                                 None if b_hh is None else b_hh.data)
    out = K.stack(hs)
    inputs = (xw, h0, w_hh) if b_hh is None else (xw, h0, w_hh, b_hh)
    res = record_multi("gru_sequence", _gru_sequence_bw, (out, hT), inputs, saved=inputs,
                       attrs=(hs, cache))
    return res[0], res[1]


def _gru_sequence_bw(ctx, g_out, g_hT):
    hs, cache = ctx.attrs
    saved = ctx.saved_tensors
    xw, h0, w_hh = saved[:3]
    b_hh = saved[3] if len(saved) > 3 else None
    if ad.is_grad_enabled():
        K = _TensorOps()
        hs_t, _, cache_t = _gru_forward(K, xw, h0, w_hh, b_hh)
        grads = _gru_backward(K, hs_t, cache_t, h0, w_hh, g_out, g_hT, b_hh is not None)
    else:
        K = _ArrayOps(get_array_module(g_out.data))
        grads = tuple(None if a is None else make(a) for a in _gru_backward(
            K, hs, cache, h0.data, w_hh.data, g_out.data, g_hT.data, b_hh is not None))
    return _grads_needed(ctx, grads[:len(saved)])


# ------------------------------------------------------------------------------ cells
def input_projection(x: Tensor, w_ih: Tensor, b_ih: Optional[Tensor] = None,
                     b_hh: Optional[Tensor] = None) -> Tensor:
    """``x W_ih^T + b_ih (+ b_hh)`` over all leading dims of ``x`` in one matrix product."""
    lead = x.shape[:-1]
    y = ad.matmul(ad.reshape(x, (-1, x.shape[-1])), ad.transpose(w_ih, 0, 1))
    if b_ih is not None and b_hh is not None:
        y = y + (b_ih + b_hh)
    elif b_ih is not None:
        y = y + b_ih
    elif b_hh is not None:
        y = y + b_hh
    return ad.reshape(y, lead + (w_ih.shape[0],))


def index_projection(ids, w_ih: Tensor, b_ih: Optional[Tensor] = None,
                     b_hh: Optional[Tensor] = None) -> Tensor:
    """:func:`input_projection` of the one-hot encoding of the integer ``ids`` (any shape;
    ``w_ih.shape[1]`` classes) without building it: ``one_hot(ids) W_ih^T`` is a row gather of
    ``W_ih^T`` (embedding-style), so the result (``ids.shape + (gates*H,)``) equals the matrix
    product's, and the weight gradient is a scatter-add of the output gradient's rows. Negative
    ids count from the end, as in indexing."""
    xp = w_ih.xp
    if w_ih.ndim != 2:
        raise ValueError(f"index_projection: w_ih must be 2-D, got shape {w_ih.shape}")
    V = w_ih.shape[1]
    # a bad id (a GPU outside anomaly mode) reads row 0 and its output row is NaN
    idx, bad = row_ids("index_projection", ids, w_ih, V, negative=True)
    biases = tuple(b for b in (b_ih, b_hh) if b is not None)
    table = w_ih.data.T                                        # (V, G)
    if len(biases) == 2:
        table = table + (b_ih.data + b_hh.data)                # as x W^T + (b_ih + b_hh)
    elif biases:
        table = table + biases[0].data
    else:
        table = xp.ascontiguousarray(table)
    if type(table).__module__ == "numpy":
        # mode="clip": the range is checked above, and with mode="raise" NumPy buffers `out`
        out = xp.take(table, idx, axis=0, mode="clip",
                      out=pooled_empty(idx.shape + (table.shape[1],), table.dtype))
    else:
        out = poison(xp.take(table, idx, axis=0), bad)
    return record("index_projection", _index_projection_bw, out, (w_ih,) + biases,
                  attrs=(idx, V, len(biases)))


def _index_projection_bw(ctx, g):
    idx, V, nb = ctx.attrs
    G = g.shape[-1]
    flat = idx.reshape(-1)
    if not ad.is_grad_enabled() and _use_numba(g.data, flat):
        import numpy as np
        g2 = np.ascontiguousarray(g.data.reshape(-1, G))
        acc = np.zeros((V, G), g2.dtype)
        bacc = np.zeros(G, np.float64)
        _scatter_rows(flat, g2, acc, bacc)
        gw = make(np.ascontiguousarray(acc.T))
        gb = make(bacc.astype(g2.dtype)) if nb else None
    else:            # scatter-add of the rows (recorded under create_graph: its VJP gathers)
        g2 = ad.reshape(g, (-1, G))
        gw = ad.transpose(index_add_into(g2, (V, G), (flat,), True), 0, 1)
        gb = ad.sum(g2, axis=0) if nb else None
    return (gw,) + (gb,) * nb


def _batched(input: Tensor, hx: Optional[Tensor], hidden: int, name: str):
    if input.ndim not in (1, 2):
        raise ValueError(f"{name}: input must be (batch, input_size) or (input_size,), got "
                         f"shape {input.shape}")
    unbatched = input.ndim == 1
    if unbatched:
        input = ad.unsqueeze(input, 0)
        if hx is not None:
            hx = ad.unsqueeze(hx, 0)
    if hx is None:
        hx = make(input.xp.zeros((input.shape[0], hidden), input.dtype))
    return input, hx, unbatched


def _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, relu, name):
    input, hx, unbatched = _batched(input, hx, w_hh.shape[1], name)
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih, b_hh), 0)
    _, h = _rnn_sequence(xw, hx, w_hh, relu)
    return ad.squeeze(h, 0) if unbatched else h


def rnn_tanh_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
                  b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One step of the Elman RNN: ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    return _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, False, "rnn_tanh_cell")


def rnn_relu_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
                  b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One step of the ReLU RNN: ``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    return _cell_rnn(input, hx, w_ih, w_hh, b_ih, b_hh, True, "rnn_relu_cell")


def lstm_cell(input: Tensor, hx: Optional[tuple], w_ih: Tensor, w_hh: Tensor,
              b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> tuple:
    """One LSTM step (gates i, f, g, o); ``hx = (h, c)`` or None for zeros. Returns (h', c')."""
    h0, c0 = (None, None) if hx is None else hx
    input, h0, unbatched = _batched(input, h0, w_hh.shape[1], "lstm_cell")
    if c0 is None:
        c0 = make(input.xp.zeros(h0.shape, input.dtype))
    elif unbatched:
        c0 = ad.unsqueeze(c0, 0)
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih, b_hh), 0)
    _, h, c = lstm_sequence(xw, h0, c0, w_hh)
    if unbatched:
        return ad.squeeze(h, 0), ad.squeeze(c, 0)
    return h, c


def gru_cell(input: Tensor, hx: Optional[Tensor], w_ih: Tensor, w_hh: Tensor,
             b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One GRU step (gates r, z, n; the reset gate multiplies ``h W_hn^T + b_hn``)."""
    input, hx, unbatched = _batched(input, hx, w_hh.shape[1], "gru_cell")
    xw = ad.unsqueeze(input_projection(input, w_ih, b_ih), 0)
    _, h = gru_sequence(xw, hx, w_hh, b_hh)
    return ad.squeeze(h, 0) if unbatched else h
