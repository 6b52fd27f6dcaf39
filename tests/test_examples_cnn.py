"""The convolutional examples end to end, on reduced sizes."""
from __future__ import annotations

import math

import pytest
from examples_util import in_tmp, load_example as _load  # noqa: F401


def test_mnist_cnn_example_learns(data_dir, capsys):
    if not (data_dir / "mnist").exists():
        pytest.skip("MNIST not in the shared data directory")
    res = _load("mnist_cnn").main(["--data", str(data_dir), "--epochs", "1", "--lr", "0.02",
                                   "--n-train", "2000", "--batch-size", "32"])
    assert res["test_acc"] > 0.85
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("recipe", ["paper", "1cycle"])
def test_resnet_example_runs_on_synthetic_data(recipe, capsys):
    res = _load("resnet_cifar").main(["--depth", "8", "--iters", "3", "--batch-size", "8",
                                      "--n-synthetic", "32", "--n-synthetic-test", "16",
                                      "--recipe", recipe, "--log-every", "1",
                                      "--shortcut", "B" if recipe == "1cycle" else "A"])
    assert res["iters"] == 3 and len(res["train_losses"]) == 3
    assert all(math.isfinite(v) for v in res["train_losses"])
    assert 0.0 <= res["test_acc"] <= 1.0
    out = capsys.readouterr().out
    assert "final: test loss" in out and "ms/iter" in out


def test_resnet_schedules():
    import autodiff as ad
    from autodiff import optim
    mod = _load("resnet_cifar")
    w = ad.zeros(1, requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    sched = mod.make_schedule(opt, "paper", 64000, 20)
    lrs = {}
    for it in range(1, 64000):
        sched.step()
        if it in (31999, 32000, 47999, 48000):
            lrs[it] = opt.param_groups[0]["lr"]
    assert lrs[31999] == pytest.approx(0.1) and lrs[32000] == pytest.approx(0.01)
    assert lrs[47999] == pytest.approx(0.01) and lrs[48000] == pytest.approx(0.001)
    opt = optim.SGD([w], lr=0.08, momentum=0.95)
    sched = mod.make_schedule(opt, "1cycle", 1000, 20)
    lr, mom = [], []
    for _ in range(999):
        lr.append(opt.param_groups[0]["lr"])
        mom.append(opt.param_groups[0]["momentum"])
        sched.step()
    assert lr[0] == pytest.approx(0.08) and max(lr) == pytest.approx(0.8, rel=1e-2)
    assert mom[0] == pytest.approx(0.95) and min(mom) == pytest.approx(0.85, rel=1e-2)
    assert lr[898] == pytest.approx(0.08) and lr.index(max(lr)) == 449 and lr[-1] < 0.002
