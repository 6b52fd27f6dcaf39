"""Fused CUDA kernels for the CuPy backend, each paired with a NumPy reference of the same signature.

Every public function here takes raw arrays (never Tensors) and dispatches on the array module of
its data (:func:`backends.get_array_module`): CuPy arrays go to a hand-written kernel
(``cupy.ElementwiseKernel`` or ``cupy.RawKernel``), NumPy arrays to a straightforward NumPy
implementation of the same formula. The engine calls one function; the NumPy path is what the
CPU test-suite checks, and the GPU tests compare the two.

Kernels are compiled lazily on first use and cached per (kernel, dtype) in ``_KERNELS``;
compilation costs a few hundred milliseconds per kernel per process (CuPy also keeps an on-disk
cache in ``~/.cupy/kernel_cache``). Only float32 and float64 are supported on the GPU (a
``TypeError`` names the dtype otherwise, so the caller can fall back to the generic path).

Contents (see each docstring for the math):

- activation backwards: ``relu_backward``, ``sigmoid_backward``, ``tanh_backward``;
- ``softmax_cross_entropy_forward`` / ``softmax_cross_entropy_backward`` (one launch each);
- ``batch_norm_forward`` / ``batch_norm_backward`` over (N, C) and (N, C, *spatial) in training
  mode (three launches each: per-(channel, chunk) partial reductions, a per-channel combine,
  and one elementwise pass);
- optimizer updates, in place and one launch per parameter: ``sgd_momentum_update``,
  ``adam_update``;
- ``sum_to_trailing``: the broadcast-gradient reduction (``sum_to``) special-cased so that
  reductions over short axes do not go through CuPy's generic reduction.

This module imports without CuPy; nothing CUDA-related is touched until a CuPy array arrives.
"""
from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Callable

import numpy

from . import get_array_module

__all__ = ["relu_backward", "sigmoid_backward", "tanh_backward", "softmax_cross_entropy_forward",
           "softmax_cross_entropy_backward", "batch_norm_forward", "batch_norm_backward",
           "sgd_momentum_update", "adam_update", "sum_to_trailing", "clear_cache",
           "conv2d_forward", "conv2d_backward", "im2col", "col2im", "im2col_cm", "col2im_cm",
           "max_pool2d_forward", "max_pool2d_scatter", "max_pool2d_gather"]

# ----------------------------------------------------------------------------- kernel cache
_KERNELS: dict[tuple, Any] = {}
_CTYPE = {"float32": "float", "float64": "double"}
_LABEL_CTYPE = {"int8": "signed char", "uint8": "unsigned char", "int16": "short",
                "uint16": "unsigned short", "int32": "int", "uint32": "unsigned int",
                "int64": "long long", "uint64": "unsigned long long"}


def clear_cache() -> None:
    """Forget every compiled kernel (they are rebuilt on next use)."""
    _KERNELS.clear()


def _is_numpy(xp) -> bool:
    return xp is numpy


def _dtype_name(dtype, op: str) -> str:
    name = numpy.dtype(dtype).name
    if name not in _CTYPE:
        raise TypeError(f"{op}: the CUDA kernel supports float32 and float64 arrays, got {name}")
    return name


def _cached(key: tuple, build: Callable[[], Any]):
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = build()
    return k


def _elementwise(name: str, dtype: str, in_params: str, out_params: str, body: str,
                 preamble: str = ""):
    """A ``cupy.ElementwiseKernel`` with ``REAL`` standing for the dtype (C type in the body,
    NumPy name in the parameter lists), built once per dtype."""
    def build():
        import cupy
        ct = _CTYPE[dtype]
        return cupy.ElementwiseKernel(in_params.replace("REAL", dtype),
                                      out_params.replace("REAL", dtype),
                                      body.replace("REAL", ct), f"autodiff_{name}_{dtype}",
                                      preamble=preamble.replace("REAL", ct))
    return _cached(("ew", name, dtype), build)


def _raw(name: str, key: tuple, source: str):
    """A ``cupy.RawKernel`` compiled from ``source`` (already specialised), cached by ``key``."""
    def build():
        import cupy
        return cupy.RawKernel(source, name)
    return _cached(("raw", name) + key, build)


def _pow2_block(n: int, lo: int = 32, hi: int = 256) -> int:
    b = lo
    while b < n and b < hi:
        b *= 2
    return b


# ============================================================================= activations
def relu_backward(y, g):
    """Gradient of ``relu``: ``g * (y > 0)``.

    ``y`` may be the saved output ``max(x, 0)`` or the input ``x`` (same mask); ``relu'(0) = 0``
    as in the engine. One fused launch instead of compare + cast + multiply."""
    xp = get_array_module(y, g)
    if _is_numpy(xp):
        return numpy.where(y > 0, g, 0).astype(numpy.result_type(y, g), copy=False)
    dt = _dtype_name(g.dtype, "relu_backward")
    k = _elementwise("relu_bw", dt, "REAL y, REAL g", "REAL gx", "gx = y > (REAL)0 ? g : (REAL)0")
    return k(y, g)


def sigmoid_backward(y, g):
    """Gradient of ``sigmoid`` from its output ``y``: ``g * y * (1 - y)``."""
    xp = get_array_module(y, g)
    if _is_numpy(xp):
        return g * y * (1 - y)
    dt = _dtype_name(g.dtype, "sigmoid_backward")
    k = _elementwise("sigmoid_bw", dt, "REAL y, REAL g", "REAL gx", "gx = g * y * ((REAL)1 - y)")
    return k(y, g)


def tanh_backward(y, g):
    """Gradient of ``tanh`` from its output ``y``: ``g * (1 - y^2)``."""
    xp = get_array_module(y, g)
    if _is_numpy(xp):
        return g * (1 - y * y)
    dt = _dtype_name(g.dtype, "tanh_backward")
    k = _elementwise("tanh_bw", dt, "REAL y, REAL g", "REAL gx", "gx = g * ((REAL)1 - y * y)")
    return k(y, g)


# ============================================================================= cross-entropy
_SCE_FWD = r"""
__device__ __forceinline__ REAL _block_sum(REAL v, REAL* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    REAL r = red[0];
    __syncthreads();
    return r;
}
__device__ __forceinline__ REAL _block_max(REAL v, REAL* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] = fmax(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    REAL r = red[0];
    __syncthreads();
    return r;
}
extern "C" __global__ void sce_fwd(const REAL* __restrict__ x, const LABEL* __restrict__ labels,
                                   REAL* __restrict__ loss, REAL* __restrict__ prob,
                                   long long N, long long C, long long ignore_index) {
    extern __shared__ unsigned char smem_raw[];
    REAL* red = reinterpret_cast<REAL*>(smem_raw);
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const REAL* xr = x + row * C;
        REAL* pr = prob + row * C;
        REAL m = xr[0];
        for (long long j = threadIdx.x; j < C; j += blockDim.x) m = fmax(m, xr[j]);
        m = _block_max(m, red);
        if (isinf(m)) m = (REAL)0;          /* all -inf (or an inf): keep exp finite */
        REAL s = 0;
        for (long long j = threadIdx.x; j < C; j += blockDim.x) s += exp(xr[j] - m);
        s = _block_sum(s, red);
        REAL lse = m + log(s);
        for (long long j = threadIdx.x; j < C; j += blockDim.x) pr[j] = exp(xr[j] - lse);
        if (threadIdx.x == 0) {
            long long t = (long long)labels[row];
            if (t == ignore_index) loss[row] = (REAL)0;
            else if (t < 0 || t >= C) loss[row] = sqrt((REAL)-1);   /* NaN: invalid label */
            else loss[row] = lse - xr[t];
        }
    }
}
"""


def _check_sce(logits, labels, op: str):
    if logits.ndim != 2:
        raise ValueError(f"{op}: logits must be (N, C), got shape {logits.shape}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"{op}: labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if numpy.dtype(labels.dtype).kind not in "iu":
        raise TypeError(f"{op}: labels must be integers, got {labels.dtype}")


def softmax_cross_entropy_forward(logits, labels, ignore_index: int = -100):
    """Per-row cross-entropy of logits ``x`` (N, C) with integer ``labels`` (N,), and the softmax.

    ``lse_i = m_i + log sum_j exp(x_ij - m_i)`` with ``m_i = max_j x_ij``;
    ``loss_i = lse_i - x_i[labels_i]`` (0 where ``labels_i == ignore_index``);
    ``softmax_ij = exp(x_ij - lse_i)``. Returns ``(loss_per_row, softmax)``; the softmax is what
    :func:`softmax_cross_entropy_backward` needs. One block per row on the GPU (max, sum and
    write in one launch). A label outside [0, C) raises on NumPy; on the GPU it gives a NaN loss
    for that row (checking would need a host synchronisation)."""
    _check_sce(logits, labels, "softmax_cross_entropy_forward")
    xp = get_array_module(logits, labels)
    N, C = logits.shape
    if _is_numpy(xp):
        valid = labels != ignore_index
        if N and not (0 <= labels.min() and labels.max() < C):
            bad = valid & ((labels < 0) | (labels >= C))
            if bad.any():
                raise IndexError(f"softmax_cross_entropy_forward: label {labels[bad][0]} is out "
                                 f"of range for {C} classes")
        if C == 0:
            return numpy.zeros(N, logits.dtype), numpy.empty_like(logits)
        m = logits.max(axis=1, keepdims=True)
        finite = numpy.isfinite(m).all()
        if not finite:                      # a row of -inf (or an inf): keep exp finite
            m = numpy.where(numpy.isfinite(m), m, 0).astype(logits.dtype)
        prob = numpy.subtract(logits, m)
        numpy.exp(prob, out=prob)
        s = prob.sum(axis=1, keepdims=True)
        # all -inf: log 0, 0/0 and -inf + inf (with finite maxima s >= 1: nothing to quieten)
        with contextlib.nullcontext() if finite else numpy.errstate(divide="ignore",
                                                                     invalid="ignore"):
            prob /= s
            lse = numpy.log(s[:, 0]) + m[:, 0]
            loss = lse - logits[numpy.arange(N), numpy.where(valid, labels, 0)]
        if not valid.all():
            loss[~valid] = 0
        return loss.astype(logits.dtype, copy=False), prob
    dt = _dtype_name(logits.dtype, "softmax_cross_entropy_forward")
    lt = numpy.dtype(labels.dtype).name
    logits = xp.ascontiguousarray(logits)
    labels = xp.ascontiguousarray(labels)
    loss = xp.empty(N, logits.dtype)
    prob = xp.empty_like(logits)
    if N == 0 or C == 0:
        loss[...] = 0
        return loss, prob
    src = _SCE_FWD.replace("REAL", _CTYPE[dt]).replace("LABEL", _LABEL_CTYPE[lt])
    k = _raw("sce_fwd", (dt, lt), src)
    block = _pow2_block(C)
    grid = min(N, 1 << 20)
    k((grid,), (block,), (logits, labels, loss, prob, numpy.int64(N), numpy.int64(C),
                          numpy.int64(ignore_index)),
      shared_mem=block * numpy.dtype(dt).itemsize)
    return loss, prob


def softmax_cross_entropy_backward(softmax, labels, g, ignore_index: int = -100):
    """Gradient of the per-row loss w.r.t. the logits: ``g_i * (softmax_ij - [j == labels_i])``,
    0 on rows whose label is ``ignore_index``. ``g`` is the upstream gradient of the per-row
    loss: an array of shape (N,) or a scalar (e.g. ``1/N`` for a mean). One launch."""
    _check_sce(softmax, labels, "softmax_cross_entropy_backward")
    xp = get_array_module(softmax, labels)
    N, C = softmax.shape
    scalar_g = numpy.ndim(g) == 0 if not hasattr(g, "ndim") else g.ndim == 0
    if not scalar_g and g.shape != (N,):
        raise ValueError(f"softmax_cross_entropy_backward: g must be a scalar or shape ({N},), "
                         f"got {g.shape}")
    if _is_numpy(xp):
        valid = labels != ignore_index
        coef = valid * numpy.asarray(g, dtype=softmax.dtype)    # g_i, 0 on ignored rows
        out = softmax * coef[:, None]
        out[numpy.arange(N), numpy.where(valid, labels, 0)] -= coef
        if not valid.all():
            out[~valid] = 0         # also where the softmax is NaN (a row of -inf)
        return out
    dt = _dtype_name(softmax.dtype, "softmax_cross_entropy_backward")
    lt = numpy.dtype(labels.dtype).name
    softmax = xp.ascontiguousarray(softmax)
    labels = xp.ascontiguousarray(labels)
    k = _elementwise(f"sce_bw_{lt}", dt,
                     f"raw REAL p, raw {lt} labels, raw REAL g, REAL gscale, int64 C, "
                     f"bool has_g, int64 ignore",
                     "REAL dx",
                     "long long row = i / C; long long col = i - row * C; "
                     "long long t = (long long)labels[row]; "
                     "REAL gr = has_g ? g[row] : gscale; "
                     "dx = (t == ignore) ? (REAL)0 : gr * (p[i] - (col == t ? (REAL)1 : (REAL)0))")
    out = xp.empty_like(softmax)
    if out.size == 0:
        return out
    if scalar_g and not hasattr(g, "ndim"):
        return k(softmax, labels, softmax, float(g), C, False, ignore_index, out)
    if scalar_g:  # a 0-d device array: stays on the device (index 0 for every row)
        g = xp.broadcast_to(xp.asarray(g, dtype=softmax.dtype), (N,))
    g = xp.ascontiguousarray(g, dtype=softmax.dtype)
    return k(softmax, labels, g, 0.0, C, True, ignore_index, out)


# ============================================================================= batch norm
_BN_COMMON = r"""
/* x is contiguous (N, C, S) with S = prod(spatial); channel c has M = N*S values; block
   (c, chunk) handles values j in [chunk*len, min(M, (chunk+1)*len)), j = n*S + s. */
__device__ __forceinline__ long long _bn_index(long long j, long long c, long long C,
                                               long long S) {
    long long n = j / S;
    return (n * C + c) * S + (j - n * S);
}
__device__ __forceinline__ void _bn_block_sums(double a, double b, double* __restrict__ part) {
    /* the block's sums of a and of b (tree reduction in shared memory, 2*blockDim doubles),
       written by thread 0 to part[2*block], part[2*block + 1] */
    extern __shared__ double sh[];
    double* s1 = sh;
    double* s2 = sh + blockDim.x;
    s1[threadIdx.x] = a;
    s2[threadIdx.x] = b;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            s1[threadIdx.x] += s1[threadIdx.x + s];
            s2[threadIdx.x] += s2[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        part[2 * blockIdx.x] = s1[0];
        part[2 * blockIdx.x + 1] = s2[0];
    }
}
"""

_BN_STATS = _BN_COMMON + r"""
extern "C" __global__ void bn_stats_partial(const REAL* __restrict__ x, double* __restrict__ part,
                                            long long C, long long S, long long M, long long G,
                                            long long len) {
    /* shifted sums: K = first value of the channel; sum (x-K) and sum (x-K)^2 in double */
    long long c = blockIdx.x / G, chunk = blockIdx.x - c * G;
    long long lo = chunk * len, hi = min(M, lo + len);
    double K = (double)x[_bn_index(0, c, C, S)];
    double a = 0, b = 0;
    for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        double v = (double)x[_bn_index(j, c, C, S)] - K;
        a += v;
        b += v * v;
    }
    _bn_block_sums(a, b, part);
}
extern "C" __global__ void bn_stats_final(const REAL* __restrict__ x,
                                          const double* __restrict__ part,
                                          REAL* __restrict__ mean, REAL* __restrict__ invstd,
                                          REAL* __restrict__ var, long long C, long long S,
                                          long long M, long long G, double eps) {
    long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double K = (double)x[_bn_index(0, c, C, S)];
    double a = 0, b = 0;
    for (long long g = 0; g < G; ++g) {
        a += part[2 * (c * G + g)];
        b += part[2 * (c * G + g) + 1];
    }
    double d = a / (double)M;                  /* mean - K */
    double v = b / (double)M - d * d;          /* biased variance */
    if (v < 0) v = 0;
    mean[c] = (REAL)(K + d);
    var[c] = (REAL)v;
    invstd[c] = (REAL)(1.0 / sqrt(v + eps));
}
"""

_BN_GRAD = _BN_COMMON + r"""
extern "C" __global__ void bn_grad_partial(const REAL* __restrict__ x, const REAL* __restrict__ gy,
                                           const REAL* __restrict__ mean,
                                           const REAL* __restrict__ invstd,
                                           double* __restrict__ part, long long C, long long S,
                                           long long M, long long G, long long len) {
    /* per (channel, chunk): sum g and sum g * xhat, xhat = (x - mean) * invstd */
    long long c = blockIdx.x / G, chunk = blockIdx.x - c * G;
    long long lo = chunk * len, hi = min(M, lo + len);
    REAL mu = mean[c], is = invstd[c];
    double a = 0, b = 0;
    for (long long j = lo + threadIdx.x; j < hi; j += blockDim.x) {
        long long k = _bn_index(j, c, C, S);
        double gv = (double)gy[k];
        a += gv;
        b += gv * (double)((x[k] - mu) * is);
    }
    _bn_block_sums(a, b, part);
}
extern "C" __global__ void bn_grad_final(const double* __restrict__ part,
                                         REAL* __restrict__ dbeta, REAL* __restrict__ dgamma,
                                         long long C, long long G) {
    long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0, b = 0;
    for (long long g = 0; g < G; ++g) {
        a += part[2 * (c * G + g)];
        b += part[2 * (c * G + g) + 1];
    }
    dbeta[c] = (REAL)a;
    dgamma[c] = (REAL)b;
}
"""


def _bn_geometry(x, op: str):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected (N, C) or (N, C, *spatial), got shape {x.shape}")
    N, C = x.shape[0], x.shape[1]
    S = int(numpy.prod(x.shape[2:], dtype=numpy.int64)) if x.ndim > 2 else 1
    return N, C, S, N * S


def _bn_grid(C: int, M: int, block: int) -> tuple[int, int]:
    """(G chunks per channel, chunk length): about 2048 blocks in all, >= 4 values per thread."""
    G = max(1, min(-(-M // (block * 4)), -(-2048 // max(C, 1))))
    return G, -(-M // G)


def _bn_axes(x) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def _bn_shape(x) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_forward(x, gamma, beta, eps: float = 1e-5, return_var: bool = False):
    """Training-mode batch normalisation over every axis but the channel axis 1.

    ``mean_c = 1/M sum x``, ``var_c = 1/M sum (x - mean_c)^2`` (biased, M = N * prod(spatial)),
    ``invstd_c = 1 / sqrt(var_c + eps)``, ``y = (x - mean_c) * invstd_c * gamma_c + beta_c``
    (``gamma``/``beta`` may be None: 1 and 0). Returns ``(y, mean, invstd)`` (each of shape (C,)
    for the statistics), plus ``var`` when ``return_var`` (for the running-variance update).
    GPU: sums of ``x - K`` and ``(x - K)^2`` with ``K`` the channel's first value, accumulated in
    double over (channel, chunk) blocks, combined per channel, then one normalisation pass."""
    N, C, S, M = _bn_geometry(x, "batch_norm_forward")
    if M == 0:
        raise ValueError(f"batch_norm_forward: no values per channel in shape {x.shape}")
    xp = get_array_module(x)
    if _is_numpy(xp):
        axes, shp = _bn_axes(x), _bn_shape(x)
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        invstd = 1.0 / numpy.sqrt(var + eps)
        y = (x - mean) * invstd
        if gamma is not None:
            y = y * gamma.reshape(shp)
        if beta is not None:
            y = y + beta.reshape(shp)
        out = (y.astype(x.dtype, copy=False), mean.reshape(C).astype(x.dtype),
               invstd.reshape(C).astype(x.dtype))
        return out + ((var.reshape(C).astype(x.dtype),) if return_var else ())
    dt = _dtype_name(x.dtype, "batch_norm_forward")
    x = xp.ascontiguousarray(x)
    block = 256
    G, length = _bn_grid(C, M, block)
    src = _BN_STATS.replace("REAL", _CTYPE[dt])
    part = xp.empty(2 * C * G, numpy.float64)
    mean = xp.empty(C, x.dtype)
    invstd = xp.empty(C, x.dtype)
    var = xp.empty(C, x.dtype)
    i64 = numpy.int64
    _raw("bn_stats_partial", (dt,), src)((C * G,), (block,),
                                         (x, part, i64(C), i64(S), i64(M), i64(G), i64(length)),
                                         shared_mem=2 * block * 8)
    _raw("bn_stats_final", (dt,), src)((-(-C // 128),), (128,),
                                       (x, part, mean, invstd, var, i64(C), i64(S), i64(M),
                                        i64(G), numpy.float64(eps)))
    k = _elementwise("bn_apply", dt,
                     "REAL x, raw REAL mean, raw REAL invstd, raw REAL gamma, raw REAL beta, "
                     "int64 C, int64 S, bool has_gamma, bool has_beta", "REAL y",
                     "long long c = (i / S) % C; REAL v = (x - mean[c]) * invstd[c]; "
                     "if (has_gamma) v *= gamma[c]; if (has_beta) v += beta[c]; y = v")
    gam = mean if gamma is None else xp.ascontiguousarray(gamma, dtype=x.dtype)
    bet = mean if beta is None else xp.ascontiguousarray(beta, dtype=x.dtype)
    y = k(x, mean, invstd, gam, bet, C, S, gamma is not None, beta is not None)
    return (y, mean, invstd) + ((var,) if return_var else ())


def batch_norm_backward(x, g, gamma, mean, invstd, need_dx: bool = True):
    """Gradients of :func:`batch_norm_forward` (batch statistics) w.r.t. ``x``, ``gamma``, ``beta``.

    With ``xhat = (x - mean) * invstd`` and sums over the M values of each channel:
    ``dbeta = sum g``, ``dgamma = sum g * xhat``,
    ``dx = gamma * invstd / M * (M g - dbeta - xhat * dgamma)`` (``gamma`` None means 1).
    Returns ``(dx, dgamma, dbeta)``, ``dx`` None when not ``need_dx``. GPU: per-(channel, chunk)
    partial sums in double, a per-channel combine, one elementwise pass: three launches."""
    N, C, S, M = _bn_geometry(x, "batch_norm_backward")
    if g.shape != x.shape:
        raise ValueError(f"batch_norm_backward: g has shape {g.shape}, x has {x.shape}")
    xp = get_array_module(x, g)
    if _is_numpy(xp):
        axes, shp = _bn_axes(x), _bn_shape(x)
        xhat = (x - mean.reshape(shp)) * invstd.reshape(shp)
        dbeta = g.sum(axis=axes)
        dgamma = (g * xhat).sum(axis=axes)
        dx = None
        if need_dx:
            scale = invstd if gamma is None else gamma * invstd
            dx = scale.reshape(shp) / M * (M * g - dbeta.reshape(shp) -
                                           xhat * dgamma.reshape(shp))
            dx = dx.astype(x.dtype, copy=False)
        return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)
    dt = _dtype_name(x.dtype, "batch_norm_backward")
    x = xp.ascontiguousarray(x)
    g = xp.ascontiguousarray(g, dtype=x.dtype)
    mean = xp.ascontiguousarray(mean, dtype=x.dtype)
    invstd = xp.ascontiguousarray(invstd, dtype=x.dtype)
    block = 256
    G, length = _bn_grid(C, M, block)
    src = _BN_GRAD.replace("REAL", _CTYPE[dt])
    part = xp.empty(2 * C * G, numpy.float64)
    dbeta = xp.empty(C, x.dtype)
    dgamma = xp.empty(C, x.dtype)
    i64 = numpy.int64
    _raw("bn_grad_partial", (dt,), src)((C * G,), (block,),
                                        (x, g, mean, invstd, part, i64(C), i64(S), i64(M),
                                         i64(G), i64(length)), shared_mem=2 * block * 8)
    _raw("bn_grad_final", (dt,), src)((-(-C // 128),), (128,), (part, dbeta, dgamma, i64(C),
                                                                 i64(G)))
    if not need_dx:
        return None, dgamma, dbeta
    k = _elementwise("bn_dx", dt,
                     "REAL x, REAL g, raw REAL mean, raw REAL invstd, raw REAL gamma, "
                     "raw REAL dbeta, raw REAL dgamma, int64 C, int64 S, REAL M, bool has_gamma",
                     "REAL dx",
                     "long long c = (i / S) % C; REAL is = invstd[c]; "
                     "REAL xh = (x - mean[c]) * is; REAL sc = has_gamma ? gamma[c] * is : is; "
                     "dx = sc / M * (M * g - dbeta[c] - xh * dgamma[c])")
    gam = invstd if gamma is None else xp.ascontiguousarray(gamma, dtype=x.dtype)
    dx = k(x, g, mean, invstd, gam, dbeta, dgamma, C, S, float(M), gamma is not None)
    return dx, dgamma, dbeta


# ============================================================================= optimizers
def _check_update(p, g, op: str, *bufs):
    for name, b in (("grad", g),) + bufs:
        if b is not None and b.shape != p.shape:
            raise ValueError(f"{op}: {name} has shape {b.shape}, the parameter has {p.shape}")


def sgd_momentum_update(p, g, buf, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                        weight_decay: float = 0.0, nesterov: bool = False, *,
                        first_step: bool = False, maximize: bool = False) -> None:
    """In-place SGD step, PyTorch's formulation (one launch per parameter on the GPU)::

        d = (-g if maximize else g) + weight_decay * p
        buf = d                                            (first_step)
        buf = momentum * buf + (1 - dampening) * d         (later steps; momentum != 0)
        d = d + momentum * buf (nesterov)  or  d = buf
        p = p - lr * d

    ``buf`` may be None when ``momentum == 0``. ``p`` and ``buf`` are modified in place (bump
    the parameter's version counter in the caller)."""
    _check_update(p, g, "sgd_momentum_update", ("buf", buf))
    if momentum and buf is None:
        raise ValueError("sgd_momentum_update: a momentum buffer is needed when momentum != 0")
    xp = get_array_module(p, g)
    sign = -1.0 if maximize else 1.0
    if _is_numpy(xp):
        d = sign * g + weight_decay * p if weight_decay else (sign * g)
        if momentum:
            if first_step:
                buf[...] = d
            else:
                buf *= momentum
                buf += (1.0 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p -= lr * d
        return None
    dt = _dtype_name(p.dtype, "sgd_momentum_update")
    if not momentum:
        k = _elementwise("sgd", dt, "REAL g, REAL lr, REAL wd, REAL sign", "REAL p",
                         "p = p - lr * (sign * g + wd * p)")
        k(g, lr, weight_decay, sign, p)
        return None
    k = _elementwise("sgd_momentum", dt,
                     "REAL g, REAL lr, REAL momentum, REAL dampening, REAL wd, REAL sign, "
                     "bool nesterov, bool first", "REAL p, REAL buf",
                     "REAL d = sign * g + wd * p; "
                     "REAL b = first ? d : momentum * buf + ((REAL)1 - dampening) * d; "
                     "buf = b; d = nesterov ? d + momentum * b : b; p = p - lr * d")
    k(g, lr, momentum, dampening, weight_decay, sign, bool(nesterov), bool(first_step), p, buf)
    return None


def adam_update(p, g, m, v, lr: float, beta1: float, beta2: float, eps: float,
                weight_decay: float, step: int, amsgrad_max=None, decoupled: bool = False, *,
                maximize: bool = False) -> None:
    """In-place Adam / AdamW step (PyTorch's arrangement; one launch per parameter on the GPU)::

        g = -g (maximize);  p *= 1 - lr * wd (decoupled)  or  g = g + wd * p (L2)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        vmax = max(vmax, v) and use vmax for v below   (amsgrad: pass ``amsgrad_max``)
        p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)

    ``step`` counts from 1 (after incrementing). ``p``, ``m``, ``v`` (and ``amsgrad_max``) are
    modified in place; the bias corrections are computed on the host from ``step``."""
    _check_update(p, g, "adam_update", ("m", m), ("v", v), ("amsgrad_max", amsgrad_max))
    if step < 1:
        raise ValueError(f"adam_update: step counts from 1, got {step}")
    xp = get_array_module(p, g)
    sign = -1.0 if maximize else 1.0
    bc1 = 1.0 - beta1 ** step
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** step)
    if _is_numpy(xp):
        gg = sign * g
        if weight_decay:
            if decoupled:
                p *= 1.0 - lr * weight_decay
            else:
                gg = gg + weight_decay * p
        m *= beta1
        m += (1.0 - beta1) * gg
        v *= beta2
        v += (1.0 - beta2) * gg * gg
        vv = v
        if amsgrad_max is not None:
            numpy.maximum(amsgrad_max, v, out=amsgrad_max)
            vv = amsgrad_max
        p -= (lr / bc1) * m / (numpy.sqrt(vv) / sqrt_bc2 + eps)
        return None
    dt = _dtype_name(p.dtype, "adam_update")
    head = ("REAL gg = sign * g; "
            "if (decoupled) p = p * ((REAL)1 - lr * wd); else gg = gg + wd * p; "
            "m = beta1 * m + ((REAL)1 - beta1) * gg; "
            "v = beta2 * v + ((REAL)1 - beta2) * gg * gg; ")
    params = ("REAL g, REAL lr, REAL step_size, REAL beta1, REAL beta2, REAL eps, REAL wd, "
              "REAL sqrt_bc2, REAL sign, bool decoupled")
    args = (g, lr, lr / bc1, beta1, beta2, eps, weight_decay, sqrt_bc2, sign, bool(decoupled))
    if amsgrad_max is None:
        k = _elementwise("adam", dt, params, "REAL p, REAL m, REAL v",
                         head + "p = p - step_size * m / (sqrt(v) / sqrt_bc2 + eps)")
        k(*args, p, m, v)
    else:
        k = _elementwise("adam_amsgrad", dt, params, "REAL p, REAL m, REAL v, REAL vmax",
                         head + "vmax = max(vmax, v); "
                         "p = p - step_size * m / (sqrt(vmax) / sqrt_bc2 + eps)")
        k(*args, p, m, v, amsgrad_max)
    return None


# ============================================================================= sum_to
SHORT_AXIS = 16   # trailing reductions at most this long use the explicit add loop kernel


def _sum_to_axes(x_shape: tuple, shape: tuple) -> tuple:
    lead = len(x_shape) - len(shape)
    if lead < 0 or any(s != 1 and s != xs for s, xs in zip(shape, x_shape[lead:])):
        raise ValueError(f"sum_to: shape {x_shape} cannot be reduced to {shape}")
    return tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and x_shape[i + lead] != 1)


def sum_to_plan(x_shape: tuple, shape: tuple) -> list[tuple[bool, int]]:
    """The reduction ``x_shape -> shape`` as merged runs ``(reduced, size)`` over the axes of
    ``x`` (axes of size 1 dropped, neighbours with the same role merged). ``sum_to`` on a
    contiguous array is then a reduction of ``x.reshape(sizes)`` over the reduced runs."""
    axes = set(_sum_to_axes(tuple(x_shape), tuple(shape)))
    runs: list[list] = []
    for i, n in enumerate(x_shape):
        if n == 1:
            continue
        red = i in axes
        if runs and runs[-1][0] == red:
            runs[-1][1] *= n
        else:
            runs.append([red, int(n)])
    return [(r, n) for r, n in runs]


_ONES: dict[tuple, Any] = {}


def _ones(xp, n: int, dtype):
    """A cached ones vector (one per length, dtype and device): no fill launch per call."""
    dev = getattr(getattr(xp, "cuda", None), "Device", None)
    key = (xp.__name__, n, numpy.dtype(dtype).str, dev().id if dev is not None else -1)
    o = _ONES.get(key)
    if o is None:
        if len(_ONES) > 256:
            _ONES.clear()
        o = _ONES[key] = xp.ones(n, dtype)
    return o


def _rowsum_short(x2, xp):
    """Sum over the short trailing axis of a 2-D contiguous (R, K) array: one thread per row
    adding its K values in order (the explicit add loop; K <= SHORT_AXIS)."""
    R, K = x2.shape
    if _is_numpy(xp):
        out = x2[:, 0].copy()
        for j in range(1, K):
            out += x2[:, j]
        return out
    dt = _dtype_name(x2.dtype, "sum_to_trailing")
    k = _elementwise("rowsum_short", dt, "raw REAL x, int64 K", "REAL y",
                     "long long b = i * K; REAL s = x[b]; "
                     "for (long long j = 1; j < K; ++j) s += x[b + j]; y = s")
    return k(x2, K, size=R)


def _sum_fast(x, plan, xp):
    """The reduction described by ``plan`` with GEMV/explicit-loop kernels, or None when the
    pattern is not one of [R, K], [K, R], [R, K, R], [K, R, K] (or all-reduced)."""
    sizes = [n for _, n in plan]
    roles = [r for r, _ in plan]
    x = xp.ascontiguousarray(x)

    def lead(a2):           # (R, K) -> (K,): ones(R) @ a2
        return _ones(xp, a2.shape[0], a2.dtype) @ a2

    def trail(a2):          # (K, R) -> (K,)
        if a2.shape[1] <= SHORT_AXIS:
            return _rowsum_short(a2, xp)
        return a2 @ _ones(xp, a2.shape[1], a2.dtype)

    if roles == [True]:
        return trail(x.reshape(1, -1)).reshape(())
    if roles == [True, False]:
        return lead(x.reshape(sizes))
    if roles == [False, True]:
        return trail(x.reshape(sizes))
    if roles == [True, False, True]:
        r1, k, r2 = sizes
        return lead(trail(x.reshape(r1 * k, r2)).reshape(r1, k))
    if roles == [False, True, False]:
        k1, r, k2 = sizes
        return xp.matmul(_ones(xp, r, x.dtype), x.reshape(k1, r, k2))   # batched GEMV
    return None


def sum_to_trailing(x, shape):
    """``x`` summed down to ``shape`` (the inverse of broadcasting), like the engine's ``sum_to``.

    NumPy: the plain ``x.sum(axis=..., keepdims=True)`` (reshaped when ``shape`` has fewer dims).
    CuPy: the axes are merged into runs (:func:`sum_to_plan`) and the common gradient patterns
    avoid CuPy's generic reduction, which is slow for short reduced axes (cccl#921):
    leading reduction (R, K) -> (K,) is ``ones(R) @ x`` (cuBLAS GEMV); trailing reduction
    (K, R) -> (K,) is an explicit add loop, one thread per output, when R <= ``SHORT_AXIS``, else
    ``x @ ones(R)``; (R1, K, R2) (a conv bias) does the trailing then the leading step; (K1, R,
    K2) is a batched GEMV. Other patterns, non-float dtypes, and ``CUPY_TF32=1`` (cuBLAS would
    round the summands to TF32) use the plain sum."""
    shape = tuple(int(s) for s in shape)
    xp = get_array_module(x)
    if tuple(x.shape) == shape:
        return x
    axes = _sum_to_axes(tuple(x.shape), shape)
    if _is_numpy(xp) or x.dtype.name not in _CTYPE or x.size == 0 or \
            os.environ.get("CUPY_TF32", "0") not in ("", "0"):
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape)
    out = _sum_fast(x, sum_to_plan(tuple(x.shape), shape), xp)
    if out is None:
        out = x.sum(axis=axes, keepdims=True)
    return out.astype(x.dtype, copy=False).reshape(shape)


# ----------------------------------------------------------------------------- convolution
# CuPy's convolution and max-pooling routes are array code (im2col + cuBLAS GEMMs), shared with
# any NumPy-like library: the namespace takes them under the names every backend has.
from .conv_routes import (conv2d_backward_xp as conv2d_backward,  # noqa: E402
                          conv2d_forward_xp as conv2d_forward,
                          max_pool2d_forward_xp as max_pool2d_forward, max_pool2d_gather,
                          max_pool2d_scatter_xp as max_pool2d_scatter)
from .im2col import col2im, col2im_cm, im2col, im2col_cm  # noqa: E402
