"""``autodiff.compile`` steps that used to break the graph and now replay: a custom
``ad.Function`` (its backward traced op by op), ``nll_loss`` with integer labels (its row
labels and coefficients remade from the target at each replay) and a one-hot character RNN
(``index_projection``'s checked ids remade from the ids at each replay).

Each step is compiled with ``fullgraph=True`` (a break would raise) and no compile warning may
appear; 20 compiled steps give the eager step's losses and parameters bit for bit (float64),
and the program is traced once. Where an independent reference is cheap (the two-input
Function's gradient in closed form, the NLL loss written out in NumPy), the numbers are checked
against it too.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.compile import compile as ad_compile
from autodiff.nn import functional as F
from compile_models import fusion_mode, same, same_all  # noqa: F401
from examples_util import in_tmp, load_example  # noqa: F401

pytestmark = pytest.mark.usefixtures("fusion_mode")

STEPS = 20


def _twin_run(build, data, dtype=ad.float64):
    """Run ``build()``'s step eagerly and compiled (``fullgraph=True``) on two identical
    copies for ``STEPS`` steps over ``data``; assert the losses and the final parameters are
    bit-identical and the step was traced once and replayed. Returns (eager params, compiled
    params, the compiled function, the eager losses)."""
    pe, eager = build(dtype)
    pc, step = build(dtype)
    compiled = ad_compile(step, fullgraph=True)
    losses = []
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="autodiff.compile")
        for i in range(STEPS):
            args = data[i % len(data)]
            le, lc = eager(*args), compiled(*args)
            assert le.dtype == dtype
            assert same(le.array, lc.array), i
            assert (lc.grad_fn is None) == (i > 1)      # calls 3.. are replays
            losses.append(le.array.copy())
    assert compiled.traces == 1
    assert len(compiled.programs) == 1 and all(isinstance(v, list)
                                                for v in compiled.programs.values())
    pe, pc = list(pe), list(pc)
    assert same_all(pe, pc)
    return pe, pc, compiled, losses


# ------------------------------------------------------------------------------ custom Function
def test_legendre_p3_function_fit_replays():
    P3 = load_example("legendre").LegendrePolynomial3.apply

    def build(dtype):
        ps = [ad.tensor(v, dtype=dtype, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3)]
        x = ad.linspace(-math.pi, math.pi, 200, dtype=dtype)
        y = ad.sin(x)
        opt = optim.SGD(ps, lr=5e-6)
        a, b, c, d = ps

        def step():
            opt.zero_grad()
            loss = ((a + b * P3(c + d * x) - y) ** 2).sum()
            loss.backward()
            opt.step()
            return loss
        return ps, step
    _, pc, _, losses = _twin_run(build, [()])
    # the same descent in NumPy with the closed-form gradient (P3'(z) = 1.5 (5 z^2 - 1))
    a, b, c, d = 0.0, -1.0, 0.0, 0.3
    xs = np.linspace(-math.pi, math.pi, 200)
    for i in range(STEPS):
        z = c + d * xs
        p3 = 0.5 * (5 * z ** 3 - 3 * z)
        r = 2 * (a + b * p3 - np.sin(xs))
        assert (r ** 2 / 4).sum() == pytest.approx(float(losses[i]), rel=1e-12)
        gz = r * b * 1.5 * (5 * z ** 2 - 1)
        a, b, c, d = (a - 5e-6 * r.sum(), b - 5e-6 * (r * p3).sum(), c - 5e-6 * gz.sum(),
                      d - 5e-6 * (gz * xs).sum())
    np.testing.assert_allclose([p.item() for p in pc], [a, b, c, d], rtol=1e-12, atol=1e-15)
    assert losses[-1] < losses[0]


class _ScaledSine(ad.Function):
    """(x * sin(w), sign(x * sin(w))): two inputs, the second output non-differentiable."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        out = x * ad.sin(w)
        sign = ad.sign(out)
        ctx.mark_non_differentiable(sign)
        return out, sign

    @staticmethod
    def backward(ctx, g, g_sign):
        x, w = ctx.saved_tensors
        gx = g * ad.sin(w) if ctx.needs_input_grad[0] else None
        gw = g * x * ad.cos(w) if ctx.needs_input_grad[1] else None
        return gx, gw


def test_two_input_function_with_saved_and_non_differentiable_outputs_replays():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((6, 5)) for _ in range(3)]
    w0 = rng.standard_normal(5)
    calls = []

    def build(dtype):
        w = ad.tensor(w0, dtype=dtype, requires_grad=True)
        opt = optim.SGD([w], lr=0.05)

        def step(x):
            opt.zero_grad()
            out, sign = _ScaledSine.apply(x, w)
            calls.append(sign.requires_grad)
            loss = (out * sign).sum()           # sum |x sin w|
            loss.backward()
            opt.step()
            return loss
        return [w], step
    data = [(ad.tensor(x),) for x in xs]
    _, pc, _, losses = _twin_run(build, data)
    assert not any(calls)
    # the same descent in NumPy: d/dw sum |x sin w| = sum_rows sign(x sin w) x cos w
    w = w0.copy()
    for i in range(STEPS):
        x = xs[i % 3]
        assert np.abs(x * np.sin(w)).sum() == pytest.approx(float(losses[i]), rel=1e-13)
        w = w - 0.05 * (np.sign(x * np.sin(w)) * x * np.cos(w)).sum(0)
    np.testing.assert_allclose(pc[0].array, w, rtol=1e-12)


class _NumpyBackward(ad.Function):
    """A backward that computes in NumPy: it cannot be replayed, so it still breaks."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return ad.tensor(2 * x.detach().array * g.detach().array)


def test_function_backward_computing_outside_the_ops_still_breaks():
    w = ad.tensor(np.arange(1.0, 4.0), requires_grad=True)

    def step():
        w.grad = None
        loss = _NumpyBackward.apply(w).sum()
        loss.backward()
        return w.grad
    compiled = ad_compile(step)
    with pytest.warns(UserWarning, match="backward of _NumpyBackward.*outside the traced ops"):
        g = compiled()
    np.testing.assert_array_equal(g.array, [2.0, 4.0, 6.0])
    for _ in range(3):
        np.testing.assert_array_equal(compiled().array, [2.0, 4.0, 6.0])


# ------------------------------------------------------------------------------ nll_loss
def _mlp_nll(weight, ignore_index, reduction):
    def build(dtype):
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 5)).to(dtype)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        w = None if weight is None else ad.tensor(weight, dtype=dtype)

        def step(x, y):
            opt.zero_grad()
            loss = F.nll_loss(F.log_softmax(model(x), 1), y, weight=w,
                              ignore_index=ignore_index, reduction=reduction)
            if reduction == "none":
                loss = loss.sum()
            loss.backward()
            opt.step()
            return loss
        return model.parameters(), step
    return build


def _nll_reference(logits, labels, weight, ignore_index, reduction):
    """PyTorch's NLL of log_softmax written out in NumPy."""
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    keep = labels != ignore_index
    safe = np.where(keep, labels, 0)
    w = (np.ones(logits.shape[1]) if weight is None else np.asarray(weight))[safe] * keep
    picked = -logp[np.arange(len(labels)), safe] * w
    return picked.sum() / w.sum() if reduction == "mean" else picked.sum()


@pytest.mark.parametrize("weight,ignore_index,reduction", [
    (None, -100, "mean"), ([0.5, 1.0, 2.0, 1.5, 0.25], 3, "mean"), (None, 1, "sum"),
    ([1.0, 2.0, 1.0, 0.5, 3.0], -100, "none")])
def test_nll_loss_of_log_softmax_replays(weight, ignore_index, reduction):
    rng = np.random.default_rng(1)
    data = [(ad.tensor(rng.standard_normal((16, 20))), ad.tensor(rng.integers(0, 5, 16)))
            for _ in range(3)]
    build = _mlp_nll(weight, ignore_index, reduction)
    pe, pc, compiled, losses = _twin_run(build, data)
    # the first loss (initial parameters) against the formula in NumPy
    params, _ = build(ad.float64)
    w1, b1, w2, b2 = (p.numpy() for p in params)
    x, y = (t.numpy() for t in data[0])
    logits = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    assert float(losses[0]) == pytest.approx(
        _nll_reference(logits, y, weight, ignore_index, reduction), rel=1e-12)
    # a label out of range is still caught at a replay, naming the loss
    bad = ad.tensor(np.where(np.arange(16) == 4, 7, data[0][1].numpy()))
    with pytest.raises(ValueError, match="nll_loss: target label 7 is out of range for 5"):
        compiled(data[0][0], bad)


# ------------------------------------------------------------------------------ one-hot RNN
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_one_hot_char_rnn_replays(cell):
    import autodiff.nn.models as models
    vocab = 20
    rng = np.random.default_rng(2)
    # negative ids count from the end (row vocab - 1 for -1): remade per replay as well
    data = [(ad.tensor(rng.integers(-vocab, vocab, (8, 4))),
             ad.tensor(rng.integers(0, vocab, 32))) for _ in range(3)]

    def build(dtype):
        ad.manual_seed(0)
        model = models.char_rnn(vocab, 32, 1, cell).to(dtype)
        opt = optim.Adam(model.parameters(), lr=1e-2)

        def step(ids, y):
            opt.zero_grad()
            logits, _ = model(ids)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y)
            loss.backward()
            opt.step()
            return loss
        return model.parameters(), step
    _, _, compiled, _ = _twin_run(build, data)
    # an id out of range is still caught at a replay, naming the op
    ids = data[0][0]
    with pytest.raises(IndexError, match="index_projection: index 20 is out of range"):
        compiled(ad.tensor(np.where(ids.numpy() == ids.numpy()[0, 0], 20, ids.numpy())),
                 data[0][1])


def test_rule_branching_on_data_under_create_graph_breaks():
    """prod's second-order rule picks its formula by whether x has zeros (a host read): a
    compiled step that differentiates it twice breaks the graph there (one warning), and
    matches eager with and without zeros instead of replaying the first call's branch."""
    def f(x):
        g, = ad.grad(ad.prod(x), [x], create_graph=True)
        return ad.grad(g.sum(), [x])[0]
    compiled = ad.compile(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for v in ([1.0, 2.0, 3.0], [0.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 3.0]):
            x = ad.tensor(np.array(v), requires_grad=True)
            np.testing.assert_array_equal(compiled(x).numpy(), f(x).numpy())
    assert sum("graph break" in str(m.message) for m in caught) == 1
