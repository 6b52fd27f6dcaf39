"""The convolution and max-pooling routes of each backend's kernel namespace
(``autodiff.backends.kernels_for``; ``backends/conv_routes.py``): the NumPy routes (numba's
blocked convolution and max-pool kernels, GEMMs into recycled arrays) and the generic array
routes CuPy takes, run here on NumPy arrays under ``reference_kernels()``. Both give the
definition's values (``ref_conv``'s loops, a max over each window written out) and its
gradients, and every namespace has the same route names."""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff.backends import kernels, kernels_for, reference_kernels

import ref_conv

CONV_ROUTES = ("conv2d_forward", "conv2d_backward", "im2col", "col2im", "im2col_cm",
               "col2im_cm", "max_pool2d_forward", "max_pool2d_scatter", "max_pool2d_gather")


@pytest.fixture(params=["numpy", "generic"])
def routes(request):
    """The namespace a NumPy float64 array takes: its own, or CuPy's generic routes."""
    if request.param == "numpy":
        yield kernels_for(np.zeros(1))
    else:
        with reference_kernels() as ns:
            yield ns


def test_every_namespace_has_the_conv_routes():
    names = {f.name for f in fields(kernels.Kernels)}
    assert set(CONV_ROUTES) <= names
    for ns in (kernels._CPU, kernels._CUDA, kernels._GENERIC, kernels._REFERENCE):
        assert all(callable(getattr(ns, r)) for r in CONV_ROUTES), ns.name
    assert kernels._CPU.conv2d_forward is not kernels._CUDA.conv2d_forward


@pytest.mark.parametrize("groups, bias, stride, padding", [
    (1, True, (1, 1), 1), (1, False, (2, 1), (0, 1)), (2, True, (1, 2), 1)])
def test_conv2d_routes_against_the_definition(routes, groups, bias, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((6, 4 // groups, 3, 2))
    b = rng.standard_normal(6) if bias else None
    gout_shape = F.conv2d(ad.tensor(x), ad.tensor(w), None, stride, padding, 1, groups).shape
    gout = rng.standard_normal(gout_shape)
    pads = ((padding, padding),) * 2 if isinstance(padding, int) else \
        tuple((p, p) for p in padding)
    expected = ref_conv.conv2d_direct(x, w, b, stride, pads, (1, 1), groups)
    gx_ref, gw_ref, gb_ref = ref_conv.conv2d_direct_vjp(x, w, gout, stride, pads, (1, 1), groups)

    xt, wt = ad.tensor(x, requires_grad=True), ad.tensor(w, requires_grad=True)
    bt = None if b is None else ad.tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, stride, padding, 1, groups)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    y.backward(ad.tensor(gout))
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.numpy(), gw_ref, rtol=1e-10, atol=1e-10)
    if bias:
        np.testing.assert_allclose(bt.grad.numpy(), gb_ref, rtol=1e-10, atol=1e-10)
    assert ad.gradgradcheck(lambda a, c: F.conv2d(a, c, None, stride, padding, 1, groups),
                            [ad.tensor(x[:1, :, :4, :4], requires_grad=True),
                             ad.tensor(w, requires_grad=True)])


def _max_pool_direct(x, k, s, p):
    """Each window's maximum and the flat H*W index of its first maximum (padding -inf)."""
    N, C, H, W = x.shape
    OH, OW = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    out, idx = np.empty((N, C, OH, OW)), np.empty((N, C, OH, OW), np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    best, at = -np.inf, -1
                    for a in range(k):
                        for b in range(k):
                            h, v = i * s + a - p, j * s + b - p
                            if 0 <= h < H and 0 <= v < W and x[n, c, h, v] > best:
                                best, at = x[n, c, h, v], h * W + v
                    out[n, c, i, j], idx[n, c, i, j] = best, at
    return out, idx


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (2, 1, 1)])
def test_max_pool2d_routes_against_the_definition(routes, k, s, p):
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 3 * 5 * 6).reshape(2, 3, 5, 6) / 7.0      # distinct values
    expected, idx = _max_pool_direct(x, k, s, p)
    xt = ad.tensor(x, requires_grad=True)
    y, got_idx = F.max_pool2d(xt, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(got_idx.numpy(), idx)
    g = rng.standard_normal(expected.shape)
    y.backward(ad.tensor(g))
    gx = np.zeros((2, 3, 30))                   # each window's gradient at its maximum
    for n in range(2):
        for c in range(3):
            np.add.at(gx[n, c], idx[n, c].ravel(), g[n, c].ravel())
    np.testing.assert_allclose(xt.grad.numpy(), gx.reshape(x.shape), rtol=1e-12)
    assert ad.gradgradcheck(lambda a: F.max_pool2d(a, k, s, p), [ad.tensor(x[:1, :2],
                                                                              requires_grad=True)])


def test_max_pool2d_scatter_drops_padding_and_gather_reads_zero_there(routes):
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    idx = np.array([[[[0, 0], [-1, 3]]]])
    out = routes.max_pool2d_scatter(g, idx, (1, 1, 2, 2))
    np.testing.assert_array_equal(out, [[[[3.0, 0.0], [0.0, 4.0]]]])
    x = np.array([[[[5.0, 6.0], [7.0, 8.0]]]])
    np.testing.assert_array_equal(routes.max_pool2d_gather(x, idx, (1, 1, 2, 2)),
                                  [[[[5.0, 5.0], [0.0, 8.0]]]])
