"""Experiment 4: optimizers compared on the MNIST MLP 784-100-10.

Every optimizer starts from the same initial weights and sees the same mini-batches (batch 64):
SGD, SGD with momentum 0.9, Nesterov momentum, RMSprop, Adam, Adagrad and Adadelta, with the
learning rates commonly used for each. The per-batch loss is smoothed exponentially (beta 0.98,
bias-corrected as in the LR finder); the script prints a table of smoothed loss at several points
and the final test accuracy, and writes a PNG of the curves when matplotlib is installed.

    python examples/optimizer_comparison.py [--epochs 2 --n-train 8000 --plot optimizers.png]

With ``--save``/``--resume`` all seven runs are checkpointed together after every epoch.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data import DataLoader, TensorDataset
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_mlp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
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


@C.exit_on_missing_data
def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    C.add_mnist_args(ap, epochs=2)
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                    help="comma-separated subset of " + ",".join(OPTIMIZERS))
    C.add_run_args(ap, "optimizer_comparison", plot="optimizer_comparison.png")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown:
        ap.error(f"unknown optimizers {unknown}; choose from {list(OPTIMIZERS)}")
    rep = C.Reporter(a.quiet)

    xtr, ytr, xte, yte = exp1.load_data(C.data_root(a), a.n_train, say=rep.line)
    ad.manual_seed(a.seed)
    init = {k: v.numpy().copy() for k, v in mnist_mlp().state_dict().items()}
    runs, objects = {}, {}
    for name in names:      # same initial weights, same batches (one shuffle stream each)
        model = mnist_mlp()
        model.load_state_dict({k: ad.tensor(v) for k, v in init.items()})
        opt = OPTIMIZERS[name](model.parameters())
        shuffle = np.random.default_rng(a.seed)
        loader = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True,
                            generator=shuffle)
        runs[name] = (model, opt, loader)
        objects.update({f"{name}.model": model, f"{name}.optimizer": opt,
                        f"{name}.shuffle": shuffle})
    ckpt = C.Checkpoint("optimizer_comparison", a, **objects)
    done = ckpt.load()
    losses = done.get("losses", {n: [] for n in names})
    seconds = done.get("seconds", {n: 0.0 for n in names})
    first = done.get("epoch", 0) + 1
    rep.start(first - 1)
    for epoch in range(first, a.epochs + 1):
        for name, (model, opt, loader) in runs.items():
            t0 = time.perf_counter()
            exp1.train_epoch(model, rep.bar(loader, f"epoch {epoch}/{a.epochs} {name}"), opt,
                             F.cross_entropy, losses=losses[name])
            seconds[name] += time.perf_counter() - t0
        rep.line(f"epoch {epoch}/{a.epochs}: smoothed loss "
                 + ", ".join(f"{n} {smooth(losses[n])[-1]:.4f}" for n in names))
        rep.tick(epoch, a.epochs, "epoch", after=1)
        ckpt.save(epoch=epoch, losses=losses, seconds=seconds)

    curves = {name: smooth(losses[name]) for name in names}
    results = {name: {"final_loss": curves[name][-1] if curves[name] else None,
                      "test_acc": exp1.evaluate(runs[name][0], xte, yte),
                      "seconds": seconds[name],
                      "finite": bool(np.all(np.isfinite(losses[name])))} for name in names}
    n = len(next(iter(curves.values())))
    marks = sorted({max(1, n * k // 4) for k in range(1, 5)})
    head = f"{'optimizer':>10} | " + " ".join(f"{'it ' + str(m):>9}" for m in marks)
    rep.result("smoothed training loss (beta 0.98, bias-corrected)")
    rep.result(head + f" | {'test acc':>8} {'time':>6}")
    for name in names:
        c = curves[name]
        rep.result(f"{name:>10} | " + " ".join(f"{c[m - 1]:>9.4f}" for m in marks)
                   + f" | {results[name]['test_acc']:>8.4f} {results[name]['seconds']:>5.1f}s")
    C.plot_curves(a.plot, curves, "mini-batch", "smoothed training loss", logy=True,
                  say=rep.result)
    return {"results": results, "curves": curves}


if __name__ == "__main__":
    main()
