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
The data are generated; ``--save``/``--resume`` checkpoint the three runs together.

    python examples/class_imbalance.py [--n 4000 --epochs 20]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.data import DataLoader, TensorDataset, class_balanced_sampler
from autodiff.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MODES = ("plain", "weighted", "sampler")


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


class Run:
    """One of the three trainings: mode 'plain', 'weighted' (class-weighted loss) or 'sampler'
    (class-balanced sampler); the same initial weights (``seed``) for each. Epoch ``e`` draws
    its order from the seed ``(seed, e)``, so a resumed run needs no sampler state."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mode: str, batch: int, lr: float,
                 seed: int) -> None:
        ad.manual_seed(seed)
        self.model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
        self.opt = optim.Adam(self.model.parameters(), lr=lr)
        self.ds, self.y, self.mode = TensorDataset(x, y), y, mode
        self.batch, self.seed = batch, seed
        self.weight = None
        if mode == "weighted":
            counts = np.bincount(y, minlength=2)
            self.weight = ad.tensor((len(y) / (2 * counts)).astype(np.float32))

    def loader(self, epoch: int) -> DataLoader:
        seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        if self.mode == "sampler":
            return DataLoader(self.ds, self.batch, sampler=class_balanced_sampler(self.y,
                                                                                 seed=seed))
        return DataLoader(self.ds, self.batch, shuffle=True, seed=seed)

    def epoch(self, epoch: int, wrap=lambda loader: loader) -> None:
        for xb, yb in wrap(self.loader(epoch)):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(xb), yb, weight=self.weight)
            loss.backward()
            self.opt.step()


def train(x: np.ndarray, y: np.ndarray, mode: str, epochs: int, batch: int, lr: float,
          seed: int) -> nn.Module:
    """A model trained for ``epochs`` in ``mode`` (see :class:`Run`)."""
    run = Run(x, y, mode, batch, lr, seed)
    for epoch in range(1, epochs + 1):
        run.epoch(epoch)
    return run.model


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with ad.no_grad():
        return model(ad.tensor(x)).numpy().argmax(axis=1)


def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    ap.add_argument("--n", type=int, default=4000, help="training (and test) set size")
    ap.add_argument("--dim", type=int, default=2, help="input dimensions")
    ap.add_argument("--sep", type=float, default=1.5, help="distance between the class means")
    ap.add_argument("--epochs", type=int, default=20, help="passes over the training set")
    ap.add_argument("--batch-size", type=int, default=64, help="mini-batch size")
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    C.add_run_args(ap, "class_imbalance")
    a = ap.parse_args(argv)
    rep = C.Reporter(a.quiet)
    xtr, ytr = make_data(a.n, a.dim, sep=a.sep, seed=a.seed)
    xte, yte = make_data(a.n, a.dim, sep=a.sep, seed=a.seed + 1)
    rep.line(f"generated data: training set {np.bincount(ytr).tolist()} samples per class; "
             f"test set: {np.bincount(yte).tolist()}")
    runs = {mode: Run(xtr, ytr, mode, a.batch_size, a.lr, a.seed) for mode in MODES}
    objects = {}
    for mode, r in runs.items():
        objects.update({f"{mode}.model": r.model, f"{mode}.optimizer": r.opt})
    ckpt = C.Checkpoint("class_imbalance", a, **objects)
    first = ckpt.load().get("epoch", 0) + 1
    for epoch in range(first, a.epochs + 1):
        for mode, r in runs.items():
            r.epoch(epoch, lambda loader: rep.bar(loader, f"epoch {epoch}/{a.epochs} {mode}"))
        ckpt.save(epoch=epoch)
    out = {"trivial": metrics(np.zeros_like(yte), yte)}
    out.update({mode: metrics(predict(r.model, xte), yte) for mode, r in runs.items()})
    labels = {"trivial": "always class 0", "plain": "cross-entropy",
              "weighted": "weighted cross-entropy", "sampler": "class-balanced sampler"}
    rep.result(f"{'classifier':>24} | {'accuracy':>8} {'recall 0':>8} {'recall 1':>8} "
               f"{'balanced':>8}")
    for k, m in out.items():
        rep.result(f"{labels[k]:>24} | {m['accuracy']:>8.4f} {m['recall_majority']:>8.4f} "
                   f"{m['recall_minority']:>8.4f} {m['balanced_accuracy']:>8.4f}")
    return out


if __name__ == "__main__":
    main()
