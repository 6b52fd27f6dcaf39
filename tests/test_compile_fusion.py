"""CPU fusion of compiled programs (``autodiff/compile/fuse_cpu.py``): runs of elementwise ops
and the sums they feed run as one generated numba loop, and a fused replay gives the eager
step's numbers to rounding (float64: within 1e-12 of their magnitude; sums accumulate in
another order than NumPy's pairwise ones).
The references are the eager step run on an identical copy and, for the chain, the recurrence
written out in NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.compile import compile as ad_compile, fuse_cpu
from autodiff.nn import functional as F
from compile_models import cubic, train_step

pytest.importorskip("numba")
STEPS = 6


def _fused_ops(cf) -> list:
    return [op for progs in cf.programs.values() if not isinstance(progs, str)
            for p in progs for op in p.ops if op.name.startswith("fused[")]


def _close(a, b, scale=None):
    """Within 1e-12 of the magnitude the numbers carry (their own, or ``scale``: a parameter
    that stays near 0 moves by rounding at its neighbours' scale)."""
    scale = np.abs(b).max() if scale is None else scale
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)


def _close_all(xs, ys):
    scale = max(np.abs(y).max() for y in ys)
    for x, y in zip(xs, ys):
        _close(x, y, scale)


def _unfused_elementwise(cf) -> list:
    return [op.name for progs in cf.programs.values() for p in progs for op in p.ops
            if op.kind == "prim" and (op.fn.elementwise or op.fn.name in ("sum", "sum_to"))]


def test_chain_fused_matches_eager_and_numpy():
    rng = np.random.default_rng(0)
    x0, w0, b0 = rng.standard_normal(16), np.full(16, 0.9), 0.1 * rng.standard_normal(16)

    def make():
        x, w, b = (ad.tensor(a, requires_grad=True) for a in (x0, w0, b0))

        def step():
            y = x
            for _ in range(50):
                y = ad.tanh(y * w + b) * 1.5
            y.sum().backward()
            out = (y, x.grad, w.grad, b.grad)
            x.grad = w.grad = b.grad = None
            return out
        return step
    eager, cf = make(), ad_compile(make(), fuse=True)
    for _ in range(STEPS):
        want, got = eager(), cf()
    # forward, backward and the gradient sums: one loop over the 16 elements
    assert len(_fused_ops(cf)) == 1 and not _unfused_elementwise(cf)
    ref = x0.copy()
    for _ in range(50):
        ref = np.tanh(ref * w0 + b0) * 1.5
    _close(got[0].numpy(), ref)
    for g, e in zip(got, want):
        _close(g.numpy(), e.numpy())


def test_legendre_fused_matches_eager():
    (pe, _, eager), (pc, _, step) = cubic(), cubic()
    cf = ad_compile(step, fuse=True)
    for _ in range(20):
        eager()
        cf()
    # the forward, the loss's sum, the backward and the four gradient sums in one loop; the
    # gradients' copies into .grad after it
    assert 1 <= len(_fused_ops(cf)) <= 2 and not _unfused_elementwise(cf)
    _close_all([p.numpy() for p in pc], [q.numpy() for q in pe])


def test_mlp_sgd_momentum_fused_matches_eager():
    def make():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 12), nn.Tanh(), nn.Linear(12, 5)).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return model, train_step(model, opt)
    (me, eager), (mc, step) = make(), make()
    cf = ad_compile(step, fuse=True)
    rng = np.random.default_rng(1)
    x, y = ad.tensor(rng.standard_normal((16, 20))), ad.tensor(rng.integers(0, 5, 16))
    for _ in range(STEPS):
        le, lc = eager(x, y), cf(x, y)
        _close(lc.numpy(), le.numpy())
    # replayed, not run eagerly; the bias add + tanh, the tanh backward and the bias
    # gradient's sum over the batch are fused (the matmuls and the loss are not elementwise)
    assert not any(isinstance(p, str) for p in cf.programs.values())
    assert _fused_ops(cf)
    for p, q in zip(mc.parameters(), me.parameters()):
        _close(p.numpy(), q.numpy())


def test_kernel_expressions_against_numpy():
    """Each scalar expression of the table behind a multiplication, against NumPy (the library
    functions are fused only where numba's rounding matches NumPy's on the traced values)."""
    rng = np.random.default_rng(2)
    for name, fn in [("exp", ad.exp), ("tanh", ad.tanh), ("relu", ad.relu),
                     ("sigmoid", ad.sigmoid), ("neg", lambda t: -t), ("sqrt", ad.sqrt)]:
        x0 = np.abs(rng.standard_normal(9)) + 0.1 if name == "sqrt" else rng.standard_normal(9)
        x = ad.tensor(x0)
        cf = ad_compile(lambda: fn(x * 0.7) / 3.0, fuse=True)
        for _ in range(3):
            out = cf()
        ref = {"exp": np.exp, "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
               "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "neg": np.negative,
               "sqrt": np.sqrt}[name](x0 * 0.7) / 3.0
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-14, err_msg=name)
        if name in ("relu", "neg", "sqrt"):     # correctly rounded: always bit-identical
            assert _fused_ops(cf), name


def test_numba_switch(monkeypatch):
    monkeypatch.setenv("AUTODIFF_NUMBA", "0")
    assert not fuse_cpu.available()
    x = ad.tensor(np.arange(4.0))
    cf = ad_compile(lambda: ad.exp(x * 2.0) + 1.0)
    assert cf.fuse is False
    for _ in range(3):
        out = cf()
    assert not _fused_ops(cf)
    np.testing.assert_array_equal(out.numpy(), np.exp(np.arange(4.0) * 2.0) + 1.0)
    monkeypatch.setenv("AUTODIFF_NUMBA", "1")
    assert fuse_cpu.available() and ad_compile(lambda: x).fuse is True


def test_sgd_update_fused_reads_lr_and_retraces_on_a_new_configuration():
    """SGD's update runs inside a fused loop (plain and with momentum): the learning rate is
    read at each replay, and a change the fused form does not cover (momentum switched off,
    weight decay switched on) traces again instead of replaying the old form; the numbers
    follow eager's throughout."""
    def make():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1)).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return model, opt, train_step(model, opt, lambda out, y: ((out - y) ** 2).mean())
    (me, oe, eager), (mc, oc, step) = make(), make()
    cf = ad_compile(step, fuse=True)
    rng = np.random.default_rng(3)
    x, y = ad.tensor(rng.standard_normal((8, 6))), ad.tensor(rng.standard_normal((8, 1)))
    for i in range(12):
        if i == 4:
            for o in (oe, oc):
                o.param_groups[0]["lr"] = 0.02
        if i == 7:
            for o in (oe, oc):
                o.param_groups[0]["momentum"] = 0.0
        if i == 10:
            for o in (oe, oc):
                o.param_groups[0]["weight_decay"] = 0.1
        _close(cf(x, y).numpy(), eager(x, y).numpy())
        if i == 3:
            assert any("sgd_step" in op.name for op in _fused_ops(cf))
    _close_all([p.numpy() for p in mc.parameters()], [p.numpy() for p in me.parameters()])
    assert cf.traces == 3          # the first call, momentum off, weight decay on


def test_adam_update_fused_counts_steps_as_eager():
    """Adam's update runs inside a fused loop: its step count (bias corrections) advances once
    per replay, the learning rate is read at each replay, and 20 steps match eager's."""
    def make():
        ad.manual_seed(1)
        model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)).to(ad.float64)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        return model, opt, train_step(model, opt)
    (me, oe, eager), (mc, oc, step) = make(), make()
    cf = ad_compile(step, fuse=True)
    rng = np.random.default_rng(4)
    data = [(ad.tensor(rng.standard_normal((6, 5))), ad.tensor(rng.integers(0, 2, 6)))
            for _ in range(3)]
    for i in range(20):
        if i == 9:
            for o in (oe, oc):
                o.param_groups[0]["lr"] = 3e-3
        _close(cf(*data[i % 3]).numpy(), eager(*data[i % 3]).numpy())
    assert sum("adam_step" in op.name for op in _fused_ops(cf)) == 4 and cf.traces == 1
    assert [oc.state[p]["step"] for p in mc.parameters()] == [20] * 4
    _close_all([p.numpy() for p in mc.parameters()], [p.numpy() for p in me.parameters()])


def test_relu_hvp_fuses_the_masked_second_derivative():
    """The HVP of a relu MLP: relu's mask (an op of the step) feeds ``where``s that fuse with
    the arithmetic around them (a bool operand in the loop); the replay matches eager for
    every batch."""
    ad.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)).to(ad.float64)
    params = list(model.parameters())
    vs = [ad.randn(*p.shape, dtype=ad.float64) for p in params]

    def hvp(x, y):
        gs = ad.grad(F.cross_entropy(model(x), y), params, create_graph=True)
        return ad.grad(sum((g * v).sum() for g, v in zip(gs, vs)), params)
    cf = ad_compile(hvp, fuse=True, fullgraph=True)
    rng = np.random.default_rng(6)
    for _ in range(5):
        x, y = ad.tensor(rng.standard_normal((10, 8))), ad.tensor(rng.integers(0, 3, 10))
        _close_all([g.numpy() for g in cf(x, y)], [g.numpy() for g in hvp(x, y)])
    assert any("where" in op.name for op in _fused_ops(cf)) and cf.traces == 1


def test_kernels_are_cached_on_disk_for_later_processes(tmp_path, monkeypatch):
    """A fused loop's source goes to ``$AUTODIFF_CACHE/kernels`` as a module numba caches
    beside itself (a later process loads the machine code); clusters of one structure share
    one text (value names renumbered), so one file."""
    import subprocess
    import sys
    monkeypatch.setenv("AUTODIFF_CACHE", str(tmp_path))
    code = ("import numpy as np, autodiff as ad\n"
            "x, w = ad.tensor(np.arange(6.0)), ad.tensor(np.full(6, 0.5))\n"
            "f = ad.compile(lambda: (ad.tanh(x * w + 1.0) * 2.0).sum(), fuse=True)\n"
            "g = ad.compile(lambda: (ad.tanh(w * x + 1.0) * 2.0).sum(), fuse=True)\n"
            "for _ in range(3):\n    a, b = f(), g()\n"
            "n = sum(op.name.startswith('fused[') for c in (f, g)\n"
            "        for p in c.programs.values() for q in p for op in q.ops)\n"
            "print(float(a), float(b), n)\n")
    for _ in range(2):          # the second process finds the module and numba's cache
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        want = float((np.tanh(np.arange(6.0) * 0.5 + 1.0) * 2.0).sum())
        assert [float(v) for v in out[:2]] == pytest.approx([want, want], rel=1e-12)
        assert out[2] == "2"            # both programs fused, from the cache the second time
    modules = list((tmp_path / "kernels").glob("k_*.py"))
    assert len(modules) == 1 and "def kernel(" in modules[0].read_text()
    assert list((tmp_path / "kernels" / "__pycache__").glob(modules[0].stem + "*.nbi"))
