"""Experiment 8: class imbalance (90/10).

Two overlapping Gaussian classes in ``--dim`` dimensions, 90% of the samples in class 0 and 10%
in class 1 (the same ratio in the training and the test set). The trivial classifier that always
answers "class 0" scores 90% accuracy and 0% recall on the minority class. A small MLP trained
with the plain cross-entropy learns the prior and still misses many minority samples; two fixes
raise the minority recall (at some cost in majority recall):

* a class-weighted loss, ``F.cross_entropy(..., weight=w)`` with w_c = N / (C * count_c);
* a class-balanced sampler (``autodiff.data.class_balanced_sampler``) that draws both classes
  equally often.

Balanced accuracy (mean per-class recall) shows the improvement that plain accuracy hides.

    python examples/class_imbalance.py [--n 4000 --epochs 20]
"""
from __future__ import annotations

import argparse

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.data import DataLoader, TensorDataset, class_balanced_sampler
from autodiff.nn import functional as F


def make_data(n: int, dim: int = 2, minority: float = 0.1, sep: float = 1.5,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points: class 1 (a ``minority`` fraction) is N(sep/sqrt(dim) * 1, I), class 0 N(0, I)."""
    g = np.random.default_rng(seed)
    n1 = int(round(n * minority))
    y = np.concatenate([np.zeros(n - n1, np.int64), np.ones(n1, np.int64)])
    x = g.standard_normal((n, dim)).astype(np.float32)
    x[y == 1] += sep / np.sqrt(dim)
    perm = g.permutation(n)
    return x[perm], y[perm]


def metrics(pred: np.ndarray, y: np.ndarray) -> dict:
    rec = [float((pred[y == c] == c).mean()) for c in (0, 1)]
    return {"accuracy": float((pred == y).mean()), "recall_majority": rec[0],
            "recall_minority": rec[1], "balanced_accuracy": (rec[0] + rec[1]) / 2}


def train(x: np.ndarray, y: np.ndarray, mode: str, epochs: int, batch: int, lr: float,
          seed: int) -> nn.Module:
    """mode: 'plain', 'weighted' (class-weighted loss) or 'sampler' (balanced sampler)."""
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=lr)
    ds = TensorDataset(x, y)
    if mode == "sampler":
        loader = DataLoader(ds, batch, sampler=class_balanced_sampler(y, seed=seed))
    else:
        loader = DataLoader(ds, batch, shuffle=True, seed=seed)
    weight = None
    if mode == "weighted":
        counts = np.bincount(y, minlength=2)
        weight = ad.tensor((len(y) / (2 * counts)).astype(np.float32))
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb, weight=weight)
            loss.backward()
            opt.step()
    return model


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with ad.no_grad():
        return model(ad.tensor(x)).numpy().argmax(axis=1)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="training (and test) set size")
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--sep", type=float, default=1.5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    xtr, ytr = make_data(a.n, a.dim, sep=a.sep, seed=a.seed)
    xte, yte = make_data(a.n, a.dim, sep=a.sep, seed=a.seed + 1)
    print(f"training set: {np.bincount(ytr).tolist()} samples per class; "
          f"test set: {np.bincount(yte).tolist()}")
    out = {"trivial": metrics(np.zeros_like(yte), yte)}
    for mode in ("plain", "weighted", "sampler"):
        model = train(xtr, ytr, mode, a.epochs, a.batch_size, a.lr, a.seed)
        out[mode] = metrics(predict(model, xte), yte)
    labels = {"trivial": "always class 0", "plain": "cross-entropy",
              "weighted": "weighted cross-entropy", "sampler": "class-balanced sampler"}
    print(f"{'classifier':>24} | {'accuracy':>8} {'recall 0':>8} {'recall 1':>8} "
          f"{'balanced':>8}")
    for k, m in out.items():
        print(f"{labels[k]:>24} | {m['accuracy']:>8.4f} {m['recall_majority']:>8.4f} "
              f"{m['recall_minority']:>8.4f} {m['balanced_accuracy']:>8.4f}")
    return out


if __name__ == "__main__":
    main()
