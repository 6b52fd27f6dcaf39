"""Experiment 1, second half: the MNIST MLP 784-100-10 written "from scratch" in NumPy.

Each layer is a class with ``forward`` (keeping what backward needs) and ``backward`` (taking
dL/d(output), storing parameter gradients and returning dL/d(input)), as in the documents:
``Linear`` (PyTorch layout: weight (out, in), y = x W^T + b), ``ReLU``, ``Softmax`` and
``CrossEntropy`` (mean over the batch of -log p[label]). Training is plain SGD, lr 0.01, batch 64.

:func:`engine_gradients` computes the same loss with autodiff on the same weights, so the
hand-written backward pass can be checked against the engine's (``compare_with_engine``).

The data are those of ``mnist_mlp.py`` (the 60k/10k split when the training files are there,
else the 10k test set split 8000/2000); about 92% test accuracy after the default 5 epochs.

    python examples/mlp_from_scratch.py [--epochs 5 --n-train 8000 --data DIR --save s.npz]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


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

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights under ``nn.Sequential``'s names (``0.weight`` ... ``2.bias``)."""
        names = ["0.weight", "0.bias", "2.weight", "2.bias"]
        return {k: w.copy() for k, w in zip(names, self.weights())}

    def load_state_dict(self, state: dict) -> None:
        for w, k in zip(self.weights(), ["0.weight", "0.bias", "2.weight", "2.bias"]):
            v = state[k]
            w[...] = v.numpy() if hasattr(v, "numpy") else v


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


@C.exit_on_missing_data
def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    C.add_mnist_args(ap, epochs=5, lr=0.01)
    C.add_run_args(ap, "mlp_from_scratch", plot="mlp_from_scratch.png")
    a = ap.parse_args(argv)
    rep = C.Reporter(a.quiet)
    s = C.mnist_data(C.data_root(a), True, a.n_train, say=rep.line)
    xtr, ytr = s.x_train, s.y_train
    model = ScratchMLP(seed=a.seed)
    dloss, dgrad = compare_with_engine(model, xtr[:64], ytr[:64])
    rep.result(f"hand-written backward vs autodiff on one batch: |loss diff| = {dloss:.2e}, "
               f"max |grad diff| = {dgrad:.2e}")
    rng = np.random.default_rng(a.seed)
    ckpt = C.Checkpoint("mlp_from_scratch", a, model=model, shuffle=rng)
    done = ckpt.load()
    hist, losses = done.get("history", []), done.get("losses", [])
    rep.start(len(hist))
    for epoch in range(len(hist) + 1, a.epochs + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(len(xtr))
        starts = range(0, len(perm), a.batch_size)
        bar = rep.bar(starts, f"epoch {epoch}/{a.epochs}")
        total, nb = 0.0, 0
        for i in bar:
            idx = perm[i:i + a.batch_size]
            loss = model.loss_and_backward(xtr[idx], ytr[idx])
            model.sgd_step(a.lr)
            losses.append(loss)
            total += loss
            nb += 1
            bar.set_postfix(loss=f"{total / nb:.4f}", refresh=False)
        tr, te = model.accuracy(xtr, ytr), model.accuracy(s.x_test, s.y_test)
        hist.append({"epoch": epoch, "loss": total / nb, "train_acc": tr, "test_acc": te})
        rep.line(f"epoch {epoch}/{a.epochs}: loss {total / nb:.4f}  train acc {tr:.4f}  "
                 f"test acc {te:.4f}  ({time.perf_counter() - t0:.2f}s)")
        rep.tick(epoch, a.epochs, "epoch", after=1)
        ckpt.save(history=hist, losses=losses)
    if hist:
        rep.result(f"after {hist[-1]['epoch']} epochs: test accuracy {hist[-1]['test_acc']:.4f}")
        per = len(losses) / len(hist)
        C.plot_run(a.plot, losses, {k: [(h["epoch"] * per, h[k + "_acc"]) for h in hist]
                                    for k in ("train", "test")}, say=rep.result)
    return {"history": hist, "loss_diff": dloss, "grad_diff": dgrad,
            "test_acc": hist[-1]["test_acc"] if hist else None, "model": model}


if __name__ == "__main__":
    main()
