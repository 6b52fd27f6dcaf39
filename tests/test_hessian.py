"""Tests for autodiff.hessian: HVPs against finite differences and the explicit Hessian, top-k
eigenpairs (Lanczos, power) against numpy.linalg.eigh, Hutchinson's trace, critical-point
classification, curvature along the gradient and the stable learning rate."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import hessian as hs


# ------------------------------------------------------------------------------------ fixtures
def _mlp(seed: int = 0, dtype=np.float64):
    """A 3-4-2 tanh MLP with MSE loss on 8 points: 26 parameters, all used."""
    rng = np.random.default_rng(seed)
    x = ad.tensor(rng.standard_normal((8, 3)), dtype=dtype)
    y = ad.tensor(rng.standard_normal((8, 2)), dtype=dtype)
    shapes = [(3, 4), (4,), (4, 2), (2,)]
    params = [ad.tensor(rng.standard_normal(s) * 0.8, dtype=dtype, requires_grad=True)
              for s in shapes]

    def loss_of(w1, b1, w2, b2):
        h = ad.tanh(x @ w1 + b1)
        d = h @ w2 + b2 - y
        return (d * d).mean()

    def closure():
        return loss_of(*params)

    return params, closure, loss_of


def _explicit(loss_of, params) -> np.ndarray:
    """The full Hessian from ad.functional.hessian's blocks."""
    blocks = ad.functional.hessian(loss_of, tuple(params))
    sizes = [p.numel() for p in params]
    rows = [np.concatenate([np.asarray(blocks[i][j].numpy()).reshape(sizes[i], sizes[j])
                            for j in range(len(params))], axis=1) for i in range(len(params))]
    return np.concatenate(rows, axis=0)


def _quadratic(eigs, seed: int = 0):
    """f(x) = 0.5 x^T A x + b^T x with A = Q diag(eigs) Q^T, at a random point x."""
    rng = np.random.default_rng(seed)
    n = len(eigs)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * np.asarray(eigs, dtype=float)) @ q.T
    a = 0.5 * (a + a.T)
    b = rng.standard_normal(n)
    x = ad.tensor(rng.standard_normal(n), requires_grad=True, dtype=ad.float64)
    at, bt = ad.tensor(a), ad.tensor(b)

    def closure():
        return 0.5 * (x * (at @ x)).sum() + (bt * x).sum()

    return x, closure, a


@pytest.fixture
def mlp():
    params, closure, loss_of = _mlp()
    return params, closure, _explicit(loss_of, params)


# ------------------------------------------------------------------------------------ HVP
def test_hvp_matches_explicit_and_finite_differences(mlp):
    params, closure, H = mlp
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.standard_normal(H.shape[0])
        exact = H @ v
        got = hs.hvp(closure, params, v).numpy()
        fd = hs.hvp_fd(closure, params, v).numpy()
        np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fd, exact, rtol=1e-5, atol=1e-7)


def test_hvp_per_parameter_vectors_and_restores_params(mlp):
    params, closure, H = mlp
    before = [p.numpy().copy() for p in params]
    rng = np.random.default_rng(2)
    vs = [ad.tensor(rng.standard_normal(p.shape)) for p in params]
    flat = np.concatenate([v.numpy().ravel() for v in vs])
    out = hs.hvp(closure, params, vs)
    fd = hs.hvp_fd(closure, params, vs, h=1e-5)
    assert [o.shape for o in out] == [p.shape for p in params]
    np.testing.assert_allclose(np.concatenate([o.numpy().ravel() for o in out]), H @ flat,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([o.numpy().ravel() for o in fd]), H @ flat,
                               rtol=1e-5, atol=1e-7)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.numpy(), b)
        assert p.grad is None


def test_operator_dense_is_symmetric_explicit_hessian(mlp):
    params, closure, H = mlp
    op = hs.HessianOperator(closure, params)
    D = np.asarray(op.dense())
    np.testing.assert_allclose(D, H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(D, D.T, atol=1e-12)
    sla = pytest.importorskip("scipy.sparse.linalg")
    top = sla.eigsh(op.as_linear_operator(), k=2, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(H)[-2:], rtol=1e-8)


def test_hvp_float32():
    params, closure, loss_of = _mlp(dtype=np.float32)
    params64, _, loss64 = _mlp(dtype=np.float64)
    H = _explicit(loss64, params64)
    v = np.random.default_rng(3).standard_normal(H.shape[0])
    got = hs.hvp(closure, params, v)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), H @ v, rtol=1e-3, atol=1e-4)


def test_closure_that_frees_its_graph_is_reported(mlp):
    params, closure, _ = mlp

    def bad():
        loss = closure()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="closure"):
        hs.hvp(bad, params, np.ones(26))


def test_hvp_wrong_size(mlp):
    params, closure, _ = mlp
    with pytest.raises(ValueError):
        hs.hvp(closure, params, np.ones(5))


# ------------------------------------------------------------------------------------ spectra
@pytest.mark.parametrize("k", [1, 2, 3])
def test_lanczos_topk_matches_eigh(mlp, k):
    params, closure, H = mlp
    w, V = np.linalg.eigh(H)
    vals, vecs = hs.eigenvalues(closure, params, k=k, method="lanczos", tol=1e-10)
    np.testing.assert_allclose(vals, w[::-1][:k], rtol=1e-8, atol=1e-10)
    vecs = vecs.numpy()
    assert vecs.shape == (H.shape[0], k)
    for i in range(k):  # eigenvectors up to sign
        np.testing.assert_allclose(abs(vecs[:, i] @ V[:, -1 - i]), 1.0, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_power_topk_matches_eigh(mlp, k):
    params, closure, H = mlp
    w = np.linalg.eigvalsh(H)
    vals, vecs = hs.eigenvalues(closure, params, k=k, method="power", tol=1e-9, iters=3000)
    np.testing.assert_allclose(vals, w[::-1][:k], rtol=1e-5)
    vecs = vecs.numpy()
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-6)
    np.testing.assert_allclose(H @ vecs, vecs * vals, atol=1e-3 * abs(w).max())


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_smallest_and_both_on_indefinite_quadratic(method):
    eigs = [-3.0, -1.5, 0.5, 1.0, 2.0, 4.0]
    x, closure, a = _quadratic(eigs)
    kw = dict(tol=1e-10, iters=2000 if method == "power" else None)
    lo, _ = hs.eigenvalues(closure, [x], k=2, method=method, which="smallest", **kw)
    np.testing.assert_allclose(lo, [-3.0, -1.5], rtol=1e-6)
    both, vecs = hs.eigenvalues(closure, [x], k=2, method=method, which="both", **kw)
    np.testing.assert_allclose(both, [4.0, 2.0, -1.5, -3.0], rtol=1e-6)
    assert vecs.shape == (6, 4)


def test_power_largest_when_dominant_eigenvalue_is_negative():
    # |-10| dominates, but the algebraically largest is 1: the shift must kick in
    x, closure, _ = _quadratic([-10.0, -2.0, 0.5, 1.0])
    vals, _ = hs.eigenvalues(closure, [x], k=2, method="power", tol=1e-10, iters=5000)
    np.testing.assert_allclose(vals, [1.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize("eigs", [[2.0, 2.0, -2.0], [3.0, -3.0, 1.0, 0.0], [-1.0, 1.0]])
@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_power_with_opposite_dominant_eigenvalues(eigs, which):
    # +-lambda dominate together: plain power iteration stalls, the shift must rescue it
    x, closure, _ = _quadratic(eigs, seed=5)
    k = 2 if len(eigs) > 2 else 1
    got, _ = hs.eigenvalues(closure, [x], k=k, method="power", which=which, tol=1e-10)
    ref, _ = hs.eigenvalues(closure, [x], k=k, method="lanczos", which=which, tol=1e-12)
    srt = sorted(eigs, reverse=True)
    expected = {"largest": srt[:k], "smallest": srt[::-1][:k],
                "both": sorted(set(range(k)) | set(range(len(srt) - k, len(srt))))}[which]
    if which == "both":
        expected = [srt[i] for i in expected]
    np.testing.assert_allclose(got, expected, atol=1e-7)
    np.testing.assert_allclose(ref, expected, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_random_spectra_lanczos_and_power(seed):
    rng = np.random.default_rng(seed)
    eigs = rng.uniform(-5, 5, 7)
    eigs[np.argmax(eigs)] += 1.0  # keep gaps at the top so power iteration converges
    x, closure, a = _quadratic(eigs, seed=seed)
    w = np.sort(eigs)[::-1]
    lz, _ = hs.eigenvalues(closure, [x], k=3, tol=1e-12)
    np.testing.assert_allclose(lz, w[:3], atol=1e-9)
    pw, _ = hs.eigenvalues(closure, [x], k=1, method="power", tol=1e-10, iters=5000)
    np.testing.assert_allclose(pw, w[:1], atol=1e-6)


def test_lanczos_with_repeated_eigenvalues_restarts():
    # eigenvalue 2 with multiplicity 3: the Krylov space of one start vector misses copies
    x, closure, _ = _quadratic([2.0, 2.0, 2.0, 1.0, -1.0])
    vals, vecs = hs.eigenvalues(closure, [x], k=3, method="lanczos", tol=1e-10)
    np.testing.assert_allclose(vals, [2.0, 2.0, 2.0], rtol=1e-8)
    v = vecs.numpy()
    np.testing.assert_allclose(v.T @ v, np.eye(3), atol=1e-8)


def test_hutchinson_trace(mlp):
    params, closure, H = mlp
    exact = np.trace(H)
    n = 4000  # per-sample sd is ~0.8 * trace for this model: the mean's is ~1.3 %
    est = hs.trace(closure, params, n_samples=n, seed=0)
    # Rademacher variance: 2 * sum_{i != j} H_ij^2 per sample
    sd = math.sqrt(2 * (np.sum(H ** 2) - np.sum(np.diag(H) ** 2)) / n)
    assert abs(est - exact) < max(4 * sd, 1e-12)
    assert abs(est - exact) / abs(exact) < 0.05


def test_hutchinson_trace_quadratic_and_diagonal():
    x, closure, a = _quadratic([1.0, 2.0, 3.0])
    # not diagonal in the standard basis: only close
    assert abs(hs.trace(closure, [x], n_samples=2000) - 6.0) < 0.3
    d = ad.tensor(np.array([1.0, 2.0, 5.0]), requires_grad=True)
    assert hs.trace(lambda: (d * d * ad.tensor([0.5, 1.0, 2.0])).sum(), [d],
                    n_samples=3) == pytest.approx(7.0)


# ------------------------------------------------------------------------------- classification
@pytest.mark.parametrize("eigs,kind", [
    ([1.0, 2.0, 3.0, 0.1], "minimum"),
    ([-1.0, -2.0, -0.5], "maximum"),
    ([1.0, -2.0, 3.0], "saddle"),
    ([1.0, 0.0, 3.0], "degenerate"),
    ([-1.0, 0.0], "degenerate"),
])
def test_classify_quadratic_forms(eigs, kind):
    x, closure, _ = _quadratic(eigs, seed=4)
    assert hs.classify_critical_point(closure, [x]) == kind
    lo, hi = hs.extreme_eigenvalues(closure, [x])
    assert lo == pytest.approx(min(eigs), abs=1e-8)
    assert hi == pytest.approx(max(eigs), abs=1e-8)


def test_classify_strict_saddle_function():
    p = ad.tensor([0.0, 0.0], requires_grad=True, dtype=ad.float64)

    def f():
        x, y = p[0], p[1]
        return x * x - y * y + y ** 4 / 4

    assert hs.classify_critical_point(f, [p]) == "saddle"
    with ad.no_grad():
        p.array[...] = [0.0, math.sqrt(2.0)]
    assert hs.classify_critical_point(f, [p]) == "minimum"


# ------------------------------------------------------------------------------------ curvature, lr
def test_curvature_along_gradient(mlp):
    params, closure, H = mlp
    loss = closure()
    g = np.concatenate([gi.numpy().ravel() for gi in ad.grad(loss, params)])
    expected = g @ H @ g / (g @ g)
    assert hs.curvature_along_gradient(closure, params) == pytest.approx(expected, rel=1e-10)


def test_max_stable_lr_on_quadratic():
    eigs = [0.5, 1.0, 4.0]
    x, closure, a = _quadratic(eigs)
    lr_max = hs.max_stable_lr(closure, [x], tol=1e-10)
    assert lr_max == pytest.approx(0.5, rel=1e-8)
    # gradient descent on the quadratic converges below 2/lambda_max and diverges above it
    x0 = x.numpy().copy()
    for factor, converges in [(0.95, True), (1.05, False)]:
        z = x0.copy()
        for _ in range(400):
            with ad.no_grad():
                x.array[...] = z
            g = ad.grad(closure(), [x])[0].numpy()
            z = z - factor * lr_max * g
        assert (np.linalg.norm(g) < 1e-3) == converges
    with ad.no_grad():
        x.array[...] = x0


def test_max_stable_lr_infinite_without_positive_curvature():
    x, closure, _ = _quadratic([-1.0, -2.0])
    assert hs.max_stable_lr(closure, [x]) == math.inf


def test_module_parameters_accepted():
    nn = pytest.importorskip("autodiff.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("nn.Linear not available yet")
    ad.manual_seed(0)
    lin = nn.Linear(3, 2)
    for p in lin.parameters():
        p.array = p.array.astype(np.float64)
    x = ad.randn(5, 3, dtype=ad.float64)

    def closure():
        out = lin(x)
        return (ad.tanh(out) ** 2).mean()

    ps = list(lin.parameters())
    v = np.random.default_rng(0).standard_normal(sum(p.numel() for p in ps))
    np.testing.assert_allclose(hs.hvp(closure, lin, v).numpy(),
                               hs.hvp_fd(closure, ps, v).numpy(), rtol=1e-5, atol=1e-7)
