"""Experiment 5: the LR range test, then 1cycle training of the MNIST MLP.

1. ``optim.find_lr``: over (at most) one epoch the LR grows geometrically from 1e-8 to 10, one
   step per mini-batch; the bias-corrected smoothed loss (beta 0.98) is tracked until it exceeds
   4x its best. The suggested LR is ten times below the LR at the minimum. The model's and the
   optimizer's states are restored afterwards.
2. ``OneCycleLR`` with that LR as ``max_lr``: a linear warm-up from max_lr/25, back down, then
   annihilation to max_lr/(25*1e4) (``three_phase``), momentum 0.95 -> 0.85 -> 0.95, SGD.
3. For comparison, plain SGD at the documents' constant lr 0.01 for the same number of epochs,
   from the same initial weights on the same batches.

The plot (``--plot``) shows the range test beside both runs' training losses. ``--save`` keeps
the range test's result with the checkpoint, so ``--resume`` goes straight on training.

    python examples/lr_finder_1cycle.py [--epochs 3 --n-train 8000 --data DIR --plot lr.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data import DataLoader, TensorDataset
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_mlp
from autodiff.optim.lr_finder import LRFinderResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import mnist_mlp as exp1  # noqa: E402


def plot(path: str | None, res: LRFinderResult, losses: dict[str, list[float]],
         say=print) -> bool:
    """The range test (smoothed loss against LR, suggestion marked) beside the training losses
    of 1cycle and the baseline."""
    def draw(fig) -> None:
        res.plot(ax=fig.add_subplot(1, 2, 1))
        ax = fig.add_subplot(1, 2, 2)
        for name, ys in losses.items():
            ax.plot(np.arange(1, len(ys) + 1), ys, label=name, alpha=0.8)
        ax.set_xlabel("mini-batch")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")
        ax.legend()
    return C.figure(path, draw, say, size=(11.0, 4.5))


@C.exit_on_missing_data
def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    C.add_mnist_args(ap, epochs=3)
    ap.add_argument("--start-lr", type=float, default=1e-8, help="first LR of the range test")
    ap.add_argument("--end-lr", type=float, default=10.0, help="last LR of the range test")
    ap.add_argument("--momentum", type=float, default=0.9,
                    help="SGD momentum during the range test")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the constant-LR (0.01) baseline run")
    C.add_run_args(ap, "lr_finder_1cycle", plot="lr_finder.png")
    a = ap.parse_args(argv)
    rep = C.Reporter(a.quiet)

    ad.manual_seed(a.seed)
    xtr, ytr, xte, yte = exp1.load_data(C.data_root(a), a.n_train, say=rep.line)
    shuffle = np.random.default_rng(a.seed)
    loader = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True, generator=shuffle)
    model = mnist_mlp()
    init = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=a.start_lr, momentum=a.momentum)
    base = mnist_mlp()
    base.load_state_dict({k: ad.tensor(v) for k, v in init.items()})
    bopt = optim.SGD(base.parameters(), lr=0.01)
    bshuffle = np.random.default_rng(a.seed)
    bloader = DataLoader(TensorDataset(xtr, ytr), a.batch_size, shuffle=True,
                         generator=bshuffle)

    saved = C.Checkpoint.peek(a.resume)
    if saved and saved["epochs"] != a.epochs:
        raise SystemExit(f"--resume: {a.resume} is a {saved['epochs']}-epoch 1cycle run, whose "
                         f"schedule spans all its epochs; resume it with --epochs "
                         f"{saved['epochs']}")
    if saved:
        rt = saved["range_test"]
        res = LRFinderResult(rt["lrs"], rt["losses"], rt["suggested_lr"], rt["best_lr"])
        restored = rt["restored"]
    else:
        res = optim.find_lr(model, opt, F.cross_entropy, rep.bar(loader, "LR range test"),
                            start_lr=a.start_lr, end_lr=a.end_lr)
        restored = all((model.state_dict()[k].numpy() == v).all() for k, v in init.items())
    rep.line(f"LR range test: {len(res.lrs)} batches, LR {res.lrs[0]:.1e} -> "
             f"{res.lrs[-1]:.2e}; minimum smoothed loss {min(res.losses):.4f} at lr "
             f"{res.best_lr:.3e}")
    rep.line(f"suggested LR (10x below the minimum): {res.suggested_lr:.3e}; weights restored: "
             f"{restored}")
    rep.line(f"{'lr':>10} {'smoothed loss':>14}")
    step = max(1, len(res.lrs) // 12)
    for lr, loss in list(zip(res.lrs, res.losses))[::step]:
        rep.line(f"{lr:>10.2e} {loss:>14.4f}")

    max_lr = res.suggested_lr
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, epochs=a.epochs,
                                          steps_per_epoch=len(loader), three_phase=True,
                                          anneal_strategy="linear")
    runs = {"model": model, "optimizer": opt, "scheduler": sched, "shuffle": shuffle}
    if not a.no_baseline:
        runs.update({"baseline": base, "baseline_optimizer": bopt, "baseline_shuffle": bshuffle})
    ckpt = C.Checkpoint("lr_finder_1cycle", a, **runs)
    done = ckpt.load()
    hist, used = done.get("history", []), done.get("schedule", [])
    losses = done.get("losses", {"1cycle": [], "baseline lr 0.01": []})
    range_test = {"lrs": res.lrs, "losses": res.losses, "suggested_lr": res.suggested_lr,
                  "best_lr": res.best_lr, "restored": restored}
    for epoch in range(len(hist) + 1, a.epochs + 1):
        start = len(used)
        loss = exp1.train_epoch(model, rep.bar(loader, f"1cycle epoch {epoch}/{a.epochs}"), opt,
                                F.cross_entropy, scheduler=sched, lrs=used,
                                losses=losses["1cycle"])
        te = exp1.evaluate(model, xte, yte)
        ep = used[start:]
        hist.append({"epoch": epoch, "loss": loss, "test_acc": te, "lr_min": min(ep),
                     "lr_max": max(ep)})
        rep.line(f"1cycle epoch {epoch}/{a.epochs}: loss {loss:.4f}  test acc {te:.4f}  "
                 f"lr {ep[0]:.2e} -> {ep[-1]:.2e} (max {max(ep):.2e})")
        if not a.no_baseline:
            exp1.train_epoch(base, rep.bar(bloader, f"baseline epoch {epoch}/{a.epochs}"), bopt,
                             F.cross_entropy, losses=losses["baseline lr 0.01"])
        ckpt.save(history=hist, schedule=used, losses=losses, range_test=range_test,
                  epochs=a.epochs)
    out = {"suggested_lr": max_lr, "best_lr": res.best_lr, "lrs": res.lrs, "schedule": used,
           "losses": res.losses, "restored": restored, "history": hist,
           "test_acc": hist[-1]["test_acc"] if hist else None,
           "train_acc": exp1.evaluate(model, xtr, ytr)}
    if not a.no_baseline:
        out["baseline_test_acc"] = exp1.evaluate(base, xte, yte)
        rep.result(f"baseline SGD lr 0.01, {a.epochs} epochs: test acc "
                   f"{out['baseline_test_acc']:.4f}")
    rep.result(f"1cycle with max_lr {max_lr:.3e}, {a.epochs} epochs: test acc "
               f"{out['test_acc']:.4f}")
    plot(a.plot, res, {k: v for k, v in losses.items() if v}, say=rep.result)
    return out


if __name__ == "__main__":
    main()
