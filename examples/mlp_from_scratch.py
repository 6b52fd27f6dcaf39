"""Experiment 1, second half: the MNIST MLP 784-100-10 written "from scratch" in NumPy.

Each layer is a class with ``forward`` (keeping what backward needs) and ``backward`` (taking
dL/d(output), storing parameter gradients and returning dL/d(input)), as in the documents:
``Linear`` (PyTorch layout: weight (out, in), y = x W^T + b), ``ReLU``, ``Softmax`` and
``CrossEntropy`` (mean over the batch of -log p[label]). Training is plain SGD, lr 0.01, batch 64.

:func:`engine_gradients` computes the same loss with autodiff on the same weights, so the
hand-written backward pass can be checked against the engine's (``compare_with_engine``).

    python examples/mlp_from_scratch.py [--epochs 1 --n-train 8000 --data DIR]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import autodiff as ad
from autodiff.data.paths import default_data_root
from autodiff.data import mnist_split


class Linear:
    """y = x W^T + b with W (out, in), initialised U(-1/sqrt(in), 1/sqrt(in)) like PyTorch."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator,
                 dtype=np.float32) -> None:
        bound = 1.0 / np.sqrt(n_in)
        self.W = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
        self.b = rng.uniform(-bound, bound, n_out).astype(dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.dW = grad.T @ self.x
        self.db = grad.sum(axis=0)
        return grad @ self.W

    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.W, self.dW), (self.b, self.db)]


class ReLU:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.where(self.mask, x, 0).astype(x.dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.mask

    def params(self) -> list:
        return []


class Softmax:
    """Row-wise softmax; backward is the Jacobian-vector product p * (g - sum(g * p))."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.p = e / e.sum(axis=1, keepdims=True)
        return self.p

    def backward(self, grad: np.ndarray) -> np.ndarray:
        p = self.p
        return p * (grad - (grad * p).sum(axis=1, keepdims=True))

    def params(self) -> list:
        return []


class CrossEntropy:
    """L = mean_i -log p[i, y_i] on probabilities; dL/dp[i, y_i] = -1 / (N p[i, y_i])."""

    eps = 1e-12

    def forward(self, p: np.ndarray, y: np.ndarray) -> float:
        self.p, self.y = p, y
        n = p.shape[0]
        return float(-np.log(p[np.arange(n), y] + self.eps).mean())

    def backward(self) -> np.ndarray:
        n = self.p.shape[0]
        g = np.zeros_like(self.p)
        g[np.arange(n), self.y] = -1.0 / (n * (self.p[np.arange(n), self.y] + self.eps))
        return g


class ScratchMLP:
    """Linear(784, hidden) -> ReLU -> Linear(hidden, 10) -> Softmax, with CrossEntropy."""

    def __init__(self, n_in: int = 784, hidden: int = 100, n_out: int = 10, seed: int = 0,
                 dtype=np.float32) -> None:
        rng = np.random.default_rng(seed)
        self.layers = [Linear(n_in, hidden, rng, dtype), ReLU(), Linear(hidden, n_out, rng, dtype),
                       Softmax()]
        self.loss = CrossEntropy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        loss = self.loss.forward(self.forward(x), y)
        g = self.loss.backward()
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return loss

    def sgd_step(self, lr: float) -> None:
        for layer in self.layers:
            for p, g in layer.params():
                p -= lr * g

    def weights(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2] (PyTorch layout, the order of ``nn.Sequential.parameters()``)."""
        return [self.layers[0].W, self.layers[0].b, self.layers[2].W, self.layers[2].b]

    def gradients(self) -> list[np.ndarray]:
        return [self.layers[0].dW, self.layers[0].db, self.layers[2].dW, self.layers[2].db]

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.forward(x).argmax(axis=1) == y).mean())


def engine_gradients(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    """(loss, [dW1, db1, dW2, db2]) of the same network computed with autodiff ops."""
    W1, b1, W2, b2 = (ad.tensor(w, requires_grad=True) for w in weights)
    h = ad.relu(ad.matmul(ad.tensor(x), W1.T) + b1)
    logits = ad.matmul(h, W2.T) + b2
    logp = ad.log_softmax(logits, axis=1)
    n = x.shape[0]
    loss = -ad.take_along_axis(logp, ad.tensor(y.reshape(n, 1)), axis=1).mean()
    loss.backward()
    return loss.item(), [t.grad.numpy() for t in (W1, b1, W2, b2)]


def compare_with_engine(model: ScratchMLP, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(max |loss diff|, max |grad diff|) between the hand-written and the engine's backward."""
    loss = model.loss_and_backward(x, y)
    eloss, egrads = engine_gradients(model.weights(), x, y)
    gdiff = max(float(np.abs(g - e).max()) for g, e in zip(model.gradients(), egrads))
    return abs(loss - eloss), gdiff




def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data_root(), help="MNIST directory (or AUTODIFF_DATA)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    s = mnist_split(a.data, n_train=8000)
    xtr, ytr = s.x_train[: a.n_train], s.y_train[: a.n_train]
    model = ScratchMLP(seed=a.seed)
    dloss, dgrad = compare_with_engine(model, xtr[:64], ytr[:64])
    print(f"hand-written backward vs autodiff on one batch: |loss diff| = {dloss:.2e}, "
          f"max |grad diff| = {dgrad:.2e}")
    rng = np.random.default_rng(a.seed)
    hist = []
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(len(xtr))
        total, nb = 0.0, 0
        for i in range(0, len(perm), a.batch_size):
            idx = perm[i:i + a.batch_size]
            total += model.loss_and_backward(xtr[idx], ytr[idx])
            model.sgd_step(a.lr)
            nb += 1
        tr, te = model.accuracy(xtr, ytr), model.accuracy(s.x_test, s.y_test)
        hist.append({"epoch": epoch, "loss": total / nb, "train_acc": tr, "test_acc": te})
        print(f"epoch {epoch}: loss {total / nb:.4f}  train acc {tr:.4f}  test acc {te:.4f}  "
              f"({time.perf_counter() - t0:.2f}s)")
    return {"history": hist, "loss_diff": dloss, "grad_diff": dgrad,
            "test_acc": hist[-1]["test_acc"] if hist else None}


if __name__ == "__main__":
    main()
