"""What every example script shares: its command line, data, progress, checkpoints and plots.

Kept beside the examples (not in the library) because it is policy for these scripts:

- :func:`parser`: ``--help`` shows the module docstring whole and every option's default.
- :func:`add_data_arg`, :func:`data_root`, :func:`mnist_data`: one ``--data DIR`` flag (also
  ``$AUTODIFF_DATA``); MNIST is the 60k/10k split when the training files are there, otherwise
  the 10k test set split 8000/2000, and the script says which.
- :func:`exit_on_missing_data`: a missing dataset ends the script with the library's short
  message (:class:`autodiff.data.DatasetNotFoundError`, naming ``--data``), not a traceback.
- :class:`Reporter`: tqdm bars within each epoch (hidden with ``--quiet`` or off a terminal),
  one plain line per epoch, and an estimate of the total time after the first iterations.
- :class:`Checkpoint`: ``--save PATH`` / ``--resume PATH`` through ``ad.save``/``ad.load``
  (never pickle): model, optimizer, scheduler, the script's progress and every random state.
- :func:`plot_curves`, :func:`figure`: PNGs by default when matplotlib is installed, and one
  line naming the ``plots`` extra when it is not.
- :func:`add_compile_arg`, :class:`Step`: ``--compile`` runs the script's training step (one
  function: forward, ``backward()``, optimizer update) through ``autodiff.compile``, and says
  at the end how many traces it made and whether it replayed them or fell back to eager.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

import autodiff as ad
from autodiff.data import DatasetNotFoundError, MNISTSplit, default_data_root
from autodiff.data.mnist import has_mnist_split, load_mnist, mnist_split, normalize_images
from autodiff.data.progress import progress, write

DATA_HOW = "pass --data DIR or set AUTODIFF_DATA=DIR"
PLOTS_NOTE = 'matplotlib is not installed, so no plot was written (pip install -e ".[plots]")'


# ------------------------------------------------------------------------------ command line
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                     argparse.RawDescriptionHelpFormatter):
    """The docstring as written, and ``(default: ...)`` after every option's help."""


def parser(doc: str) -> argparse.ArgumentParser:
    """An ArgumentParser whose description is the script's whole docstring."""
    return argparse.ArgumentParser(description=doc.strip(), formatter_class=_HelpFormatter)


def add_data_arg(ap: argparse.ArgumentParser, what: str) -> None:
    """``--data DIR`` (and the old spelling ``--data-dir``, hidden)."""
    ap.add_argument("--data", metavar="DIR", default=None,
                    help=f"folder holding {what}; when not given: $AUTODIFF_DATA, else "
                         f"../shared/data beside the checkout, else ~/.cache/autodiff")
    ap.add_argument("--data-dir", dest="data", help=argparse.SUPPRESS)


def add_mnist_args(ap: argparse.ArgumentParser, epochs: float, lr: float | None = None,
                   momentum: float | None = None, batch_size: int = 64) -> None:
    """The MNIST training scripts' options: ``--data``, ``--epochs``, ``--n-train``,
    ``--batch-size`` and, when given defaults, SGD's ``--lr`` and ``--momentum``."""
    add_data_arg(ap, "the MNIST files")
    ap.add_argument("--epochs", type=type(epochs), default=epochs,
                    help="passes over the training images")
    ap.add_argument("--n-train", type=int, default=None,
                    help="train on the first N training images (default: all of the split)")
    ap.add_argument("--batch-size", type=int, default=batch_size, help="mini-batch size")
    if lr is not None:
        ap.add_argument("--lr", type=float, default=lr, help="SGD learning rate")
    if momentum is not None:
        ap.add_argument("--momentum", type=float, default=momentum, help="SGD momentum")


def add_run_args(ap: argparse.ArgumentParser, name: str, save: bool = True,
                 plot: str | None = None) -> None:
    """``--quiet``, ``--seed`` and, for training scripts, ``--save``/``--resume``; ``--plot``
    when the script draws (``plot`` is the default file name)."""
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--quiet", action="store_true",
                    help="no progress bars and no per-epoch lines, only the results")
    if save:
        ap.add_argument("--save", metavar="PATH", default=None,
                        help="write a checkpoint (model, optimizer, progress, random states) "
                             "to PATH after every epoch; .npz, or .safetensors")
        ap.add_argument("--resume", metavar="PATH", default=None,
                        help=f"continue the run saved in PATH (by --save of {name}.py) up to "
                             f"the requested length")
    if plot is not None:
        ap.add_argument("--plot", metavar="PATH", default=plot,
                        help="PNG written when matplotlib is installed ('' for none)")


def data_root(args: argparse.Namespace) -> str | None:
    """The folder given by ``--data``, else ``$AUTODIFF_DATA`` or ``../shared/data``."""
    return args.data if args.data else default_data_root()


def exit_on_missing_data(main: Callable) -> Callable:
    """Run ``main``; a missing dataset prints its message (naming ``--data``) to stderr and
    exits with status 1 instead of a traceback."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except DatasetNotFoundError as e:
            print(e.format(DATA_HOW), file=sys.stderr)
            raise SystemExit(1) from None
    return wrapper


# ------------------------------------------------------------------------------ MNIST
def mnist_data(root: str | None, flatten: bool = True, n_train: int | None = None,
               n_test: int | None = None, say: Callable[[str], None] = print) -> MNISTSplit:
    """MNIST as normalized float32 arrays: the 60000/10000 train/test split when the training
    files are in ``root`` (or the cache), else the 10k test set split 8000/2000 (downloaded
    into the cache when nothing is found). ``n_train`` keeps the first training images,
    ``n_test`` the last test images. Says which split it uses."""
    if has_mnist_split(root, "train"):
        xtr, ytr = load_mnist(root, "train")
        xte, yte = load_mnist(root, "test", download=True)
        xtr, xte = normalize_images(xtr), normalize_images(xte)
        s = MNISTSplit(xtr, ytr, xte, yte)
        split = f"the training set ({len(xtr)} images) and the test set ({len(xte)})"
    else:
        s = mnist_split(root, n_train=8000, flatten=False, download=True)
        split = ("the 10k test set split 8000 train / 2000 test (add train-images-idx3-ubyte.gz "
                 "and train-labels-idx1-ubyte.gz to use the 60k training set)")
    n_train = len(s.x_train) if n_train is None else min(n_train, len(s.x_train))
    n_test = len(s.x_test) if n_test is None else min(n_test, len(s.x_test))
    shape = (-1, 784) if flatten else (-1, 1, 28, 28)
    out = MNISTSplit(s.x_train[:n_train].reshape(shape), s.y_train[:n_train],
                     s.x_test[len(s.x_test) - n_test:].reshape(shape),
                     s.y_test[len(s.y_test) - n_test:])
    say(f"MNIST: {split}; using {n_train} training and {n_test} test images")
    return out


# ------------------------------------------------------------------------------ progress
def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Reporter:
    """Progress for one script run: bars within epochs (tqdm; hidden when ``quiet`` or off a
    terminal), plain lines (:meth:`line`, silent when ``quiet``; :meth:`result`, always), and
    one estimate of the total time once ``estimate_after`` units of work are done."""

    def __init__(self, quiet: bool = False, estimate_after: int = 5) -> None:
        self.quiet = quiet
        self.estimate_after = estimate_after
        self._t0: float | None = None
        self._done0 = 0
        self._estimated = False

    def bar(self, iterable: Iterable, desc: str, total: int | None = None,
            unit: str = "batch"):
        return progress(iterable, desc=desc, total=total, unit=unit, leave=False,
                        disable=True if self.quiet else None)

    def line(self, text: str) -> None:
        if not self.quiet:
            write(text)

    def result(self, text: str) -> None:
        write(text)

    def start(self, done: int = 0) -> None:
        """Start the clock for :meth:`tick` (``done`` units already finished, on resume)."""
        self._t0, self._done0 = time.perf_counter(), done

    def tick(self, done: int, total: int, unit: str = "iteration",
             after: int | None = None) -> None:
        """After ``done`` of ``total`` units: the first time ``after`` (default
        ``estimate_after``) units have run since :meth:`start` and some are left, print the
        estimated total and remaining time."""
        if self._t0 is None:
            self.start()
        ran = done - self._done0
        after = self.estimate_after if after is None else after
        if self._estimated or ran < after or done >= total:
            return
        self._estimated = True
        per = (time.perf_counter() - self._t0) / max(ran, 1)
        self.line(f"estimated time: {_duration(per * (total - self._done0))} for "
                  f"{total - self._done0} {unit}s ({per:.3g} s/{unit} over the first {ran}); "
                  f"{_duration(per * (total - done))} to go")


# ------------------------------------------------------------------------------ checkpoints
class Params:
    """Named tensors (fitted by hand, outside an ``nn.Module``) as one checkpoint entry."""

    def __init__(self, **tensors: ad.Tensor) -> None:
        self.tensors = tensors

    def state_dict(self) -> dict:
        return {k: t.detach() for k, t in self.tensors.items()}

    def load_state_dict(self, state: dict) -> None:
        with ad.no_grad():
            for k, t in self.tensors.items():
                v = state[k]
                t.array[...] = v.numpy() if hasattr(v, "numpy") else v
        for t in self.tensors.values():
            ad.increment_version(t)


class Checkpoint:
    """``--save``/``--resume`` for one script.

    ``objects`` are what a run consists of, by name: anything with ``state_dict()`` and
    ``load_state_dict()`` (modules, optimizers, schedulers) and NumPy ``Generator``s (their
    bit-generator state). A checkpoint holds their states, autodiff's global random state and
    the script's own progress (``save(epoch=3, history=[...])``), written with ``ad.save``.
    """

    def __init__(self, script: str, args: argparse.Namespace, **objects: Any) -> None:
        self.script = script
        self.save_path = getattr(args, "save", None)
        self.resume_path = getattr(args, "resume", None)
        self.objects = objects

    @staticmethod
    def peek(path: str | None) -> dict:
        """The progress saved in checkpoint ``path`` without restoring anything ({} for
        None): for what a script must know before it builds the objects to restore."""
        if not path:
            return {}
        state = ad.load(path)
        return state.get("progress", {}) if isinstance(state, dict) else {}

    def load(self) -> dict:
        """Restore everything from ``--resume`` and return the saved progress ({} without)."""
        if not self.resume_path:
            return {}
        state = ad.load(self.resume_path)
        if not isinstance(state, dict) or state.get("script") != self.script:
            found = state.get("script") if isinstance(state, dict) else None
            raise SystemExit(f"--resume: {self.resume_path} is not a checkpoint of "
                             f"{self.script}.py (it was written by {found or 'something else'})")
        saved = state["objects"]
        missing = sorted(set(self.objects) - set(saved))
        if missing:
            raise SystemExit(f"--resume: {self.resume_path} has no state for {missing}")
        for name, obj in self.objects.items():
            if isinstance(obj, np.random.Generator):
                obj.bit_generator.state = saved[name]
            else:
                obj.load_state_dict(saved[name])
        ad.set_rng_state(state["rng"])
        return state["progress"]

    def save(self, **progress: Any) -> None:
        """Write the objects' states and ``progress`` to ``--save`` (when given)."""
        if not self.save_path:
            return
        objects = {name: obj.bit_generator.state if isinstance(obj, np.random.Generator)
                   else obj.state_dict() for name, obj in self.objects.items()}
        ad.save({"script": self.script, "objects": objects, "rng": ad.get_rng_state(),
                 "progress": progress}, self.save_path)


# ------------------------------------------------------------------------------ --compile
def add_compile_arg(ap: argparse.ArgumentParser) -> None:
    """``--compile``: the training step through ``autodiff.compile`` (off by default)."""
    ap.add_argument("--compile", action="store_true",
                    help="run the training step through autodiff.compile: traced on its first "
                         "call, then replayed on raw arrays (same numbers); where it cannot be "
                         "captured it runs eagerly, with a warning naming the line")


class Step:
    """A script's training step, ``fn(*tensors)``, compiled when ``compiled`` is true.

    The arguments must be Tensors (or Python values that stay the same): a NumPy array is
    guarded by identity, so a new one on every call would retrace every call. The step returns
    Tensors (the loss, never ``loss.item()``: a host read inside the step is a graph break);
    the caller reads them afterwards. :meth:`summary` is the line a script prints at the end.
    """

    def __init__(self, fn: Callable, compiled: bool = False) -> None:
        self.compiled = bool(compiled)
        self.fn = ad.compile(fn) if self.compiled else fn
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.fn(*args)

    @property
    def traces(self) -> int:
        """Traces made (0 when not compiled); a graph break counts as one."""
        return self.fn.traces if self.compiled else 0

    @property
    def signatures(self) -> tuple[int, int]:
        """(call signatures replayed from a program, call signatures that run eagerly)."""
        if not self.compiled:
            return 0, 0
        kinds = [isinstance(v, list) for v in self.fn.programs.values()]
        return sum(kinds), len(kinds) - sum(kinds)

    def summary(self) -> str | None:
        """How the step ran, for the end of the run (None without ``--compile``)."""
        if not self.compiled:
            return None
        replayed, eager = self.signatures
        head = (f"--compile: {self.calls} step calls, {self.traces} "
                f"trace{'s' if self.traces != 1 else ''} for {replayed + eager} call "
                f"signature{'s' if replayed + eager != 1 else ''}")
        if not eager:
            return f"{head}: all compiled (each replayed after its first two calls)"
        if not replayed:
            return f"{head}: fell back to eager (graph break, see the warning above)"
        return (f"{head}: {replayed} compiled, {eager} fell back to eager (graph break, see "
                f"the warning above)")


# ------------------------------------------------------------------------------ plots
def figure(path: str | os.PathLike | None, draw: Callable, say: Callable[[str], None] = print,
           size: tuple[float, float] = (7.0, 4.5)) -> bool:
    """Draw with ``draw(fig)`` on a new matplotlib figure and save it to ``path`` (PNG). False,
    after one line naming the ``plots`` extra, when matplotlib is not installed."""
    if not path:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say(PLOTS_NOTE)
        return False
    fig = plt.figure(figsize=size)
    try:
        draw(fig)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    say(f"plot written to {path}")
    return True


def plot_curves(path: str | os.PathLike | None, curves: dict[str, Sequence[float]],
                xlabel: str, ylabel: str, logy: bool = False, title: str | None = None,
                say: Callable[[str], None] = print) -> bool:
    """Line plot of named curves (each against 1, 2, ...), written as a PNG to ``path``."""
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for name, ys in curves.items():
            ax.plot(np.arange(1, len(ys) + 1), ys, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logy:
            ax.set_yscale("log")
        if title:
            ax.set_title(title)
        if len(curves) > 1:
            ax.legend()
    return figure(path, draw, say)


def plot_run(path: str | os.PathLike | None, losses: Sequence[float],
             metrics: dict[str, Sequence[tuple[float, float]]] | None = None,
             step: str = "mini-batch", metric: str = "accuracy", logy: bool = False,
             say: Callable[[str], None] = print) -> bool:
    """A training run as a PNG: the loss of every step (and its running mean over 1/50 of the
    run) on the left, ``metrics`` (name -> [(x, value), ...], e.g. the test accuracy after each
    epoch) on the right."""
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 2 if metrics else 1, 1)
        y = np.asarray(losses, dtype=float)
        x = np.arange(1, len(y) + 1)
        ax.plot(x, y, alpha=0.35, label="each step")
        k = max(1, len(y) // 50)
        if k > 1:
            ax.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"),
                    label=f"mean of {k}")
            ax.legend()
        ax.set_xlabel(step)
        ax.set_ylabel("training loss")
        if logy:
            ax.set_yscale("log")
        if metrics:
            ax2 = fig.add_subplot(1, 2, 2)
            for name, pts in metrics.items():
                if len(pts):
                    px, py = zip(*pts)
                    ax2.plot(px, py, marker="o", label=name)
            ax2.set_xlabel(step)
            ax2.set_ylabel(metric)
            ax2.legend()
    return figure(path, draw, say, size=(11.0, 4.5) if metrics else (7.0, 4.5))
