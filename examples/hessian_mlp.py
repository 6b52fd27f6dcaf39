"""The top eigenvalue of the MNIST MLP's loss Hessian over training, and 2 / lambda_max vs the
learning rate.

The 784-100-10 ReLU MLP (``autodiff.nn.models.mnist_mlp``) is trained with plain SGD on the
shared MNIST split (the first ``--n-train`` images of the 10k test set; never copied). At a few
checkpoints the top Hessian eigenvalue of the cross-entropy loss on a fixed subset of the
training data is computed by Lanczos on Hessian-vector products (``autodiff.hessian``; the
Hessian, 79510^2 entries, is never formed), along with the curvature along the gradient
``g^T H g / g^T g``. Gradient descent on the local quadratic model is stable only for
``lr < 2 / lambda_max``; the script prints that bound next to the learning rate used.

    python examples/hessian_mlp.py [--data DIR] [--n-train 8000] [--epochs 2] [--lr 0.1]
                                   [--checkpoints 0 50 200 500] [--hvp-batch 1000]
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

import numpy as np

import autodiff as ad
from autodiff.data.paths import default_data_root
from autodiff import hessian as hs
from autodiff import optim



def cross_entropy(logits: ad.Tensor, labels: np.ndarray) -> ad.Tensor:
    """Mean cross-entropy of integer ``labels`` (``F.cross_entropy`` when it exists)."""
    from autodiff.nn import functional as F
    if hasattr(F, "cross_entropy"):
        return F.cross_entropy(logits, ad.tensor(labels, dtype=ad.int64))
    lp = ad.log_softmax(logits, axis=1)
    picked = ad.take_along_axis(lp, ad.tensor(labels.reshape(-1, 1), dtype=ad.int64), axis=1)
    return -picked.mean()


def load_data(root: str | None, n_train: int, n_test: int):
    from autodiff.data.mnist import mnist_split
    if root is None:
        root = default_data_root()
    return mnist_split(root, n_train=n_train, n_test=n_test)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=str, default=None,
                    help="directory holding the MNIST files (default ../shared/data or "
                         "$AUTODIFF_DATA)")
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--checkpoints", type=int, nargs="+", default=None,
                    help="SGD steps at which to measure (default: 0 and 5 more, log-spaced)")
    ap.add_argument("--hvp-batch", type=int, default=1000,
                    help="training examples in the loss whose Hessian is measured")
    ap.add_argument("--lanczos-steps", type=int, default=20)
    ap.add_argument("--trace-samples", type=int, default=0,
                    help="Hutchinson samples for tr(H) at each checkpoint (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    from autodiff.nn.models import mnist_mlp

    data = load_data(args.data, args.n_train, args.n_test)
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    ad.manual_seed(args.seed)
    model = mnist_mlp(hidden=args.hidden)
    params = list(model.parameters())
    opt = optim.SGD(params, lr=args.lr)
    steps_per_epoch = max(1, len(xtr) // args.batch_size)
    total = max(1, int(round(args.epochs * steps_per_epoch)))
    if args.checkpoints is None:
        cps = sorted({0, *np.unique(np.geomspace(10, total, 5).astype(int)).tolist()})
    else:
        cps = sorted({c for c in args.checkpoints if 0 <= c <= total})
    hx = ad.tensor(xtr[:args.hvp_batch])
    hy = ytr[:args.hvp_batch]

    def closure() -> ad.Tensor:
        return cross_entropy(model(hx), hy)

    def accuracy(x, y) -> float:
        with ad.no_grad():
            return float(np.mean(model(ad.tensor(x)).numpy().argmax(1) == y))

    rng = np.random.default_rng(args.seed)
    records: list[dict[str, Any]] = []
    say(f"MLP 784-{args.hidden}-10, {len(xtr)} training images, SGD lr {args.lr}, batch "
        f"{args.batch_size}, {total} steps; Hessian of the loss on {len(hy)} images "
        f"({sum(p.numel() for p in params)} parameters)")
    say(f"{'step':>6} {'loss':>8} {'acc':>6} {'lambda_max':>11} {'2/lambda':>9} "
        f"{'g^THg/g^Tg':>11}" + (f" {'trace':>9}" if args.trace_samples else "") + "  lr<2/lam")

    def measure(step: int) -> None:
        t0 = time.perf_counter()
        vals, _ = hs.eigenvalues(closure, params, k=1, method="lanczos",
                                 iters=args.lanczos_steps, tol=1e-3, seed=args.seed)
        lam = float(vals[0])
        curv = hs.curvature_along_gradient(closure, params)
        tr = hs.trace(closure, params, args.trace_samples) if args.trace_samples else None
        with ad.no_grad():
            loss = closure().item()
        rec = {"step": step, "loss": loss, "train_acc": accuracy(xtr, ytr), "lambda_max": lam,
               "max_stable_lr": 2.0 / lam if lam > 0 else float("inf"),
               "curvature_along_gradient": curv, "trace": tr,
               "seconds": time.perf_counter() - t0}
        records.append(rec)
        say(f"{step:>6} {loss:>8.4f} {rec['train_acc']:>6.3f} {lam:>11.4f} "
            f"{rec['max_stable_lr']:>9.4f} {curv:>11.4f}"
            + (f" {tr:>9.2f}" if tr is not None else "")
            + f"  {'yes' if args.lr < rec['max_stable_lr'] else 'NO'}")

    step, perm, pos = 0, rng.permutation(len(xtr)), 0
    if 0 in cps:
        measure(0)
    while step < total:
        if pos + args.batch_size > len(perm):
            perm, pos = rng.permutation(len(xtr)), 0
        idx = perm[pos:pos + args.batch_size]
        pos += args.batch_size
        loss = cross_entropy(model(ad.tensor(xtr[idx])), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step in cps:
            measure(step)
    test_acc = accuracy(xte, yte)
    say(f"test accuracy {test_acc:.4f}; learning rate {args.lr} vs 2/lambda_max at the end "
        f"{records[-1]['max_stable_lr']:.4f}")
    return {"records": records, "test_acc": test_acc, "lr": args.lr,
            "lambda_max": [r["lambda_max"] for r in records],
            "steps": [r["step"] for r in records]}


if __name__ == "__main__":
    main()
