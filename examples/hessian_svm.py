"""The L2-regularised linear SVM's Hessian is diagonal and positive definite.

Loss (hinge, labels y in {-1, +1}, bias unregularised)::

    L(w, b) = lam/2 |w|^2 + mean_i max(0, 1 - y_i (x_i . w + b))

The hinge term is piecewise linear in w, so away from its kinks (points with margin exactly 1)
its second derivative vanishes and the Hessian with respect to the weights is lam * I: diagonal,
positive definite, independent of the data. This script trains the SVM by subgradient descent,
then computes the Hessian w.r.t. w two ways -- explicitly with ``ad.functional.hessian`` and
through ``autodiff.hessian`` (Lanczos on Hessian-vector products, and Hutchinson's trace) -- and
checks both against lam * I. ``--save``/``--resume`` keep w, b and the step count.

    python examples/hessian_svm.py [--n 200] [--d 5] [--lam 0.1] [--steps 300]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import autodiff as ad
from autodiff import hessian as hs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in d dimensions, labels in {-1, +1}."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    centre = rng.standard_normal(d)
    centre *= 1.5 / np.linalg.norm(centre)
    x = rng.standard_normal((n, d)) + y[:, None] * centre
    return x, y


def svm_loss(w: ad.Tensor, b: ad.Tensor, x: ad.Tensor, y: ad.Tensor, lam: float) -> ad.Tensor:
    margins = y * (x @ w + b)
    return 0.5 * lam * (w * w).sum() + ad.relu(1.0 - margins).mean()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = C.parser(__doc__)
    p.add_argument("--n", type=int, default=200, help="training points")
    p.add_argument("--d", type=int, default=5, help="dimensions")
    p.add_argument("--lam", type=float, default=0.1, help="L2 regularisation strength")
    p.add_argument("--steps", type=int, default=300, help="subgradient steps")
    p.add_argument("--lr", type=float, default=0.5,
                   help="subgradient step at t = 0 (decays as 1/sqrt(1 + t))")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="write w, b and the step count to PATH every 100 steps")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the training saved in PATH up to --steps")
    args = p.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    xn, yn = make_data(args.n, args.d, args.seed)
    x, y = ad.tensor(xn, dtype=ad.float64), ad.tensor(yn, dtype=ad.float64)
    w = ad.zeros(args.d, dtype=ad.float64, requires_grad=True)
    b = ad.zeros((), dtype=ad.float64, requires_grad=True)
    lam = args.lam
    ckpt = C.Checkpoint("hessian_svm", args, weights=C.Params(w=w, b=b))
    start = ckpt.load().get("step", 0)

    for t in range(start, args.steps):  # subgradient descent with a 1/sqrt(t) step
        loss = svm_loss(w, b, x, y, lam)
        gw, gb = ad.grad(loss, [w, b])
        step = args.lr / np.sqrt(1.0 + t)
        with ad.no_grad():
            w -= step * gw
            b -= step * gb
        if (t + 1) % 100 == 0 or t + 1 == args.steps:
            ckpt.save(step=t + 1)
    loss = svm_loss(w, b, x, y, lam).item()
    with ad.no_grad():
        margins = (y * (x @ w + b)).numpy()
    acc = float(np.mean(margins > 0))
    on_kink = int(np.sum(np.abs(margins - 1.0) < 1e-9))
    say(f"trained: loss {loss:.4f}, accuracy {acc:.3f}, support vectors (margin < 1) "
        f"{int(np.sum(margins < 1))}, points on a kink {on_kink}")

    # explicit Hessian w.r.t. the weights
    H = ad.functional.hessian(lambda ww: svm_loss(ww, b.detach(), x, y, lam), w).numpy()
    diag = np.diag(H).copy()
    offdiag = float(np.abs(H - np.diag(diag)).max())
    eig_explicit = np.linalg.eigvalsh(H)
    say(f"explicit Hessian diag = {np.round(diag, 6)}, max |off-diagonal| = {offdiag:.2e}")

    # matrix-free: Lanczos on HVPs and Hutchinson's trace
    def closure() -> ad.Tensor:
        return svm_loss(w, b.detach(), x, y, lam)

    top, _ = hs.eigenvalues(closure, [w], k=min(2, args.d), method="lanczos")
    lo, hi = hs.extreme_eigenvalues(closure, [w])
    tr = hs.trace(closure, [w], n_samples=8)
    kind = hs.classify_critical_point(closure, [w])
    say(f"Lanczos: lambda_max = {hi:.6f}, lambda_min = {lo:.6f}, top-2 {np.round(top, 6)}; "
        f"Hutchinson trace {tr:.6f} (d * lam = {args.d * lam:.6f}); curvature -> {kind}")
    is_diag_pd = bool(offdiag < 1e-12 and np.all(diag > 0) and np.allclose(diag, lam))
    say(f"Hessian == lam * I (diagonal, positive definite): {is_diag_pd}")
    return {"loss": loss, "accuracy": acc, "hessian": H, "diag": diag, "max_offdiag": offdiag,
            "eig_explicit": eig_explicit, "lanczos_top": top, "lambda_min": lo,
            "lambda_max": hi, "trace": tr, "lam": lam, "classification": kind,
            "is_diagonal_pd": is_diag_pd, "max_stable_lr": 2.0 / hi}


if __name__ == "__main__":
    main()
