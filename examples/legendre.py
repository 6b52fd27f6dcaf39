"""The documents' custom-function example: fit y = sin(x) with y = a + b * P3(c + d x).

P3(x) = (5x^3 - 3x) / 2 is a custom ``ad.Function`` whose backward is written by hand
(grad * 1.5 * (5x^2 - 1)), saving its input with ``ctx.save_for_backward``. Plain gradient
descent, learning rate 5e-6, 2000 steps, under ``no_grad``.

    python examples/legendre.py
    python examples/legendre.py --graph graph.svg   # the recorded graph of the loss (Graphviz)
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import autodiff as ad


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


def fit(steps: int = 2000, lr: float = 5e-6, log_every: int = 100, verbose: bool = True,
        graph: str | None = None) -> dict:
    x = ad.linspace(-math.pi, math.pi, 2000)
    y = ad.sin(x)
    a = ad.tensor(0.0, requires_grad=True)
    b = ad.tensor(-1.0, requires_grad=True)
    c = ad.tensor(0.0, requires_grad=True)
    d = ad.tensor(0.3, requires_grad=True)
    P3 = LegendrePolynomial3.apply
    history = []
    for t in range(steps):
        y_pred = a + b * P3(c + d * x)
        loss = ((y_pred - y) ** 2).sum()
        if t % log_every == log_every - 1:
            history.append((t + 1, loss.item()))
            if verbose:
                print(f"step {t + 1:5d}  loss {loss.item():.4f}")
        loss.backward()
        with ad.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
    final_loss = ((a + b * P3(c + d * x) - y) ** 2).sum()
    final = final_loss.item()
    result = {"a": a.item(), "b": b.item(), "c": c.item(), "d": d.item(), "loss": final,
              "history": history}
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=5e-6)
    p.add_argument("--graph", metavar="PATH", default=None,
                   help="after training, draw the recorded graph of the loss to PATH (.svg, "
                        ".png, .pdf need the Graphviz 'dot' program; without it, or for .dot, "
                        "DOT text is written) (default: no graph)")
    args = p.parse_args(argv)
    return fit(args.steps, args.lr, graph=args.graph)


if __name__ == "__main__":
    main()
