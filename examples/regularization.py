"""Regularization: L2 as a Gaussian prior, its bias and variance, L1 zeros, and a KL sparsity
penalty, each measured against its closed form.

1. Ridge regression by gradient descent on 1/2 |Xw - y|^2 + lam/2 |w|^2 (the gradient from
   autodiff) converges to (X^T X + lam I)^-1 X^T y; so does plain SGD on the squared error
   with ``weight_decay=lam``, step for step. It does so also where X^T X is singular
   (duplicated columns; more features than samples), where least squares has no unique
   solution; ridge then gives the duplicated columns equal weights.
2. MAP with a Gaussian prior w ~ N(0, s_p^2 I) and noise N(0, s_n^2): gradient descent on the
   negative log posterior (the log densities written out) lands on ridge with
   lam = s_n^2 / s_p^2, and its Hessian (autodiff) is the posterior precision
   (X^T X + lam I) / s_n^2.
3. Bias and variance over resampled noise with a fixed, correlated design: least squares is
   unbiased with covariance s_n^2 (X^T X)^-1; ridge has bias -lam A^-1 w and covariance
   s_n^2 A^-1 X^T X A^-1 (A = X^T X + lam I), and a smaller mean squared error. (The
   thousands of fits are solved in closed form, which section 1 showed descent reaches.)
4. L1: the lasso by proximal gradient (ISTA: a gradient step, then soft-thresholding) gives
   exact zeros; with an orthonormal design it equals the closed form
   sign(z) max(|z| - alpha, 0), z = X^T y; with a correlated design it meets the lasso's
   optimality (KKT) conditions and finds the true support.
5. A sparse autoencoder: sigmoid hidden units with the penalty
   beta * sum_j KL(rho || rho_hat_j), rho = 0.05, on data made of sparse combinations of
   atoms. The average activation goes from about 0.4 to rho (within 0.005), while the
   reconstruction error stays within 0.1 of the data's energy of the unpenalized run's (the
   sparse code still explains over 90% of it).

Generated data only; the defaults run in well under a minute on two CPU cores.

    python examples/regularization.py [--sections ridge,map,bias,lasso,sparse] [--quiet]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.data.progress import progress

SECTIONS = ("ridge", "map", "bias", "lasso", "sparse")
RHO_TOLERANCE = 0.005      # |mean activation - rho| the sparse run must reach
LOSS_MARGIN = 0.1          # extra relative reconstruction error the penalty may cost


# ------------------------------------------------------------------------------ ridge
def ridge_closed_form(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """(X^T X + lam I)^-1 X^T y."""
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def _descend(loss_fn, d: int, lr: float, steps: int, weight_decay: float = 0.0) -> np.ndarray:
    """Plain gradient descent (``optim.SGD``) on ``loss_fn(w)`` from w = 0."""
    w = ad.zeros(d, dtype=ad.float64, requires_grad=True)
    opt = optim.SGD([w], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(w).backward()
        opt.step()
    return w.detach().numpy().copy()


def ridge_gd(X: np.ndarray, y: np.ndarray, lam: float, steps: int,
             weight_decay: bool = False) -> np.ndarray:
    """Ridge by gradient descent with step 1 / L, L = lambda_max(X^T X) + lam (the gradient's
    Lipschitz constant). ``weight_decay``: the penalty left out of the loss and applied by
    SGD's ``weight_decay`` instead (the same update)."""
    Xt, yt = ad.tensor(X), ad.tensor(y)
    lr = 1.0 / (np.linalg.eigvalsh(X.T @ X)[-1] + lam)

    def loss(w):
        r = ad.matmul(Xt, w) - yt
        data_term = 0.5 * (r * r).sum()
        return data_term if weight_decay else data_term + 0.5 * lam * (w * w).sum()

    return _descend(loss, X.shape[1], lr, steps, weight_decay=lam if weight_decay else 0.0)


def ridge_experiment(lam: float = 2.0, steps: int = 500, seed: int = 0) -> dict:
    """Gradient descent against the closed form on a well-posed design, one with duplicated
    columns and one with more features than samples."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((50, 10))
    designs = {
        "well-posed (50 x 10)": base,
        "duplicated columns (50 x 12)": np.hstack([base, base[:, :2]]),
        "more features than samples (8 x 20)": rng.standard_normal((8, 20)),
    }
    out = {}
    for name, X in designs.items():
        n, d = X.shape
        y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
        closed = ridge_closed_form(X, y, lam)
        gd = ridge_gd(X, y, lam, steps)
        wd = ridge_gd(X, y, lam, steps, weight_decay=True)
        rank = int(np.linalg.matrix_rank(X.T @ X))
        row = {"n": n, "d": d, "rank_XtX": rank, "max_err_gd": float(np.abs(gd - closed).max()),
               "max_err_weight_decay": float(np.abs(wd - closed).max()),
               "weight_decay_vs_penalty": float(np.abs(wd - gd).max())}
        if rank < d:  # least squares: a whole affine space of minimisers
            w_ls = np.linalg.pinv(X) @ y
            null = np.linalg.svd(X)[2][-1]
            row["ls_loss_spread"] = float(abs(np.sum((X @ (w_ls + null) - y) ** 2) -
                                              np.sum((X @ w_ls - y) ** 2)))
        if name.startswith("duplicated"):
            row["twin_weight_gap"] = float(np.abs(gd[:2] - gd[10:]).max())
        out[name] = row
    return out


# ------------------------------------------------------------------------------ MAP
def neg_log_posterior(w: ad.Tensor, X: ad.Tensor, y: ad.Tensor, sigma_n: float,
                      sigma_p: float) -> ad.Tensor:
    """-log N(y | Xw, s_n^2 I) - log N(w | 0, s_p^2 I), normalising constants included."""
    n, d = X.shape
    r = y - ad.matmul(X, w)
    nll = 0.5 * (r * r).sum() / sigma_n ** 2 + n * math.log(sigma_n * math.sqrt(2 * math.pi))
    nlp = 0.5 * (w * w).sum() / sigma_p ** 2 + d * math.log(sigma_p * math.sqrt(2 * math.pi))
    return nll + nlp


def map_experiment(sigma_n: float = 1.0, sigma_p: float = 0.5, steps: int = 500,
                   seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    n, d = 40, 6
    X = rng.standard_normal((n, d))
    w_true = sigma_p * rng.standard_normal(d)           # a draw from the prior
    y = X @ w_true + sigma_n * rng.standard_normal(n)
    Xt, yt = ad.tensor(X), ad.tensor(y)
    lam = sigma_n ** 2 / sigma_p ** 2
    precision = (X.T @ X + lam * np.eye(d)) / sigma_n ** 2   # the Hessian, in closed form
    lr = 1.0 / np.linalg.eigvalsh(precision)[-1]
    w_map = _descend(lambda w: neg_log_posterior(w, Xt, yt, sigma_n, sigma_p), d, lr, steps)
    H = ad.functional.hessian(lambda w: neg_log_posterior(w, Xt, yt, sigma_n, sigma_p),
                              ad.tensor(w_map)).numpy()
    return {"lambda": lam,
            "max_err_vs_ridge": float(np.abs(w_map - ridge_closed_form(X, y, lam)).max()),
            "gap_to_ridge_lambda_1": float(np.abs(w_map - ridge_closed_form(X, y, 1.0)).max()),
            "hessian_err": float(np.abs(H - precision).max() / np.abs(precision).max())}


# ------------------------------------------------------------------------------ bias / variance
def correlated_design(n: int, d: int, corr: float, rng: np.random.Generator) -> np.ndarray:
    """Rows ~ N(0, C) with C_ij = corr^|i - j| (neighbouring features nearly collinear)."""
    C = corr ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    return rng.standard_normal((n, d)) @ np.linalg.cholesky(C).T


def bias_variance_theory(X: np.ndarray, w: np.ndarray, lam: float, sigma_n: float) -> dict:
    """Closed-form bias and covariance of ridge (lam > 0) or least squares (lam = 0) for a
    fixed design X and y = X w + N(0, s_n^2 I)."""
    XtX = X.T @ X
    Ainv = np.linalg.inv(XtX + lam * np.eye(X.shape[1]))
    bias = -lam * Ainv @ w
    cov = sigma_n ** 2 * Ainv @ XtX @ Ainv
    return {"bias": bias, "cov": cov, "mse": float(bias @ bias + np.trace(cov))}


def bias_variance_experiment(lam: float = 2.0, trials: int = 4000, sigma_n: float = 1.0,
                             seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    n, d = 30, 8
    X = correlated_design(n, d, 0.9, rng)
    w = rng.standard_normal(d)
    Y = (X @ w)[:, None] + sigma_n * rng.standard_normal((n, trials))   # one column per data set
    out = {"trials": trials, "lambda": lam}
    for name, l in (("least squares", 0.0), ("ridge", lam)):
        W = np.linalg.solve(X.T @ X + l * np.eye(d), X.T @ Y)             # every fit at once
        theory = bias_variance_theory(X, w, l, sigma_n)
        emp_bias = W.mean(axis=1) - w
        emp_cov = np.cov(W)
        se = np.sqrt(np.diag(theory["cov"]) / trials)                     # of the mean
        out[name] = {
            "bias_norm": float(np.linalg.norm(theory["bias"])),
            "emp_bias_norm": float(np.linalg.norm(emp_bias)),
            "bias_err_in_se": float(np.max(np.abs(emp_bias - theory["bias"]) / se)),
            "trace_cov": float(np.trace(theory["cov"])),
            "emp_trace_cov": float(np.trace(emp_cov)),
            "cov_rel_err": float(np.linalg.norm(emp_cov - theory["cov"]) /
                                 np.linalg.norm(theory["cov"])),
            "mse": theory["mse"],
            "emp_mse": float(np.mean(np.sum((W - w[:, None]) ** 2, axis=0))),
        }
    return out


# ------------------------------------------------------------------------------ lasso
def soft_threshold(v: ad.Tensor, t: float) -> ad.Tensor:
    """sign(v) max(|v| - t, 0): the proximal map of t |.|_1; exact zeros inside [-t, t]."""
    return ad.sign(v) * ad.relu(ad.abs(v) - t)


def lasso_ista(X: np.ndarray, y: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """Minimise 1/2 |Xw - y|^2 + alpha |w|_1 by ISTA with step 1 / lambda_max(X^T X)."""
    Xt, yt = ad.tensor(X), ad.tensor(y)
    t = 1.0 / np.linalg.eigvalsh(X.T @ X)[-1]
    w = ad.zeros(X.shape[1], dtype=ad.float64, requires_grad=True)
    for _ in range(steps):
        w.grad = None
        r = ad.matmul(Xt, w) - yt
        (0.5 * (r * r).sum()).backward()
        with ad.no_grad():
            w.copy_(soft_threshold(w - t * w.grad, t * alpha))
    return w.detach().numpy().copy()


def lasso_kkt_violation(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> float:
    """How far w is from the lasso's optimality conditions: X_j^T (y - Xw) = alpha sign(w_j)
    where w_j != 0, and |X_j^T (y - Xw)| <= alpha where w_j = 0."""
    g = X.T @ (y - X @ w)
    on = w != 0
    return float(max(np.max(np.abs(g[on] - alpha * np.sign(w[on])), initial=0.0),
                     np.max(np.abs(g[~on]) - alpha, initial=0.0), 0.0))


def lasso_experiment(alpha_orth: float = 0.5, alpha: float = 12.0, steps: int = 500,
                     seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    # orthonormal design: the lasso is soft-thresholding of z = X^T y
    Q = np.linalg.qr(rng.standard_normal((40, 10)))[0]
    w_true = np.zeros(10)
    w_true[[1, 4, 7]] = [2.0, -1.5, 1.0]
    y = Q @ w_true + 0.3 * rng.standard_normal(40)
    z = Q.T @ y
    closed = np.sign(z) * np.maximum(np.abs(z) - alpha_orth, 0.0)
    w_orth = lasso_ista(Q, y, alpha_orth, 20)
    out = {"orthonormal": {"max_err_vs_soft_threshold": float(np.abs(w_orth - closed).max()),
                           "zeros": int(np.sum(w_orth == 0)),
                           "closed_form_zeros": int(np.sum(closed == 0))}}
    # a correlated design: optimality conditions, support, and ridge for contrast
    X = correlated_design(60, 20, 0.5, rng)
    w_true = np.zeros(20)
    w_true[[2, 9, 15]] = [3.0, -2.0, 1.5]
    y = X @ w_true + 0.3 * rng.standard_normal(60)
    w = lasso_ista(X, y, alpha, steps)
    ridge = ridge_closed_form(X, y, alpha)
    out["correlated"] = {"kkt_violation": lasso_kkt_violation(X, y, w, alpha),
                         "zeros": int(np.sum(w == 0)), "ridge_zeros": int(np.sum(ridge == 0)),
                         "support": np.flatnonzero(w).tolist(),
                         "true_support": np.flatnonzero(w_true).tolist()}
    return out


# ------------------------------------------------------------------------------ KL sparsity
def kl_sparsity(h: ad.Tensor, rho: float) -> ad.Tensor:
    """sum_j KL(rho || rho_hat_j) with rho_hat_j the mean activation of hidden unit j over the
    batch (Bernoulli KL divergence)."""
    rho_hat = h.mean(0)
    return (rho * ad.log(rho / rho_hat) + (1 - rho) * ad.log((1 - rho) / (1 - rho_hat))).sum()


def sparse_code_data(n: int, dim: int = 25, atoms: int = 20, active: int = 2,
                     seed: int = 4) -> np.ndarray:
    """Each sample is a positive combination of ``active`` of ``atoms`` unit vectors, plus a
    little noise."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((atoms, dim))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    S = np.zeros((n, atoms))
    for i in range(n):
        S[i, rng.choice(atoms, active, replace=False)] = rng.uniform(0.5, 1.5, active)
    return S @ A + 0.01 * rng.standard_normal((n, dim))


def train_autoencoder(X: np.ndarray, hidden: int, beta: float, rho: float, steps: int,
                      lr: float, seed: int, quiet: bool = True) -> dict:
    """Full-batch Adam on mean squared reconstruction error + beta * KL sparsity penalty."""
    ad.manual_seed(seed)
    enc, dec = nn.Linear(X.shape[1], hidden).double(), nn.Linear(hidden, X.shape[1]).double()
    opt = optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=lr)
    Xt = ad.tensor(X)
    bar = progress(range(steps), desc=f"autoencoder beta={beta:g}", disable=True if quiet else None,
                   leave=False)
    for step in bar:
        h = ad.sigmoid(enc(Xt))
        rec = ((dec(h) - Xt) ** 2).sum(1).mean()
        loss = rec + beta * kl_sparsity(h, rho) if beta else rec
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(rec=f"{rec.item():.4f}", act=f"{h.mean().item():.3f}")
    with ad.no_grad():
        h = ad.sigmoid(enc(Xt))
        rec = ((dec(h) - Xt) ** 2).sum(1).mean().item()
        act = h.mean(0).numpy()
    return {"rel_rec_error": rec / float(np.mean(np.sum(X ** 2, axis=1))),
            "mean_activation": float(act.mean()), "min_unit": float(act.min()),
            "max_unit": float(act.max())}


def sparse_experiment(samples: int = 500, hidden: int = 40, steps: int = 1000, lr: float = 0.03,
                      beta: float = 3.0, rho: float = 0.05, seed: int = 5,
                      quiet: bool = True) -> dict:
    X = sparse_code_data(samples)
    plain = train_autoencoder(X, hidden, 0.0, rho, steps, lr, seed, quiet)
    sparse = train_autoencoder(X, hidden, beta, rho, steps, lr, seed, quiet)
    return {"rho": rho, "beta": beta, "plain": plain, "sparse": sparse,
            "activation_gap": abs(sparse["mean_activation"] - rho),
            "extra_rec_error": sparse["rel_rec_error"] - plain["rel_rec_error"]}


# ------------------------------------------------------------------------------ report
def _report_ridge(res: dict) -> list[str]:
    lines = ["1. ridge by gradient descent vs (X^T X + lam I)^-1 X^T y"]
    for design, r in res.items():
        lines.append(f"   {design}: rank(X^T X) {r['rank_XtX']}/{r['d']}, max |w_gd - w*| "
                     f"{r['max_err_gd']:.1e} (SGD weight_decay: {r['max_err_weight_decay']:.1e})")
        if "ls_loss_spread" in r:
            lines.append(f"     least squares: not unique (w and w + a null vector differ in "
                         f"loss by {r['ls_loss_spread']:.0e})")
        if "twin_weight_gap" in r:
            lines.append(f"     ridge weights of the duplicated columns differ by "
                         f"{r['twin_weight_gap']:.0e}")
    return lines


def _report_map(res: dict) -> list[str]:
    return [f"2. MAP with prior N(0, s_p^2) and noise N(0, s_n^2) = ridge with "
            f"lam = s_n^2/s_p^2 = {res['lambda']:g}",
            f"   max |w_MAP - w_ridge| {res['max_err_vs_ridge']:.1e} (ridge with lam = 1 is "
            f"{res['gap_to_ridge_lambda_1']:.2f} away); Hessian vs posterior precision: "
            f"rel. err {res['hessian_err']:.1e}"]


def _report_bias(res: dict) -> list[str]:
    lines = [f"3. bias and variance over {res['trials']} resampled data sets "
             f"(ridge lam = {res['lambda']:g}): empirical (closed form)"]
    for est in ("least squares", "ridge"):
        r = res[est]
        lines.append(f"   {est:13s} |bias| {r['emp_bias_norm']:.3f} ({r['bias_norm']:.3f}; "
                     f"worst component {r['bias_err_in_se']:.1f} s.e. off), tr cov "
                     f"{r['emp_trace_cov']:.3f} ({r['trace_cov']:.3f}; cov rel. err "
                     f"{r['cov_rel_err']:.3f}), MSE {r['emp_mse']:.3f} ({r['mse']:.3f})")
    return lines


def _report_lasso(res: dict) -> list[str]:
    o, c = res["orthonormal"], res["correlated"]
    return ["4. lasso by ISTA",
            f"   orthonormal design: max |w - soft_threshold(X^T y)| "
            f"{o['max_err_vs_soft_threshold']:.1e}, exact zeros {o['zeros']} (closed form "
            f"{o['closed_form_zeros']})",
            f"   correlated design: KKT violation {c['kkt_violation']:.1e}, exact zeros "
            f"{c['zeros']}/20 (ridge: {c['ridge_zeros']}), support {c['support']} (true "
            f"{c['true_support']})"]


def _report_sparse(res: dict) -> list[str]:
    p, s = res["plain"], res["sparse"]
    return [f"5. sparse autoencoder, penalty beta * sum_j KL(rho || rho_hat_j), rho = "
            f"{res['rho']}, beta = {res['beta']}",
            f"   unpenalized: mean activation {p['mean_activation']:.3f}, relative "
            f"reconstruction error {p['rel_rec_error']:.4f}",
            f"   penalized:   mean activation {s['mean_activation']:.4f} (units "
            f"{s['min_unit']:.4f}-{s['max_unit']:.4f}), relative reconstruction error "
            f"{s['rel_rec_error']:.4f} (+{res['extra_rec_error']:.4f}; margin {LOSS_MARGIN})"]


REPORTS = {"ridge": _report_ridge, "map": _report_map, "bias": _report_bias,
           "lasso": _report_lasso, "sparse": _report_sparse}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--lam", type=float, default=2.0, help="ridge strength of section 1")
    p.add_argument("--steps", type=int, default=500,
                   help="gradient-descent steps of sections 1, 2 and 4")
    p.add_argument("--trials", type=int, default=4000,
                   help="resampled data sets for the bias/variance comparison")
    p.add_argument("--ae-samples", type=int, default=500, help="autoencoder training samples")
    p.add_argument("--ae-hidden", type=int, default=40, help="autoencoder hidden units")
    p.add_argument("--ae-steps", type=int, default=1000, help="autoencoder Adam steps (each run)")
    p.add_argument("--ae-lr", type=float, default=0.03, help="autoencoder Adam learning rate")
    p.add_argument("--beta", type=float, default=3.0, help="weight of the KL sparsity penalty")
    p.add_argument("--rho", type=float, default=0.05, help="target mean activation")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the numbers as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    chosen = [s.strip() for s in a.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    runs = {
        "ridge": lambda: ridge_experiment(a.lam, a.steps),
        "map": lambda: map_experiment(steps=a.steps),
        "bias": lambda: bias_variance_experiment(trials=a.trials),
        "lasso": lambda: lasso_experiment(steps=a.steps),
        "sparse": lambda: sparse_experiment(a.ae_samples, a.ae_hidden, a.ae_steps, a.ae_lr,
                                            beta=a.beta, rho=a.rho, quiet=a.quiet),
    }
    results = {}
    for name in SECTIONS:
        if name in chosen:
            t0 = time.perf_counter()
            results[name] = runs[name]()
            for line in REPORTS[name](results[name]):
                print(line)
            if not a.quiet:
                print(f"   ({time.perf_counter() - t0:.1f} s)")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
