"""A strict saddle: plain gradient descent started there stays stuck, noisy SGD escapes.

    f(x, y) = x^2 - y^2 + y^4 / 4

has three critical points: the origin, a strict saddle (Hessian diag(2, -2)), and the minima
(0, +-sqrt(2)) with f = -1 (Hessian diag(2, 4)). The gradient vanishes at the origin, so plain
gradient descent started there never moves -- and started anywhere on the x-axis (the saddle's
stable manifold) it converges *to* the saddle. Adding Gaussian noise to the gradient
(``optim.NoisySGD``; Ge et al. 2015) pushes the iterate off the stable manifold, after which
the negative curvature along y amplifies the perturbation and the iterate falls into a minimum.
Every critical point is classified from the Hessian's extreme eigenvalues
(``autodiff.hessian.classify_critical_point``).

    python examples/strict_saddle.py [--steps 400] [--lr 0.05] [--noise 0.01] [--seed 0]
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import autodiff as ad
from autodiff import hessian as hs
from autodiff import optim

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def f(p: ad.Tensor) -> ad.Tensor:
    x, y = p[0], p[1]
    return x * x - y * y + y ** 4 / 4


def _run(start, steps: int, lr: float, noise: float | None, seed: int) -> tuple[np.ndarray, list]:
    """Iterate from ``start``; returns the final point and the path of (x, y)."""
    ad.manual_seed(seed)
    p = ad.tensor(np.asarray(start, dtype=np.float64), requires_grad=True)
    if noise is None:
        opt = optim.SGD([p], lr=lr)
    elif hasattr(optim, "NoisySGD"):
        opt = optim.NoisySGD([p], lr=lr, noise_std=noise)
    else:  # fallback: gradient + Gaussian noise written inline
        opt = None
        rng = np.random.default_rng(seed)
    path = [p.numpy().copy()]
    for _ in range(steps):
        loss = f(p)
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            (g,) = ad.grad(loss, [p])
            with ad.no_grad():
                p -= lr * (g + ad.tensor(noise * rng.standard_normal(2)))
        path.append(p.numpy().copy())
    return p.numpy().copy(), path


def classify(point) -> str:
    p = ad.tensor(np.asarray(point, dtype=np.float64), requires_grad=True)
    return hs.classify_critical_point(lambda: f(p), [p])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = C.parser(__doc__)
    ap.add_argument("--steps", type=int, default=400, help="iterations of each run")
    ap.add_argument("--lr", type=float, default=0.05, help="learning rate")
    ap.add_argument("--noise", type=float, default=0.01, help="gradient-noise std")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--quiet", action="store_true", help="print nothing")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    def fval(q) -> float:
        return float(f(ad.tensor(np.asarray(q, dtype=np.float64))).item())

    gd_saddle, _ = _run([0.0, 0.0], args.steps, args.lr, None, args.seed)
    gd_axis, _ = _run([1.0, 0.0], args.steps, args.lr, None, args.seed)
    noisy, path = _run([0.0, 0.0], args.steps, args.lr, args.noise, args.seed)
    ys = np.abs(np.array(path)[:, 1])
    escaped = np.nonzero(ys > 0.5)[0]
    escape_step = int(escaped[0]) if escaped.size else None

    say(f"GD from the saddle (0, 0):      ends at {np.round(gd_saddle, 6)}, f = "
        f"{fval(gd_saddle):.6f}")
    say(f"GD from (1, 0) (stable manifold): ends at {np.round(gd_axis, 6)}, f = "
        f"{fval(gd_axis):.6f}")
    say(f"noisy SGD from (0, 0):          ends at {np.round(noisy, 4)}, f = {fval(noisy):.6f}"
        f" (|y| > 0.5 from step {escape_step})")

    r2 = math.sqrt(2.0)
    kinds = {"(0, 0)": classify([0.0, 0.0]), "(0, +sqrt2)": classify([0.0, r2]),
             "(0, -sqrt2)": classify([0.0, -r2])}
    near = [0.0, math.copysign(r2, noisy[1])]
    kinds["noisy endpoint"] = classify(noisy)
    for k, v in kinds.items():
        say(f"  {k:>14}: {v}")
    origin = ad.tensor([0.0, 0.0], requires_grad=True, dtype=ad.float64)
    lo, hi = hs.extreme_eigenvalues(lambda: f(origin), [origin])
    say(f"Hessian eigenvalues at the saddle: {lo:.3f}, {hi:.3f}")
    return {"gd_final": gd_saddle, "gd_axis_final": gd_axis, "noisy_final": noisy,
            "f_gd": fval(gd_saddle), "f_noisy": fval(noisy), "escape_step": escape_step,
            "nearest_minimum": np.array(near), "classification": kinds,
            "saddle_eigenvalues": (lo, hi)}


if __name__ == "__main__":
    main()
