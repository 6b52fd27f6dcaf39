"""``ad.functional`` (vjp, jvp, hvp, vhp, jacobian, hessian) against closed forms, explicit
Hessians and finite differences of gradients; single tensors and tuples of tensors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad

F = ad.functional
SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)


def t64(a, requires_grad=False) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=requires_grad)


def np_grad(f, x: np.ndarray) -> np.ndarray:
    """The engine's gradient of scalar f at x, as an array."""
    xt = t64(x, True)
    (g,) = ad.grad(f(xt), xt)
    return g.numpy()


def fd_jacobian(f, x: np.ndarray, eps=1e-6) -> np.ndarray:
    """Central differences of a NumPy map, shape out.shape + x.shape."""
    cols = []
    flat = x.reshape(-1)
    for k in range(flat.size):
        d = np.zeros_like(flat)
        d[k] = eps
        cols.append((f((flat + d).reshape(x.shape)) - f((flat - d).reshape(x.shape))) / (2 * eps))
    out = np.stack(cols, -1)
    return out.reshape(out.shape[:-1] + x.shape)


def f_scalar(t):
    """A non-quadratic scalar function with a dense Hessian."""
    return (ad.sin(t) * t.sum() + ad.exp(0.3 * t) * t ** 2).sum() + ad.logsumexp(t, 0)


# ----------------------------------------------------------------------------- jacobian
@SETTINGS
@given(n=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_softmax_jacobian_closed_form(n, seed):
    x = t64(np.random.default_rng(seed).standard_normal(n))
    J = F.jacobian(lambda t: ad.softmax(t, 0), x)
    s = np.exp(x.numpy() - x.numpy().max())
    s /= s.sum()
    assert J.shape == (n, n) and not J.requires_grad
    np.testing.assert_allclose(J.numpy(), np.diag(s) - np.outer(s, s), atol=1e-14)


def test_jacobian_shapes_and_tuples():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 2))
    x = t64(rng.standard_normal((2, 4)))
    J = F.jacobian(lambda t: t64(A) @ t, x)
    want = np.einsum("ij,kl->ikjl", A, np.eye(4))  # d(Ax)_ik / dx_jl
    assert J.shape == (3, 4, 2, 4)
    np.testing.assert_allclose(J.numpy(), want)
    a, b = t64(rng.standard_normal(3)), t64(rng.standard_normal(3))
    (Jaa, Jab), (Jba, Jbb) = F.jacobian(lambda p, q: (p * q, p.sum() * q), (a, b))
    np.testing.assert_allclose(Jaa.numpy(), np.diag(b.numpy()))
    np.testing.assert_allclose(Jab.numpy(), np.diag(a.numpy()))
    np.testing.assert_allclose(Jba.numpy(), np.outer(b.numpy(), np.ones(3)))
    np.testing.assert_allclose(Jbb.numpy(), a.numpy().sum() * np.eye(3))
    (Ja, Jb) = F.jacobian(lambda p, q: (p * q).sum(), (a, b))
    assert Ja.shape == (3,)
    unused = F.jacobian(lambda p, q: p * 2, (a, b))
    np.testing.assert_array_equal(unused[1].numpy(), np.zeros((3, 3)))


def test_jacobian_against_finite_differences():
    x = np.random.default_rng(1).uniform(0.5, 1.5, (2, 3))
    J = F.jacobian(lambda t: ad.tanh(t @ t.T) * ad.log(t).sum(), t64(x)).numpy()
    fd = fd_jacobian(lambda v: np.tanh(v @ v.T) * np.log(v).sum(), x)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)


def test_jacobian_create_graph():
    x = t64([0.5, 1.0], True)
    J = F.jacobian(lambda t: t ** 3, x, create_graph=True)
    assert J.requires_grad
    (g,) = ad.grad(J.sum(), x)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy())


# ----------------------------------------------------------------------------- hessian
@SETTINGS
@given(n=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_hessian_closed_forms(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    x = t64(rng.standard_normal(n))
    H = F.hessian(lambda t: t @ (t64(A) @ t), x)
    np.testing.assert_allclose(H.numpy(), A + A.T, atol=1e-13)
    # logsumexp: H = diag(s) - s s^T
    H2 = F.hessian(lambda t: ad.logsumexp(t, 0), x).numpy()
    s = np.exp(x.numpy() - x.numpy().max())
    s /= s.sum()
    np.testing.assert_allclose(H2, np.diag(s) - np.outer(s, s), atol=1e-13)
    # sum of cubes
    H3 = F.hessian(lambda t: (t ** 3).sum(), x).numpy()
    np.testing.assert_allclose(H3, np.diag(6 * x.numpy()), atol=1e-13)


def test_hessian_against_finite_differences_of_gradient():
    x = np.random.default_rng(2).uniform(-1, 1, 4)
    H = F.hessian(f_scalar, t64(x)).numpy()
    fd = fd_jacobian(lambda v: np_grad(f_scalar, v), x)
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hessian_tuple_inputs():
    a, b = t64([1.0, 2.0]), t64([3.0])
    (Haa, Hab), (Hba, Hbb) = F.hessian(lambda p, q: (p * p).sum() * q.sum() ** 2, (a, b))
    # f = |p|^2 q^2
    np.testing.assert_allclose(Haa.numpy(), 2 * 9.0 * np.eye(2))
    np.testing.assert_allclose(Hab.numpy(), (4 * 3.0 * a.numpy())[:, None])
    np.testing.assert_allclose(Hba.numpy(), (4 * 3.0 * a.numpy())[None, :])
    np.testing.assert_allclose(Hbb.numpy(), [[2 * 5.0]])


def test_hessian_of_non_scalar_raises():
    with pytest.raises(ValueError, match="hessian"):
        F.hessian(lambda t: t * t, t64([1.0, 2.0]))


# ----------------------------------------------------------------------------- hvp / vhp
@SETTINGS
@given(n=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_hvp_against_hessian_and_finite_differences(n, seed):
    rng = np.random.default_rng(seed)
    x_np, v_np = rng.uniform(-1, 1, n), rng.standard_normal(n)
    x, v = t64(x_np), t64(v_np)
    val, hv = F.hvp(f_scalar, x, v)
    np.testing.assert_allclose(val.numpy(), f_scalar(t64(x_np)).numpy())
    H = F.hessian(f_scalar, x).numpy()
    np.testing.assert_allclose(hv.numpy(), H @ v_np, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    fd = (np_grad(f_scalar, x_np + eps * v_np) - np_grad(f_scalar, x_np - eps * v_np)) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), fd, rtol=1e-6, atol=1e-7)
    _, vh = F.vhp(f_scalar, x, v)
    np.testing.assert_allclose(vh.numpy(), v_np @ H, rtol=1e-10, atol=1e-12)
    assert not hv.requires_grad and x.grad is None


def test_hvp_tuple_of_parameters():
    """Tuple inputs (e.g. all parameters of a model): H v per block, against the full H."""
    rng = np.random.default_rng(3)
    W, b = t64(rng.standard_normal((3, 2))), t64(rng.standard_normal(2))
    X = t64(rng.standard_normal((4, 3)))

    def loss(W, b):
        return (ad.tanh(X @ W + b) ** 2).sum()
    vW, vb = t64(rng.standard_normal((3, 2))), t64(rng.standard_normal(2))
    _, (hW, hb) = F.hvp(loss, (W, b), (vW, vb))

    def flat_loss(p):
        return loss(p[:6].reshape(3, 2), p[6:])
    p = np.concatenate([W.numpy().ravel(), b.numpy()])
    H = F.hessian(flat_loss, t64(p)).numpy()
    want = H @ np.concatenate([vW.numpy().ravel(), vb.numpy()])
    np.testing.assert_allclose(hW.numpy().ravel(), want[:6], rtol=1e-10)
    np.testing.assert_allclose(hb.numpy(), want[6:], rtol=1e-10)


def test_hvp_create_graph_third_order():
    x = t64([0.5, -1.0], True)
    v = t64([1.0, 2.0])
    _, hv = F.hvp(lambda t: (t ** 4).sum(), x, v, create_graph=True)
    np.testing.assert_allclose(hv.numpy(), 12 * x.numpy() ** 2 * v.numpy())
    (g,) = ad.grad(hv.sum(), x)
    np.testing.assert_allclose(g.numpy(), 24 * x.numpy() * v.numpy())


def test_hvp_validates():
    with pytest.raises(ValueError, match="vhp|hvp"):
        F.hvp(lambda t: t * 2, t64([1.0, 2.0]), t64([1.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        F.hvp(lambda t: (t * t).sum(), t64([1.0, 2.0]), t64([1.0]))


# ----------------------------------------------------------------------------- vjp / jvp
@SETTINGS
@given(n=st.integers(1, 4), m=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_vjp_jvp_against_jacobian(n, m, seed):
    rng = np.random.default_rng(seed)
    A = t64(rng.standard_normal((m, n)))
    x = t64(rng.uniform(-1, 1, n))

    def f(t):
        return ad.sin(A @ t) * (t * t).sum()
    J = fd_jacobian(lambda v: np.sin(A.numpy() @ v) * (v * v).sum(), x.numpy())
    u, v = t64(rng.standard_normal(m)), t64(rng.standard_normal(n))
    out, vj = F.vjp(f, x, u)
    np.testing.assert_allclose(out.numpy(), f(x).numpy())
    np.testing.assert_allclose(vj.numpy(), u.numpy() @ J, rtol=1e-6, atol=1e-8)
    out, jv = F.jvp(f, x, v)
    np.testing.assert_allclose(jv.numpy(), J @ v.numpy(), rtol=1e-6, atol=1e-8)
    assert not jv.requires_grad and not vj.requires_grad


def test_vjp_jvp_tuples_and_defaults():
    a, b = t64([1.0, 2.0]), t64([3.0, -1.0])
    va, vb = t64([0.5, 1.0]), t64([2.0, 0.0])
    (o1, o2), (t1, t2) = F.jvp(lambda p, q: (p * q, p + q), (a, b), (va, vb))
    np.testing.assert_allclose(t1.numpy(), va.numpy() * b.numpy() + a.numpy() * vb.numpy())
    np.testing.assert_allclose(t2.numpy(), va.numpy() + vb.numpy())
    _, (ga, gb) = F.vjp(lambda p, q: (p * q).sum(), (a, b))  # v defaults to 1 for a scalar
    np.testing.assert_allclose(ga.numpy(), b.numpy())
    np.testing.assert_allclose(gb.numpy(), a.numpy())
    _, jv = F.jvp(lambda t: (t ** 2).sum(), a)  # v defaults to ones
    np.testing.assert_allclose(jv.numpy(), 2 * a.numpy().sum())


def test_functional_does_not_touch_inputs_grad():
    x = t64([1.0, 2.0], True)
    F.hessian(lambda t: (t ** 3).sum(), x)
    F.vjp(lambda t: t * 2, x, t64([1.0, 1.0]))
    assert x.grad is None


def test_constant_and_linear_functions_give_zeros():
    x = t64([1.0, 2.0])
    _, jv = F.jvp(lambda t: ad.ones(2, dtype=ad.float64) * 3, x, x)
    np.testing.assert_array_equal(jv.numpy(), [0.0, 0.0])
    _, (j1, j2) = F.jvp(lambda t: (t * 2, ad.ones(1)), x, x)
    np.testing.assert_array_equal(j1.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(j2.numpy(), [0.0])
    np.testing.assert_array_equal(F.hessian(lambda t: (t * 2).sum(), x).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(F.jacobian(lambda t: ad.ones(3), x).numpy(), np.zeros((3, 2)))
    _, hv = F.hvp(lambda t: (t * 2).sum(), x, x)
    np.testing.assert_array_equal(hv.numpy(), [0.0, 0.0])
    # relu in its flat region: J = 0 but J^T u still depends on u
    _, jv = F.jvp(ad.relu, -x, x)
    np.testing.assert_array_equal(jv.numpy(), [0.0, 0.0])
