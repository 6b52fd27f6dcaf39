"""The NumPy backend's recurrent kernels (numba; assembled into ``backends.kernels`` as the
``lstm_sequence_*`` and ``index_projection_*`` routes, None without numba or on CuPy, where
``autodiff/ops/recurrent.py`` runs its generic array equations).

On NumPy arrays the LSTM's pointwise work per step (4 activations, the cell update and their
derivatives: ~25 array passes) costs more than the gate matrix product; with numba it is one
fused pass per step forward and one backward. NumPy computes the gate tanh's vectorised.
The one-hot input projection of a character model is a row gather of ``W_ih^T``; its weight
gradient is a scatter-add of rows, one compiled pass here.
"""
from __future__ import annotations

import numpy

from .jit import HAVE_NUMBA, njit
from .pool import pooled_empty

__all__ = ["lstm_sequence_forward", "lstm_sequence_backward", "index_projection_forward",
           "index_projection_backward", "ROUTES", "NUMPY_ROUTES"]


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


def _lstm_forward_numba(xw, h0, c0, w_hh):
    """Returns (hbuf, cache): hbuf (T + 1, B, H) holds h_0 and the outputs h_1..h_T (the
    outputs are hbuf[1:], the previous states of every step hbuf[:-1])."""
    T, B, G = xw.shape
    H = G // 4
    dt = xw.dtype
    xw = numpy.ascontiguousarray(xw)
    c0 = numpy.ascontiguousarray(c0, dtype=dt)
    scale = numpy.full(G, 0.5, dt)
    scale[2 * H:3 * H] = 1.0
    # h @ W^T with W (G, H) row-major, a transposed view: OpenBLAS is faster on it than on a
    # contiguous (H, G) copy
    wt = numpy.ascontiguousarray(w_hh * scale[:, None], dtype=dt).T
    acts = pooled_empty((T, B, G), dt)
    cs = pooled_empty((T, B, H), dt)
    tcs = pooled_empty((T, B, H), dt)
    hbuf = pooled_empty((T + 1, B, H), dt)
    hbuf[0] = h0
    c = c0
    for t in range(T):
        a = acts[t]
        numpy.matmul(hbuf[t], wt, out=a)
        _lstm_fw_pre(a, xw[t], scale)                  # sigmoid(x) = (1 + tanh(x/2)) / 2
        numpy.tanh(a, out=a)
        _lstm_fw_point(a, c, cs[t])
        numpy.tanh(cs[t], out=tcs[t])
        numpy.multiply(a[:, 3 * H:], tcs[t], out=hbuf[t + 1])
        c = cs[t]
    return hbuf, (acts, cs, tcs, c0)


def _lstm_backward_numba(hbuf, cache, w_hh, g_hs, g_hT, g_cT):
    acts, cs, tcs, c0 = cache
    T, B, G = acts.shape
    H = G // 4
    dt = acts.dtype
    w = numpy.ascontiguousarray(w_hh, dtype=dt)
    g_hs = numpy.ascontiguousarray(g_hs, dtype=dt)
    dgates = pooled_empty((T, B, G), dt)
    dh = numpy.array(g_hT, dtype=dt, order="C")
    dc = numpy.array(g_cT, dtype=dt, order="C")
    for t in range(T - 1, -1, -1):
        _lstm_bw_point(acts[t], cs[t - 1] if t > 0 else c0, tcs[t], g_hs[t], dh, dc,
                       dgates[t])
        numpy.matmul(dgates[t], w, out=dh)
    dw = dgates.reshape(T * B, G).T @ hbuf[:-1].reshape(T * B, H)
    return dgates, dh, dc, dw




def lstm_sequence_forward(xw, h0, c0, w_hh):
    """(outputs (T, B, H), h_T, c_T, state for :func:`lstm_sequence_backward`)."""
    hbuf, cache = _lstm_forward_numba(xw, h0, c0, w_hh)
    return hbuf[1:], hbuf[-1].copy(), cache[1][-1].copy(), (hbuf, cache)


def lstm_sequence_backward(state, w_hh, g_out, g_hT, g_cT):
    """The gradients of (xw, h0, c0, w_hh) from the forward's ``state``."""
    hbuf, cache = state
    return _lstm_backward_numba(hbuf, cache, w_hh, g_out, g_hT, g_cT)


def index_projection_forward(table, idx):
    """The rows ``idx`` of ``table`` (V, G), into a recycled array (ids already checked)."""
    # mode="clip": the range is checked by the caller, and with mode="raise" NumPy buffers out
    return numpy.take(table, idx, axis=0, mode="clip",
                      out=pooled_empty(idx.shape + (table.shape[1],), table.dtype))


def index_projection_backward(flat, g2, V: int, with_bias: bool):
    """(dW_ih (G, V): the rows of g2 (N, G) added at ``flat``; their sum (G,) or None)."""
    g2 = numpy.ascontiguousarray(g2)
    acc = numpy.zeros((V, g2.shape[1]), g2.dtype)
    bacc = numpy.zeros(g2.shape[1], numpy.float64)
    _scatter_rows(flat, g2, acc, bacc)
    return numpy.ascontiguousarray(acc.T), (bacc.astype(g2.dtype) if with_bias else None)


#: the routes of the NumPy namespace (none without numba: the generic equations run)
ROUTES = ("lstm_sequence_forward", "lstm_sequence_backward", "index_projection_forward",
          "index_projection_backward")
NUMPY_ROUTES = {r: globals()[r] for r in ROUTES} if HAVE_NUMBA else {}
