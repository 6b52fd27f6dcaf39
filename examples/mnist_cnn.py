"""The small MNIST CNN ((conv5x5-ReLU-maxpool2) x 2, linear), SGD with momentum 0.9, batch 64.

Data: MNIST's 60k training / 10k test sets when the training files are in the data folder,
otherwise the 10k test set (the t10k idx files in ``../shared/data/mnist`` or ``--data`` /
``$AUTODIFF_DATA``, read in place, never copied) split into the first 8000 images for training
and the last 2000 for testing; normalized with MNIST's mean/std. Reports the training loss and
the test accuracy after each epoch (about 97% after the first) and draws the curves.

    python examples/mnist_cnn.py [--epochs 3 --n-train 8000 --lr 0.05 --data DIR --save cnn.npz]
    python examples/mnist_cnn.py --compile            # the step traced once, then replayed
    mpiexec -n 2 python examples/mnist_cnn.py --ddp   # data-parallel, see examples/_ddp.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import optim
from autodiff.data import DataLoader, TensorDataset
from autodiff.nn import functional as F
from autodiff.nn.models import mnist_cnn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _ddp  # noqa: E402


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500,
             rep: C.Reporter | None = None) -> float:
    """Test accuracy in eval mode without a graph (a progress bar when ``rep`` is given)."""
    model.eval()
    correct = 0
    starts = range(0, len(x), batch_size)
    with ad.no_grad():
        for s in (rep.bar(starts, "evaluate") if rep is not None else starts):
            correct += int((model(ad.tensor(x[s:s + batch_size])).numpy().argmax(1)
                            == y[s:s + batch_size]).sum())
    model.train()
    return correct / len(x)


@C.exit_on_missing_data
def main(argv: list[str] | None = None) -> dict:
    p = C.parser(__doc__)
    C.add_mnist_args(p, epochs=3, lr=0.05, momentum=0.9)
    p.add_argument("--channels", type=int, nargs=2, default=(8, 16),
                   help="output channels of the two convolutions")
    C.add_compile_arg(p)
    C.add_run_args(p, "mnist_cnn", plot="mnist_cnn.png")
    _ddp.add_ddp_arg(p)
    args = p.parse_args(argv)
    dp = _ddp.DataParallel(args.ddp)
    dp.quiet_unless_main(args)
    rep = C.Reporter(args.quiet)

    ad.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = C.mnist_data(C.data_root(args), False, args.n_train,
                                                    say=rep.line)
    shuffle = np.random.default_rng(args.seed)
    loader = DataLoader(TensorDataset(x_train, y_train), args.batch_size, shuffle=True,
                        generator=shuffle)
    model = mnist_cnn(tuple(args.channels))
    net = dp.wrap(model)  # DistributedDataParallel under --ddp, else the model itself
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    def train_step(xb: ad.Tensor, yb: ad.Tensor) -> ad.Tensor:
        """Forward, backward and SGD update of one batch (compiled with --compile)."""
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = C.Step(train_step, args.compile)
    ckpt = C.Checkpoint("mnist_cnn", args, model=model, optimizer=opt, shuffle=shuffle)
    done = ckpt.load()
    losses, accs, steps = done.get("train_losses", []), done.get("test_accuracies", []), []
    batch_losses = done.get("batch_losses", [])
    rep.line(f"MNIST CNN {tuple(args.channels)}: {model.num_parameters():,} parameters, "
             f"{len(x_train)} train / {len(x_test)} test images"
             + (f"; resumed from {args.resume} after epoch {len(losses)}" if losses else ""))
    t0 = time.perf_counter()
    rep.start(len(losses))
    for epoch in range(len(losses) + 1, args.epochs + 1):
        bar = rep.bar(loader, f"epoch {epoch}/{args.epochs}")
        ep_loss, nb = 0.0, 0
        for xb, yb in bar:
            loss = step(dp.shard(xb), dp.shard(yb))
            v = float(loss.item())
            batch_losses.append(v)
            ep_loss += v
            nb += 1
            bar.set_postfix(loss=f"{ep_loss / nb:.4f}", refresh=False)
        steps.append(nb)
        ep_loss = dp.mean(ep_loss)  # over the ranks' shards
        acc = accuracy(model, x_test, y_test, rep=rep)
        losses.append(ep_loss / nb)
        accs.append(acc)
        rep.line(f"epoch {epoch}/{args.epochs}: train loss {ep_loss / nb:.4f}  test accuracy "
                 f"{acc:.4f}  ({(time.perf_counter() - t0) / sum(steps) * 1000:.1f} ms/step)")
        rep.tick(epoch, args.epochs, "epoch", after=1)
        ckpt.save(train_losses=losses, test_accuracies=accs, batch_losses=batch_losses)
    if step.compiled:
        rep.result(step.summary())
    if accs:
        rep.result(f"after {len(accs)} epochs: test accuracy {accs[-1]:.4f}")
        per = len(batch_losses) / len(accs)
        C.plot_run(args.plot, batch_losses,
                   {"test": [((i + 1) * per, a) for i, a in enumerate(accs)]}, say=rep.result)
    return {"train_losses": losses, "test_accuracies": accs,
            "test_acc": accs[-1] if accs else None, "model": model,
            "batch_losses": batch_losses, "step": step}


if __name__ == "__main__":
    main()
