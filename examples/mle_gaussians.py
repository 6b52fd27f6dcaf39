"""Experiment 3: maximum-likelihood fits by gradient descent.

Data: 10000 draws from N(0, 1) and 5000 from N(3, 1). Two models, each fitted by plain
gradient descent on the mean negative log-likelihood with autodiff gradients, stopping when no
parameter moves by more than ``tol`` in a step:

* one normal N(mu, sigma), initialised mu = sigma = 1 (its MLE is the sample mean and the
  population standard deviation, so the fit is checked against them);
* an equal-weight mixture 0.5 N(mu1, s1) + 0.5 N(mu2, s2), initialised (1, 1, 2, 2), whose
  log-likelihood is computed stably with logsumexp.

``--save``/``--resume`` keep each model once fitted (a resumed run skips it).

    python examples/mle_gaussians.py [--n1 10000 --n2 5000 --lr 0.1 --tol 1e-6]
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import autodiff as ad

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def make_data(n1: int = 10000, n2: int = 5000, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return np.concatenate([g.normal(0.0, 1.0, n1), g.normal(3.0, 1.0, n2)])


def normal_logpdf(x: ad.Tensor, mu: ad.Tensor, sigma: ad.Tensor) -> ad.Tensor:
    return -((x - mu) ** 2) / (2 * sigma ** 2) - ad.log(sigma) - HALF_LOG_2PI


def nll_normal(x: ad.Tensor, mu: ad.Tensor, sigma: ad.Tensor) -> ad.Tensor:
    """Mean negative log-likelihood of one normal."""
    return -normal_logpdf(x, mu, sigma).mean()


def nll_mixture(x: ad.Tensor, mu1, s1, mu2, s2) -> ad.Tensor:
    """Mean NLL of 0.5 N(mu1, s1) + 0.5 N(mu2, s2) via logsumexp over the two components."""
    lp = ad.stack([normal_logpdf(x, mu1, s1), normal_logpdf(x, mu2, s2)], axis=0)
    return -(ad.logsumexp(lp, axis=0) + math.log(0.5)).mean()


def gradient_descent(loss_fn, params: list[ad.Tensor], lr: float, tol: float,
                     max_iters: int) -> tuple[int, float]:
    """Steps p -= lr * grad until max |step| < tol; returns (iterations, final loss)."""
    for it in range(1, max_iters + 1):
        loss = loss_fn(*params)
        grads = ad.grad(loss, params)
        with ad.no_grad():
            step = 0.0
            for p, g in zip(params, grads):
                p -= lr * g
                step = max(step, float(abs(lr * g.item())))
        if step < tol:
            break
    return it, float(loss_fn(*params).item())


def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    ap.add_argument("--n1", type=int, default=10000, help="draws from N(0, 1)")
    ap.add_argument("--n2", type=int, default=5000, help="draws from N(3, 1)")
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate")
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="stop when no parameter moves by more than this in a step")
    ap.add_argument("--max-iters", type=int, default=20000, help="at most this many steps")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--save", metavar="PATH", default=None,
                    help="write the fitted parameters to PATH after each of the two fits")
    ap.add_argument("--resume", metavar="PATH", default=None,
                    help="skip the fits already done in PATH")
    a = ap.parse_args(argv)
    data = make_data(a.n1, a.n2, a.seed)
    x = ad.tensor(data)
    param = lambda v: ad.tensor(float(v), dtype=ad.float64, requires_grad=True)  # noqa: E731

    mu, sigma = param(1.0), param(1.0)
    mix = [param(1.0), param(1.0), param(2.0), param(2.0)]
    ckpt = C.Checkpoint("mle_gaussians", a, single=C.Params(mu=mu, sigma=sigma),
                        mixture=C.Params(**dict(zip(["mu1", "s1", "mu2", "s2"], mix))))
    fits = ckpt.load().get("fits", {})              # name -> (iterations, final NLL)
    if "single" not in fits:
        fits["single"] = gradient_descent(lambda m, s: nll_normal(x, m, s), [mu, sigma], a.lr,
                                          a.tol, a.max_iters)
        ckpt.save(fits=fits)
    it1, nll1 = fits["single"]
    print(f"single normal:  mu = {mu.item():.4f}, sigma = {sigma.item():.4f} after {it1} "
          f"iterations; NLL = {nll1:.4f} per point ({nll1 * len(data):.1f} total)")
    print(f"  sample mean = {data.mean():.4f}, sample std = {data.std():.4f}")

    if "mixture" not in fits:
        fits["mixture"] = gradient_descent(lambda *p: nll_mixture(x, *p), mix, a.lr, a.tol,
                                           a.max_iters)
        ckpt.save(fits=fits)
    it2, nll2 = fits["mixture"]
    m1, s1, m2, s2 = (p.item() for p in mix)
    print(f"mixture of two: mu1 = {m1:.4f}, s1 = {s1:.4f}, mu2 = {m2:.4f}, s2 = {s2:.4f} after "
          f"{it2} iterations; NLL = {nll2:.4f} per point ({nll2 * len(data):.1f} total)")
    print(f"the mixture fits better by {(nll1 - nll2) * len(data):.1f} nats in total")
    return {"mu": mu.item(), "sigma": sigma.item(), "nll_single": nll1, "iters_single": it1,
            "mixture": (m1, s1, m2, s2), "nll_mixture": nll2, "iters_mixture": it2,
            "sample_mean": float(data.mean()), "sample_std": float(data.std()), "n": len(data)}


if __name__ == "__main__":
    main()
