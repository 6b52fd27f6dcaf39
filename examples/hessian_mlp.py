"""The top eigenvalue of the MNIST MLP's loss Hessian over training, and 2 / lambda_max vs the
learning rate.

The 784-100-10 ReLU MLP (``autodiff.nn.models.mnist_mlp``) is trained with plain SGD on MNIST
(the data of ``mnist_mlp.py``: by default the first 8000 images of the 10k test set, read in
place, never copied). At a few checkpoints the top Hessian eigenvalue of the cross-entropy loss
on a fixed subset of the training data is computed by Lanczos on Hessian-vector products
(``autodiff.hessian``; the Hessian, 79510^2 entries, is never formed), along with the curvature
along the gradient ``g^T H g / g^T g``. Gradient descent on the local quadratic model is stable
only for ``lr < 2 / lambda_max``; the script prints that bound next to the learning rate used
and plots lambda_max against the SGD steps.

    python examples/hessian_mlp.py [--data DIR] [--n-train 8000] [--epochs 2] [--lr 0.1]
                                   [--checkpoints 0 50 200 500] [--hvp-batch 1000]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import autodiff as ad
from autodiff import hessian as hs
from autodiff import optim
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_mlp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def cross_entropy(logits: ad.Tensor, labels: np.ndarray) -> ad.Tensor:
    """Mean cross-entropy of integer ``labels``."""
    return F.cross_entropy(logits, ad.tensor(labels, dtype=ad.int64))


def load_data(root: str | None, n_train: int | None, n_test: int | None, say=print):
    return C.mnist_data(root, True, n_train, n_test, say)


def plot(path: str | None, records: list[dict], lr: float, say=print) -> bool:
    """lambda_max and the curvature along the gradient against the SGD step, with 2 / lr."""
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 1, 1)
        steps = [r["step"] for r in records]
        ax.plot(steps, [r["lambda_max"] for r in records], marker="o", label="lambda_max")
        ax.plot(steps, [r["curvature_along_gradient"] for r in records], marker="s",
                label="g^T H g / g^T g")
        ax.axhline(2.0 / lr, color="red", linestyle="--", label=f"2 / lr = {2.0 / lr:g}")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("curvature")
        ax.legend()
    return C.figure(path, draw, say)


@C.exit_on_missing_data
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = C.parser(__doc__)
    C.add_mnist_args(ap, epochs=2.0, lr=0.1)
    ap.add_argument("--n-test", type=int, default=None,
                    help="test on the last N test images (default: all of the split)")
    ap.add_argument("--hidden", type=int, default=100, help="hidden units")
    ap.add_argument("--checkpoints", type=int, nargs="+", default=None,
                    help="SGD steps at which to measure (default: 0 and 5 more, log-spaced)")
    ap.add_argument("--hvp-batch", type=int, default=1000,
                    help="training examples in the loss whose Hessian is measured")
    ap.add_argument("--lanczos-steps", type=int, default=20, help="Lanczos iterations")
    ap.add_argument("--trace-samples", type=int, default=0,
                    help="Hutchinson samples for tr(H) at each checkpoint (0: skip)")
    C.add_run_args(ap, "hessian_mlp", plot="hessian_mlp.png")
    args = ap.parse_args(argv)
    rep = C.Reporter(args.quiet)

    data = load_data(C.data_root(args), args.n_train, args.n_test, rep.line)
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
    ckpt = C.Checkpoint("hessian_mlp", args, model=model, optimizer=opt, shuffle=rng)
    done = ckpt.load()
    records: list[dict[str, Any]] = done.get("records", [])
    rep.line(f"MLP 784-{args.hidden}-10, {len(xtr)} training images, SGD lr {args.lr}, batch "
             f"{args.batch_size}, {total} steps; Hessian of the loss on {len(hy)} images "
             f"({sum(p.numel() for p in params)} parameters)")
    rep.line(f"{'step':>6} {'loss':>8} {'acc':>6} {'lambda_max':>11} {'2/lambda':>9} "
             f"{'g^THg/g^Tg':>11}" + (f" {'trace':>9}" if args.trace_samples else "")
             + "  lr<2/lam")

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
        rep.line(f"{step:>6} {loss:>8.4f} {rec['train_acc']:>6.3f} {lam:>11.4f} "
                 f"{rec['max_stable_lr']:>9.4f} {curv:>11.4f}"
                 + (f" {tr:>9.2f}" if tr is not None else "")
                 + f"  {'yes' if args.lr < rec['max_stable_lr'] else 'NO'}")

    step, pos = done.get("step", 0), done.get("position", 0)
    perm = done["order"] if done else rng.permutation(len(xtr))
    if step == 0 and 0 in cps:
        measure(0)
    rep.start(step)
    bar = rep.bar(range(step, total), "SGD steps", total=total - step, unit="step")
    for _ in bar:
        if pos + args.batch_size > len(perm):
            perm, pos = rng.permutation(len(xtr)), 0
        idx = perm[pos:pos + args.batch_size]
        pos += args.batch_size
        loss = cross_entropy(model(ad.tensor(xtr[idx])), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        rep.tick(step, total, "step", after=20)
        if step in cps:
            measure(step)
        if step in cps or step == total:
            ckpt.save(step=step, position=pos, order=perm, records=records)
    test_acc = accuracy(xte, yte)
    rep.result(f"test accuracy {test_acc:.4f}; learning rate {args.lr} vs 2/lambda_max at the "
               f"end {records[-1]['max_stable_lr']:.4f}" if records else
               f"test accuracy {test_acc:.4f}")
    plot(args.plot, records, args.lr, say=rep.result)
    return {"records": records, "test_acc": test_acc, "lr": args.lr,
            "lambda_max": [r["lambda_max"] for r in records],
            "steps": [r["step"] for r in records]}


if __name__ == "__main__":
    main()
