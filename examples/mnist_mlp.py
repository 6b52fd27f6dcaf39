"""Experiment 1: the MNIST MLP 784-100-10 (ReLU), SGD lr 0.01, batch 64, on autodiff.

Data: the 10k MNIST test set split into the first 8000 images for training and the last 2000
for testing (normalized with MNIST's mean/std, flattened). The loss is log-softmax + NLL
(``--loss nll``, as in the documents) or the fused cross-entropy on logits (``--loss ce``);
both give the same numbers. Prints the mean training loss and the train/test accuracy per epoch.

    python examples/mnist_mlp.py [--epochs 5 --n-train 8000 --data DIR]

The helpers (:func:`load_data`, :func:`train_epoch`, :func:`evaluate`, :func:`default_data_root`)
are reused by the optimizer comparison and the LR-finder/1cycle examples.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

import autodiff as ad
from autodiff.data.paths import default_data_root
from autodiff import nn, optim
from autodiff.data import DataLoader, TensorDataset, mnist_split, progress
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_mlp




def load_data(root: str | None, n_train: int = 8000, n_test: int = 2000):
    """(x_train, y_train, x_test, y_test) as NumPy arrays: the first ``n_train`` of the 8000
    training images and the last ``n_test`` of the 2000 test images."""
    s = mnist_split(root, n_train=8000)
    return (s.x_train[:n_train], s.y_train[:n_train], s.x_test[len(s.x_test) - n_test:],
            s.y_test[len(s.y_test) - n_test:])


def loss_function(kind: str) -> Callable:
    if kind == "nll":
        return lambda logits, y: F.nll_loss(F.log_softmax(logits, dim=1), y)
    if kind == "ce":
        return F.cross_entropy
    raise ValueError(f"unknown loss {kind!r} (use 'nll' or 'ce')")


def train_epoch(model: nn.Module, loader: DataLoader, opt: optim.Optimizer,
                loss_fn: Callable = F.cross_entropy, scheduler=None,
                losses: list | None = None, lrs: list | None = None) -> float:
    """One pass over ``loader``; returns the mean mini-batch loss (appends each batch's loss
    to ``losses`` and the learning rate it was trained with to ``lrs``)."""
    model.train()
    total, n = 0.0, 0
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if lrs is not None:
            lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if scheduler is not None:
            scheduler.step()
        v = loss.item()
        total += v
        n += 1
        if losses is not None:
            losses.append(v)
    return total / max(n, 1)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 4096) -> float:
    """Accuracy of ``model`` on arrays ``x``, ``y`` (eval mode, no tape)."""
    model.eval()
    correct = 0
    with ad.no_grad():
        for i in range(0, len(x), batch):
            out = model(ad.tensor(x[i:i + batch]))
            correct += int((out.numpy().argmax(axis=1) == y[i:i + batch]).sum())
    model.train()
    return correct / len(x)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_root(), help="MNIST directory (or AUTODIFF_DATA)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--loss", choices=["nll", "ce"], default="nll")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)

    ad.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_data(a.data, a.n_train)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=a.batch_size, shuffle=True,
                        seed=a.seed)
    model = mnist_mlp(a.hidden)
    opt = optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = loss_function(a.loss)
    print(model)
    print(f"train {len(xtr)}, test {len(xte)}, SGD lr {a.lr}, batch {a.batch_size}")
    history = []
    bar = progress(range(1, a.epochs + 1), desc="epochs", disable=a.quiet)
    for epoch in bar:
        t0 = time.perf_counter()
        loss = train_epoch(model, loader, opt, loss_fn)
        secs = time.perf_counter() - t0
        tr, te = evaluate(model, xtr, ytr), evaluate(model, xte, yte)
        history.append({"epoch": epoch, "loss": loss, "train_acc": tr, "test_acc": te,
                        "seconds": secs})
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=loss, test_acc=te)
        print(f"epoch {epoch}: loss {loss:.4f}  train acc {tr:.4f}  test acc {te:.4f}  "
              f"({secs:.2f}s)")
    last = history[-1] if history else {}
    return {"history": history, "loss": last.get("loss"), "train_acc": last.get("train_acc"),
            "test_acc": last.get("test_acc"), "model": model}


if __name__ == "__main__":
    main()
