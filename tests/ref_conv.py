"""NumPy references for convolution (no PyTorch, no autodiff): conv2d and its vector-Jacobian
product as nested loops over the definition, the same convolution vectorised over shifted
slices (fast enough for whole networks), and unfold/fold in PyTorch's column layout.

Conventions (torch.nn.functional.conv2d / unfold / fold): ``padding`` is ((top, bottom),
(left, right)) of zeros; weight (O, C/groups, kh, kw); output channel o reads the input
channels of its group o // (O/groups); unfold's row index is c*kh*kw + i*kw + j and its column
index p*OW + q (output positions row-major)."""
from __future__ import annotations

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
