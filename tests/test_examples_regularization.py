"""examples/regularization.py: each section's numbers, and its building blocks against
independent references (augmented least squares for ridge, the standard library's normal
densities for the posterior, the estimator as a linear map for bias/covariance, the lasso's
KKT conditions checked here, the Bernoulli KL and its derivative written out)."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import autodiff as ad

_spec = importlib.util.spec_from_file_location(
    "regularization", Path(__file__).resolve().parents[1] / "examples" / "regularization.py")
reg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reg)

TRIALS = 1000
SMALL = ["--steps", "300", "--trials", str(TRIALS), "--ae-samples", "300", "--ae-steps", "500",
         "--ae-lr", "0.05", "--quiet"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One run of the whole article in its small configuration (also written as JSON)."""
    path = tmp_path_factory.mktemp("reg") / "numbers.json"
    out = reg.main(SMALL + ["--json", str(path)])
    assert json.loads(path.read_text()) == json.loads(json.dumps(out))
    return out


def ridge_reference(X, y, lam):
    """Ridge as ordinary least squares on [X; sqrt(lam) I] w = [y; 0] (no normal equations)."""
    d = X.shape[1]
    A = np.vstack([X, np.sqrt(lam) * np.eye(d)])
    return np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]


def test_ridge_descent_reaches_the_closed_form_even_when_singular():
    rng = np.random.default_rng(7)
    B = rng.standard_normal((30, 5))
    for X in (B, np.hstack([B, B[:, :1]]), rng.standard_normal((5, 9))):
        y = X @ rng.standard_normal(X.shape[1]) + 0.1 * rng.standard_normal(X.shape[0])
        ref = ridge_reference(X, y, 1.5)
        np.testing.assert_allclose(reg.ridge_closed_form(X, y, 1.5), ref, atol=1e-10)
        np.testing.assert_allclose(reg.ridge_gd(X, y, 1.5, 400), ref, atol=1e-10)
        np.testing.assert_allclose(reg.ridge_gd(X, y, 1.5, 400, weight_decay=True), ref,
                                   atol=1e-10)
        assert np.abs(reg.ridge_gd(X, y, 1.5, 3) - ref).max() > 1e-3   # 3 steps are too few


@pytest.mark.slow  # shares one ~7 s run of the article (the fixture)
def test_ridge_section(results):
    rows = results["ridge"]
    assert [r["rank_XtX"] < r["d"] for r in rows.values()] == [False, True, True]
    for r in rows.values():
        assert r["max_err_gd"] < 1e-10 and r["max_err_weight_decay"] < 1e-10
        assert r["weight_decay_vs_penalty"] < 1e-12
    singular = [r for r in rows.values() if r["rank_XtX"] < r["d"]]
    assert all(r["ls_loss_spread"] < 1e-9 for r in singular)   # least squares not unique
    assert rows["duplicated columns (50 x 12)"]["twin_weight_gap"] < 1e-10


def test_neg_log_posterior_is_the_sum_of_gaussian_log_densities():
    rng = np.random.default_rng(8)
    X, w, y = rng.standard_normal((7, 3)), rng.standard_normal(3), rng.standard_normal(7)
    got = reg.neg_log_posterior(ad.tensor(w), ad.tensor(X), ad.tensor(y), 0.7, 1.3).item()
    ref = -(sum(math.log(NormalDist(m, 0.7).pdf(v)) for v, m in zip(y, X @ w)) +
            sum(math.log(NormalDist(0.0, 1.3).pdf(v)) for v in w))
    assert got == pytest.approx(ref, rel=1e-12)


@pytest.mark.slow  # shares one ~7 s run of the article (the fixture)
def test_map_section(results):
    r = results["map"]
    assert r["lambda"] == 4.0                                   # s_n^2 / s_p^2 = 1 / 0.25
    assert r["max_err_vs_ridge"] < 1e-10 and r["hessian_err"] < 1e-10
    assert r["gap_to_ridge_lambda_1"] > 0.01                   # another lambda is another w


def test_bias_and_covariance_as_a_linear_map():
    rng = np.random.default_rng(9)
    X, w, lam, s = rng.standard_normal((12, 4)), rng.standard_normal(4), 0.8, 0.6
    M = np.linalg.solve(X.T @ X + lam * np.eye(4), X.T)         # w_hat = M y, y = X w + e
    t = reg.bias_variance_theory(X, w, lam, s)
    np.testing.assert_allclose(t["bias"], M @ X @ w - w, atol=1e-12)
    np.testing.assert_allclose(t["cov"], s ** 2 * M @ M.T, rtol=1e-10)
    ls = reg.bias_variance_theory(X, w, 0.0, s)
    np.testing.assert_allclose(ls["bias"], 0, atol=1e-15)
    np.testing.assert_allclose(ls["cov"], s ** 2 * np.linalg.inv(X.T @ X), rtol=1e-10)


@pytest.mark.slow  # shares one ~7 s run of the article (the fixture)
def test_bias_variance_section(results):
    r = results["bias"]
    assert r["trials"] == TRIALS
    tol = 4 * np.sqrt(2 / TRIALS)     # sampling error of a covariance estimate, with room
    for est in ("least squares", "ridge"):
        assert r[est]["bias_err_in_se"] < 4.5
        assert r[est]["cov_rel_err"] < tol
        assert r[est]["emp_mse"] == pytest.approx(r[est]["mse"], rel=tol)
    assert r["least squares"]["bias_norm"] < 1e-12 < r["ridge"]["bias_norm"]
    assert r["ridge"]["trace_cov"] < r["least squares"]["trace_cov"] / 2
    assert r["ridge"]["mse"] < r["least squares"]["mse"]
    assert r["ridge"]["emp_mse"] < r["least squares"]["emp_mse"]


def test_soft_threshold_gives_exact_zeros():
    v = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 1.0, 2.5])
    got = reg.soft_threshold(ad.tensor(v), 1.0).numpy()
    np.testing.assert_array_equal(got, [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5])


def test_lasso_meets_its_optimality_conditions():
    rng = np.random.default_rng(10)
    X = reg.correlated_design(40, 8, 0.6, rng)
    y = X @ np.array([2.0, 0, 0, -1.0, 0, 0, 0, 0]) + 0.2 * rng.standard_normal(40)
    alpha = 3.0
    w = reg.lasso_ista(X, y, alpha, 800)
    g = X.T @ (y - X @ w)                       # subgradient conditions, written out here
    on = w != 0
    assert 0 < on.sum() < 8
    np.testing.assert_allclose(g[on], alpha * np.sign(w[on]), atol=1e-8)
    assert np.all(np.abs(g[~on]) <= alpha + 1e-8)


@pytest.mark.slow  # shares one ~7 s run of the article (the fixture)
def test_lasso_section(results):
    o, c = results["lasso"]["orthonormal"], results["lasso"]["correlated"]
    assert o["max_err_vs_soft_threshold"] < 1e-12 and o["zeros"] == o["closed_form_zeros"] > 0
    assert c["kkt_violation"] < 1e-8
    assert c["support"] == c["true_support"] and c["zeros"] == 20 - len(c["true_support"])
    assert c["ridge_zeros"] == 0


def test_kl_sparsity_value_and_gradient():
    rng = np.random.default_rng(11)
    h = rng.uniform(0.02, 0.9, (6, 4))
    rho, rho_hat = 0.05, h.mean(0)
    ref = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    ht = ad.tensor(h, requires_grad=True)
    kl = reg.kl_sparsity(ht, rho)
    assert kl.item() == pytest.approx(ref, rel=1e-12)
    kl.backward()
    delta = -rho / rho_hat + (1 - rho) / (1 - rho_hat)      # Ng's sparse-autoencoder term
    np.testing.assert_allclose(ht.grad.numpy(), np.broadcast_to(delta / 6, h.shape), rtol=1e-12)
    assert ad.gradcheck(lambda a: reg.kl_sparsity(a, rho), (ad.tensor(h, requires_grad=True),))


@pytest.mark.slow  # shares one ~7 s run of the article (the fixture)
def test_sparse_autoencoder_section(results):
    r = results["sparse"]
    assert r["rho"] == 0.05
    assert r["plain"]["mean_activation"] > 0.2              # without the penalty: dense
    assert r["activation_gap"] < reg.RHO_TOLERANCE
    assert abs(r["sparse"]["max_unit"] - 0.05) < 4 * reg.RHO_TOLERANCE
    assert r["plain"]["rel_rec_error"] < 0.01
    assert r["extra_rec_error"] < reg.LOSS_MARGIN


def test_help_and_bad_sections(capsys):
    with pytest.raises(SystemExit) as e:
        reg.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Regularization: L2 as a Gaussian prior" in out and "--ae-steps" in out
    with pytest.raises(SystemExit) as e:
        reg.main(["--sections", "ridge,elastic"])
    assert e.value.code == 2 and "unknown section(s) elastic" in capsys.readouterr().err
