"""ResNet-{20,32,44,56,110} on CIFAR-10 (He et al. 2016), with the paper's or the 1cycle recipe.

    python examples/resnet_cifar.py --depth 20 --shortcut A --data-dir DIR --recipe paper
    python examples/resnet_cifar.py --recipe 1cycle --iters 200          # synthetic data
    mpiexec -n 2 python examples/resnet_cifar.py --ddp   # data-parallel, see examples/_ddp.py

Data: the *binary* version of CIFAR-10 in ``--data-dir`` (data_batch_1..5.bin, test_batch.bin);
without it, CIFAR-shaped synthetic data with learnable structure (``synthetic_cifar``).
Preprocessing: [0, 1] pixels minus the per-pixel training mean; augmentation: random 32x32 crop
of the 4-pixel (reflect) padded image and random horizontal flip.

Recipes (SGD, weight decay 1e-4, batch 128):
- ``paper``: momentum 0.9, lr 0.1 divided by 10 at 32k and 48k iterations of 64k (with
  ``--iters`` other than 64000, at the same fractions 1/2 and 3/4); ResNet-110 warms up at
  lr 0.01 for the first 400 iterations, as in the paper.
- ``1cycle``: LR 0.08 -> 0.8 -> 0.08 (linear, 45% + 45% of the iterations) then annihilation to
  0.0008 over the last 10%, with momentum 0.95 -> 0.85 -> 0.95 (``OneCycleLR``, three phases).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data.cifar import cifar10_arrays, iterate_minibatches
from autodiff.nn import functional as F
from autodiff.nn.models import resnet_cifar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ddp  # noqa: E402


def cross_entropy(logits, y):
    """F.cross_entropy (mean over the batch)."""
    fn = getattr(F, "cross_entropy", None)
    if fn is not None:
        return fn(logits, y)
    lp = ad.log_softmax(logits, axis=1)
    return -ad.mean(lp[np.arange(len(y)), y])


def make_schedule(opt, recipe: str, iters: int, depth: int):
    """The LR (and momentum) schedule of ``recipe``, stepped once per iteration."""
    if recipe == "paper":
        m1, m2 = (32000, 48000) if iters == 64000 else (iters // 2, (3 * iters) // 4)
        warm = 400 if depth >= 110 else 0

        def factor(it: int) -> float:
            f = 0.1 if it < warm else 1.0
            return f * (0.1 if it >= m1 else 1.0) * (0.1 if it >= m2 else 1.0)
        return optim.lr_scheduler.LambdaLR(opt, factor)
    if recipe == "1cycle":
        return optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.8, total_steps=iters, pct_start=0.45, anneal_strategy="linear",
            three_phase=True, div_factor=10.0, final_div_factor=100.0, base_momentum=0.85,
            max_momentum=0.95)
    raise ValueError(f"unknown recipe {recipe!r} (use 'paper' or '1cycle')")


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> tuple[float, float]:
    """(mean loss, accuracy) in eval mode (BN running statistics), without a graph."""
    model.eval()
    total, correct = 0.0, 0
    with ad.no_grad():
        for s in range(0, len(x), batch_size):
            logits = model(ad.tensor(x[s:s + batch_size]))
            yb = y[s:s + batch_size]
            total += float(cross_entropy(logits, yb).item()) * len(yb)
            correct += int((logits.numpy().argmax(1) == yb).sum())
    model.train()
    return total / len(x), correct / len(x)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, default=20, help="6n+2: 20, 32, 44, 56, 110")
    p.add_argument("--shortcut", choices=["A", "B"], default="A")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 binary version directory")
    p.add_argument("--recipe", choices=["paper", "1cycle"], default="paper")
    p.add_argument("--iters", type=int, default=None,
                   help="iterations (default: 64000 for paper, 9000 for 1cycle)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--n-synthetic", type=int, default=5000, help="synthetic training images")
    p.add_argument("--n-synthetic-test", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=0, help="evaluate every k iterations")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    _ddp.add_ddp_arg(p)
    args = p.parse_args(argv)
    dp = _ddp.DataParallel(args.ddp)
    dp.quiet_unless_main(args)
    iters = args.iters or (64000 if args.recipe == "paper" else 9000)

    ad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = cifar10_arrays(args.data_dir, args.n_synthetic, args.n_synthetic_test, args.seed)
    source = args.data_dir or "synthetic CIFAR-shaped data"
    model = resnet_cifar(args.depth, args.shortcut)
    net = dp.wrap(model)  # DistributedDataParallel under --ddp, else the model itself
    print(f"ResNet-{args.depth} (option {args.shortcut}): {model.num_parameters():,} parameters;"
          f" {len(data.x_train)} train / {len(data.x_test)} test images from {source}; "
          f"recipe {args.recipe}, {iters} iterations of batch {args.batch_size}")
    momentum = 0.9 if args.recipe == "paper" else 0.95
    opt = optim.SGD(model.parameters(), lr=0.1 if args.recipe == "paper" else 0.08,
                    momentum=momentum, weight_decay=args.weight_decay)
    sched = make_schedule(opt, args.recipe, iters, args.depth)

    it, t0, history = 0, time.perf_counter(), []
    run_loss, run_acc, run_n = 0.0, 0.0, 0
    model.train()
    while it < iters:
        for xb, yb in iterate_minibatches(data.x_train, data.y_train, args.batch_size, rng,
                                          augment=not args.no_augment, drop_last=True):
            xb, yb = dp.shard(xb), dp.shard(yb)  # this rank's rows of the global batch
            logits = net(ad.tensor(xb))
            loss = cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            lv = float(loss.item())
            history.append(lv)
            run_loss += lv
            run_acc += float((logits.numpy().argmax(1) == yb).mean())
            run_n += 1
            if it % args.log_every == 0 or it == iters:
                dt = (time.perf_counter() - t0) / it
                print(f"iter {it:6d}  lr {opt.param_groups[0]['lr']:.4f}  train loss "
                      f"{run_loss / run_n:.4f}  train acc {run_acc / run_n:.3f}  "
                      f"({dt * 1000:.0f} ms/iter)")
                run_loss, run_acc, run_n = 0.0, 0.0, 0
            if args.eval_every and it % args.eval_every == 0:
                tl, ta = evaluate(model, data.x_test, data.y_test)
                print(f"iter {it:6d}  test loss {tl:.4f}  test acc {ta:.4f}  "
                      f"(error {100 * (1 - ta):.2f}%)")
            if it >= iters:
                break
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    sec = (time.perf_counter() - t0) / max(it, 1)
    print(f"final: test loss {test_loss:.4f}  test accuracy {test_acc:.4f}  "
          f"(error {100 * (1 - test_acc):.2f}%), {sec * 1000:.0f} ms/iteration")
    return {"iters": it, "train_losses": history, "test_loss": test_loss, "test_acc": test_acc,
            "sec_per_iter": sec, "num_parameters": model.num_parameters()}


if __name__ == "__main__":
    main()
