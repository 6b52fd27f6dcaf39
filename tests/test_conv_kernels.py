"""Channel-major im2col/col2im (conv2d's layout), the batch-norm and max-pool kernels: numba
against the vectorised NumPy versions and against the (N, C*kh*kw, L) layout; conv2d and
batch_norm through the NumPy fallbacks (numba switched off) against the numba paths."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import batchnorm as B
from autodiff.backends import im2col as K
from autodiff.backends import maxpool as MP
from autodiff.backends import pool as P
from autodiff.nn import functional as F

GEOMS = [  # (kh, kw, stride, padding, dilation)
    (3, 3, 1, 1, 1), (3, 3, 2, 1, 1), (3, 2, (2, 1), (1, 0), 1), (3, 3, 2, 2, 2),
    (1, 1, 1, 0, 1), (1, 1, 2, 0, 1), (2, 3, (2, 1), ((0, 2), (1, 3)), (1, 2)),
    (5, 5, 1, 2, 1), (4, 4, 3, 0, 1),
    # stride 1 with as many output as input columns: the flat kernels (see im2col._flat_ok)
    (3, 3, 1, 2, 2), (2, 2, 1, ((0, 1), (0, 1)), 1), (3, 3, 1, ((1, 1), (0, 2)), 1),
    (3, 3, 1, ((0, 0), (1, 1)), 1), (3, 1, 1, ((3, 3), (0, 0)), 3)]


def _geometry_args(x_shape, geom):
    """The kernels' (kh, kw, sh, sw, dh, dw, pt, pl, OH, OW) for a GEOMS entry."""
    kh, kw, s, p, d = geom
    sh, sw, dh, dw, pt, pb, pl, pr, OH, OW = K._geometry(x_shape, kh, kw, s, p, d)
    return kh, kw, sh, sw, dh, dw, pt, pl, OH, OW


def _cm_from_nkl(cols):
    """(N, C*kh*kw, L) -> (C*kh*kw, N*L)."""
    return cols.transpose(1, 0, 2).reshape(cols.shape[1], -1)


@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_major_numpy_matches_batched_layout(geom, dtype):
    kh, kw, s, p, d = geom
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    ref = _cm_from_nkl(K.im2col_numpy(x, kh, kw, s, p, d))
    np.testing.assert_array_equal(K.im2col_cm_numpy(x, kh, kw, s, p, d), ref)
    g = rng.standard_normal(ref.shape).astype(dtype)
    g_nkl = np.ascontiguousarray(g.reshape(g.shape[0], 2, -1).transpose(1, 0, 2))
    np.testing.assert_allclose(K.col2im_cm_numpy(g, x.shape, kh, kw, s, p, d),
                               K.col2im_numpy(g_nkl, x.shape, kh, kw, s, p, d),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parallel", [False, True])
def test_channel_major_numba_matches_numpy(geom, dtype, parallel, monkeypatch):
    monkeypatch.setattr(K, "CM_PARALLEL_MIN_ELEMENTS", 0 if parallel else 1 << 40)
    kh, kw, s, p, d = geom
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    a = K.im2col_cm_numpy(x, kh, kw, s, p, d, pad_value=-np.inf)
    np.testing.assert_array_equal(K.im2col_cm_numba(x, kh, kw, s, p, d, pad_value=-np.inf), a)
    # a (C, N, H, W)-ordered view of the same image: strided batch/channel dims
    xt = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(K.im2col_cm_numba(xt, kh, kw, s, p, d, pad_value=-np.inf), a)
    g = rng.standard_normal(a.shape).astype(dtype)
    np.testing.assert_allclose(K.col2im_cm_numba(g, x.shape, kh, kw, s, p, d),
                               K.col2im_cm_numpy(g, x.shape, kh, kw, s, p, d),
                               rtol=1e-5, atol=1e-5)


def test_flat_kernels_cover_several_geometries():
    n = 0
    for geom in GEOMS:
        kh, kw, sh, sw, dh, dw, pt, pl, OH, OW = _geometry_args((2, 3, 7, 6), geom)
        n += K._flat_ok(sh, sw, OW, 6)
    assert n >= 6


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_cm_consume_matches_numpy(geom, dtype):
    """The blocked convolution's fold (flat kernel where it applies; it may overwrite its
    input) against the vectorised NumPy fold."""
    rng = np.random.default_rng(3)
    x_shape = (2, 3, 7, 6)
    args = _geometry_args(x_shape, geom)
    g = rng.standard_normal((3 * args[0] * args[1], 2 * args[8] * args[9])).astype(dtype)
    ref = K.col2im_cm_numpy(g, x_shape, *geom)
    out = np.full(x_shape, np.nan, dtype)
    K.col2im_cm_consume(g.copy(), out, *args)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("args", [dict(stride=1, padding=1), dict(stride=2, padding=0),
                                  dict(stride=1, padding=2, dilation=2, groups=2)])
def test_conv2d_numpy_fallback_matches_numba(args, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((6, 4 // args.get("groups", 1), 3, 3))
    b = rng.standard_normal(6)

    def run():
        X, Wt, Bt = (ad.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(X, Wt, Bt, **args)
        (y * y).sum().backward()
        return [y.numpy(), X.grad.numpy(), Wt.grad.numpy(), Bt.grad.numpy()]

    fast = run()
    monkeypatch.setitem(K.USE_NUMBA, "im2col", False)
    monkeypatch.setitem(K.USE_NUMBA, "col2im", False)
    for a, c in zip(fast, run()):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (5, 3), (4, 2, 7)])
def test_batchnorm_kernels_match_numpy(dtype, affine, shape):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    tol = 1e-5 if dtype == np.float32 else 1e-12
    f1, f2 = B.bn_forward(x, w, b, 1e-5), B.bn_forward_numpy(x, w, b, 1e-5)
    # the definition
    axes = (0,) + tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    m, v = x64.mean(axis=axes), x64.var(axis=axes)
    bs = (1, C) + (1,) * (x.ndim - 2)
    ref = (x64 - m.reshape(bs)) / np.sqrt(v.reshape(bs) + 1e-5)
    if affine:
        ref = ref * w.reshape(bs) + b.reshape(bs)
    for f in (f1, f2):
        assert f[0].dtype == dtype
        np.testing.assert_allclose(f[0], ref, rtol=tol * 10, atol=tol * 10)
        np.testing.assert_allclose(f[1], m, rtol=tol, atol=tol)
        np.testing.assert_allclose(f[2], v, rtol=tol, atol=tol)
    r1 = B.bn_backward(g, x, f1[1], f1[3], w)
    r2 = B.bn_backward_numpy(g, x, f1[1], f1[3], w)
    for a, c in zip(r1, r2):
        np.testing.assert_allclose(a, c, rtol=tol * 10, atol=tol * 10)


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("geom", [(2, 2, 2, 0, 1), (3, 3, 2, 1, 1), (3, 2, 1, (1, 0), (1, 2))])
def test_maxpool_kernel_matches_im2col_argmax(geom):
    kh, kw, s, p, d = geom
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    pads = K.normalize_padding(p)
    OH = K.conv_output_size(7, kh, s, pads[0], pads[1], d if isinstance(d, int) else d[0])
    OW = K.conv_output_size(6, kw, s, pads[2], pads[3], d if isinstance(d, int) else d[1])
    out, idx = MP.maxpool2d_forward(x, kh, kw, s, p, d, OH, OW)
    cols = K.im2col_numpy(x.reshape(6, 1, 7, 6), kh, kw, s, p, d, pad_value=-np.inf)
    np.testing.assert_array_equal(out.reshape(6, -1), cols.max(axis=1))
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.reshape(2, 3, -1),
                                                     axis=2).reshape(out.shape), out)
    g = rng.standard_normal(out.shape)
    gx = MP.maxpool2d_backward(g, idx, x.shape)
    np.testing.assert_allclose((gx * x).sum(), (g * out).sum(), rtol=1e-12)


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_2x2_kernels_match_argmax_with_ties_and_nans(dtype):
    """The 2x2/stride-2 kernels: first maximum in window order on ties (relu'd data is full of
    zeros), a NaN wins, the backward zeroes what the pool hands it."""
    rng = np.random.default_rng(8)
    x = np.maximum(rng.standard_normal((3, 4, 8, 6)), 0).astype(dtype)
    x[0, 0, 2:4, 2:4] = 1.5                              # a four-way tie
    x[1, 2, 5, 3] = np.nan
    x[2, 1, 0, 0] = x[2, 1, 1, 1] = np.nan               # two NaNs: the first wins
    out, idx = MP.maxpool2d_forward(x, 2, 2, 2, 0, 1, 4, 3)
    cols = K.im2col_numpy(x.reshape(12, 1, 8, 6).astype(np.float64), 2, 2, 2, 0, 1)
    first = np.where(np.isnan(cols).any(axis=1), np.isnan(cols).argmax(axis=1),
                     np.nan_to_num(cols, nan=-np.inf).argmax(axis=1))       # (12, 12)
    i, j = first // 2, first % 2
    L = np.arange(12)
    ref_idx = ((L // 3) * 2 + i) * 6 + (L % 3) * 2 + j
    np.testing.assert_array_equal(idx.reshape(12, 12), ref_idx)
    np.testing.assert_array_equal(out.reshape(-1), x.reshape(12, -1)[np.arange(12)[:, None],
                                                                     ref_idx].reshape(-1))
    assert idx[0, 0, 1, 1] == 2 * 6 + 2
    g = rng.standard_normal(out.shape).astype(dtype)
    P.pooled_empty(x.shape, dtype).fill(7.0)             # a dirty pooled buffer must not leak
    gx = MP.maxpool2d_backward(g, idx, x.shape)
    ref = np.zeros((12, 48))
    np.add.at(ref, (np.arange(12)[:, None], idx.reshape(12, -1)), g.reshape(12, -1))
    np.testing.assert_array_equal(gx.reshape(12, 48), ref.astype(dtype))


def test_pooled_empty_reuses_a_buffer_only_when_free():
    P.clear_pool()
    shape = (P.POOL_MIN_BYTES // 4 + 1,)
    a = P.pooled_empty(shape, np.float32)
    b = P.pooled_empty(shape, np.float32)
    assert not np.shares_memory(a, b)
    v = a[10:]                                       # a view keeps its base busy
    del a
    c = P.pooled_empty(shape, np.float32)
    assert not np.shares_memory(c, v) and not np.shares_memory(c, b)
    addr = v.base.__array_interface__["data"][0]
    del v
    d = P.pooled_empty(shape, np.float32)           # free again: reused
    assert d.shape == shape and d.dtype == np.float32
    assert d.__array_interface__["data"][0] == addr
    small = P.pooled_empty((4,), np.float32)         # below the threshold: never pooled
    assert P.pooled_empty((4,), np.float32) is not small
    P.clear_pool()
    assert P.pool_bytes() == 0


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
def test_maxpool_kernel_nan_wins_and_padding_never_wins():
    x = np.array([[[[1.0, 5.0, -2.0], [np.nan, 0.5, -3.0], [2.0, 9.0, np.nan]]]])
    out, idx = MP.maxpool2d_forward(x, 2, 2, 1, 0, 1, 2, 2)
    # windows: [1,5,nan,.5] -> nan at 3; [5,-2,.5,-3] -> 5 at 1; [nan,.5,2,9] -> nan at 3;
    # [.5,-3,9,nan] -> nan at 8
    assert np.isnan(out[0, 0, 0, 0]) and np.isnan(out[0, 0, 1, 0]) and np.isnan(out[0, 0, 1, 1])
    assert out[0, 0, 0, 1] == 5.0
    np.testing.assert_array_equal(idx[0, 0], [[3, 1], [3, 8]])
    neg = -np.ones((1, 1, 2, 2))                 # all negative: padding (-inf) must not win
    out, idx = MP.maxpool2d_forward(neg, 3, 3, 1, 1, 1, 2, 2)
    np.testing.assert_array_equal(out, -1.0)
    assert (idx >= 0).all() and (idx < 4).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_activation_backward_kernels_match_numpy(dtype):
    from autodiff.backends import cpu_kernels as C
    if not C.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    x[0, 0, :2] = 0.0                           # relu'(0) = 0
    g = rng.standard_normal(x.shape).astype(dtype)
    y = np.maximum(x, 0)
    assert C.applies(y, g) and not C.applies(y, g.astype(np.float16)) \
        and not C.applies(y[:, ::2], g[:, ::2])
    np.testing.assert_array_equal(C.relu_backward(y, g), np.where(x > 0, g, 0))
    t = np.tanh(x)
    np.testing.assert_allclose(C.tanh_backward(t, g), g * (1 - t * t), rtol=1e-6)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(C.sigmoid_backward(s, g), g * s * (1 - s), rtol=1e-6)
    # through the engine: the fused path (first order) and the Tensor-op path agree
    for fn in (ad.relu, ad.tanh, ad.sigmoid):
        a = ad.tensor(x, requires_grad=True)
        fn(a).backward(ad.tensor(g))
        b = ad.tensor(x, requires_grad=True)
        (gb,) = ad.grad(fn(b), b, ad.tensor(g), create_graph=True)
        np.testing.assert_allclose(a.grad.numpy(), gb.numpy(), rtol=1e-6)
