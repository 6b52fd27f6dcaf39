"""The small MNIST CNN ((conv5x5-ReLU-maxpool2) x 2, linear) on the shared MNIST split.

Data: the 10k MNIST test set (t10k idx files in ``../shared/data/mnist`` or ``$AUTODIFF_DATA``,
read in place, never copied) split into the first 8000 images for training and the last 2000
for testing, normalized with MNIST's mean/std. SGD with momentum 0.9, batch 64. Reports the test
accuracy after each epoch.

    python examples/mnist_cnn.py [--epochs 3 --n-train 8000 --lr 0.05 --data-dir DIR]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import autodiff as ad
from autodiff.data.paths import default_data_root
from autodiff import optim
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_cnn




def load_split(root: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First 8000 / last 2000 of MNIST t10k as float32 (N, 1, 28, 28) images and int labels."""
    from autodiff.data.mnist import mnist_split
    s = mnist_split(root, n_train=8000, flatten=False, download=False)
    return (s.x_train[:, None], s.y_train, s.x_test[:, None], s.y_test)


def cross_entropy(logits, y):
    fn = getattr(F, "cross_entropy", None)
    if fn is not None:
        return fn(logits, y)
    lp = ad.log_softmax(logits, axis=1)
    return -ad.mean(lp[np.arange(len(y)), y])


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    with ad.no_grad():
        for s in range(0, len(x), batch_size):
            correct += int((model(ad.tensor(x[s:s + batch_size])).numpy().argmax(1)
                            == y[s:s + batch_size]).sum())
    model.train()
    return correct / len(x)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--channels", type=int, nargs=2, default=(8, 16))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    ad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train, x_test, y_test = load_split(args.data_dir or default_data_root())
    x_train, y_train = x_train[:args.n_train], y_train[:args.n_train]
    model = mnist_cnn(tuple(args.channels))
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    print(f"MNIST CNN {tuple(args.channels)}: {model.num_parameters():,} parameters, "
          f"{len(x_train)} train / {len(x_test)} test images")
    losses, accs = [], []
    t0 = time.perf_counter()
    steps = 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        ep_loss, nb = 0.0, 0
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            loss = cross_entropy(model(ad.tensor(x_train[idx])), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            ep_loss += float(loss.item())
            nb += 1
            steps += 1
        acc = accuracy(model, x_test, y_test)
        losses.append(ep_loss / nb)
        accs.append(acc)
        print(f"epoch {epoch + 1}: train loss {ep_loss / nb:.4f}  test accuracy {acc:.4f}  "
              f"({(time.perf_counter() - t0) / steps * 1000:.1f} ms/step)")
    return {"train_losses": losses, "test_accuracies": accs, "test_acc": accs[-1]}


if __name__ == "__main__":
    main()
