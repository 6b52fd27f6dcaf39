"""Experiment 5: the LR range test, then 1cycle training of the MNIST MLP.

1. ``optim.find_lr``: over (at most) one epoch the LR grows geometrically from 1e-8 to 10, one
   step per mini-batch; the bias-corrected smoothed loss (beta 0.98) is tracked until it exceeds
   4x its best. The suggested LR is ten times below the LR at the minimum. The model's and the
   optimizer's states are restored afterwards.
2. ``OneCycleLR`` with that LR as ``max_lr``: a linear warm-up from max_lr/25, back down, then
   annihilation to max_lr/(25*1e4) (``three_phase``), momentum 0.95 -> 0.85 -> 0.95, SGD.
3. For comparison, plain SGD at the documents' constant lr 0.01 for the same number of epochs.

    python examples/lr_finder_1cycle.py [--epochs 3 --n-train 8000 --data DIR --plot lr.png]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import autodiff as ad  # noqa: E402
from autodiff import optim  # noqa: E402
from autodiff.data import DataLoader, TensorDataset  # noqa: E402
from autodiff.nn import functional as F  # noqa: E402
from autodiff.nn.models import mnist_mlp  # noqa: E402

import mnist_mlp as exp1  # noqa: E402


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=exp1.default_data_root())
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--start-lr", type=float, default=1e-8)
    ap.add_argument("--end-lr", type=float, default=10.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--plot", default="lr_finder.png",
                    help="PNG of the range test when matplotlib is installed ('' for none)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    ad.manual_seed(a.seed)
    xtr, ytr, xte, yte = exp1.load_data(a.data, a.n_train)
    loader = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True, seed=a.seed)
    model = mnist_mlp()
    init = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=a.start_lr, momentum=a.momentum)

    res = optim.find_lr(model, opt, F.cross_entropy, loader, start_lr=a.start_lr,
                        end_lr=a.end_lr)
    restored = all((model.state_dict()[k].numpy() == v).all() for k, v in init.items())
    print(f"LR range test: {len(res.lrs)} batches, LR {res.lrs[0]:.1e} -> {res.lrs[-1]:.2e}; "
          f"minimum smoothed loss {min(res.losses):.4f} at lr {res.best_lr:.3e}")
    print(f"suggested LR (10x below the minimum): {res.suggested_lr:.3e}; weights restored: "
          f"{restored}")
    print(f"{'lr':>10} {'smoothed loss':>14}")
    step = max(1, len(res.lrs) // 12)
    for lr, loss in list(zip(res.lrs, res.losses))[::step]:
        print(f"{lr:>10.2e} {loss:>14.4f}")
    if a.plot and _have_matplotlib():
        res.plot(path=a.plot)
        print(f"plot saved to {a.plot}")

    max_lr = res.suggested_lr
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, epochs=a.epochs,
                                          steps_per_epoch=len(loader), three_phase=True,
                                          anneal_strategy="linear")
    hist, used = [], []
    for epoch in range(1, a.epochs + 1):
        start = len(used)
        loss = exp1.train_epoch(model, loader, opt, F.cross_entropy, scheduler=sched, lrs=used)
        te = exp1.evaluate(model, xte, yte)
        ep = used[start:]
        hist.append({"epoch": epoch, "loss": loss, "test_acc": te, "lr_min": min(ep),
                     "lr_max": max(ep)})
        print(f"1cycle epoch {epoch}: loss {loss:.4f}  test acc {te:.4f}  "
              f"lr {ep[0]:.2e} -> {ep[-1]:.2e} (max {max(ep):.2e})")
    out = {"suggested_lr": max_lr, "best_lr": res.best_lr, "lrs": res.lrs, "schedule": used,
           "losses": res.losses, "restored": restored, "history": hist,
           "test_acc": hist[-1]["test_acc"] if hist else None,
           "train_acc": exp1.evaluate(model, xtr, ytr)}

    if not a.no_baseline:
        ad.manual_seed(a.seed)
        base = mnist_mlp()
        base.load_state_dict({k: ad.tensor(v) for k, v in init.items()})
        bopt = optim.SGD(base.parameters(), lr=0.01)
        bl = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True, seed=a.seed)
        for _ in range(a.epochs):
            exp1.train_epoch(base, bl, bopt, F.cross_entropy)
        out["baseline_test_acc"] = exp1.evaluate(base, xte, yte)
        print(f"baseline SGD lr 0.01, {a.epochs} epochs: test acc {out['baseline_test_acc']:.4f}")
    print(f"1cycle with max_lr {max_lr:.3e}: test acc {out['test_acc']:.4f}")
    return out


if __name__ == "__main__":
    main()
