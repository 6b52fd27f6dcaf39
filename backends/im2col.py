"""Array-level unfold/fold kernels for convolution and pooling (no Tensors here).

``im2col`` unfolds a batch of images ``x`` of shape (N, C, H, W) into patch columns of shape
(N, C*kh*kw, OH*OW): row ``(c, i, j)`` of image ``n`` holds, for every output position
``(oh, ow)``, the input pixel ``x[n, c, oh*sh + i*dh - pt, ow*sw + j*dw - pl]`` (``pad_value``
outside the image). The row order matches ``weight.reshape(O, C*kh*kw)``, so a convolution is
one (batched) matrix product ``W @ cols`` that lands directly in NCHW order. ``col2im`` is its
adjoint: it folds columns back into an image, *summing* the contributions of overlapping
patches (the gradient of ``im2col``).

Two implementations of each kernel:

- a vectorised NumPy/CuPy one (strided view of the padded input for ``im2col``; ``kh*kw``
  strided slice-adds for ``col2im``), no Python loop over pixels or batch elements;
- a numba one (``@njit(parallel=True, cache=True)``, parallel over (image, channel) planes;
  a serial compilation of the same kernel for small work, see ``PARALLEL_MIN_ELEMENTS``),
  used for NumPy arrays when numba imports and is faster (see ``USE_NUMBA``; measured at
  ResNet-20 and MNIST-CNN shapes). ``AUTODIFF_NUMBA=0`` turns numba off.

Padding is ``(ph, pw)`` (symmetric) or ``((top, bottom), (left, right))``.

Convolution uses the *channel-major* pair ``im2col_cm``/``col2im_cm``: columns of shape
(C*kh*kw, N*OH*OW) (row ``(c, i, j)``, column ``(n, oh, ow)``) so that a convolution is one
GEMM ``W (O, C*kh*kw) @ cols``. Their numba kernels write/read each row as long contiguous
runs, with unsigned inner indices (numba then skips negative-index wraparound and LLVM
vectorises the copies: about 5x faster than signed indexing). They run serially by default
(``CM_PARALLEL_MIN_ELEMENTS``): on a 2-core machine a numba parallel region competes with the
OpenBLAS threads of the surrounding GEMMs and was 2x slower in training steps. Their outputs
come from the pool of recycled arrays (:mod:`autodiff.backends.pool`).
"""
from __future__ import annotations

import os

import numpy

from . import conv_output_size, get_array_module
from .jit import HAVE_NUMBA, numba
from .pool import pooled_empty

__all__ = ["im2col", "col2im", "conv_output_size", "normalize_padding", "HAVE_NUMBA",
           "USE_NUMBA", "PARALLEL_MIN_ELEMENTS", "im2col_numpy", "col2im_numpy", "im2col_numba", "col2im_numba",
           "im2col_cm", "col2im_cm", "im2col_cm_numpy", "col2im_cm_numpy", "im2col_cm_numba",
           "col2im_cm_numba", "CM_PARALLEL_MIN_ELEMENTS", "im2col_cm_into", "col2im_cm_consume",
           "planes_contiguous"]


# ----------------------------------------------------------------------------- helpers
def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, numpy.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"im2col: {name} must be an int or a pair, got {v!r}")
    return t


def normalize_padding(padding) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair (ph, pw) or ((top, bottom), (left, right))."""
    if isinstance(padding, (int, numpy.integer)):
        p = int(padding)
        return p, p, p, p
    padding = tuple(padding)
    if len(padding) == 4:
        return tuple(int(a) for a in padding)
    if len(padding) != 2:
        raise ValueError(f"im2col: padding must be an int, a pair or two pairs, got {padding!r}")
    a, b = padding
    if isinstance(a, (int, numpy.integer)) and isinstance(b, (int, numpy.integer)):
        return int(a), int(a), int(b), int(b)
    (t, bo), (le, r) = a, b
    return int(t), int(bo), int(le), int(r)


def _geometry(x_shape, kh, kw, stride, padding, dilation):
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    pt, pb, pl, pr = normalize_padding(padding)
    N, C, H, W = x_shape
    OH = conv_output_size(H, kh, sh, pt, pb, dh)
    OW = conv_output_size(W, kw, sw, pl, pr, dw)
    if OH <= 0 or OW <= 0:
        raise ValueError(f"im2col: a {kh}x{kw} kernel (dilation {(dh, dw)}, padding "
                         f"{(pt, pb, pl, pr)}) does not fit an input of spatial size {(H, W)}")
    return sh, sw, dh, dw, pt, pb, pl, pr, OH, OW


# ----------------------------------------------------------------------------- NumPy / CuPy
def im2col_numpy(x, kh: int, kw: int, stride=1, padding=0, dilation=1, pad_value: float = 0.0):
    """Vectorised unfold: (N, C, H, W) -> (N, C*kh*kw, OH*OW) via a strided view."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x.shape, kh, kw, stride, padding, dilation)
    if pt or pb or pl or pr:
        x = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode="constant",
                   constant_values=pad_value)
    else:
        x = xp.ascontiguousarray(x)
    s0, s1, s2, s3 = x.strides
    view = xp.lib.stride_tricks.as_strided(
        x, (N, C, kh, kw, OH, OW), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw))
    return xp.ascontiguousarray(view).reshape(N, C * kh * kw, OH * OW)


def col2im_numpy(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """Vectorised fold (adjoint of :func:`im2col_numpy`): overlapping patches are summed.

    One strided slice-add per kernel offset (kh*kw of them), each over the whole batch."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x_shape, kh, kw, stride, padding, dilation)
    c6 = cols.reshape(N, C, kh, kw, OH, OW)
    out = xp.zeros((N, C, H + pt + pb, W + pl + pr), dtype=cols.dtype)
    for i in range(kh):
        hi = i * dh
        for j in range(kw):
            wj = j * dw
            out[:, :, hi:hi + sh * (OH - 1) + 1:sh, wj:wj + sw * (OW - 1) + 1:sw] += c6[:, :, i, j]
    if pt or pb or pl or pr:
        out = out[:, :, pt:pt + H, pl:pl + W]
    return out


def im2col_cm_numpy(x, kh: int, kw: int, stride=1, padding=0, dilation=1,
                    pad_value: float = 0.0):
    """Vectorised channel-major unfold: (N, C, H, W) -> (C*kh*kw, N*OH*OW) via a strided view."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x.shape, kh, kw, stride, padding, dilation)
    if kh == 1 and kw == 1 and not (pt or pb or pl or pr):       # 1x1: a strided subsample
        v = x[:, :, :sh * (OH - 1) + 1:sh, :sw * (OW - 1) + 1:sw]
        return xp.ascontiguousarray(v.transpose(1, 0, 2, 3)).reshape(C, N * OH * OW)
    if pt or pb or pl or pr:
        x = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode="constant",
                   constant_values=pad_value)
    s0, s1, s2, s3 = x.strides
    view = xp.lib.stride_tricks.as_strided(
        x, (C, kh, kw, N, OH, OW), (s1, s2 * dh, s3 * dw, s0, s2 * sh, s3 * sw))
    return xp.ascontiguousarray(view).reshape(C * kh * kw, N * OH * OW)


def col2im_cm_numpy(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """Vectorised channel-major fold (adjoint of :func:`im2col_cm_numpy`), summing overlaps."""
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x_shape, kh, kw, stride, padding, dilation)
    c6 = cols.reshape(C, kh, kw, N, OH, OW)
    if kh == 1 and kw == 1 and not (pt or pb or pl or pr):
        if sh == 1 and sw == 1:
            return xp.ascontiguousarray(c6[:, 0, 0].transpose(1, 0, 2, 3))
        out = xp.zeros((N, C, H, W), dtype=cols.dtype)
        out[:, :, :sh * (OH - 1) + 1:sh, :sw * (OW - 1) + 1:sw] = c6[:, 0, 0].transpose(1, 0, 2, 3)
        return out
    out = xp.zeros((C, N, H + pt + pb, W + pl + pr), dtype=cols.dtype)
    for i in range(kh):
        hi = i * dh
        for j in range(kw):
            wj = j * dw
            out[:, :, hi:hi + sh * (OH - 1) + 1:sh, wj:wj + sw * (OW - 1) + 1:sw] += c6[:, i, j]
    out = out[:, :, pt:pt + H, pl:pl + W]
    return xp.ascontiguousarray(out.transpose(1, 0, 2, 3))


# ----------------------------------------------------------------------------- numba
if HAVE_NUMBA:
    def _im2col_nb(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, pad_value):  # pragma: no cover
        N, C, H, W = x.shape
        for p in numba.prange(N * C):
            n = p // C
            c = p - n * C
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    for oh in range(OH):
                        h = oh * sh + i * dh - pt
                        base = oh * OW
                        if h < 0 or h >= H:
                            for ow in range(OW):
                                out[n, r, base + ow] = pad_value
                        else:
                            for ow in range(OW):
                                w = ow * sw + j * dw - pl
                                if w >= 0 and w < W:
                                    out[n, r, base + ow] = x[n, c, h, w]
                                else:
                                    out[n, r, base + ow] = pad_value

    def _col2im_nb(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW):  # pragma: no cover
        N, C, H, W = out.shape
        for p in numba.prange(N * C):
            n = p // C
            c = p - n * C
            for h in range(H):
                for w in range(W):
                    out[n, c, h, w] = 0
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    for oh in range(OH):
                        h = oh * sh + i * dh - pt
                        if h < 0 or h >= H:
                            continue
                        base = oh * OW
                        for ow in range(OW):
                            w = ow * sw + j * dw - pl
                            if w >= 0 and w < W:
                                out[n, c, h, w] += cols[n, r, base + ow]

    @numba.njit(cache=True, nogil=True, inline="always")
    def valid_columns(wo, sw, OW, W):  # pragma: no cover
        """The output columns ow in [lo, hi) whose input column ow*sw + wo lies in [0, W)."""
        lo = 0
        if wo < 0:
            lo = min((-wo + sw - 1) // sw, OW)
        hi = OW
        if (OW - 1) * sw + wo >= W:
            hi = max((W - 1 - wo) // sw + 1, lo)
        return lo, hi

    @numba.njit(cache=True, nogil=True, inline="always")
    def _kernel_row(r, kh, kw):  # pragma: no cover
        """(c, i, j) of column-matrix row r = (c*kh + i)*kw + j."""
        c = r // (kh * kw)
        ij = r - c * kh * kw
        return c, ij // kw, ij - (ij // kw) * kw

    # Inner-loop indices are cast to unsigned (``_U``) where they are known non-negative: numba
    # then drops its negative-index wraparound and LLVM vectorises the contiguous runs (about
    # 5x faster copies).
    _U = numba.uint64

    def _im2col_cm_nb(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, pad_value):  # pragma: no cover
        # out (C*kh*kw, N*OH*OW); one kernel row r = (c, i, j) per iteration, written as one
        # sequential run (the N planes of channel c are re-read from cache kh*kw times)
        N, C, H, W = x.shape
        L = OH * OW
        for r in numba.prange(C * kh * kw):
            c, i, j = _kernel_row(r, kh, kw)
            wo = j * dw - pl
            lo, hi = valid_columns(wo, sw, OW, W)
            for n in range(N):
                for oh in range(OH):
                    h = oh * sh + i * dh - pt
                    base = n * L + oh * OW
                    if h < 0 or h >= H:
                        for ow in range(OW):
                            out[r, _U(base + ow)] = pad_value
                    else:
                        for ow in range(lo):
                            out[r, _U(base + ow)] = pad_value
                        if sw == 1:
                            for ow in range(lo, hi):
                                out[r, _U(base + ow)] = x[n, c, h, _U(ow + wo)]
                        else:
                            for ow in range(lo, hi):
                                out[r, _U(base + ow)] = x[n, c, h, _U(ow * sw + wo)]
                        for ow in range(hi, OW):
                            out[r, _U(base + ow)] = pad_value

    def _col2im_cm_nb(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW):  # pragma: no cover
        # cols (C*kh*kw, N*OH*OW) -> out (N, C, H, W); one output plane per iteration (no races)
        N, C, H, W = out.shape
        L = OH * OW
        for p in numba.prange(N * C):
            c = p // N
            n = p - c * N
            for h in range(H):
                for w in range(W):
                    out[n, c, h, w] = 0
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    wo = j * dw - pl
                    lo, hi = valid_columns(wo, sw, OW, W)
                    for oh in range(OH):
                        h = oh * sh + i * dh - pt
                        if h < 0 or h >= H:
                            continue
                        base = n * L + oh * OW
                        if sw == 1:
                            for ow in range(lo, hi):
                                out[n, c, h, _U(ow + wo)] += cols[r, _U(base + ow)]
                        else:
                            for ow in range(lo, hi):
                                out[n, c, h, _U(ow * sw + wo)] += cols[r, _U(base + ow)]

    # "Flat" variants for stride 1 along both axes and OW == W (a 'same'-padded convolution):
    # then output row oh of kernel row (c, i, j) is input row oh + i*dh - pt shifted by a
    # constant, so a whole image's valid rows are ONE contiguous run at a constant offset in
    # the flattened plane (xf / of of shape (N, C, H*W)). The positions that wrap around a row
    # edge are fixed up afterwards (im2col: set to the pad value; col2im: zeroed in ``cols``,
    # which is consumed). Runs of H*W instead of W elements: 1.1-2x (im2col) and 1.3-3x
    # (col2im) faster at ResNet and MNIST-CNN shapes.
    @numba.njit(cache=True, nogil=True, inline="always")
    def _flat_rows(i, j, kh, dh, dw, pt, pl, H, W, OH, OW):  # pragma: no cover
        """(lo, hi, oh0, oh1, s0, qa, qb): valid columns [lo, hi), valid output rows [oh0, oh1),
        the flat source offset s0 of row oh0, and the in-bounds part [qa, qb) of the run."""
        wo = j * dw - pl
        lo, hi = valid_columns(wo, 1, OW, W)
        oh0 = min(max(0, pt - i * dh), OH)
        oh1 = max(min(OH, H + pt - i * dh), oh0)
        s0 = (oh0 + i * dh - pt) * W + wo
        nq = (oh1 - oh0) * OW
        qa = min(max(0, -s0), nq)
        qb = max(min(nq, H * W - s0), qa)
        return lo, hi, oh0, oh1, s0, qa, qb

    def _im2col_cm_flat_nb(xf, out, kh, kw, dh, dw, pt, pl, H, W, OH, OW,
                           pad_value):  # pragma: no cover
        N, C, HW = xf.shape
        L = OH * OW
        for r in numba.prange(C * kh * kw):
            c, i, j = _kernel_row(r, kh, kw)
            lo, hi, oh0, oh1, s0, qa, qb = _flat_rows(i, j, kh, dh, dw, pt, pl, H, W, OH, OW)
            for n in range(N):
                base = n * L
                dst = base + oh0 * OW
                for q in range(oh0 * OW):
                    out[r, _U(base + q)] = pad_value
                for q in range(qa, qb):
                    out[r, _U(dst + q)] = xf[n, c, _U(s0 + q)]
                for q in range(oh1 * OW, L):
                    out[r, _U(base + q)] = pad_value
                for oh in range(oh1 - oh0):
                    rb = dst + oh * OW
                    for ow in range(lo):
                        out[r, _U(rb + ow)] = pad_value
                    for ow in range(hi, OW):
                        out[r, _U(rb + ow)] = pad_value

    def _col2im_cm_flat_nb(cols, of, kh, kw, dh, dw, pt, pl, H, W, OH, OW):  # pragma: no cover
        N, C, HW = of.shape
        L = OH * OW
        for p in numba.prange(N * C):
            c = p // N
            n = p - c * N
            for q in range(HW):
                of[n, c, q] = 0
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    lo, hi, oh0, oh1, s0, qa, qb = _flat_rows(i, j, kh, dh, dw, pt, pl, H, W,
                                                              OH, OW)
                    dst = n * L + oh0 * OW
                    for oh in range(oh1 - oh0):
                        rb = dst + oh * OW
                        for ow in range(lo):
                            cols[r, _U(rb + ow)] = 0
                        for ow in range(hi, OW):
                            cols[r, _U(rb + ow)] = 0
                    for q in range(qa, qb):
                        of[n, c, _U(s0 + q)] += cols[r, _U(dst + q)]

    def _variant(fn, parallel: bool):
        """A separately cached njit copy of ``fn`` (prange runs serially when not parallel)."""
        import types
        name = fn.__name__ + ("_par" if parallel else "_ser")
        f = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__)
        f.__qualname__ = name
        return numba.njit(parallel=parallel, cache=True, nogil=True)(f)

    _im2col_par, _im2col_ser = _variant(_im2col_nb, True), _variant(_im2col_nb, False)
    _col2im_par, _col2im_ser = _variant(_col2im_nb, True), _variant(_col2im_nb, False)
    _im2col_cm_par = _variant(_im2col_cm_nb, True)
    _im2col_cm_ser = _variant(_im2col_cm_nb, False)
    _col2im_cm_par = _variant(_col2im_cm_nb, True)
    _col2im_cm_ser = _variant(_col2im_cm_nb, False)
    _im2col_cm_flat_par = _variant(_im2col_cm_flat_nb, True)
    _im2col_cm_flat_ser = _variant(_im2col_cm_flat_nb, False)
    _col2im_cm_flat_ser = _variant(_col2im_cm_flat_nb, False)

#: Work (elements of the column matrix) above which the numba kernels run multi-threaded; below
#: it, thread start-up/synchronisation costs more than it saves (and on a shared, oversubscribed
#: machine a parallel region waits for its slowest thread).
PARALLEL_MIN_ELEMENTS = 1 << 23


def im2col_numba(x, kh: int, kw: int, stride=1, padding=0, dilation=1, pad_value: float = 0.0):
    """numba unfold (NumPy arrays only); same result as :func:`im2col_numpy`."""
    if not HAVE_NUMBA:
        raise RuntimeError("im2col_numba: numba is not available")
    N, C, H, W = x.shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x.shape, kh, kw, stride, padding, dilation)
    x = numpy.ascontiguousarray(x)
    out = numpy.empty((N, C * kh * kw, OH * OW), dtype=x.dtype)
    kernel = _im2col_par if out.size >= PARALLEL_MIN_ELEMENTS else _im2col_ser
    kernel(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, x.dtype.type(pad_value))
    return out


def col2im_numba(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """numba fold (NumPy arrays only); same result as :func:`col2im_numpy`."""
    if not HAVE_NUMBA:
        raise RuntimeError("col2im_numba: numba is not available")
    N, C, H, W = x_shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x_shape, kh, kw, stride, padding, dilation)
    cols = numpy.ascontiguousarray(cols).reshape(N, C * kh * kw, OH * OW)
    out = numpy.empty((N, C, H, W), dtype=cols.dtype)
    kernel = _col2im_par if cols.size >= PARALLEL_MIN_ELEMENTS else _col2im_ser
    kernel(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW)
    return out


# Which implementation each operation uses on NumPy arrays when numba is importable; chosen by
# timing both at ResNet-20 (N=128, C=16..64, 32x32..8x8, 3x3, pad 1) and MNIST-CNN shapes
# (N=64, C=1..16, 28x28 / 14x14, 5x5); see the report in the module's tests/benchmarks.
USE_NUMBA = {"im2col": True, "col2im": True}


# ----------------------------------------------------------------------------- dispatch
def _numba_takes(a, op: str) -> bool:
    """Whether the numba kernel of ``op`` ('im2col' or 'col2im') runs on array ``a``."""
    return HAVE_NUMBA and USE_NUMBA[op] and isinstance(a, numpy.ndarray) and a.dtype.kind == "f"


def _image(x, op: str):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) array, got shape {x.shape}")
    return x


def _image_shape(x_shape, op: str) -> tuple:
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x_shape must be (N, C, H, W), got {x_shape}")
    return x_shape


def im2col(x, kh: int, kw: int, stride=1, padding=0, dilation=1, pad_value: float = 0.0):
    """Unfold (N, C, H, W) into (N, C*kh*kw, OH*OW) patch columns (``pad_value`` outside)."""
    impl = im2col_numba if _numba_takes(_image(x, "im2col"), "im2col") else im2col_numpy
    return impl(x, kh, kw, stride, padding, dilation, pad_value)


def col2im(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """Fold (N, C*kh*kw, OH*OW) columns back into an (N, C, H, W) image, summing overlaps."""
    x_shape = _image_shape(x_shape, "col2im")
    impl = col2im_numba if _numba_takes(cols, "col2im") else col2im_numpy
    return impl(cols, x_shape, kh, kw, stride, padding, dilation)


# ----------------------------------------------------------------------------- channel-major
#: Column elements above which the channel-major numba kernels run multi-threaded (default:
#: never; see the module docstring). ``AUTODIFF_CM_PAR`` overrides it.
CM_PARALLEL_MIN_ELEMENTS = int(os.environ.get("AUTODIFF_CM_PAR", 1 << 40))


def planes_contiguous(x):
    """x, or a contiguous copy unless each (H, W) plane already is (N/C strides may be any)."""
    if x.strides[3] != x.itemsize or x.strides[2] != x.shape[3] * x.itemsize:
        return numpy.ascontiguousarray(x)
    return x


def _flat_ok(sh, sw, OW, W) -> bool:
    """Whether the flat kernels apply: stride 1 both ways and as many output as input columns."""
    return sh == 1 and sw == 1 and OW == W


def im2col_cm_into(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, pad_value,
                   parallel: bool = False) -> None:
    """Unfold x (N, C, H, W; each H*W plane contiguous) into out (C*kh*kw, N*OH*OW)."""
    N, C, H, W = x.shape
    if _flat_ok(sh, sw, OW, W):
        kernel = _im2col_cm_flat_par if parallel else _im2col_cm_flat_ser
        kernel(x.reshape(N, C, H * W), out, kh, kw, dh, dw, pt, pl, H, W, OH, OW, pad_value)
    else:
        kernel = _im2col_cm_par if parallel else _im2col_cm_ser
        kernel(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, pad_value)


def col2im_cm_consume(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW) -> None:
    """Fold cols (C*kh*kw, N*OH*OW) into out (N, C, H, W; contiguous), serially. ``cols`` is
    scratch: the flat kernel zeroes its padding positions."""
    N, C, H, W = out.shape
    if _flat_ok(sh, sw, OW, W):
        _col2im_cm_flat_ser(cols, out.reshape(N, C, H * W), kh, kw, dh, dw, pt, pl, H, W, OH, OW)
    else:
        _col2im_cm_ser(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW)


def im2col_cm_numba(x, kh: int, kw: int, stride=1, padding=0, dilation=1,
                    pad_value: float = 0.0):
    """numba channel-major unfold (NumPy arrays only); same result as :func:`im2col_cm_numpy`."""
    if not HAVE_NUMBA:
        raise RuntimeError("im2col_cm_numba: numba is not available")
    N, C, H, W = x.shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x.shape, kh, kw, stride, padding, dilation)
    x = planes_contiguous(x)
    out = pooled_empty((C * kh * kw, N * OH * OW), x.dtype)
    im2col_cm_into(x, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, x.dtype.type(pad_value),
                   parallel=out.size >= CM_PARALLEL_MIN_ELEMENTS)
    return out


def col2im_cm_numba(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """numba channel-major fold (NumPy arrays only); same result as :func:`col2im_cm_numpy`."""
    if not HAVE_NUMBA:
        raise RuntimeError("col2im_cm_numba: numba is not available")
    N, C, H, W = x_shape
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = _geometry(x_shape, kh, kw, stride, padding, dilation)
    cols = numpy.ascontiguousarray(cols).reshape(C * kh * kw, N * OH * OW)
    out = pooled_empty((N, C, H, W), cols.dtype)
    kernel = _col2im_cm_par if cols.size >= CM_PARALLEL_MIN_ELEMENTS else _col2im_cm_ser
    kernel(cols, out, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW)
    return out


def im2col_cm(x, kh: int, kw: int, stride=1, padding=0, dilation=1, pad_value: float = 0.0):
    """Channel-major unfold: (N, C, H, W) -> (C*kh*kw, N*OH*OW) columns; row ``(c, i, j)``,
    column ``(n, oh, ow)``. A convolution is then one GEMM ``W (O, C*kh*kw) @ cols``."""
    impl = im2col_cm_numba if _numba_takes(_image(x, "im2col_cm"), "im2col") else im2col_cm_numpy
    return impl(x, kh, kw, stride, padding, dilation, pad_value)


def col2im_cm(cols, x_shape, kh: int, kw: int, stride=1, padding=0, dilation=1):
    """Fold channel-major (C*kh*kw, N*OH*OW) columns into an (N, C, H, W) image, summing
    overlaps (the adjoint of :func:`im2col_cm`)."""
    x_shape = _image_shape(x_shape, "col2im_cm")
    impl = col2im_cm_numba if _numba_takes(cols, "col2im") else col2im_cm_numpy
    return impl(cols, x_shape, kh, kw, stride, padding, dilation)
