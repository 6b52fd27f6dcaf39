"""ResNet-{20,32,44,56,110} on CIFAR-10 (He et al. 2016): a few-minute run by default, the
paper's recipe and the 1cycle recipe as named options.

    python examples/resnet_cifar.py                          # quick: 120 iterations, minutes
    python examples/resnet_cifar.py --recipe paper --data DIR  # the paper: 64k iterations
    python examples/resnet_cifar.py --recipe 1cycle --iters 200 --save r20.npz
    mpiexec -n 2 python examples/resnet_cifar.py --ddp   # data-parallel, see examples/_ddp.py

Data: the *binary* version of CIFAR-10 (data_batch_1..5.bin, test_batch.bin, from
https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) in ``--data`` / ``$AUTODIFF_DATA``
(or its cifar-10-batches-bin/ folder). Without it the script says so and trains on GENERATED
CIFAR-shaped images (``synthetic_cifar``: class templates under noise and shifts), whose
accuracies are not comparable to the paper's. Preprocessing: [0, 1] pixels minus the per-pixel
training mean; augmentation: random 32x32 crop of the 4-pixel (reflect) padded image and random
horizontal flip. After the first iterations the script prints an estimate of the total time.

Recipes (SGD, weight decay 1e-4, batch 128):
- ``quick`` (default): the 1cycle schedule compressed into 120 iterations.
- ``paper``: momentum 0.9, lr 0.1 divided by 10 at 32k and 48k iterations of 64k (with
  ``--iters`` other than 64000, at the same fractions 1/2 and 3/4); ResNet-110 warms up at
  lr 0.01 for the first 400 iterations, as in the paper. About a day on 2 CPU cores.
- ``1cycle``: 9000 iterations, LR 0.08 -> 0.8 -> 0.08 (linear, 45% + 45% of the iterations)
  then annihilation to 0.0008 over the last 10%, with momentum 0.95 -> 0.85 -> 0.95
  (``OneCycleLR``, three phases).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data.cifar import cifar10_arrays, find_cifar10_dir, iterate_minibatches
from autodiff.data.paths import default_data_root
from autodiff.nn import functional as F
from autodiff.nn.models import resnet_cifar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _ddp  # noqa: E402

#: recipe -> default number of iterations
RECIPE_ITERS = {"quick": 120, "paper": 64000, "1cycle": 9000}


def cross_entropy(logits, y):
    """F.cross_entropy (mean over the batch)."""
    return F.cross_entropy(logits, y)


def make_schedule(opt, recipe: str, iters: int, depth: int):
    """The LR (and momentum) schedule of ``recipe``, stepped once per iteration."""
    if recipe == "paper":
        m1, m2 = (32000, 48000) if iters == 64000 else (iters // 2, (3 * iters) // 4)
        warm = 400 if depth >= 110 else 0

        def factor(it: int) -> float:
            f = 0.1 if it < warm else 1.0
            return f * (0.1 if it >= m1 else 1.0) * (0.1 if it >= m2 else 1.0)
        return optim.lr_scheduler.LambdaLR(opt, factor)
    if recipe in ("1cycle", "quick"):
        return optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.8, total_steps=iters, pct_start=0.45, anneal_strategy="linear",
            three_phase=True, div_factor=10.0, final_div_factor=100.0, base_momentum=0.85,
            max_momentum=0.95)
    raise ValueError(f"unknown recipe {recipe!r} (use one of {list(RECIPE_ITERS)})")


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500,
             rep: C.Reporter | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) in eval mode (BN running statistics), without a graph."""
    model.eval()
    total, correct = 0.0, 0
    starts = range(0, len(x), batch_size)
    with ad.no_grad():
        for s in (rep.bar(starts, "evaluate") if rep is not None else starts):
            logits = model(ad.tensor(x[s:s + batch_size]))
            yb = y[s:s + batch_size]
            total += float(cross_entropy(logits, yb).item()) * len(yb)
            correct += int((logits.numpy().argmax(1) == yb).sum())
    model.train()
    return total / len(x), correct / len(x)


def load_data(args, say) -> tuple:
    """(CIFARArrays, description): CIFAR-10 from ``--data`` (which must hold it), else from
    ``$AUTODIFF_DATA``/``../shared/data`` when it is there, else generated data (said aloud)."""
    root = args.data
    if root is None:
        found = default_data_root()
        root = found if found is not None and find_cifar10_dir(found) is not None else None
    if root is not None:
        return cifar10_arrays(root), f"CIFAR-10 from {root}"
    say("data: no CIFAR-10 binary files found (pass --data DIR), so this run uses GENERATED "
        "CIFAR-shaped images (class templates under noise), not CIFAR-10: its accuracy is not "
        "comparable to the paper's")
    data = cifar10_arrays(None, args.n_synthetic, args.n_synthetic_test, args.seed)
    return data, "generated CIFAR-shaped data"


@C.exit_on_missing_data
def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    C.add_data_arg(p, "the CIFAR-10 binary version")
    p.add_argument("--depth", type=int, default=20, help="6n+2: 20, 32, 44, 56, 110")
    p.add_argument("--shortcut", choices=["A", "B"], default="A",
                   help="A: identity + zero padding; B: 1x1 projections when the shape changes")
    p.add_argument("--recipe", choices=list(RECIPE_ITERS), default="quick",
                   help="training recipe (see above)")
    p.add_argument("--iters", type=int, default=None,
                   help="iterations (default: " + ", ".join(f"{k} {v}" for k, v in
                                                             RECIPE_ITERS.items()) + ")")
    p.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="SGD weight decay")
    p.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    p.add_argument("--n-synthetic", type=int, default=5000,
                   help="generated training images (without CIFAR-10)")
    p.add_argument("--n-synthetic-test", type=int, default=1000,
                   help="generated test images (without CIFAR-10)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="evaluate on the test set every k iterations (0: at the end only)")
    p.add_argument("--log-every", type=int, default=50, help="print a line every k iterations")
    C.add_run_args(p, "resnet_cifar", plot="resnet_cifar.png")
    _ddp.add_ddp_arg(p)
    args = p.parse_args(argv)
    dp = _ddp.DataParallel(args.ddp)
    dp.quiet_unless_main(args)
    iters = args.iters or RECIPE_ITERS[args.recipe]
    rep = C.Reporter(args.quiet)

    ad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)          # shuffles and augmentation
    data, source = load_data(args, rep.line)
    model = resnet_cifar(args.depth, args.shortcut)
    net = dp.wrap(model)  # DistributedDataParallel under --ddp, else the model itself
    rep.line(f"ResNet-{args.depth} (option {args.shortcut}): {model.num_parameters():,} "
             f"parameters; {len(data.x_train)} train / {len(data.x_test)} test images from "
             f"{source}; recipe {args.recipe}, {iters} iterations of batch {args.batch_size}")
    momentum = 0.9 if args.recipe == "paper" else 0.95
    opt = optim.SGD(model.parameters(), lr=0.1 if args.recipe == "paper" else 0.08,
                    momentum=momentum, weight_decay=args.weight_decay)
    sched = make_schedule(opt, args.recipe, iters, args.depth)

    saved = C.Checkpoint.peek(args.resume)
    if saved and (saved["recipe"], saved["iters"]) != (args.recipe, iters):
        raise SystemExit(f"--resume: {args.resume} is a {saved['recipe']} run of "
                         f"{saved['iters']} iterations (its schedule depends on both); resume "
                         f"it with --recipe {saved['recipe']} --iters {saved['iters']}")
    ckpt = C.Checkpoint("resnet_cifar", args, model=model, optimizer=opt, scheduler=sched,
                        data_rng=rng)
    done = ckpt.load()                              # saved after whole passes (and at the end)
    it = done.get("iters_done", 0)
    history, evals = done.get("train_losses", []), done.get("evals", [])
    accs = done.get("train_accs", [])
    if done:
        rep.line(f"resumed from {args.resume} at iteration {it}")
    per_pass = len(data.x_train) // args.batch_size
    t0 = time.perf_counter()
    rep.start(it)
    run_loss, run_acc, run_n = 0.0, 0.0, 0
    model.train()
    while it < iters:
        batches = iterate_minibatches(data.x_train, data.y_train, args.batch_size, rng,
                                      augment=not args.no_augment, drop_last=True)
        n_pass = min(per_pass, iters - it)
        bar = rep.bar(batches, f"pass {it // per_pass + 1} (iterations {it + 1}-{it + n_pass} "
                      f"of {iters})", total=n_pass, unit="it")
        for xb, yb in bar:
            xb, yb = dp.shard(xb), dp.shard(yb)  # this rank's rows of the global batch
            logits = net(ad.tensor(xb))
            loss = cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            lr = opt.param_groups[0]["lr"]         # the LR this iteration trained with
            opt.step()
            sched.step()
            it += 1
            lv = float(loss.item())
            history.append(lv)
            run_loss += lv
            accs.append(float((logits.numpy().argmax(1) == yb).mean()))
            run_acc += accs[-1]
            run_n += 1
            bar.set_postfix(loss=f"{run_loss / run_n:.4f}", acc=f"{run_acc / run_n:.3f}",
                            lr=f"{lr:.4f}", refresh=False)
            rep.tick(it, iters)
            if it % args.log_every == 0 or it == iters:
                dt = (time.perf_counter() - t0) / max(it - done.get("iters_done", 0), 1)
                rep.line(f"iter {it:6d}  lr {lr:.4f}  train loss {run_loss / run_n:.4f}  "
                         f"train acc {run_acc / run_n:.3f}  ({dt * 1000:.0f} ms/iter)")
                run_loss, run_acc, run_n = 0.0, 0.0, 0
            if args.eval_every and it % args.eval_every == 0:
                tl, ta = evaluate(model, data.x_test, data.y_test, rep=rep)
                evals.append((it, ta))
                rep.line(f"iter {it:6d}  test loss {tl:.4f}  test acc {ta:.4f}  "
                         f"(error {100 * (1 - ta):.2f}%)")
            if it >= iters:
                break
        ckpt.save(iters_done=it, train_losses=history, train_accs=accs, evals=evals,
                  recipe=args.recipe, iters=iters)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test, rep=rep)
    if not evals or evals[-1][0] != it:
        evals.append((it, test_acc))
    sec = (time.perf_counter() - t0) / max(it - done.get("iters_done", 0), 1)
    rep.result(f"final: test loss {test_loss:.4f}  test accuracy {test_acc:.4f}  "
               f"(error {100 * (1 - test_acc):.2f}%) on {source}, {sec * 1000:.0f} ms/iteration")
    k = max(1, len(accs) // 30)
    running = [(i, float(np.mean(accs[i - k:i]))) for i in range(k, len(accs) + 1, k)]
    C.plot_run(args.plot, history, {f"train (mean of {k} batches)": running, "test": evals},
               step="iteration", say=rep.result)
    return {"iters": it, "train_losses": history, "test_loss": test_loss, "test_acc": test_acc,
            "sec_per_iter": sec, "num_parameters": model.num_parameters(), "model": model,
            "source": source}


if __name__ == "__main__":
    main()
