"""Conventions at non-differentiable points and numerical-stability guarantees (the table in
the README): relu'(0) = 0, ties of max/min share the gradient evenly, norm gradient at 0 is 0,
logsumexp over all -inf gives zero gradients, stable softplus / log_softmax / BCE-with-logits at
|x| = 1e4, and the NaN-through-``where`` trap with its double-``where`` remedy."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import autodiff as ad


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


def grad_of(f, x):
    (g,) = ad.grad(f(x), x)
    return g.numpy()


def test_relu_and_friends_at_zero():
    x = x64([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(grad_of(lambda t: ad.relu(t).sum(), x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda t: ad.abs(t).sum(), x), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(grad_of(lambda t: ad.leaky_relu(t, 0.1).sum(), x),
                               [0.1, 0.1, 1.0])
    np.testing.assert_allclose(grad_of(lambda t: ad.elu(t, 2.0).sum(), x),
                               [2.0 * np.exp(-1.0), 2.0, 1.0])
    np.testing.assert_allclose(grad_of(lambda t: ad.softplus(t).sum(), x),
                               1 / (1 + np.exp(-x.numpy())))
    # clip: gradient 1 on the closed interval (PyTorch)
    c = x64([-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(grad_of(lambda t: ad.clip(t, -0.5, 0.5).sum(), c),
                                  [0.0, 1.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("op,whole,pick", [(ad.amax, ad.max, np.max),
                                           (ad.amin, ad.min, np.min)])
def test_max_min_ties_share_gradient_evenly(op, whole, pick):
    """amax/amin over a dim, and max()/min() over all elements, share ties evenly (PyTorch)."""
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 5.0, 4.0, -1.0]])
    x = x64(a)
    g = grad_of(lambda t: op(t, 1).sum(), x)
    ties = a == pick(a, 1, keepdims=True)
    np.testing.assert_allclose(g, ties / ties.sum(1, keepdims=True))
    np.testing.assert_allclose(g.sum(1), [1.0, 1.0, 1.0])
    want = [0, 1 / 3, 1 / 3, 1 / 3] if pick is np.max else [1, 0, 0, 0]
    for f in (op, whole):
        np.testing.assert_allclose(grad_of(lambda t: f(t), x64(np.array([1.0, 7.0, 7.0, 7.0]))),
                                   want)


def test_max_dim_torch_style_ties():
    """max(dim) gives the gradient to the returned index (PyTorch), not to every tie."""
    x = x64([[4.0, 4.0, 1.0]])
    vals, idx = x.max(dim=1)
    assert idx.item() == 0
    vals.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 0.0, 0.0]])


def test_elementwise_maximum_minimum_ties_split():
    a, b = x64([1.0, 2.0, 3.0]), x64([1.0, 5.0, 0.0])
    ad.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 1.0, 0.0])
    a.grad = b.grad = None
    ad.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 1.0, 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 0.0, 1.0])


def test_norm_gradient_at_zero_is_zero():
    z = x64(np.zeros((2, 3)))
    g = grad_of(lambda t: ad.norm(t), z)
    np.testing.assert_array_equal(g, np.zeros((2, 3)))
    g = grad_of(lambda t: ad.norm(t, axis=1).sum(), x64([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]])
    # std of constant values (a norm of the centred values): zero, not NaN
    g = grad_of(lambda t: ad.std(t), x64([2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
    # second order through the safe branch stays finite
    (g1,) = ad.grad(ad.norm(z), z, create_graph=True)
    (g2,) = ad.grad(g1.sum(), z)
    assert np.isfinite(g2.numpy()).all()


def test_logsumexp_all_neg_inf():
    x = x64([[-np.inf, -np.inf], [0.0, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # -inf is the answer, not a warning
        out = ad.logsumexp(x, axis=1)
        ls = ad.log_softmax(x64([[-np.inf, -np.inf]]), axis=1)
    assert np.isnan(ls.numpy()).all()                 # PyTorch: NaN over an all -inf row
    np.testing.assert_array_equal(out.numpy(), [-np.inf, 0.0])
    out.backward(ad.tensor([1.0, 1.0], dtype=ad.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [1.0, 0.0]])
    y = x64([-np.inf, -np.inf, -np.inf])
    ad.logsumexp(y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [ad.float32, ad.float64])
def test_softplus_and_log_softmax_stable_at_1e4(dtype):
    x = ad.tensor([-1e4, -30.0, 0.0, 30.0, 1e4], dtype=dtype, requires_grad=True)
    sp = ad.softplus(x)
    want = np.logaddexp(0.0, x.numpy().astype(np.float64))
    np.testing.assert_allclose(sp.numpy(), want, rtol=1e-6)
    sp.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 / (1 + np.exp(-x.numpy().astype(np.float64))),
                               rtol=1e-6, atol=1e-30)
    assert np.isfinite(x.grad.numpy()).all()
    logits = ad.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype, requires_grad=True)
    ls = ad.log_softmax(logits, -1)
    np.testing.assert_allclose(ls.numpy(), [[0.0, -2e4, -1e4], [-np.log(3)] * 3], rtol=1e-6)
    ls.sum().backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-2.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
                               atol=1e-6)


def _bce_with_logits(z, y):
    """Stable BCE-with-logits from engine ops: softplus(z) - y z."""
    return ad.softplus(z) - y * z


@pytest.mark.parametrize("dtype", [ad.float32, ad.float64])
def test_bce_with_logits_exact_at_zero_and_large(dtype):
    z = ad.tensor([0.0, 0.0, 1e4, 1e4, -1e4, -1e4], dtype=dtype, requires_grad=True)
    y = ad.tensor([0.0, 1.0, 1.0, 0.0, 0.0, 1.0], dtype=dtype)
    loss = _bce_with_logits(z, y)
    np.testing.assert_allclose(loss.numpy(), [np.log(2), np.log(2), 0.0, 1e4, 0.0, 1e4],
                               rtol=1e-7)
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [0.5, -0.5, 0.0, 1.0, 0.0, -1.0], atol=1e-7)


def test_sigmoid_tanh_saturate_without_nan():
    x = x64([-1e4, 1e4])
    s = ad.sigmoid(x)
    np.testing.assert_array_equal(s.numpy(), [0.0, 1.0])
    (s.sum() + ad.tanh(x).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_nan_through_where_trap_and_double_where_remedy():
    """The trap: where(x > 0, sqrt(x), 0) evaluates sqrt at x <= 0 too; its gradient there is
    inf (or NaN), and where's zero cotangent times inf is NaN. The remedy: a second where that
    feeds the dangerous op a safe input where its branch is not taken."""
    x = x64([-1.0, 0.0, 4.0])
    naive = ad.where(x.array > 0, ad.sqrt(x), 0.0)  # forward is fine...
    np.testing.assert_array_equal(naive.numpy(), [0.0, 0.0, 2.0])
    naive.sum().backward()
    g = x.grad.numpy()
    assert np.isnan(g[0]) or np.isnan(g[1])  # ...but the gradient is poisoned
    assert g[2] == 0.25

    x.grad = None
    pos = x.array > 0
    safe_x = ad.where(pos, x, 1.0)  # inner where: sqrt never sees x <= 0
    remedy = ad.where(pos, ad.sqrt(safe_x), 0.0)
    np.testing.assert_array_equal(remedy.numpy(), naive.numpy())
    remedy.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.25])


def test_pow_zero_base_zero_exponent_gradient():
    x = x64([0.0, 2.0])
    np.testing.assert_array_equal(grad_of(lambda t: (t ** 2).sum(), x), [0.0, 4.0])
    np.testing.assert_array_equal(grad_of(lambda t: (t ** 0).sum(), x), [0.0, 0.0])
    np.testing.assert_array_equal(grad_of(lambda t: (t ** 1).sum(), x), [1.0, 1.0])
