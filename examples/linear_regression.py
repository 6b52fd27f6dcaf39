"""Experiment 2: fit y = m x + b by gradient descent on an anisotropically stretched Gaussian blob.

1000 points z ~ N(0, I) are stretched by T = [[0.6, -0.6], [-0.4, 0.8]] and shifted to
``center``: (x, y) = z T + center. The best line through the blob has slope
cov(x, y) / var(x) = -0.68 / 0.52 and passes through the center; gradient descent on the
*sum* of squared errors E(m, b) = sum_i (y_i - (m x_i + b))^2 from (m, b) = (0, 0), learning
rate 1e-4, 1000 iterations, recovers it. The gradient comes from autodiff and is checked
against the hand-derived one, dE/dm = -2 sum x (y - m x - b), dE/db = -2 sum (y - m x - b).
``--save``/``--resume`` keep (m, b) and the iteration count.

    python examples/linear_regression.py [--n 1000 --lr 1e-4 --iters 1000]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import autodiff as ad

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

T = np.array([[0.6, -0.6], [-0.4, 0.8]])


def make_blob(n: int = 1000, center=(1.0, 2.0), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x, y (float64) of the stretched blob."""
    z = np.random.default_rng(seed).standard_normal((n, 2))
    pts = z @ T + np.asarray(center)
    return pts[:, 0], pts[:, 1]


def generating_line(center=(1.0, 2.0)) -> tuple[float, float]:
    """(m, b) of the population least-squares line of the blob: slope cov/var through center."""
    cov = T.T @ T
    m = cov[0, 1] / cov[0, 0]
    return float(m), float(center[1] - m * center[0])


def sse(m: float, b: float, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((y - (m * x + b)) ** 2))


def hand_gradient(m: float, b: float, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    r = y - (m * x + b)
    return float(-2 * np.sum(x * r)), float(-2 * np.sum(r))


def fit(x: np.ndarray, y: np.ndarray, lr: float = 1e-4, iters: int = 1000,
        params: C.Params | None = None, start: int = 0, history: list | None = None,
        on_step=None, every: int = 100):
    """Gradient descent on the sum of squared errors from (0, 0) (or from ``params`` at
    iteration ``start``); ``on_step(it, history)`` every ``every`` iterations and at the end.
    Returns (m, b, history, largest difference from the hand-derived gradient)."""
    xt, yt = ad.tensor(x), ad.tensor(y)
    params = params or line_params()
    m, b = params.tensors["m"], params.tensors["b"]
    history = [] if history is None else history
    max_grad_diff = 0.0
    for it in range(start, iters):
        err = ((yt - (m * xt + b)) ** 2).sum()
        m.grad = b.grad = None
        err.backward()
        if it in (0, iters - 1):
            gm, gb = hand_gradient(m.item(), b.item(), x, y)
            max_grad_diff = max(max_grad_diff, abs(m.grad.item() - gm), abs(b.grad.item() - gb))
        history.append(err.item())
        with ad.no_grad():
            m -= lr * m.grad
            b -= lr * b.grad
        if on_step is not None and ((it + 1) % every == 0 or it + 1 == iters):
            on_step(it + 1, history)
    return m.item(), b.item(), history, max_grad_diff


def line_params() -> C.Params:
    """m = b = 0, float64, to be fitted."""
    return C.Params(m=ad.tensor(0.0, dtype=ad.float64, requires_grad=True),
                    b=ad.tensor(0.0, dtype=ad.float64, requires_grad=True))


def main(argv=None) -> dict:
    p = C.parser(__doc__)
    p.add_argument("--n", type=int, default=1000, help="points in the blob")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate")
    p.add_argument("--iters", type=int, default=1000, help="gradient-descent iterations")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="write m, b and the iteration count to PATH every 100 iterations")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the fit saved in PATH up to --iters")
    a = p.parse_args(argv)
    x, y = make_blob(a.n, seed=a.seed)
    n = len(x)
    before = sse(0.0, 0.0, x, y) / n
    print(f"Starting gradient descent at b = 0, m = 0, error = {before:.4f} (mean squared)")
    params = line_params()
    ckpt = C.Checkpoint("linear_regression", a, line=params)
    done = ckpt.load()
    m, b, hist, gdiff = fit(x, y, a.lr, a.iters, params, done.get("iteration", 0),
                            done.get("history"),
                            lambda it, h: ckpt.save(iteration=it, history=h))
    after = sse(m, b, x, y) / n
    m_ls, b_ls = np.polyfit(x, y, 1)
    m_true, b_true = generating_line()
    print(f"After {a.iters} iterations b = {b:.4f}, m = {m:.4f}, error = {after:.4f}")
    print(f"least squares (np.polyfit): b = {b_ls:.4f}, m = {m_ls:.4f}, "
          f"error = {sse(m_ls, b_ls, x, y) / n:.4f}")
    print(f"generating line of the blob: b = {b_true:.4f}, m = {m_true:.4f}")
    print(f"autodiff gradient vs hand-derived: max |diff| = {gdiff:.2e}")
    return {"error_before": before, "error_after": after, "m": m, "b": b, "m_lstsq": float(m_ls),
            "b_lstsq": float(b_ls), "m_true": m_true, "b_true": b_true, "grad_diff": gdiff,
            "history": hist}


if __name__ == "__main__":
    main()
