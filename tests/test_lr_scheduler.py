"""Learning-rate schedulers vs closed forms and torch.optim.lr_scheduler."""
from __future__ import annotations

import math

import numpy as np
import pytest

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
    ("StepLR", dict(step_size=4, gamma=0.5),
     lambda b, e: b * 0.5 ** (e // 4)),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 15], gamma=0.1),
     lambda b, e: b * 0.1 ** sum(m <= e for m in [3, 7, 7, 15])),
    ("ExponentialLR", dict(gamma=0.9),
     lambda b, e: b * 0.9 ** e),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01),
     lambda b, e: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * e / 10)) / 2),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e)),
     lambda b, e: b / (1 + e)),
]


@pytest.mark.parametrize("name,kw,closed", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_closed_form(name, kw, closed):
    opt = _opt(groups=2)
    lrs = _run(opt, getattr(S, name)(opt, **kw))
    want = np.array([[closed(0.1, e), closed(0.2, e)] for e in range(N + 1)])
    np.testing.assert_allclose(lrs, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kw,closed", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(torch, name, kw, closed):
    opt = _opt(groups=2)
    lrs = _run(opt, getattr(S, name)(opt, **kw))
    topt = _torch_opt(torch, groups=2)
    tlrs = _run(topt, getattr(torch.optim.lr_scheduler, name)(topt, **kw))
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,kw,closed", SCHEDULES[:4], ids=[s[0] for s in SCHEDULES[:4]])
def test_step_with_epoch_uses_closed_form(name, kw, closed):
    opt = _opt()
    sched = getattr(S, name)(opt, **kw)
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
def onecycle_closed(step, total, max_lr, pct=0.3, div=25.0, final_div=1e4, linear=False,
                    three=False, base_m=0.85, max_m=0.95):
    """Independent transcription of the 1cycle policy: (lr, momentum) at ``step``."""
    lo = max_lr / div
    mn = lo / final_div

    def interp(a, b, f):
        return a + (b - a) * f if linear else b + (a - b) * (1 + math.cos(math.pi * f)) / 2

    e1 = pct * total - 1
    if three:
        e2 = 2 * pct * total - 2
        if step <= e1:
            f = step / e1
            return interp(lo, max_lr, f), interp(max_m, base_m, f)
        if step <= e2:
            f = (step - e1) / (e2 - e1)
            return interp(max_lr, lo, f), interp(base_m, max_m, f)
        f = (step - e2) / (total - 1 - e2)
        return interp(lo, mn, f), max_m
    if step <= e1:
        f = step / e1
        return interp(lo, max_lr, f), interp(max_m, base_m, f)
    f = (step - e1) / (total - 1 - e1)
    return interp(max_lr, mn, f), interp(base_m, max_m, f)


@pytest.mark.parametrize("kw", [dict(), dict(anneal_strategy="linear"),
                                dict(three_phase=True), dict(pct_start=0.25, div_factor=10,
                                                            final_div_factor=100)])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_curves(kw, kind):
    total = 40
    opt = _opt(kind)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=total, **kw)
    mom = (lambda g: g["momentum"]) if kind == "sgd" else (lambda g: g["betas"][0])
    lrs = _run(opt, sched, total - 1)[:, 0]
    moms = _run(_o := _opt(kind), S.OneCycleLR(_o, max_lr=1.0, total_steps=total, **kw),
                total - 1, key=mom)[:, 0]
    ck = dict(pct=kw.get("pct_start", 0.3), div=kw.get("div_factor", 25.0),
              final_div=kw.get("final_div_factor", 1e4),
              linear=kw.get("anneal_strategy") == "linear", three=kw.get("three_phase", False))
    want = np.array([onecycle_closed(s, total, 1.0, **ck) for s in range(total)])
    np.testing.assert_allclose(lrs, want[:, 0], rtol=1e-12)
    np.testing.assert_allclose(moms, want[:, 1], rtol=1e-12)
    # shape of the cycle: warm-up from max/div to max, then annihilation to max/(div*final)
    div, final = ck["div"], ck["final_div"]
    assert lrs[0] == pytest.approx(1.0 / div)
    assert lrs.max() == pytest.approx(1.0, rel=1e-2)
    assert lrs[-1] == pytest.approx(1.0 / (div * final))
    assert moms[0] == pytest.approx(0.95) and moms.min() == pytest.approx(0.85, abs=1e-3)
    assert moms[-1] == pytest.approx(0.95)
    if kind == "adam":
        assert opt.param_groups[0]["betas"][1] == 0.999


@pytest.mark.parametrize("kw", [dict(), dict(three_phase=True, anneal_strategy="linear")])
def test_onecycle_matches_torch(torch, kw):
    opt = _opt("adam", groups=2)
    ours = _run(opt, S.OneCycleLR(opt, max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=7, **kw),
                20)
    topt = _torch_opt(torch, "adam", groups=2)
    theirs = _run(topt, torch.optim.lr_scheduler.OneCycleLR(
        topt, max_lr=[1.0, 2.0], epochs=3, steps_per_epoch=7, **kw), 20)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert opt.param_groups[1]["betas"][0] == pytest.approx(topt.param_groups[1]["betas"][0])


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
