"""Experiment 4: optimizers compared on the MNIST MLP 784-100-10.

Every optimizer starts from the same initial weights and sees the same mini-batches (batch 64):
SGD, SGD with momentum 0.9, Nesterov momentum, RMSprop, Adam, Adagrad and Adadelta, with the
learning rates commonly used for each. The per-batch loss is smoothed exponentially (beta 0.98,
bias-corrected as in the LR finder); the script prints a table of smoothed loss at several points
and the final test accuracy, and writes a PNG of the curves when matplotlib is installed.

    python examples/optimizer_comparison.py [--epochs 2 --n-train 8000 --plot optimizers.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import autodiff as ad  # noqa: E402
from autodiff import optim  # noqa: E402
from autodiff.data import DataLoader, TensorDataset, progress  # noqa: E402
from autodiff.nn import functional as F  # noqa: E402
from autodiff.nn.models import mnist_mlp  # noqa: E402

import mnist_mlp as exp1  # noqa: E402

OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.01),
    "Momentum": lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "RMSprop": lambda p: optim.RMSprop(p, lr=1e-3),
    "Adam": lambda p: optim.Adam(p, lr=1e-3),
    "Adagrad": lambda p: optim.Adagrad(p, lr=1e-2),
    "Adadelta": lambda p: optim.Adadelta(p, lr=1.0),
}


def smooth(values, beta: float = 0.98) -> list[float]:
    """Exponential moving average with bias correction."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** i))
    return out


def plot_curves(curves: dict[str, list[float]], path: str) -> bool:
    """Write the smoothed curves to ``path``; False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in curves.items():
        ax.plot(np.arange(1, len(c) + 1), c, label=name)
    ax.set_xlabel("mini-batch")
    ax.set_ylabel("smoothed training loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=exp1.default_data_root())
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help="comma-separated subset of " + ",".join(OPTIMIZERS))
    ap.add_argument("--plot", default="optimizer_comparison.png",
                    help="PNG path when matplotlib is installed ('' for none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown:
        ap.error(f"unknown optimizers {unknown}; choose from {list(OPTIMIZERS)}")

    xtr, ytr, xte, yte = exp1.load_data(a.data, a.n_train)
    ad.manual_seed(a.seed)
    init = {k: v.numpy().copy() for k, v in mnist_mlp().state_dict().items()}
    curves, results = {}, {}
    for name in progress(names, desc="optimizers", disable=a.quiet):
        model = mnist_mlp()
        model.load_state_dict({k: ad.tensor(v) for k, v in init.items()})
        opt = OPTIMIZERS[name](model.parameters())
        loader = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True, seed=a.seed)
        losses: list[float] = []
        t0 = time.perf_counter()
        for _ in range(a.epochs):
            exp1.train_epoch(model, loader, opt, F.cross_entropy, losses=losses)
        curves[name] = smooth(losses)
        results[name] = {"final_loss": curves[name][-1], "test_acc": exp1.evaluate(model, xte, yte),
                         "seconds": time.perf_counter() - t0,
                         "finite": bool(np.all(np.isfinite(losses)))}

    n = len(next(iter(curves.values())))
    marks = sorted({max(1, n * k // 4) for k in range(1, 5)})
    head = f"{'optimizer':>10} | " + " ".join(f"{'it ' + str(m):>9}" for m in marks)
    print("smoothed training loss (beta 0.98, bias-corrected)")
    print(head + f" | {'test acc':>8} {'time':>6}")
    for name in names:
        c = curves[name]
        print(f"{name:>10} | " + " ".join(f"{c[m - 1]:>9.4f}" for m in marks)
              + f" | {results[name]['test_acc']:>8.4f} {results[name]['seconds']:>5.1f}s")
    if a.plot and plot_curves(curves, a.plot):
        print(f"plot saved to {a.plot}")
    elif a.plot:
        print("(matplotlib is not installed: table only)")
    return {"results": results, "curves": curves}


if __name__ == "__main__":
    main()
