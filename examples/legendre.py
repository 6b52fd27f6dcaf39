"""The documents' custom-function example: fit y = sin(x) with y = a + b * P3(c + d x).

P3(x) = (5x^3 - 3x) / 2 is a custom ``ad.Function`` whose backward is written by hand
(grad * 1.5 * (5x^2 - 1)), saving its input with ``ctx.save_for_backward``. Plain gradient
descent, learning rate 5e-6, 2000 steps, under ``no_grad``.

The loss curve is written to ``--plot`` (a PNG, when matplotlib is installed); ``--save`` and
``--resume`` keep the four coefficients and the step count between runs.

    python examples/legendre.py
    python examples/legendre.py --graph graph.svg   # the recorded graph of the loss (Graphviz)
    python examples/legendre.py --compile           # the step through autodiff.compile
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Callable

import autodiff as ad

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


class LegendrePolynomial3(ad.Function):
    """P3(x) = 0.5 * (5 x^3 - 3 x); the backward uses Tensor ops, so it differentiates again."""

    @staticmethod
    def forward(ctx, x: ad.Tensor) -> ad.Tensor:
        ctx.save_for_backward(x)
        return 0.5 * (5 * x ** 3 - 3 * x)

    @staticmethod
    def backward(ctx, grad_output: ad.Tensor) -> ad.Tensor:
        (x,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * x ** 2 - 1)


def coefficients() -> C.Params:
    """a, b, c, d of y = a + b * P3(c + d x), from the documents' starting point."""
    return C.Params(**{k: ad.tensor(v, requires_grad=True)
                       for k, v in (("a", 0.0), ("b", -1.0), ("c", 0.0), ("d", 0.3))})


def gd_step(coeffs: C.Params, x: ad.Tensor, y: ad.Tensor) -> Callable[[float], ad.Tensor]:
    """One gradient-descent step as one function (what ``--compile`` compiles): ``step(lr)``
    computes the loss, its gradient and the update of a, b, c, d, and returns the loss (before
    the update) as a Tensor."""
    a, b, c, d = (coeffs.tensors[k] for k in "abcd")
    P3 = LegendrePolynomial3.apply

    def step(lr: float) -> ad.Tensor:
        y_pred = a + b * P3(c + d * x)
        loss = ((y_pred - y) ** 2).sum()
        loss.backward()
        with ad.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
        return loss
    return step


def fit(steps: int = 2000, lr: float = 5e-6, log_every: int = 100, verbose: bool = True,
        graph: str | None = None, coeffs: C.Params | None = None, start: int = 0,
        history: list | None = None, on_log: Callable[[int, list], None] | None = None,
        compile: bool = False) -> dict:
    """Gradient descent from step ``start`` to ``steps`` on ``coeffs`` (fresh ones by
    default); ``on_log(step, history)`` runs every ``log_every`` steps; ``compile``: the step
    through ``autodiff.compile`` (``result["step"]`` says how it ran)."""
    x = ad.linspace(-math.pi, math.pi, 2000)
    y = ad.sin(x)
    coeffs = coeffs or coefficients()
    a, b, c, d = (coeffs.tensors[k] for k in "abcd")
    P3 = LegendrePolynomial3.apply
    step = C.Step(gd_step(coeffs, x, y), compile)
    history = [] if history is None else history
    for t in range(start, steps):
        loss = step(lr)
        if t % log_every == log_every - 1:
            history.append((t + 1, loss.item()))
            if verbose:
                print(f"step {t + 1:5d}  loss {loss.item():.4f}")
        if on_log is not None and t % log_every == log_every - 1:
            on_log(t + 1, history)
    final_loss = ((a + b * P3(c + d * x) - y) ** 2).sum()
    final = final_loss.item()
    result = {"a": a.item(), "b": b.item(), "c": c.item(), "d": d.item(), "loss": final,
              "history": history, "step": step}
    if verbose and step.compiled:
        print(step.summary())
    if verbose:
        print(f"Result: y = {result['a']:.4f} + {result['b']:.4f} * "
              f"P3({result['c']:.4f} + {result['d']:.4f} x)   (loss {final:.4f})")
    if graph:
        result["graph"] = write_graph(final_loss, dict(a=a, b=b, c=c, d=d), graph)
    return result


def write_graph(loss: ad.Tensor, params: dict, path: str) -> str | None:
    """Draw the tape behind ``loss`` to ``path``; DOT text instead when Graphviz cannot render."""
    try:
        from autodiff.viz import make_dot, save_graph
        written = save_graph(make_dot(loss, params=params, show_saved=True), path)
    except (ImportError, ValueError) as e:
        print(f"--graph: {e}")
        return None
    if str(written) != str(path):
        print(f"--graph: the Graphviz 'dot' program is not installed, so the graph was written as "
              f"DOT text to {written} (render it with: dot -T{Path(path).suffix[1:]} "
              f"{written} -o {path})")
    else:
        print(f"--graph: wrote {written}")
    return str(written)


def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    p.add_argument("--steps", type=int, default=2000, help="gradient-descent steps")
    p.add_argument("--lr", type=float, default=5e-6, help="learning rate")
    p.add_argument("--graph", metavar="PATH", default=None,
                   help="after training, draw the recorded graph of the loss to PATH (.svg, "
                        ".png, .pdf need the Graphviz 'dot' program; without it, or for .dot, "
                        "DOT text is written)")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="write the coefficients and the step count to PATH every 100 steps")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the fit saved in PATH up to --steps")
    p.add_argument("--plot", metavar="PATH", default="legendre.png",
                   help="PNG of the loss curve when matplotlib is installed ('' for none)")
    C.add_compile_arg(p)
    args = p.parse_args(argv)
    coeffs = coefficients()
    ckpt = C.Checkpoint("legendre", args, coefficients=coeffs)
    done = ckpt.load()
    history = [tuple(h) for h in done.get("history", [])]
    result = fit(args.steps, args.lr, graph=args.graph, coeffs=coeffs,
                 start=done.get("step", 0), history=history,
                 on_log=lambda step, hist: ckpt.save(step=step, history=hist),
                 compile=args.compile)
    ckpt.save(step=max(args.steps, done.get("step", 0)), history=history)
    if history:
        steps, losses = zip(*history)
        C.figure(args.plot, lambda fig: _draw_loss(fig, steps, losses))
    return result


def _draw_loss(fig, steps, losses) -> None:
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, losses, marker=".")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("sum of squared errors")
    ax.set_title("y = a + b P3(c + d x) fitted to sin(x)")


if __name__ == "__main__":
    main()
