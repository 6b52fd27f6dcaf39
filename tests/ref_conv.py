"""NumPy references for convolution and pooling (no PyTorch, no autodiff): conv2d and its
vector-Jacobian product as nested loops over the definition, the same convolution vectorised
over shifted slices (fast enough for whole networks), unfold/fold in PyTorch's column layout;
N-d (1-3 spatial dims) convolution, transposed convolution (its scatter form), max / average /
adaptive pooling window by window, and max-unpooling.

Conventions (torch.nn.functional.conv2d / unfold / fold): ``padding`` is ((top, bottom),
(left, right)) of zeros; weight (O, C/groups, kh, kw); output channel o reads the input
channels of its group o // (O/groups); unfold's row index is c*kh*kw + i*kw + j and its column
index p*OW + q (output positions row-major)."""
from __future__ import annotations

import itertools

import numpy as np


def _pad(x, padding):
    (pt, pb), (pl, pr) = padding
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))


def _out_size(n, k, s, p0, p1, d):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv2d_direct(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                  groups=1):
    """The definition: out[n, o, p, q] = b[o] + sum_{c in group(o), i, j}
    w[o, c, i, j] * xpad[n, c, p*sh + i*dh, q*sw + j*dw]."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = _pad(x, padding)
    OH = _out_size(H, kh, stride[0], *padding[0], dilation[0])
    OW = _out_size(W, kw, stride[1], *padding[1], dilation[1])
    out = np.zeros((N, O, OH, OW))
    og = O // groups
    for n in range(N):
        for o in range(O):
            g = o // og
            for p in range(OH):
                for q in range(OW):
                    s = 0.0 if b is None else b[o]
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                s += w[o, c, i, j] * xp[n, g * Cg + c, p * stride[0] + i *
                                                        dilation[0], q * stride[1] + j *
                                                        dilation[1]]
                    out[n, o, p, q] = s
    return out


def conv2d_direct_vjp(x, w, gout, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                      groups=1):
    """(d<gout, out>/dx, /dw, /db) by the same loops: every product w * xpad in the definition
    sends gout * w to that xpad cell and gout * xpad to that weight."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = _pad(x, padding)
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    og = O // groups
    OH, OW = gout.shape[2:]
    for n in range(N):
        for o in range(O):
            cg = (o // og) * Cg
            for p in range(OH):
                for q in range(OW):
                    go = gout[n, o, p, q]
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                h, v = p * stride[0] + i * dilation[0], q * stride[1] + j * \
                                    dilation[1]
                                gw[o, c, i, j] += go * xp[n, cg + c, h, v]
                                gxp[n, cg + c, h, v] += go * w[o, c, i, j]
    (pt, _), (pl, _) = padding
    return gxp[:, :, pt:pt + H, pl:pl + W], gw, gout.sum((0, 2, 3))


def conv2d_shifted(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                   groups=1):
    """conv2d_direct vectorised: one (O, C) contraction per kernel tap (i, j) over the strided
    slice of the padded input that the tap reads."""
    O, Cg, kh, kw = w.shape
    xp = _pad(x, padding)
    OH = _out_size(x.shape[2], kh, stride[0], *padding[0], dilation[0])
    OW = _out_size(x.shape[3], kw, stride[1], *padding[1], dilation[1])
    og = O // groups
    out = np.zeros((x.shape[0], O, OH, OW))
    for g in range(groups):
        xg, wg = xp[:, g * Cg:(g + 1) * Cg], w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                h0, v0 = i * dilation[0], j * dilation[1]
                tap = xg[:, :, h0:h0 + stride[0] * (OH - 1) + 1:stride[0],
                         v0:v0 + stride[1] * (OW - 1) + 1:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", tap, wg[:, :, i, j])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def unfold_direct(x, kernel_size, dilation=(1, 1), padding=(0, 0), stride=(1, 1)):
    """torch.nn.functional.unfold by its definition: (N, C*kh*kw, OH*OW)."""
    N, C, H, W = x.shape
    kh, kw = kernel_size
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    xp = _pad(x, pads)
    OH = _out_size(H, kh, stride[0], *pads[0], dilation[0])
    OW = _out_size(W, kw, stride[1], *pads[1], dilation[1])
    cols = np.zeros((N, C * kh * kw, OH * OW))
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for p in range(OH):
                    for q in range(OW):
                        cols[:, (c * kh + i) * kw + j, p * OW + q] = \
                            xp[:, c, p * stride[0] + i * dilation[0], q * stride[1] + j *
                               dilation[1]]
    return cols


def fold_direct(cols, output_size, kernel_size, dilation=(1, 1), padding=(0, 0),
                stride=(1, 1)):
    """torch.nn.functional.fold by its definition: every column entry is added to the image
    cell unfold would have read it from (overlaps sum; cells in the padding are dropped)."""
    N, CK, L = cols.shape
    kh, kw = kernel_size
    H, W = output_size
    C = CK // (kh * kw)
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    OH = _out_size(H, kh, stride[0], *pads[0], dilation[0])
    OW = _out_size(W, kw, stride[1], *pads[1], dilation[1])
    assert OH * OW == L, (OH, OW, L)
    xp = np.zeros((N, C, H + 2 * padding[0], W + 2 * padding[1]))
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for p in range(OH):
                    for q in range(OW):
                        xp[:, c, p * stride[0] + i * dilation[0], q * stride[1] + j *
                           dilation[1]] += cols[:, (c * kh + i) * kw + j, p * OW + q]
    return xp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W]


# ----------------------------------------------------------------------------- N-d (1, 2, 3 dims)
def _out_len(n, k, s, p0, p1, d):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv_nd_direct(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv{1,2,3}d by the definition, for any number of spatial dims:
    out[n, o, q] = b[o] + sum_{c in group(o), k} w[o, c, k] * xpad[n, g*Cg + c, q*s + k*d]
    (q, k multi-indices). ``padding``: an int / tuple (symmetric) or ((before, after), ...)."""
    nd = x.ndim - 2
    s, d = _per_dim(stride, nd), _per_dim(dilation, nd)
    pads = _pads(padding, nd)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    O, Cg = w.shape[:2]
    ks = w.shape[2:]
    outs = [_out_len(n, k, ss, *p, dd) for n, k, ss, p, dd in zip(x.shape[2:], ks, s, pads, d)]
    out = np.zeros((x.shape[0], O) + tuple(outs))
    og = O // groups
    for o in range(O):
        c0 = (o // og) * Cg
        for q in itertools.product(*[range(m) for m in outs]):
            acc = np.zeros(x.shape[0]) + (0.0 if b is None else b[o])
            for k in itertools.product(*[range(m) for m in ks]):
                pos = tuple(qq * ss + kk * dd for qq, kk, ss, dd in zip(q, k, s, d))
                acc += xp[(slice(None), slice(c0, c0 + Cg)) + pos] @ w[(o, slice(None)) + k]
            out[(slice(None), o) + q] = acc
    return out


def conv_transpose_nd_direct(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1,
                             groups=1):
    """torch.nn.functional.conv_transpose{1,2,3}d by its definition (the scatter form): input
    cell p of channel ci (group g) adds x[n, ci, p] * w[ci, co, k] to the full output at
    p*s + k*d for every tap k and output channel g*Cog + co; the full output is then cropped by
    ``padding`` at both ends and extended by ``output_padding`` zeros at the end."""
    nd = x.ndim - 2
    s, d = _per_dim(stride, nd), _per_dim(dilation, nd)
    p, op = _per_dim(padding, nd), _per_dim(output_padding, nd)
    Cin, Cog = w.shape[:2]
    ks = w.shape[2:]
    full = [(n - 1) * ss + dd * (k - 1) + 1 for n, k, ss, dd in zip(x.shape[2:], ks, s, d)]
    out = np.zeros((x.shape[0], Cog * groups) + tuple(f + o for f, o in zip(full, op)))
    cg = Cin // groups
    for ci in range(Cin):
        g = ci // cg
        for q in itertools.product(*[range(m) for m in x.shape[2:]]):
            for k in itertools.product(*[range(m) for m in ks]):
                pos = tuple(qq * ss + kk * dd for qq, kk, ss, dd in zip(q, k, s, d))
                out[(slice(None), slice(g * Cog, (g + 1) * Cog)) + pos] += \
                    x[(slice(None), ci) + q][:, None] * w[(ci, slice(None)) + k][None, :]
    crop = tuple(slice(pp, pp + f - 2 * pp + o) for pp, f, o in zip(p, full, op))
    out = out[(slice(None), slice(None)) + crop]
    return out if b is None else out + b.reshape((1, -1) + (1,) * nd)


def _per_dim(v, nd):
    return (v,) * nd if isinstance(v, int) else tuple(v)


def _pads(padding, nd):
    if isinstance(padding, int):
        return ((padding, padding),) * nd
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


# ----------------------------------------------------------------------------- pooling (N-d)
def pool_out_len(n, k, s, p, d, ceil):
    """PyTorch's pooling output length: floor or ceil mode, where ceil mode's last window must
    start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    o = -(-span // s) + 1
    return o - 1 if (o - 1) * s >= n + p else o


def _pool_windows(spatial, k, s, p, d, ceil):
    """Every output position q and the input cells of its window: [(q, [cells...])], each
    cell a (position tuple, inside the input, inside the padded input)."""
    nd = len(spatial)
    k, s, p, d = (_per_dim(v, nd) for v in (k, s, p, d))
    outs = [pool_out_len(n, kk, ss, pp, dd, ceil) for n, kk, ss, pp, dd in
            zip(spatial, k, s, p, d)]
    res = []
    for q in itertools.product(*[range(m) for m in outs]):
        cells = []
        for t in itertools.product(*[range(m) for m in k]):
            pos = tuple(qq * ss + tt * dd - pp for qq, tt, ss, dd, pp in zip(q, t, s, d, p))
            inside = all(0 <= a < n for a, n in zip(pos, spatial))
            padded = all(-pp <= a < n + pp for a, n, pp in zip(pos, spatial, p))
            cells.append((pos, inside, padded))
        res.append((q, cells))
    return outs, res


def max_pool_direct(x, k, s=None, p=0, d=1, ceil=False):
    """(values, flat indices into the spatial dims) of max pooling, window by window: the first
    maximum in row-major window order (PyTorch's)."""
    spatial = x.shape[2:]
    outs, wins = _pool_windows(spatial, k, k if s is None else s, p, d, ceil)
    val = np.zeros(x.shape[:2] + tuple(outs))
    idx = np.zeros(x.shape[:2] + tuple(outs), np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for q, cells in wins:
            inside = [pos for pos, ins, _ in cells if ins]
            vals = [x[(n, c) + pos] for pos in inside]
            m = int(np.argmax(vals))
            val[(n, c) + q] = vals[m]
            idx[(n, c) + q] = np.ravel_multi_index(inside[m], spatial)
    return val, idx


def avg_pool_direct(x, k, s=None, p=0, ceil=False, count_include_pad=True,
                    divisor_override=None):
    """Average pooling window by window with PyTorch's divisor: the override, else the cells
    of the window inside the padded input (count_include_pad) or inside the input."""
    outs, wins = _pool_windows(x.shape[2:], k, k if s is None else s, p, 1, ceil)
    out = np.zeros(x.shape[:2] + tuple(outs))
    for q, cells in wins:
        total = sum(x[(slice(None), slice(None)) + pos] for pos, ins, _ in cells if ins)
        if divisor_override is not None:
            div = divisor_override
        elif count_include_pad:
            div = sum(1 for _, _, padded in cells if padded)
        else:
            div = sum(1 for _, ins, _ in cells if ins)
        out[(slice(None), slice(None)) + q] = total / div
    return out


def adaptive_window(i, n_in, n_out):
    """PyTorch's adaptive window i: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return (i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)


def adaptive_pool_direct(x, out, kind):
    """Adaptive average or max pooling, window by window; for max also the flat index of each
    window's first maximum."""
    spatial = x.shape[2:]
    val = np.zeros(x.shape[:2] + tuple(out))
    idx = np.zeros(x.shape[:2] + tuple(out), np.int64)
    for q in itertools.product(*[range(m) for m in out]):
        box = [adaptive_window(i, n, o) for i, n, o in zip(q, spatial, out)]
        cells = list(itertools.product(*[range(a, b) for a, b in box]))
        for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
            vals = [x[(n, c) + cell] for cell in cells]
            if kind == "avg":
                val[(n, c) + q] = np.mean(vals)
            else:
                m = int(np.argmax(vals))
                val[(n, c) + q] = vals[m]
                idx[(n, c) + q] = np.ravel_multi_index(cells[m], spatial)
    return (val, idx) if kind == "max" else val


def max_unpool_direct(x, idx, out_spatial):
    """zeros(N, C, *out_spatial) with x[n, c, q] written at flat index idx[n, c, q]."""
    N, C = x.shape[:2]
    out = np.zeros((N, C, int(np.prod(out_spatial))))
    for n, c in itertools.product(range(N), range(C)):
        for v, i in zip(x[n, c].reshape(-1), idx[n, c].reshape(-1)):
            out[n, c, i] = v
    return out.reshape((N, C) + tuple(out_spatial))
