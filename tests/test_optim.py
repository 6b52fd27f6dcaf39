"""Optimizers vs NumPy transcriptions of the published update rules (``ref_optim``; PyTorch as a
second oracle where installed), the Optimizer base (groups, zero_grad, state_dict), LBFGS and
gradient clipping."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from ref_optim import clip_grad_norm as clip_grad_norm_ref
from ref_optim import lbfgs as lbfgs_ref
from ref_optim import rosenbrock as rosenbrock_np
from ref_optim import run_rule

import autodiff as ad
from autodiff import optim

# ----------------------------------------------------------------------------- the problem
# f(W, b) = sum(c1 * W^2) + sum(c2 * b^2) + (sum(W^4) + sum(b^4)) / 4   (non-quadratic)
_rng = np.random.default_rng(42)
W0 = _rng.normal(size=(3, 4))
B0 = _rng.normal(size=(4,))
C = [_rng.uniform(0.5, 2.0, size=(3, 4)), _rng.uniform(0.5, 2.0, size=(4,))]
INIT = [W0, B0]
STEPS = 6
# a fixed gradient sequence (independent of the parameters): scales that rise and fall, so
# second-moment estimates shrink at times (AMSGrad's maximum matters) and signs flip
FIXED_GRADS = [[_rng.normal(size=w.shape) * scale for w in INIT]
               for scale in (1.0, 3.0, 0.2, 2.0, 0.5, 1.0)]


def np_grad(i: int, w: np.ndarray) -> np.ndarray:
    return 2 * C[i] * w + w ** 3


def ad_loss(params):
    total = 0
    for c, p in zip(C, params):
        total = total + (ad.tensor(c) * p * p).sum() + (p ** 4).sum() / 4
    return total


def torch_loss(torch, params):
    return sum((torch.tensor(c) * p * p).sum() + (p ** 4).sum() / 4 for c, p in zip(C, params))


def ref_grad(mode: str):
    """Parameter i's gradient at step t for ``run_rule``: from the loss, or the fixed one."""
    if mode == "loss":
        return lambda t, i, w: np_grad(i, w)
    return lambda t, i, w: FIXED_GRADS[t - 1][i]


def set_grads(params, mode: str, t: int, tensor, loss) -> None:
    """Gradients for step ``t`` (0-based): backward of ``loss(params)``, or ``FIXED_GRADS[t]``
    assigned through ``tensor`` (a tensor constructor of the library in use)."""
    if mode == "loss":
        loss(params).backward()
    else:
        for p, g in zip(params, FIXED_GRADS[t]):
            p.grad = tensor(g)


def run_ad(cls, kwargs, steps=STEPS, dtype=np.float64, mode="loss"):
    params = [ad.tensor(w.astype(dtype), requires_grad=True) for w in INIT]
    opt = cls(params, **kwargs)
    for t in range(steps):
        opt.zero_grad()
        set_grads(params, mode, t, lambda g: ad.tensor(g.astype(dtype)), ad_loss)
        opt.step()
    return [p.numpy().copy() for p in params], params, opt


def run_torch(torch, name, kwargs, steps=STEPS, mode="loss"):
    params = [torch.tensor(w, requires_grad=True) for w in INIT]
    opt = getattr(torch.optim, name)(params, **kwargs)
    for t in range(steps):
        opt.zero_grad()
        set_grads(params, mode, t, torch.tensor, lambda ps: torch_loss(torch, ps))
        opt.step()
    return [p.detach().numpy() for p in params]


def _check_state(opt, ref_states) -> None:
    """The optimizer's state dict holds, per parameter, exactly the reference's buffers."""
    sd = opt.state_dict()["state"]
    want = {i: s for i, s in enumerate(ref_states) if s}
    assert sorted(sd) == sorted(want)
    for i, s in want.items():
        assert set(sd[i]) == set(s), (i, sorted(sd[i]), sorted(s))
        for k, v in s.items():
            np.testing.assert_allclose(np.asarray(sd[i][k], dtype=np.float64), v, rtol=1e-12,
                                       atol=1e-14, err_msg=k)


# ----------------------------------------------------------------------------- update rules
CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("SGD", dict(lr=0.01, momentum=0.5, dampening=0.5, weight_decay=0.2, maximize=True)),
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.2)),
    ("Adam", dict(lr=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.05, betas=(0.5, 0.8), weight_decay=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.7, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, alpha=0.8, centered=True)),
    ("RMSprop", dict(lr=0.01, eps=1e-2, weight_decay=0.3, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-2, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, rho=0.5, maximize=True)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("mode", ["loss", "fixed"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_update_rule_matches_numpy(name, kwargs, mode):
    got, _, opt = run_ad(getattr(optim, name), kwargs, mode=mode)
    want, states = run_rule(name, kwargs, INIT, ref_grad(mode), STEPS)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    _check_state(opt, states)
    assert not np.allclose(got[0], W0)  # it moved


@pytest.mark.parametrize("mode", ["loss", "fixed"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_update_rule_matches_torch(torch, name, kwargs, mode):
    got, _, _ = run_ad(getattr(optim, name), kwargs, mode=mode)
    want = run_torch(torch, name, kwargs, mode=mode)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls,kwargs", [(optim.SGD, dict(lr=0.1, momentum=0.9)),
                                        (optim.Adam, dict(lr=0.1, amsgrad=True)),
                                        (optim.RMSprop, dict(centered=True, momentum=0.5)),
                                        (optim.Adagrad, {}), (optim.Adadelta, {})])
def test_float32_stays_float32(cls, kwargs):
    got64, _, _ = run_ad(cls, kwargs, steps=3)
    got32, params, opt = run_ad(cls, kwargs, steps=3, dtype=np.float32)
    for p, a, b in zip(params, got32, got64):
        assert p.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for st in opt.state.values():
        for v in st.values():
            if hasattr(v, "dtype"):
                assert v.dtype == np.float32


def test_version_counter_bumped_and_no_graph():
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    v0 = w._version.v
    (w * w).sum().backward()
    opt.step()
    assert w._version.v == v0 + 1
    assert w.grad_fn is None and w.is_leaf


def test_parameters_without_grad_are_skipped():
    a = ad.tensor([1.0], requires_grad=True)
    b = ad.tensor([2.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert b.item() == 2.0 and a.item() != 1.0
    assert b not in opt.state


# ----------------------------------------------------------------------------- NoisySGD
def test_noisy_sgd_matches_reference():
    ad.manual_seed(3)
    got, _, _ = run_ad(optim.NoisySGD, dict(lr=0.05, noise_std=0.3, noise_decay=0.55,
                                            momentum=0.5))
    rng = np.random.default_rng(3)
    ws = [w.copy() for w in INIT]
    bufs = [None, None]
    for t in range(STEPS):
        for i in range(2):
            g = np_grad(i, ws[i]) + 0.3 / (1 + t) ** 0.55 * rng.standard_normal(ws[i].shape)
            bufs[i] = g.copy() if bufs[i] is None else 0.5 * bufs[i] + g
            ws[i] = ws[i] - 0.05 * bufs[i]
    for a, b in zip(got, ws):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_noisy_sgd_escapes_saddle_point():
    # f(x, y) = x^2 - y^2 + y^4 / 4: a saddle at 0, minima at (0, +-sqrt(2)); starting on y = 0
    # the gradient never has a y component, so plain SGD converges to the saddle.
    def run(cls, **kw):
        p = ad.tensor([1.0, 0.0], requires_grad=True)
        opt = cls([p], lr=0.1, **kw)
        for _ in range(200):
            opt.zero_grad()
            x, y = p[0], p[1]
            (x * x - y * y + y ** 4 / 4).backward()
            opt.step()
        return p.numpy()

    plain = run(optim.SGD)
    assert abs(plain[1]) == 0.0 and abs(plain[0]) < 1e-6
    ad.manual_seed(0)
    noisy = run(optim.NoisySGD, noise_std=0.01)
    assert abs(abs(noisy[1]) - math.sqrt(2)) < 0.05


# ----------------------------------------------------------------------------- base class
def test_param_groups_have_own_hyperparameters():
    a = ad.tensor([1.0, 2.0], requires_grad=True)
    b = ad.tensor([3.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.0
    ((a * a).sum() + (b * b).sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), [1 - 0.1 * 2, 2 - 0.1 * 4])
    np.testing.assert_allclose(b.numpy(), [3 - 0.5 * 6])
    # hyper-parameters are mutable and read at every step
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.8, 1.6])


def test_add_param_group_and_errors():
    a = ad.tensor([1.0], requires_grad=True)
    b = ad.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "betas": (0.5, 0.6)})
    assert opt.param_groups[1]["betas"] == (0.5, 0.6) and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: invalid lr=-0.1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), r"SGD: Nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), r"SGD: invalid momentum=-1"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), r"Adam: invalid betas\[0\]=1.0"),
    (lambda p: optim.AdamW(p, eps=-1e-8), r"AdamW: invalid eps=-1e-08"),
    (lambda p: optim.Adam(p, weight_decay=-1), r"Adam: invalid weight_decay=-1"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), r"RMSprop: invalid alpha=-0.5"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), r"Adagrad: invalid lr_decay=-1"),
    (lambda p: optim.Adadelta(p, rho=1.5), r"Adadelta: invalid rho=1.5"),
    (lambda p: optim.NoisySGD(p, noise_std=-1), r"NoisySGD: invalid noise_std=-1"),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"), r"LBFGS: invalid line_search_fn"),
])
def test_bad_hyperparameters_are_named(make, match):
    p = [ad.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError, match=match):
        make(p)


def test_zero_grad():
    a = ad.tensor([1.0, 2.0], requires_grad=True)
    b = ad.tensor([[1.0, 2.0]], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    ((a * a).sum() + b.sum()).backward()  # b's gradient is a read-only broadcast array
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), [0, 0])
    np.testing.assert_array_equal(b.grad.numpy(), [[0, 0]])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("cls,kwargs", [
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.1, amsgrad=True)), (optim.AdamW, dict(lr=0.1)),
    (optim.RMSprop, dict(momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr_decay=0.1)), (optim.Adadelta, {}),
    (optim.LBFGS, dict(lr=0.1, max_iter=3, history_size=4)),
])
def test_state_dict_round_trip_resumes_identically(cls, kwargs):
    def steps(params, opt, n):
        for _ in range(n):
            def closure():
                opt.zero_grad()
                loss = ad_loss(params)
                loss.backward()
                return loss
            opt.step(closure)

    params = [ad.tensor(w, requires_grad=True) for w in INIT]
    opt = cls(params, **kwargs)
    steps(params, opt, 3)
    sd = opt.state_dict()
    mid = [p.numpy().copy() for p in params]
    steps(params, opt, 3)
    want = [p.numpy().copy() for p in params]

    params2 = [ad.tensor(w, requires_grad=True) for w in mid]
    opt2 = cls(params2, **{**kwargs, "lr": 123.0})  # hyper-parameters come from the dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs.get("lr", opt.defaults["lr"])
    steps(params2, opt2, 3)
    for a, b in zip(params2, want):
        np.testing.assert_array_equal(a.numpy(), b)


# state keys per parameter after a step, as PyTorch's optimizers name them (None: no state)
LAYOUTS = [
    ("SGD", dict(lr=0.1), None),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), {"momentum_buffer"}),
    ("Adam", dict(lr=0.1), {"step", "exp_avg", "exp_avg_sq"}),
    ("Adam", dict(lr=0.1, amsgrad=True), {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
    ("AdamW", dict(lr=0.1, weight_decay=0.1), {"step", "exp_avg", "exp_avg_sq"}),
    ("RMSprop", dict(), {"step", "square_avg"}),
    ("RMSprop", dict(momentum=0.5, centered=True),
     {"step", "square_avg", "momentum_buffer", "grad_avg"}),
    ("Adagrad", dict(lr_decay=0.1), {"step", "sum"}),
    ("Adadelta", dict(rho=0.8), {"step", "square_avg", "acc_delta"}),
]
# a group's hyper-parameters: the constructor's keyword arguments
GROUP_KEYS = {
    "SGD": {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"},
    "Adam": {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize",
             "decoupled_weight_decay"},
    "RMSprop": {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"},
    "Adagrad": {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
                "maximize"},
    "Adadelta": {"lr", "rho", "eps", "weight_decay", "maximize"},
    "LBFGS": {"lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
              "history_size", "line_search_fn"},
}
GROUP_KEYS["AdamW"] = GROUP_KEYS["Adam"]
LBFGS_KEYS = {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
              "prev_flat_grad", "prev_loss", "al"}
LAYOUT_INIT = [W0, B0, 2 * B0[:3]]  # groups: [W], [b, c] with lr 0.05


def _layout_grads(t: int) -> list[np.ndarray]:
    return [*FIXED_GRADS[t], FIXED_GRADS[t][0][0, :3]]


def _layout_run(lib, optim_mod, name, kwargs, steps=2):
    ps = [lib.tensor(w, requires_grad=True) for w in LAYOUT_INIT]
    opt = getattr(optim_mod, name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}],
                                   **kwargs)
    for t in range(steps):
        opt.zero_grad()
        for p, g in zip(ps, _layout_grads(t)):
            p.grad = lib.tensor(g)
        opt.step()
    return opt


@pytest.mark.parametrize("name,kwargs,keys", LAYOUTS, ids=[f"{c[0]}-{i}"
                                                          for i, c in enumerate(LAYOUTS)])
def test_state_dict_layout(name, kwargs, keys):
    """``{'state': {index: buffers}, 'param_groups': [{hyper-parameters, 'params': [index,
    ...]}]}``, parameters numbered across groups in order, buffers under PyTorch's names with
    the values of the NumPy reference."""
    opt = _layout_run(ad, optim, name, kwargs)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    lrs = (kwargs.get("lr", opt.defaults["lr"]), 0.05)
    for g, lr in zip(sd["param_groups"], lrs):
        assert set(g) == GROUP_KEYS[name] | {"params"}
        assert g["lr"] == lr
        assert all(g[k] == v for k, v in kwargs.items() if k != "lr")
    if keys is None:
        assert sd["state"] == {}
    else:
        assert sorted(sd["state"]) == [0, 1, 2]
        for i, w in enumerate(LAYOUT_INIT):
            assert set(sd["state"][i]) == keys
            assert all(v.shape == w.shape for k, v in sd["state"][i].items() if k != "step")
            assert sd["state"][i].get("step", 2) == 2
    states = []
    for idx, lr in (([0], lrs[0]), ([1, 2], lrs[1])):
        states += run_rule(name, {**kwargs, "lr": lr}, [LAYOUT_INIT[i] for i in idx],
                           lambda t, i, w, idx=idx: _layout_grads(t - 1)[idx[i]], 2)[1]
    _check_state(opt, states)
    # the snapshot does not move with later steps
    before = copy.deepcopy(sd["state"])
    opt.step()
    for i, st in sd["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(v, before[i][k])


@pytest.mark.parametrize("name,kwargs,keys", LAYOUTS, ids=[f"{c[0]}-{i}"
                                                          for i, c in enumerate(LAYOUTS)])
def test_state_dict_layout_is_pytorchs(torch, name, kwargs, keys):
    sd = _layout_run(ad, optim, name, kwargs).state_dict()
    tsd = _layout_run(torch, torch.optim, name, kwargs).state_dict()
    assert [g["params"] for g in tsd["param_groups"]] == [[0], [1, 2]]
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert GROUP_KEYS[name] <= set(tg)  # PyTorch adds foreach, fused, differentiable...
        assert all(g[k] == tg[k] for k in GROUP_KEYS[name])
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, tst in tsd["state"].items():
        assert set(tst) == set(sd["state"][i]) == keys
        for k, v in tst.items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][k], dtype=np.float64),
                                       v.numpy(), rtol=1e-10, atol=1e-14, err_msg=k)


def test_load_state_dict_mismatch():
    a = ad.tensor([1.0], requires_grad=True)
    b = ad.tensor([1.0], requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter group 0 has 2"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


def test_step_with_closure_returns_loss():
    w = ad.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == 2.0
    np.testing.assert_allclose(w.numpy(), [0.5, -0.5])


# ----------------------------------------------------------------------------- LBFGS
# Problems for L-BFGS: Rosenbrock from (-1.5, 2); and over two parameters W (2, 2), b (3,),
# taken together as one vector z = [W.ravel(), b] (the optimizer's flat view):
# f(z) = z.A z / 2 - c.z + k sum(z^4) / 4, A positive definite ("quadratic": k = 0, minimiser
# A^-1 c; "quartic": k = 1)
_M = _rng.normal(size=(7, 7))
QA = _M @ _M.T / 7 + np.eye(7)
QC = _rng.normal(size=7)
QINIT = [_rng.normal(size=(2, 2)), _rng.normal(size=3)]


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _quad_np(z, k):
    return z @ QA @ z / 2 - QC @ z + k * (z ** 4).sum() / 4, QA @ z - QC + k * z ** 3


def _quad_lib(lib, params, k):
    z = lib.cat([params[0].reshape(-1), params[1]])
    return (z * (lib.tensor(QA) @ z)).sum() / 2 - (lib.tensor(QC) * z).sum() \
        + k * (z ** 4).sum() / 4


# name: (initial parameters, loss(lib, params), NumPy (f, grad) of the flat vector)
PROBLEMS = {
    "rosenbrock": ([np.array([-1.5, 2.0])], lambda lib, ps: rosenbrock(ps[0]), rosenbrock_np),
    "quadratic": (QINIT, lambda lib, ps: _quad_lib(lib, ps, 0), lambda z: _quad_np(z, 0)),
    "quartic": (QINIT, lambda lib, ps: _quad_lib(lib, ps, 1), lambda z: _quad_np(z, 1)),
}


def _lbfgs_run(mod, lib, problem, n_steps, **kw):
    """``n_steps`` calls of ``LBFGS.step`` (``mod``: autodiff.optim or torch.optim, ``lib``: its
    tensor library); returns the flat iterate after each call, the optimizer and its state."""
    init, loss, _ = PROBLEMS[problem]
    params = [lib.tensor(w, dtype=lib.float64, requires_grad=True) for w in init]
    opt = mod.LBFGS(params, **kw)
    path = []

    def closure():
        opt.zero_grad()
        out = loss(lib, params)
        out.backward()
        return out

    for _ in range(n_steps):
        opt.step(closure)
        path.append(np.concatenate([np.asarray(p.detach().numpy(), np.float64).ravel()
                                    for p in params]))
    return np.array(path), opt, opt.state[params[0]]


# fixed step (no line search): (problem, hyper-parameters, calls of step)
FIXED_STEP = [
    ("rosenbrock", dict(lr=1e-3, max_iter=10), 4),
    ("quartic", dict(lr=0.2, max_iter=7, history_size=2), 4),        # history full, shifted
    ("quartic", dict(lr=0.2, max_iter=50, max_eval=9), 3),            # evaluation budget
    ("quartic", dict(lr=0.2, max_iter=100, tolerance_change=1e-4), 3),  # lack of progress
    ("quartic", dict(lr=0.2, max_iter=100, tolerance_grad=1e-3), 3),  # optimality
    ("quadratic", dict(lr=1.0, max_iter=100, history_size=3), 2),
]
FIXED_IDS = [f"{c[0]}-{i}" for i, c in enumerate(FIXED_STEP)]


@pytest.mark.parametrize("problem,kw,n", FIXED_STEP, ids=FIXED_IDS)
def test_lbfgs_fixed_step_matches_numpy(problem, kw, n):
    path, _, st = _lbfgs_run(optim, ad, problem, n, **kw)
    x0 = np.concatenate([w.ravel() for w in PROBLEMS[problem][0]])
    want, counts = lbfgs_ref(PROBLEMS[problem][2], x0, n, **kw)
    np.testing.assert_allclose(path, want, rtol=1e-10, atol=1e-12)
    assert (st["n_iter"], st["func_evals"], len(st["old_dirs"])) == \
        (counts["n_iter"], counts["func_evals"], counts["n_pairs"])
    assert counts["n_pairs"] <= kw.get("history_size", 100)


# strong-Wolfe line search: (problem, hyper-parameters)
WOLFE = [
    ("rosenbrock", dict(line_search_fn="strong_wolfe")),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=5)),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=1, max_eval=10)),
    ("quadratic", dict(line_search_fn="strong_wolfe", history_size=4, max_iter=3)),
]


@pytest.mark.parametrize("problem,kw", WOLFE, ids=[f"{c[0]}-{i}" for i, c in enumerate(WOLFE)])
def test_lbfgs_strong_wolfe_steps_and_minimiser(problem, kw):
    """Every accepted step satisfies the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9) and the
    iterates reach the known minimiser ((1, 1) for Rosenbrock, A^-1 c for the quadratic)."""
    init, loss, fun = PROBLEMS[problem]
    params = [ad.tensor(w, requires_grad=True) for w in init]
    opt = optim.LBFGS(params, **kw)

    def closure():
        opt.zero_grad()
        out = loss(ad, params)
        out.backward()
        return out

    flat = lambda: np.concatenate([p.numpy().ravel() for p in params])  # noqa: E731
    f_prev = fun(flat())[0]
    for _ in range(50):
        opt.step(closure)
        st = opt.state[params[0]]
        # the last iteration of the call stepped from x_end - t d to x_end
        x_end, d, t = flat(), st["d"], st["t"]
        f0, g0 = fun(x_end - t * d)
        f1, g1 = fun(x_end)
        assert f1 <= f0 + 1e-4 * t * (g0 @ d) + 1e-15
        assert abs(g1 @ d) <= 0.9 * abs(g0 @ d)
        assert f1 <= f_prev + 1e-15
        f_prev = f1
        assert len(st["old_dirs"]) <= kw.get("history_size", 100)
    want = [1.0, 1.0] if problem == "rosenbrock" else np.linalg.solve(QA, QC)
    np.testing.assert_allclose(flat(), want, atol=1e-5)
    if problem == "rosenbrock":
        assert fun(flat())[0] < 1e-9


def test_lbfgs_line_search_without_budget_stays_put():
    """``max_iter=1`` gives ``max_eval = 1``: the line search gets one evaluation, at the first
    trial step; on Rosenbrock from (-1.5, 2) that step (``min(1, 1/|g|_1)``, later ``lr = 1``
    along ``-g`` as no curvature pair ever forms) raises f, so the search keeps t = 0."""
    x0 = np.array([-1.5, 2.0])
    f0, g0 = rosenbrock_np(x0)
    for t in (min(1.0, 1.0 / np.abs(g0).sum()), 1.0):
        assert rosenbrock_np(x0 - t * g0)[0] > f0
    path, _, st = _lbfgs_run(optim, ad, "rosenbrock", 4, line_search_fn="strong_wolfe",
                             max_iter=1)
    np.testing.assert_array_equal(path, [x0] * 4)
    assert (st["n_iter"], st["func_evals"], st["t"]) == (4, 8, 0.0)


@pytest.mark.parametrize("problem,kw,n", [
    ("rosenbrock", dict(line_search_fn="strong_wolfe"), 4),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=5), 4),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=1), 4),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=1, max_eval=10), 8),
    ("quadratic", dict(line_search_fn="strong_wolfe", history_size=4, max_iter=3), 4),
    *FIXED_STEP])
def test_lbfgs_matches_torch(torch, problem, kw, n):
    ours, _, st = _lbfgs_run(optim, ad, problem, n, **kw)
    theirs, _, tst = _lbfgs_run(torch.optim, torch, problem, n, **kw)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)  # rounding grows per iter
    assert set(st) == set(tst) == LBFGS_KEYS
    assert (st["n_iter"], st["func_evals"]) == (tst["n_iter"], tst["func_evals"])


def test_lbfgs_state_dict_layout():
    _, opt, _ = _lbfgs_run(optim, ad, "quartic", 2, lr=0.2, max_iter=4, history_size=2)
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1]]
    assert set(sd["param_groups"][0]) == GROUP_KEYS["LBFGS"] | {"params"}
    assert list(sd["state"]) == [0] and set(sd["state"][0]) == LBFGS_KEYS
    st = sd["state"][0]
    x0 = np.concatenate([w.ravel() for w in QINIT])
    _, counts = lbfgs_ref(PROBLEMS["quartic"][2], x0, 2, lr=0.2, max_iter=4, history_size=2)
    assert (st["n_iter"], st["func_evals"]) == (counts["n_iter"], counts["func_evals"])
    assert len(st["old_dirs"]) == len(st["old_stps"]) == len(st["ro"]) == 2
    assert len(st["al"]) == 2 and st["d"].shape == st["prev_flat_grad"].shape == (7,)


def test_lbfgs_needs_closure_and_one_group():
    x = ad.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="closure"):
        optim.LBFGS([x]).step()
    y = ad.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [y]}])


# ----------------------------------------------------------------------------- clipping
def _grads_setup():
    rng = np.random.default_rng(1)
    gs = [rng.normal(size=(3, 4)) * 5, rng.normal(size=(4,)) * 5]
    ps = [ad.tensor(np.zeros_like(g), requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = ad.tensor(g.copy())
    return ps, gs


CLIP = pytest.mark.parametrize("norm_type,max_norm", [
    (2.0, 0.5), (2.0, 1e6), (math.inf, 0.5), (math.inf, 1e6), (1.0, 0.5), (3.0, 2.0)])


@CLIP
def test_clip_grad_norm_matches_numpy(norm_type, max_norm):
    ps, gs = _grads_setup()
    want_total, want = clip_grad_norm_ref(gs, max_norm, norm_type)
    total = optim.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    assert isinstance(total, ad.Tensor)
    np.testing.assert_allclose(total.item(), want_total, rtol=1e-12)
    for p, g in zip(ps, want):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-12)


@CLIP
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    ps, gs = _grads_setup()
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
    for p, g in zip(tps, gs):
        p.grad = torch.tensor(g)
    t_total = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    total = optim.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    x = ad.tensor([[1.0, 2.0]], requires_grad=True)
    x.sum().backward()  # read-only broadcast gradient of ones
    total = optim.clip_grad_norm_(x, 1.0)
    np.testing.assert_allclose(total.item(), math.sqrt(2))
    np.testing.assert_allclose(x.grad.numpy(), [[1 / (math.sqrt(2) + 1e-6)] * 2])
    assert optim.clip_grad_norm_([ad.tensor([1.0], requires_grad=True)], 1.0).item() == 0.0
    y = ad.tensor([1.0], requires_grad=True)
    y.grad = ad.tensor([np.inf])
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_([y], 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    ps, gs = _grads_setup()
    optim.clip_grad_value_(ps, 1.5)
    for p, g in zip(ps, gs):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.5, 1.5))


# ----------------------------------------------------------------------------- backends
ON_BACKEND = [3, 4, 9, 12, 15, 20, 23]


@pytest.mark.parametrize("name,kwargs", [CASES[i] for i in ON_BACKEND],
                         ids=[IDS[i] for i in ON_BACKEND])
def test_update_rule_on_backend(backend, name, kwargs):
    params = [ad.tensor(w, requires_grad=True) for w in INIT]  # on the current backend
    assert params[0].device == ("cuda" if backend == "cupy" else "cpu")
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(STEPS):
        opt.zero_grad()
        ad_loss(params).backward()  # ad.tensor(c) lands on the same backend
        opt.step()
    want, _ = run_rule(name, kwargs, INIT, ref_grad("loss"), STEPS)
    for p, b in zip(params, want):
        np.testing.assert_allclose(np.asarray(p.numpy()), b, rtol=1e-10, atol=1e-12)
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    for st in opt.state.values():
        for v in st.values():
            if hasattr(v, "shape") and v.ndim:
                assert type(v) is type(params[0].array)
