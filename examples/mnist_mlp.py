"""Experiment 1: the MNIST MLP 784-100-10 (ReLU), SGD lr 0.01, batch 64, on autodiff.

Data: MNIST's 60k training / 10k test sets when the training files are in the data folder,
otherwise the 10k test set split into the first 8000 images for training and the last 2000 for
testing (the default here; normalized with MNIST's mean/std, flattened). The loss is
log-softmax + NLL (``--loss nll``, as in the documents) or the fused cross-entropy on logits
(``--loss ce``); both give the same numbers. Prints the mean training loss and the train/test
accuracy per epoch (about 92% test accuracy after the default 5 epochs) and draws the curves.

    python examples/mnist_mlp.py [--epochs 5 --n-train 8000 --data DIR --save mlp.npz]
    python examples/mnist_mlp.py --loss ce --compile   # the step traced once, then replayed

The helpers (:func:`load_data`, :func:`train_epoch`, :func:`evaluate`) are reused by the
optimizer comparison and the LR-finder/1cycle examples.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

import autodiff as ad
from autodiff import nn, optim
from autodiff.data import DataLoader, TensorDataset
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_mlp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def load_data(root: str | None, n_train: int | None = None, n_test: int | None = None,
              say: Callable[[str], None] = lambda s: None):
    """(x_train, y_train, x_test, y_test) as NumPy arrays (flattened, normalized): the first
    ``n_train`` training and the last ``n_test`` test images of :func:`_common.mnist_data`."""
    return tuple(C.mnist_data(root, True, n_train, n_test, say))


def loss_function(kind: str) -> Callable:
    if kind == "nll":
        return lambda logits, y: F.nll_loss(F.log_softmax(logits, dim=1), y)
    if kind == "ce":
        return F.cross_entropy
    raise ValueError(f"unknown loss {kind!r} (use 'nll' or 'ce')")


def train_step(model: nn.Module, opt: optim.Optimizer,
               loss_fn: Callable = F.cross_entropy) -> Callable:
    """One SGD step as one function of a batch (what ``--compile`` compiles): zero_grad,
    forward, loss, backward, update. Returns (loss, logits) as Tensors."""
    def step(xb: ad.Tensor, yb: ad.Tensor) -> tuple:
        opt.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        opt.step()
        return loss, logits
    return step


def train_epoch(model: nn.Module, loader: Iterable, opt: optim.Optimizer,
                loss_fn: Callable = F.cross_entropy, scheduler=None,
                losses: list | None = None, lrs: list | None = None,
                step: Callable | None = None) -> float:
    """One pass over ``loader``; returns the mean mini-batch loss (appends each batch's loss
    to ``losses`` and the learning rate it was trained with to ``lrs``). ``step`` is the
    training step (default: :func:`train_step` of ``model``, ``opt``, ``loss_fn``; a
    :class:`_common.Step` under ``--compile``). When ``loader`` is a progress bar its postfix
    shows the running loss and training accuracy."""
    model.train()
    step = step or train_step(model, opt, loss_fn)
    postfix = getattr(loader, "set_postfix", None)
    total, correct, seen, n = 0.0, 0, 0, 0
    for xb, yb in loader:
        if lrs is not None:
            lrs.append(opt.param_groups[0]["lr"])
        loss, logits = step(xb, yb)
        if scheduler is not None:
            scheduler.step()
        v = loss.item()
        total += v
        n += 1
        if losses is not None:
            losses.append(v)
        if postfix is not None:
            correct += int((logits.numpy().argmax(axis=1) == yb.numpy()).sum())
            seen += len(yb)
            postfix(loss=f"{total / n:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
    return total / max(n, 1)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 4096,
             rep: C.Reporter | None = None, desc: str = "evaluate") -> float:
    """Accuracy of ``model`` on arrays ``x``, ``y`` (eval mode, no tape), with a progress bar
    when a reporter is given."""
    model.eval()
    correct = 0
    starts = range(0, len(x), batch)
    with ad.no_grad():
        for i in (rep.bar(starts, desc, unit="batch") if rep is not None else starts):
            out = model(ad.tensor(x[i:i + batch]))
            correct += int((out.numpy().argmax(axis=1) == y[i:i + batch]).sum())
    model.train()
    return correct / len(x)


@C.exit_on_missing_data
def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    C.add_mnist_args(ap, epochs=5, lr=0.01, momentum=0.0)
    ap.add_argument("--hidden", type=int, default=100, help="hidden units")
    ap.add_argument("--loss", choices=["nll", "ce"], default="nll",
                    help="log-softmax + NLL, or the fused cross-entropy")
    C.add_compile_arg(ap)
    C.add_run_args(ap, "mnist_mlp", plot="mnist_mlp.png")
    a = ap.parse_args(argv)
    rep = C.Reporter(a.quiet)

    ad.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_data(C.data_root(a), a.n_train, say=rep.line)
    shuffle = np.random.default_rng(a.seed)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=a.batch_size, shuffle=True,
                        generator=shuffle)
    model = mnist_mlp(a.hidden)
    opt = optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = loss_function(a.loss)
    step = C.Step(train_step(model, opt, loss_fn), a.compile)
    ckpt = C.Checkpoint("mnist_mlp", a, model=model, optimizer=opt, shuffle=shuffle)
    done = ckpt.load()
    history, losses = done.get("history", []), done.get("losses", [])
    rep.line(str(model))
    rep.line(f"train {len(xtr)}, test {len(xte)}, SGD lr {a.lr}, batch {a.batch_size}"
             + (f"; resumed from {a.resume} after epoch {len(history)}" if history else ""))
    rep.start(len(history))
    for epoch in range(len(history) + 1, a.epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, rep.bar(loader, f"epoch {epoch}/{a.epochs}"), opt, loss_fn,
                           losses=losses, step=step)
        secs = time.perf_counter() - t0
        tr, te = evaluate(model, xtr, ytr, rep=rep), evaluate(model, xte, yte, rep=rep)
        history.append({"epoch": epoch, "loss": loss, "train_acc": tr, "test_acc": te,
                        "seconds": secs})
        rep.line(f"epoch {epoch}/{a.epochs}: loss {loss:.4f}  train acc {tr:.4f}  "
                 f"test acc {te:.4f}  ({secs:.2f}s)")
        rep.tick(epoch, a.epochs, "epoch", after=1)
        ckpt.save(history=history, losses=losses)
    if step.compiled:
        rep.result(step.summary())
    last = history[-1] if history else {}
    if last:
        rep.result(f"after {last['epoch']} epochs: test accuracy {last['test_acc']:.4f} "
                   f"(train {last['train_acc']:.4f})")
        steps = len(losses) / max(len(history), 1)
        C.plot_run(a.plot, losses, {k: [(h["epoch"] * steps, h[k + "_acc"]) for h in history]
                                    for k in ("train", "test")}, say=rep.result)
    return {"history": history, "loss": last.get("loss"), "train_acc": last.get("train_acc"),
            "test_acc": last.get("test_acc"), "model": model, "losses": losses,
            "step": step}


if __name__ == "__main__":
    main()
