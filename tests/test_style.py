"""Tests for the style losses in autodiff.nn.style (also reachable as autodiff.nn.functional):
values against NumPy references and gradients by float64 central differences."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import functional as F
from autodiff.nn import style


def _t(a, grad=False):
    return ad.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_reexported_from_functional():
    for name in style.__all__:
        assert getattr(F, name) is getattr(style, name)


# ------------------------------------------------------------------------------------ Gram / style
def test_gram_matrix_vs_einsum():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4, 5))
    g = style.gram_matrix(_t(a)).numpy()
    ref = np.einsum("nchw,ndhw->ncd", a, a) / (3 * 4 * 5)
    np.testing.assert_allclose(g, ref, rtol=1e-12)
    g3 = style.gram_matrix(_t(a[1])).numpy()
    np.testing.assert_allclose(g3, ref[1], rtol=1e-12)
    with pytest.raises(ValueError):
        style.gram_matrix(_t(a[0, 0]))


def test_style_and_content_loss_values():
    rng = np.random.default_rng(1)
    f1, f2 = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((1, 4, 2, 2))
    t1, t2 = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((1, 4, 3, 2))

    def gram(a):
        return np.einsum("nchw,ndhw->ncd", a, a) / np.prod(a.shape[1:])

    ref = (np.mean((gram(f1) - gram(t1)) ** 2) + 0.5 * np.mean((gram(f2) - gram(t2)) ** 2))
    got = style.style_loss([_t(f1), _t(f2)], [_t(t1), _t(t2)], weights=[1.0, 0.5]).item()
    assert got == pytest.approx(ref, rel=1e-12)
    c = style.content_loss(_t(f1), _t(f1 * 0.5)).item()
    assert c == pytest.approx(np.mean((0.5 * f1) ** 2), rel=1e-12)


def test_style_content_gradcheck():
    rng = np.random.default_rng(2)
    x = _t(rng.standard_normal((2, 2, 3, 3)), grad=True)
    t = _t(rng.standard_normal((1, 2, 4, 3)))
    assert ad.gradcheck(lambda a: style.style_loss(a, t), (x,))
    assert ad.gradcheck(lambda a: style.content_loss(a, t[:, :, :3, :] * 2), (x,))
    assert ad.gradcheck(lambda a: style.gram_matrix(a), (x,))


def test_style_loss_gradgradcheck():
    rng = np.random.default_rng(3)
    x = _t(rng.standard_normal((1, 2, 2, 2)), grad=True)
    t = _t(rng.standard_normal((1, 2, 2, 2)))
    assert ad.gradgradcheck(lambda a: style.style_loss(a, t), (x,))


def test_targets_are_constant():
    rng = np.random.default_rng(4)
    x = _t(rng.standard_normal((1, 2, 3, 3)), grad=True)
    t = _t(rng.standard_normal((1, 2, 3, 3)), grad=True)
    style.style_loss(x, t).backward()
    style.content_loss(x, t).backward()
    assert x.grad is not None and t.grad is None


# ------------------------------------------------------------------------------------ TV
def _tv_ref(a, p):
    dh = a[..., 1:, :] - a[..., :-1, :]
    dw = a[..., :, 1:] - a[..., :, :-1]
    return np.mean(np.abs(dh) ** p) + np.mean(np.abs(dw) ** p)


@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
def test_total_variation_vs_numpy_and_gradcheck(p):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((1, 2, 4, 5))
    assert style.total_variation_loss(_t(a), p=p).item() == pytest.approx(_tv_ref(a, p),
                                                                          rel=1e-12)
    x = _t(a, grad=True)
    assert ad.gradcheck(lambda z: style.total_variation_loss(z, p=p), (x,))


def test_total_variation_constant_image_is_zero():
    assert style.total_variation_loss(ad.ones(3, 4, 4)).item() == 0.0


# ------------------------------------------------------------------------------------ histogram
def _remap_ref(x, r):
    """Independent NumPy reference: per channel, the value of rank i takes the reference
    quantile at position (i + 0.5) * M / N - 0.5 (linear interpolation, clamped)."""
    xc = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1) if x.ndim == 4 else x.reshape(x.shape[0], -1)
    rc = np.moveaxis(r, 1, 0).reshape(r.shape[1], -1) if r.ndim == 4 else r.reshape(r.shape[0], -1)
    out = np.empty_like(xc)
    n, m = xc.shape[1], rc.shape[1]
    for c in range(xc.shape[0]):
        srt = np.sort(rc[c])
        pos = (np.arange(n) + 0.5) * m / n - 0.5
        vals = np.interp(pos, np.arange(m), srt)  # np.interp clamps at the ends
        out[c, np.argsort(xc[c], kind="stable")] = vals
    if x.ndim == 4:
        return np.moveaxis(out.reshape(x.shape[1], x.shape[0], *x.shape[2:]), 0, 1)
    return out.reshape(x.shape)


@pytest.mark.parametrize("xs,rs", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (2, 5, 7)),
                                   ((2, 2, 3, 3), (1, 2, 2, 2)), ((1, 3, 5, 5), (2, 3, 4, 6))])
def test_histogram_remap_vs_numpy(xs, rs):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs)
    r = rng.gamma(2.0, size=rs)
    got = style.histogram_remap(_t(x), _t(r)).numpy()
    np.testing.assert_allclose(got, _remap_ref(x, r), rtol=1e-12, atol=1e-12)


def test_histogram_remap_equal_counts_is_exact_match():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 4))
    r = rng.uniform(5, 6, (3, 2, 8))
    got = style.histogram_remap(_t(x), _t(r)).numpy()
    for c in range(3):
        np.testing.assert_allclose(np.sort(got[c].ravel()), np.sort(r[c].ravel()))
        # order preserved: the remap is monotone in the input
        np.testing.assert_array_equal(np.argsort(got[c].ravel()), np.argsort(x[c].ravel()))


def test_histogram_loss_value_gradient_and_gradcheck():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 3, 3))
    r = rng.standard_normal((1, 2, 4, 4)) * 2 + 1
    xt = _t(x, grad=True)
    loss = style.histogram_loss(xt, _t(r))
    target = _remap_ref(x, r)
    assert loss.item() == pytest.approx(np.mean((x - target) ** 2), rel=1e-12)
    loss.backward()
    # the remapped target is a constant: d/dx mean((x - T)^2) = 2 (x - T) / numel
    np.testing.assert_allclose(xt.grad.numpy(), 2 * (x - target) / x.size, rtol=1e-12)
    assert ad.gradcheck(lambda a: style.histogram_loss(a, _t(r)), (_t(x, grad=True),))


def test_histogram_loss_zero_when_histograms_match():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 3, 3))
    perm = rng.permuted(x, axis=2)
    assert style.histogram_loss(_t(x), _t(perm)).item() == pytest.approx(0.0, abs=1e-24)


def test_histogram_loss_channel_mismatch():
    with pytest.raises(ValueError):
        style.histogram_loss(ad.randn(1, 2, 3, 3), ad.randn(1, 3, 3, 3))
