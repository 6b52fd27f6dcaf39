"""Learning-rate schedulers vs the closed forms of PyTorch's documentation (``ref_optim``) and,
where installed, torch.optim.lr_scheduler."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from ref_optim import SCHEDULES as CLOSED_FORMS
from ref_optim import onecycle

import autodiff as ad
from autodiff import optim
from autodiff.optim import lr_scheduler as S

N = 25


def _opt(kind="sgd", lr=0.1, groups=1):
    ps = [ad.tensor([1.0], requires_grad=True) for _ in range(groups)]
    spec = [{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)]
    if kind == "sgd":
        return optim.SGD(spec, lr=lr, momentum=0.9)
    return optim.Adam(spec, lr=lr)


def _torch_opt(torch, kind="sgd", lr=0.1, groups=1):
    ps = [torch.tensor([1.0], requires_grad=True) for _ in range(groups)]
    spec = [{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)]
    if kind == "sgd":
        return torch.optim.SGD(spec, lr=lr, momentum=0.9)
    return torch.optim.Adam(spec, lr=lr)


def _run(opt, sched, n=N, key=None):
    out = [[g["lr"] if key is None else key(g) for g in opt.param_groups]]
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append([g["lr"] if key is None else key(g) for g in opt.param_groups])
    return np.array(out)


SCHEDULES = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.8)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 15], gamma=0.1)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)),  # past T_max the cosine rises again
    ("CosineAnnealingLR", dict(T_max=7)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
]
SCHEDULE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(SCHEDULES)]


def closed_form(name: str, kw: dict):
    """``lr(base, epoch)`` of the schedule, from ``ref_optim``."""
    return partial(CLOSED_FORMS[name], **kw)


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_closed_form(name, kw):
    opt = _opt(groups=2)
    lrs = _run(opt, getattr(S, name)(opt, **kw))
    closed = closed_form(name, kw)
    want = np.array([[closed(0.1, e), closed(0.2, e)] for e in range(N + 1)])
    np.testing.assert_allclose(lrs, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kw", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_torch(torch, name, kw):
    opt = _opt(groups=2)
    lrs = _run(opt, getattr(S, name)(opt, **kw))
    topt = _torch_opt(torch, groups=2)
    tlrs = _run(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw))
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kw", SCHEDULES[:6], ids=SCHEDULE_IDS[:6])
def test_step_with_epoch_uses_closed_form(name, kw):
    opt = _opt()
    sched = getattr(S, name)(opt, **kw)
    closed = closed_form(name, kw)
    for e in (5, 2, 17):
        sched.step(e)
        np.testing.assert_allclose(opt.param_groups[0]["lr"], closed(0.1, e), rtol=1e-12)


def test_scheduler_state_dict_resumes():
    opt = _opt()
    sched = S.StepLR(opt, step_size=3, gamma=0.5)
    for _ in range(4):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    rest = _run(opt, sched, 6)
    opt2 = _opt()
    opt2.param_groups[0]["lr"] = sd["_last_lr"][0]
    opt2.param_groups[0]["initial_lr"] = 0.1
    sched2 = S.StepLR(opt2, step_size=3, gamma=0.5, last_epoch=sd["last_epoch"] - 1)
    sched2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = sd["_last_lr"][0]
    np.testing.assert_allclose(_run(opt2, sched2, 6), rest, rtol=1e-15)


def test_resume_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), step_size=2, last_epoch=3)


# ----------------------------------------------------------------------------- OneCycleLR
def _momentum(kind):
    return (lambda g: g["momentum"]) if kind == "sgd" else (lambda g: g["betas"][0])


@pytest.mark.parametrize("kw", [dict(), dict(anneal_strategy="linear"),
                                dict(three_phase=True), dict(pct_start=0.25, div_factor=10,
                                                            final_div_factor=100)])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_curves(kw, kind):
    total = 40
    opt = _opt(kind)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=total, **kw)
    lrs = _run(opt, sched, total - 1)[:, 0]
    moms = _run(_o := _opt(kind), S.OneCycleLR(_o, max_lr=1.0, total_steps=total, **kw),
                total - 1, key=_momentum(kind))[:, 0]
    want = np.array([onecycle(s, total, 1.0, **kw) for s in range(total)])
    np.testing.assert_allclose(lrs, want[:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(moms, want[:, 1], rtol=1e-12, atol=1e-15)
    # shape of the cycle: warm-up from max/div to max, then annihilation to max/(div*final)
    div, final = kw.get("div_factor", 25.0), kw.get("final_div_factor", 1e4)
    assert lrs[0] == pytest.approx(1.0 / div)
    assert lrs.max() == pytest.approx(1.0, rel=1e-2)
    assert lrs[-1] == pytest.approx(1.0 / (div * final))
    assert moms[0] == pytest.approx(0.95) and moms.min() == pytest.approx(0.85, abs=1e-3)
    assert moms[-1] == pytest.approx(0.95)
    if kind == "adam":
        assert opt.param_groups[0]["betas"][1] == 0.999


ONECYCLE = [dict(), dict(three_phase=True, anneal_strategy="linear")]


def _onecycle_run(optim_mod, sched_mod, kind, kw):
    """lr and momentum of both groups (max_lr 1 and 2) over the whole 3 x 7 step cycle."""
    out = []
    for key in (None, _momentum(kind)):
        opt = optim_mod(kind, groups=2)
        sched = sched_mod.OneCycleLR(opt, max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=7, **kw)
        out.append(_run(opt, sched, 20, key=key))
    return out


@pytest.mark.parametrize("kw", ONECYCLE)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_per_group_matches_closed_form(kind, kw):
    lrs, moms = _onecycle_run(_opt, S, kind, kw)
    for j, max_lr in enumerate((1.0, 2.0)):
        want = np.array([onecycle(s, 21, max_lr, **kw) for s in range(21)])
        np.testing.assert_allclose(lrs[:, j], want[:, 0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(moms[:, j], want[:, 1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kw", ONECYCLE)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_matches_torch(torch, kind, kw):
    ours = _onecycle_run(_opt, S, kind, kw)
    theirs = _onecycle_run(partial(_torch_opt, torch), torch.optim.lr_scheduler, kind, kw)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_onecycle_errors():
    opt = _opt()
    sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=5)
    for _ in range(4):
        sched.step()
    sched.step()  # step 5 == total_steps is allowed (as in PyTorch)
    with pytest.raises(ValueError, match="total number of steps is 5"):
        sched.step()
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(_opt(), max_lr=0.5)
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(optim.Adagrad([ad.tensor([1.0], requires_grad=True)]), max_lr=0.5,
                     total_steps=5)
    S.OneCycleLR(optim.Adagrad([ad.tensor([1.0], requires_grad=True)]), max_lr=0.5,
                 total_steps=5, cycle_momentum=False)
