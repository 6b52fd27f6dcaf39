"""The LR range test on a small linear regression: schedule, smoothing, early stop, suggestion
and exact restoration of the model's and the optimizer's state."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import autodiff as ad
from autodiff import optim
from autodiff.optim import LRFinder, find_lr

D, N, BS = 3, 1024, 16
_rng = np.random.default_rng(0)
X = _rng.normal(size=(N, D))
W_TRUE = np.array([[2.0], [-1.0], [0.5]])
Y = X @ W_TRUE + 0.3 + 0.1 * _rng.normal(size=(N, 1))
BATCHES = [(ad.tensor(X[i:i + BS]), ad.tensor(Y[i:i + BS])) for i in range(0, N, BS)]


class TinyLinear:
    """A duck-typed model: parameters(), state_dict(), load_state_dict(), __call__."""

    def __init__(self) -> None:
        r = np.random.default_rng(1)
        self.weight = ad.tensor(r.normal(size=(D, 1)) * 0.1, requires_grad=True)
        self.bias = ad.tensor(np.zeros(1), requires_grad=True)

    def parameters(self):
        return [self.weight, self.bias]

    def state_dict(self):
        return {"weight": self.weight, "bias": self.bias}

    def load_state_dict(self, sd):
        self.weight.array[...] = sd["weight"].array
        self.bias.array[...] = sd["bias"].array

    def __call__(self, x):
        return x @ self.weight + self.bias


def mse(pred, y):
    return ((pred - y) ** 2).mean()


def _snapshot(model, opt):
    return ([p.numpy().copy() for p in model.parameters()],
            opt.state_dict())


def _check_restored(model, opt, before):
    params, sd = before
    for p, a in zip(model.parameters(), params):
        np.testing.assert_array_equal(p.numpy(), a)
    now = opt.state_dict()
    assert now["param_groups"] == sd["param_groups"]
    for k, st in sd["state"].items():
        for name, v in st.items():
            np.testing.assert_array_equal(now["state"][k][name], v)


def _warm_up(model, opt):
    opt.zero_grad()
    mse(model(BATCHES[0][0]), BATCHES[0][1]).backward()
    opt.step()  # so the optimizer has state (momentum buffers) worth restoring


def test_find_lr_schedule_smoothing_and_restore():
    model = TinyLinear()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    _warm_up(model, opt)
    before = _snapshot(model, opt)
    res = find_lr(model, opt, mse, BATCHES, start_lr=1e-6, end_lr=10.0)
    lrs, losses = res
    n = len(BATCHES)
    # geometric schedule from start_lr towards end_lr over one epoch
    ratio = (10.0 / 1e-6) ** (1 / (n - 1))
    np.testing.assert_allclose(lrs, 1e-6 * ratio ** np.arange(len(lrs)), rtol=1e-10)
    # bias-corrected exponential smoothing of the raw losses
    avg, want = 0.0, []
    for i, v in enumerate(res.raw_losses, start=1):
        avg = 0.98 * avg + 0.02 * v
        want.append(avg / (1 - 0.98 ** i))
    np.testing.assert_allclose(losses, want, rtol=1e-12)
    # diverged before the end (SGD on this problem is unstable above lr ~ 1)
    assert len(lrs) < n and lrs[-1] > 0.5
    # the suggestion: ten times below the LR at the minimum smoothed loss
    k = int(np.argmin(losses))
    assert res.suggested_lr == pytest.approx(lrs[k] / 10) and res.best_lr == lrs[k]
    assert 1e-3 < res.suggested_lr < 1.0
    _check_restored(model, opt, before)
    assert opt.param_groups[0]["lr"] == 0.01
    # the suggested LR trains well from the restored weights
    opt.param_groups[0]["lr"] = res.suggested_lr
    for x, y in BATCHES:
        opt.zero_grad()
        mse(model(x), y).backward()
        opt.step()
    final = mse(model(ad.tensor(X)), ad.tensor(Y)).item()
    assert final < 0.05


def test_find_lr_num_iter_and_unsized_loader():
    model = TinyLinear()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    before = _snapshot(model, opt)
    res = find_lr(model, opt, mse, iter(BATCHES), num_iter=10, start_lr=1e-4, end_lr=1e-2)
    assert len(res.lrs) == 10
    np.testing.assert_allclose([res.lrs[0], res.lrs[-1]], [1e-4, 1e-2], rtol=1e-10)
    _check_restored(model, opt, before)
    assert opt.state == {} and opt.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="num_iter"):
        find_lr(model, opt, mse, iter(BATCHES))
    with pytest.raises(ValueError, match="start_lr"):
        find_lr(model, opt, mse, BATCHES, start_lr=1.0, end_lr=0.1)


def test_lr_finder_object_and_plot(tmp_path):
    model = TinyLinear()
    opt = optim.SGD(model.parameters(), lr=0.01)
    finder = LRFinder(model, opt, mse)
    with pytest.raises(RuntimeError, match="range_test"):
        finder.suggestion()
    res = finder.range_test(BATCHES, num_iter=30)
    assert finder.suggestion() == res.suggested_lr
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(ImportError, match="matplotlib"):
            finder.plot()
    else:
        finder.plot(path=str(tmp_path / "lr.png"))
        assert (tmp_path / "lr.png").exists()


def test_find_lr_with_nn_linear():
    nn = pytest.importorskip("autodiff.nn")
    if not hasattr(nn, "Linear") or not hasattr(nn.functional, "mse_loss"):
        pytest.skip("autodiff.nn.Linear not available")
    from autodiff.data import DataLoader, TensorDataset
    ad.manual_seed(0)
    model = nn.Linear(D, 1).double()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    _warm_up(model, opt)
    before = _snapshot(model, opt)
    loader = DataLoader(TensorDataset(X, Y), batch_size=BS, shuffle=True, seed=0)
    res = find_lr(model, opt, nn.functional.mse_loss, loader)
    assert 1e-3 < res.suggested_lr < 1.0
    _check_restored(model, opt, before)
