"""The examples from a new user's side: every ``--help`` complete; missing data ends in a short
message (no traceback, no empty folder); ``--resume`` continues a run exactly as if it had not
been interrupted; MNIST's 60k/10k split when its training files are there; progress lines off a
terminal and tqdm bars on one; plots, or one line naming the ``plots`` extra."""
from __future__ import annotations

import argparse
import functools
import gzip
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
from examples_util import EXAMPLES, in_tmp, load_example as _load  # noqa: F401

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
MNIST_SCRIPTS = ["mnist_mlp", "mnist_cnn", "mlp_from_scratch", "optimizer_comparison",
                 "lr_finder_1cycle", "hessian_mlp"]
download_mod = importlib.import_module("autodiff.data.download")


class _Parsed(Exception):
    pass


def _parser_of(mod, monkeypatch) -> argparse.ArgumentParser:
    """The ArgumentParser ``mod.main`` builds (caught at its parse_args call)."""
    seen = []

    def capture(self, args=None, namespace=None):
        seen.append(self)
        raise _Parsed

    with monkeypatch.context() as m:
        m.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(_Parsed):
            mod.main([])
    return seen[0]


def _squash(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- --help
@pytest.mark.parametrize("name", NAMES)
def test_help_is_complete(name, monkeypatch, capsys):
    mod = _load(name)
    ap = _parser_of(mod, monkeypatch)
    first_paragraph = _squash(mod.__doc__.strip().split("\n\n")[0])
    assert first_paragraph.endswith("."), name                    # a whole sentence ...
    assert first_paragraph in _squash(ap.description), name       # ... shown whole
    assert issubclass(ap.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
    options = [a for a in ap._actions
               if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS]
    assert options, name
    for a in options:
        assert a.help and a.help.strip(), (name, a.option_strings)
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0
    out = _squash(capsys.readouterr().out)
    for a in options:
        shown = f"(default: {a.default})" if not isinstance(a.default, list) else "(default: ["
        assert shown in out, (name, a.option_strings)


def test_pointer_cache_is_a_library_module_and_a_script(data_dir, capsys):
    pc = _load("pointer_cache")
    assert callable(pc.cache_nll) and callable(pc.main)
    if not (data_dir / "tinyshakespeare" / "input.txt").exists():
        pytest.skip("tinyshakespeare not in the shared data")
    r = pc.main(["--data", str(data_dir), "--steps", "4", "--hidden", "16", "--val-chars",
                 "1500", "--cache-theta", "0.3", "--cache-lambda", "0.1", "--quiet",
                 "--plot", ""])
    grid = r["cache"]["grid"]
    assert set(grid) == {"base", (0.3, 0.1)}
    assert r["cache"]["ppl_with"] == pytest.approx(np.exp(grid[(0.3, 0.1)]))
    assert "pointer cache (n=100)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- missing data
def _offline(monkeypatch, tmp_path):
    """No network: every download fails as a DNS failure would; an empty cache."""
    calls = []

    def fail(url, timeout=60.0):
        calls.append(url)
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(download_mod, "fetch", fail)
    monkeypatch.setenv("AUTODIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTODIFF_DATA", raising=False)
    return calls


def _expect_short_message(mod, argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        mod.main(argv)
    assert e.value.code == 1
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    assert len(cap.err.strip().splitlines()) <= 10
    assert "--data DIR" in cap.err and "AUTODIFF_DATA=DIR" in cap.err
    return cap.err


@pytest.mark.parametrize("name", MNIST_SCRIPTS)
def test_missing_mnist_offline_is_a_short_message(name, tmp_path, monkeypatch, capsys):
    calls = _offline(monkeypatch, tmp_path)
    root = tmp_path / "nowhere" / "data"
    err = _expect_short_message(_load(name), ["--data", str(root)], capsys)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{f}" in err
    assert f"looked in: {root}, {root / 'mnist'}, {root / 'MNIST' / 'raw'}" in err
    assert f"put them in {root / 'mnist'}" in err
    assert "download failed" in err and "Name or service not known" in err
    assert len(calls) == 3                                   # every mirror, first file only
    assert not (tmp_path / "nowhere").exists()               # no empty folder left behind


def test_missing_tinyshakespeare_offline_is_a_short_message(tmp_path, monkeypatch, capsys):
    _offline(monkeypatch, tmp_path)
    import autodiff.data.paths as paths
    monkeypatch.setattr(paths, "_CHECKOUT_DATA", tmp_path / "no-checkout-data")
    err = _expect_short_message(_load("char_lm"), [], capsys)
    cache = tmp_path / "cache"
    assert err.startswith("tinyshakespeare: missing input.txt")
    assert f"put it in {cache / 'tinyshakespeare'}" in err
    assert ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
            "input.txt") in err
    assert not cache.exists()


def test_missing_cifar_given_with_data_is_a_short_message(tmp_path, monkeypatch, capsys):
    _offline(monkeypatch, tmp_path)
    err = _expect_short_message(_load("resnet_cifar"), ["--data", str(tmp_path)], capsys)
    assert "data_batch_1.bin" in err and "cifar-10-binary.tar.gz" in err
    assert "not downloaded automatically" in err


# ----------------------------------------------------------------------------- --resume
def _interrupted_after_first_save(mod, argv, monkeypatch):
    """Run ``argv`` and stop it right after its first checkpoint, as an interruption would."""
    import _common

    class Stop(Exception):
        pass

    save = _common.Checkpoint.save

    def save_then_stop(self, **progress):
        save(self, **progress)
        raise Stop

    with monkeypatch.context() as m:
        m.setattr(_common.Checkpoint, "save", save_then_stop)
        with pytest.raises(Stop):
            mod.main(argv)


@pytest.fixture
def grad_calls(monkeypatch) -> dict:
    """Counts backward sweeps (``Tensor.backward`` and ``ad.grad``) in ``["n"]``: a resumed
    run must do fewer than the whole run, or it started over instead of continuing."""
    calls = {"n": 0}

    def counted(fn):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(ad.Tensor, "backward", counted(ad.Tensor.backward))
    monkeypatch.setattr(ad, "grad", counted(ad.grad))
    return calls


def _same_weights(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k].numpy(), sb[k].numpy(), err_msg=k)


def test_mnist_mlp_resume_continues_exactly(data_dir, tmp_path, grad_calls):
    mod = _load("mnist_mlp")
    base = ["--data", str(data_dir), "--n-train", "256", "--batch-size", "32", "--momentum",
            "0.9", "--quiet", "--plot", ""]
    full = mod.main(base + ["--epochs", "3"])
    assert grad_calls["n"] == 24
    ckpt = tmp_path / "mlp.npz"
    first = mod.main(base + ["--epochs", "1", "--save", str(ckpt)])
    grad_calls["n"] = 0
    saved = ad.load(ckpt)
    assert saved["script"] == "mnist_mlp" and saved["progress"]["history"][0]["epoch"] == 1
    assert set(saved["objects"]) == {"model", "optimizer", "shuffle"}
    assert saved["objects"]["optimizer"]["state"]                # momentum buffers are kept
    rest = mod.main(base + ["--epochs", "3", "--resume", str(ckpt)])
    assert grad_calls["n"] == 16                                 # only epochs 2 and 3 ran
    assert first["losses"] == full["losses"][:8]
    assert rest["losses"] == full["losses"]                      # every batch, bit for bit
    assert [h["test_acc"] for h in rest["history"]] == [h["test_acc"] for h in full["history"]]
    _same_weights(rest["model"], full["model"])
    assert full["losses"][-1] < full["losses"][0]


def test_resnet_resume_mid_run_continues_exactly(tmp_path, monkeypatch, grad_calls):
    """Iteration-based with augmentation and a 1cycle schedule: stopped after its first pass
    (3 of 7 iterations), resumed, it ends where the uninterrupted run ends."""
    mod = _load("resnet_cifar")
    base = ["--depth", "8", "--iters", "7", "--batch-size", "8", "--n-synthetic", "24",
            "--n-synthetic-test", "16", "--recipe", "1cycle", "--quiet", "--plot", ""]
    full = mod.main(base)
    ckpt = tmp_path / "r.npz"
    _interrupted_after_first_save(mod, base + ["--save", str(ckpt)], monkeypatch)
    assert ad.load(ckpt)["progress"]["iters_done"] == 3
    grad_calls["n"] = 0
    rest = mod.main(base + ["--resume", str(ckpt)])
    assert grad_calls["n"] == 4
    assert rest["train_losses"] == full["train_losses"] and len(full["train_losses"]) == 7
    assert rest["test_loss"] == full["test_loss"]
    _same_weights(rest["model"], full["model"])


def test_seq2seq_resume_continues_exactly(tmp_path, monkeypatch, grad_calls):
    mod = _load("seq2seq")
    base = ["--length", "3", "--steps", "20", "--hidden", "16", "--emb", "8", "--batch", "8",
            "--test-size", "20", "--quiet", "--plot", ""]
    full = mod.main(base)
    ckpt = tmp_path / "s.npz"
    _interrupted_after_first_save(mod, base + ["--save", str(ckpt)], monkeypatch)
    grad_calls["n"] = 0
    rest = mod.main(base + ["--resume", str(ckpt)])
    assert grad_calls["n"] == 18
    assert len(ad.load(ckpt)["progress"]["losses"]) == 2        # saved every steps // 10
    assert rest["losses"] == full["losses"]
    assert rest["beam_token_acc"] == full["beam_token_acc"]
    _same_weights(rest["model"], full["model"])


@pytest.mark.parametrize("name, argv, keys", [
    ("legendre", ["--steps", "300", "--plot", ""], ["a", "b", "c", "d", "loss"]),
    ("linear_regression", ["--iters", "300"], ["m", "b", "error_after", "history"]),
    ("hessian_svm", ["--steps", "250", "--quiet"], ["loss", "accuracy", "lambda_max"]),
    ("class_imbalance", ["--n", "400", "--epochs", "3", "--quiet"], ["plain", "sampler"]),
])
def test_small_fits_resume_exactly(name, argv, keys, tmp_path, monkeypatch, grad_calls):
    """The resumed run ends where the uninterrupted one does, having done less work."""
    mod = _load(name)
    full = mod.main(argv)
    full_calls = grad_calls["n"]
    ckpt = tmp_path / "c.npz"
    _interrupted_after_first_save(mod, argv + ["--save", str(ckpt)], monkeypatch)
    grad_calls["n"] = 0
    rest = mod.main(argv + ["--resume", str(ckpt)])
    assert 0 < grad_calls["n"] < full_calls
    for k in keys:
        assert rest[k] == full[k], (name, k)


def test_resume_refuses_another_scripts_checkpoint(data_dir, tmp_path):
    ckpt = tmp_path / "s.npz"
    _load("seq2seq").main(["--length", "2", "--steps", "2", "--hidden", "8", "--emb", "4",
                           "--batch", "4", "--test-size", "4", "--quiet", "--plot", "",
                           "--save", str(ckpt)])
    with pytest.raises(SystemExit, match="not a checkpoint of mnist_mlp.py .*seq2seq"):
        _load("mnist_mlp").main(["--data", str(data_dir), "--resume", str(ckpt)])


# ----------------------------------------------------------------------------- MNIST split
def _write_idx(path: Path, arr: np.ndarray) -> None:
    head = (0x0800 + arr.ndim).to_bytes(4, "big")
    head += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


def test_mnist_examples_use_the_training_set_when_present(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = tmp_path / "data" / "mnist"
    d.mkdir(parents=True)
    sets = {"train": (96, rng.integers(0, 256, (96, 28, 28)), rng.integers(0, 10, 96)),
            "t10k": (40, rng.integers(0, 256, (40, 28, 28)), rng.integers(0, 10, 40))}
    for prefix, (_, x, y) in sets.items():
        _write_idx(d / f"{prefix}-images-idx3-ubyte.gz", x)
        _write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", y)
    mod = _load("mnist_mlp")
    xtr, ytr, xte, yte = mod.load_data(str(tmp_path / "data"), say=print)
    assert "the training set (96 images) and the test set (40)" in capsys.readouterr().out
    np.testing.assert_array_equal(ytr, sets["train"][2])
    np.testing.assert_array_equal(yte, sets["t10k"][2])
    ref = (sets["train"][1].reshape(96, 784) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(xtr, ref, rtol=1e-5, atol=1e-5)
    r = mod.main(["--data", str(tmp_path / "data"), "--epochs", "1", "--batch-size", "32",
                  "--quiet", "--plot", ""])
    assert len(r["losses"]) == 3                                 # 96 / 32 batches


def test_mnist_examples_split_the_test_set_without_training_files(data_dir, capsys):
    xtr, ytr, xte, yte = _load("mnist_mlp").load_data(str(data_dir), n_train=100, say=print)
    assert "the 10k test set split 8000 train / 2000 test" in capsys.readouterr().out
    assert xtr.shape == (100, 784) and xte.shape == (2000, 784)
    from autodiff.data import load_mnist
    _, labels = load_mnist(data_dir)
    np.testing.assert_array_equal(ytr, labels[:100])
    np.testing.assert_array_equal(yte, labels[8000:])


# ----------------------------------------------------------------------------- progress
def test_plain_lines_off_a_terminal_and_quiet(data_dir, capsys):
    mod = _load("mnist_mlp")
    args = ["--data", str(data_dir), "--n-train", "128", "--epochs", "2", "--plot", ""]
    mod.main(args)
    cap = capsys.readouterr()
    assert re.search(r"epoch 1/2: loss \d\.\d{4}  train acc", cap.out)
    assert re.search(r"epoch 2/2: loss \d\.\d{4}  train acc", cap.out)
    assert "\r" not in cap.out + cap.err and "it/s" not in cap.err   # no bar
    mod.main(args + ["--quiet"])
    out = capsys.readouterr().out
    assert "epoch 1/2" not in out and "after 2 epochs: test accuracy" in out


def test_bars_with_loss_and_accuracy_on_a_terminal(data_dir, monkeypatch, capsys):
    progress = importlib.import_module("autodiff.data.progress")
    monkeypatch.setattr(progress, "interactive", lambda: True)
    mod = _load("mnist_mlp")
    import _common                                             # redraw at every batch
    monkeypatch.setattr(_common, "progress", functools.partial(progress.progress, mininterval=0))
    mod.main(["--data", str(data_dir), "--n-train", "128", "--epochs", "1",
                             "--plot", ""])
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "acc=" in err and "batch/s" in err


def test_resnet_says_the_data_is_generated_estimates_time_and_logs_the_used_lr(capsys):
    r = _load("resnet_cifar").main(["--depth", "8", "--iters", "6", "--batch-size", "4",
                                    "--n-synthetic", "24", "--n-synthetic-test", "8",
                                    "--recipe", "1cycle", "--log-every", "1", "--plot", ""])
    out = capsys.readouterr().out
    assert "GENERATED CIFAR-shaped images" in out and r["source"].startswith("generated")
    assert re.search(r"estimated time: .* for 6 iterations", out)
    lrs = [float(v) for v in re.findall(r"iter +\d+  lr (-?\d+\.\d+)", out)]
    # OneCycleLR, three phases over 6 steps: 0.08 up to 0.8, back, then down to 0.08 / 100;
    # the last line shows the LR the last iteration used, not the schedule past its end
    assert len(lrs) == 6 and lrs[0] == 0.08 and lrs[-1] == 0.0008 and min(lrs) > 0


# ----------------------------------------------------------------------------- plots
def test_plots_written_or_the_extra_named(data_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    mod = _load("mnist_mlp")
    args = ["--data", str(data_dir), "--n-train", "64", "--epochs", "1", "--quiet"]
    mod.main(args)
    png = tmp_path / "mnist_mlp.png"                            # the default name, cwd
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "plot written to mnist_mlp.png" in capsys.readouterr().out
    png.unlink()
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # as if not installed
    mod.main(args)
    out = capsys.readouterr().out
    assert 'matplotlib is not installed, so no plot was written (pip install -e ".[plots]")' \
        in out
    assert not png.exists()


def test_texture_synthesis_writes_png_and_ppm(tmp_path):
    pytest.importorskip("matplotlib")
    _load("texture_synthesis").main(["--size", "8", "--steps", "1", "--max-iter", "3",
                                     "--channels", "4", "--quiet"])
    assert (tmp_path / "texture_synthesis.ppm").read_bytes().startswith(b"P6 8 8 255\n")
    assert (tmp_path / "texture_synthesis.png").read_bytes()[:4] == b"\x89PNG"
