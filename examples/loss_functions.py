"""Experiment 7: loss functions compared.

Part 1 — MSE vs cross-entropy for a sigmoid classifier. With p = sigmoid(z) and a label y in
{0, 1}, the squared error (p - y)^2 has dL/dz = 2 (p - y) p (1 - p), which vanishes when the
sigmoid saturates, even on a confidently *wrong* prediction; the binary cross-entropy has
dL/dz = p - y, which does not. We print dL/dz for a few logits with y = 1 (closed forms and
autodiff), and the gradient norm with respect to the weights of a logistic classifier on random
data at initialisation (weights N(0, 1), so the logits are large) under both losses.

Part 2 — multi-class hinge (SVM) vs softmax cross-entropy on the score vectors [10, 8, 8] and
[10, -10, -10] with the correct class 0. The hinge loss sum_{j != y} max(0, s_j - s_y + 1) is
zero for both (the margin is met, so it no longer cares), while the cross-entropy
-log softmax(s)_y = log(1 + sum_{j != y} exp(s_j - s_y)) still prefers the second.

    python examples/loss_functions.py [--dim 20 --n 256]
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SCORES = ([10.0, 8.0, 8.0], [10.0, -10.0, -10.0])


def sigmoid_grads(z: float, y: float = 1.0) -> dict:
    """dL/dz of MSE(sigmoid(z), y) and BCE-with-logits(z, y), by autodiff and by hand."""
    zt = ad.tensor([z], dtype=ad.float64, requires_grad=True)
    yt = ad.tensor([y], dtype=ad.float64)
    (g_mse,) = ad.grad(F.mse_loss(ad.sigmoid(zt), yt), [zt])
    (g_ce,) = ad.grad(F.binary_cross_entropy_with_logits(zt, yt), [zt])
    p = 1.0 / (1.0 + math.exp(-z))
    return {"z": z, "p": p, "mse": g_mse.item(), "ce": g_ce.item(),
            "mse_closed": 2 * (p - y) * p * (1 - p), "ce_closed": p - y}


def init_gradient_norms(n: int = 256, dim: int = 20, init_std: float = 1.0,
                        seed: int = 0) -> dict:
    """||dL/dw|| at initialisation for a logistic classifier z = x w + b on random data."""
    g = np.random.default_rng(seed)
    x = ad.tensor(g.standard_normal((n, dim)))
    w_true = g.standard_normal(dim)
    y = ad.tensor((x.numpy() @ w_true > 0).astype(np.float64))
    w0 = g.normal(0.0, init_std, dim)
    out = {}
    for name in ("mse", "ce"):
        w = ad.tensor(w0, requires_grad=True)
        b = ad.tensor(0.0, dtype=ad.float64, requires_grad=True)
        z = ad.matmul(x, w) + b
        loss = (F.mse_loss(ad.sigmoid(z), y) if name == "mse"
                else F.binary_cross_entropy_with_logits(z, y))
        gw, _ = ad.grad(loss, [w, b])
        out[name] = float(np.linalg.norm(gw.numpy()))
        out[name + "_loss"] = loss.item()
    out["mean_abs_logit"] = float(np.abs(x.numpy() @ w0).mean())
    return out


def hinge_and_ce(scores, label: int = 0) -> dict:
    """Multi-class hinge (summed over wrong classes, margin 1) and softmax cross-entropy of one
    score vector, computed with autodiff (and their gradients' norms)."""
    s = ad.tensor([scores], dtype=ad.float64, requires_grad=True)
    y = ad.tensor([label])
    correct = s[:, label:label + 1]
    margins = ad.relu(s - correct + 1.0)
    hinge = margins.sum() - 1.0                     # minus the j == y term, max(0, 1) = 1
    ce = F.cross_entropy(s, y)
    (gh,) = ad.grad(hinge, [s])
    (gc,) = ad.grad(ce, [s])
    out = {"scores": list(scores), "hinge": hinge.item(), "ce": ce.item(),
           "hinge_grad_norm": float(np.linalg.norm(gh.numpy())),
           "ce_grad_norm": float(np.linalg.norm(gc.numpy()))}
    if hasattr(F, "multi_margin_loss"):             # PyTorch's form divides by the class count
        out["multi_margin_loss"] = F.multi_margin_loss(s, y).item()
    return out


def hand_hinge(scores, label: int = 0) -> float:
    return sum(max(0.0, s - scores[label] + 1.0) for j, s in enumerate(scores) if j != label)


def hand_ce(scores, label: int = 0) -> float:
    return math.log(sum(math.exp(s - scores[label]) for s in scores))


def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    ap.add_argument("--n", type=int, default=256, help="random points for the logistic classifier")
    ap.add_argument("--dim", type=int, default=20, help="their dimension")
    ap.add_argument("--init-std", type=float, default=1.0,
                    help="std of the classifier's N(0, s^2) initial weights")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    a = ap.parse_args(argv)

    print("Part 1: dL/dz for a sigmoid output, label y = 1")
    print(f"{'z':>6} {'p':>9} | {'MSE (ad)':>11} {'MSE (hand)':>11} | {'CE (ad)':>10} "
          f"{'CE (hand)':>10}")
    rows = [sigmoid_grads(z) for z in (-10.0, -5.0, -2.0, 0.0, 2.0, 5.0)]
    for r in rows:
        print(f"{r['z']:>6.1f} {r['p']:>9.2e} | {r['mse']:>11.3e} {r['mse_closed']:>11.3e} | "
              f"{r['ce']:>10.3e} {r['ce_closed']:>10.3e}")
    norms = init_gradient_norms(a.n, a.dim, a.init_std, a.seed)
    print(f"logistic classifier at init (mean |logit| {norms['mean_abs_logit']:.2f}): "
          f"||grad w|| MSE = {norms['mse']:.4f}, cross-entropy = {norms['ce']:.4f} "
          f"(ratio {norms['ce'] / norms['mse']:.1f}x)")

    print("\nPart 2: hinge vs cross-entropy, correct class 0")
    pairs = [hinge_and_ce(s) for s in SCORES]
    for p in pairs:
        print(f"scores {str(p['scores']):>22}: hinge {p['hinge']:.4f} (|grad| "
              f"{p['hinge_grad_norm']:.3g}), cross-entropy {p['ce']:.6g} (|grad| "
              f"{p['ce_grad_norm']:.3g})")
    return {"sigmoid_grads": rows, "init_norms": norms, "hinge_ce": pairs}


if __name__ == "__main__":
    main()
