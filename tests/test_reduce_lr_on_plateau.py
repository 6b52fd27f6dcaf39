"""optim.lr_scheduler.ReduceLROnPlateau, step by step: against hand-computed schedules, a
plain-Python transcription of the algorithm PyTorch documents (patience, threshold modes,
cooldown, min_lr, eps), and torch with the same metrics; state_dict round trips."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import optim
from autodiff.optim.lr_scheduler import ReduceLROnPlateau


def documented_schedule(metrics, lrs, mode="min", factor=0.1, patience=10, threshold=1e-4,
                        threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    """The LRs after each epoch, from PyTorch's documentation: an epoch is an improvement when
    the metric beats the best by the threshold (rel: best * (1 -+ threshold), abs: best -+
    threshold); once more than ``patience`` epochs in a row have not improved, every LR becomes
    max(lr * factor, min_lr) unless that changes it by at most eps; the ``cooldown`` epochs
    after a reduction do not count as bad."""
    sign = 1 if mode == "min" else -1
    best = math.inf * sign
    lrs = list(lrs)
    mins = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(lrs)
    bad = quiet = 0
    out = []
    for m in metrics:
        if threshold_mode == "rel":
            bar = best * (1 - sign * threshold)
        else:
            bar = best - sign * threshold
        if sign * m < sign * bar:
            best, bad = m, 0
        else:
            bad += 1
        if quiet:
            quiet, bad = quiet - 1, 0
        if bad > patience:
            lrs = [max(lr * factor, lo) if lr - max(lr * factor, lo) > eps else lr
                   for lr, lo in zip(lrs, mins)]
            quiet, bad = cooldown, 0
        out.append(lrs)
    return out


def _optimizer(lrs=(0.1,)):
    groups = [{"params": [ad.tensor([1.0], requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def _run(metrics, lrs=(0.1,), **kw):
    opt = _optimizer(lrs)
    sched = ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        sched.step(m)
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
    return out


def test_hand_computed_patience_and_cooldown():
    # patience 1: reduce on the second bad epoch in a row; cooldown 2: the two epochs after a
    # reduction do not count
    lrs = [lr[0] for lr in _run([5, 4, 4, 4, 4, 4, 4, 4, 3], patience=1, cooldown=2,
                               factor=0.5, lrs=(1.0,))]
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_hand_computed_min_lr_and_eps():
    lrs = [lr[0] for lr in _run([1.0] * 6, patience=0, factor=0.5, min_lr=0.3, lrs=(1.0,))]
    assert lrs == [1.0, 0.5, 0.3, 0.3, 0.3, 0.3]
    # a reduction of at most eps is skipped
    lrs = [lr[0] for lr in _run([1.0] * 3, patience=0, factor=0.5, eps=0.6, lrs=(1.0,))]
    assert lrs == [1.0, 1.0, 1.0]


_CONFIGS = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(mode="max", patience=1, threshold=0.05),
    dict(mode="max", threshold_mode="abs", threshold=0.2, patience=0, cooldown=1),
    dict(threshold_mode="abs", threshold=0.1, patience=1, cooldown=3, min_lr=[0.01, 0.002]),
    dict(patience=0, factor=0.3, eps=1e-3, min_lr=1e-4),
]


def _metrics(seed):
    r = np.random.default_rng(seed)
    # a noisy descent, then a noisy plateau: improvements, bad epochs and reductions
    trend = np.concatenate([1.0 - 0.04 * np.arange(15), np.full(25, 0.45)])
    return list(np.round(trend + r.normal(0, 0.03, 40), 6))


@pytest.mark.parametrize("kw", _CONFIGS)
def test_against_documented_algorithm(kw):
    for seed in range(3):
        metrics = _metrics(seed)
        got = _run(metrics, lrs=(0.1, 0.05), **kw)
        want = documented_schedule(metrics, (0.1, 0.05), **kw)
        np.testing.assert_allclose(got, want, rtol=1e-15)
        assert got[-1] != got[0]            # the sequence reduces the LRs


@pytest.mark.parametrize("kw", _CONFIGS)
def test_against_torch(torch, kw):
    metrics = _metrics(7)
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([{"params": [p], "lr": 0.1},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.05}])
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    want = []
    for m in metrics:
        tsched.step(m)
        want.append([g["lr"] for g in topt.param_groups])
    assert _run(metrics, lrs=(0.1, 0.05), **kw) == want


def test_state_dict_resumes_the_same_schedule():
    metrics = _metrics(3)
    kw = dict(patience=1, cooldown=2, factor=0.5)
    opt = _optimizer()
    sched = ReduceLROnPlateau(opt, **kw)
    for m in metrics[:15]:
        sched.step(m)
    state = sched.state_dict()
    assert "optimizer" not in state and state["num_bad_epochs"] == sched.num_bad_epochs
    opt2 = _optimizer((opt.param_groups[0]["lr"],))
    resumed = ReduceLROnPlateau(opt2, mode="max")     # overwritten by the state
    resumed.load_state_dict(state)
    assert resumed.mode == "min" and resumed.best == sched.best
    for m in metrics[15:]:
        sched.step(m)
        resumed.step(ad.tensor(m))                      # a 0-d tensor metric, as PyTorch
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert resumed.last_epoch == len(metrics)
    with pytest.warns(UserWarning, match="deprecated"):
        resumed.step(1.0, epoch=100)
    assert resumed.last_epoch == 100


def test_construction_does_not_step_and_errors():
    opt = _optimizer((0.1, 0.2))
    sched = ReduceLROnPlateau(opt)
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.2]
    assert isinstance(sched, optim.lr_scheduler.LRScheduler)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="threshold mode"):
        ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="min_lrs"):
        ReduceLROnPlateau(opt, min_lr=[0.1])
    with pytest.raises(TypeError, match="Optimizer"):
        ReduceLROnPlateau([ad.tensor([1.0])])
    sched = ReduceLROnPlateau(opt, min_lr=[0.0, 0.0], patience=0)
    opt.add_param_group({"params": [ad.tensor([2.0], requires_grad=True)], "lr": 0.3})
    sched.step(1.0)
    with pytest.raises(RuntimeError, match="min_lr"):
        sched.step(1.0)
