"""``autodiff.compile``: a traced step replayed on raw arrays gives bit-identical results to the
eager step (float64, same arithmetic), retraces when a guard changes, and falls back to eager
(one warning naming the line) or raises (``fullgraph=True``) at a graph break.

The reference is the eager step itself run on an identical copy of the model (the compiled
function's first call is eager too, so every later call is a replay checked against eager).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn, optim
from autodiff.compile import GraphBreak, compile as ad_compile
from autodiff.nn import functional as F
from compile_models import cubic as _cubic, fusion_mode, same, same_all, train_step  # noqa: F401

pytestmark = pytest.mark.usefixtures("fusion_mode")

STEPS = 20


def _mlp(kind: str, seed: int = 0):
    ad.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 5)).to(ad.float64)
    if kind == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, _ce_step(model, opt)


_ce_step = train_step           # one training step: cross-entropy, backward, the update


def _eager_and_compiled(build, data):
    """Two models from ``build`` (-> (model, step)); STEPS steps eagerly on one and compiled
    (fullgraph) on the other, each step's loss equal bit for bit. Returns both models and the
    compiled step."""
    me, eager = build()
    mc, step = build()
    compiled = ad_compile(step, fullgraph=True)
    for i in range(STEPS):
        x, y = data[i % len(data)]
        assert same(eager(x, y).array, compiled(x, y).array)
    return me, mc, compiled


def _batches(n=3, rows=16, seed=1):
    rng = np.random.default_rng(seed)
    return [(ad.tensor(rng.standard_normal((rows, 20))), ad.tensor(rng.integers(0, 5, rows)))
            for _ in range(n)]


def _same(ts_a, ts_b) -> bool:
    return same_all(list(ts_a), list(ts_b))


def test_cubic_fit_sgd_bit_identical():
    pe, _, eager = _cubic()
    pc, _, step = _cubic()
    compiled = ad_compile(step)
    for i in range(STEPS):
        le, lc = eager(), compiled()
        assert same(le.array, lc.array)
        # the first call runs (and traces) eagerly, the second checks the program against eager
        assert (lc.grad_fn is None) == (i > 1)
    assert compiled.traces == 1
    assert _same(pe, pc)
    assert _same([p.grad for p in pe], [p.grad for p in pc])
    assert pc[1].item() != -1.0                   # it did train


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_mlp_step_bit_identical(kind):
    me, oe, eager = _mlp(kind)
    mc, oc, step = _mlp(kind)
    compiled = ad_compile(step)
    data = _batches()
    for i in range(STEPS):
        x, y = data[i % len(data)]
        assert same(eager(x, y).array, compiled(x, y).array)
    assert compiled.traces == 1
    assert _same(me.parameters(), mc.parameters())
    for pe, pc in zip(me.parameters(), mc.parameters()):
        se, sc = oe.state[pe], oc.state[pc]
        assert se.keys() == sc.keys()
        assert all(same(se[k], sc[k]) for k in se)
    if kind == "adam":
        assert oc.state[next(iter(mc.parameters()))]["step"] == STEPS
    # the state dict of the compiled run loads into an eager model and gives the same loss
    fresh, _, _ = _mlp(kind, seed=5)
    fresh.load_state_dict(mc.state_dict())
    x, y = data[0]
    assert same(F.cross_entropy(fresh(x), y).array, F.cross_entropy(me(x), y).array)


def test_hvp_create_graph_bit_identical():
    def build():
        ad.manual_seed(3)
        model = nn.Sequential(nn.Linear(20, 8), nn.Tanh(), nn.Linear(8, 5)).to(ad.float64)
        params = list(model.parameters())

        def hvp(x, y, vs):
            loss = F.mse_loss(model(x), y)
            gs = ad.grad(loss, params, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(gs, vs))
            return ad.grad(dot, params)
        return params, hvp
    params, eager = build()
    _, hvp = build()
    compiled = ad_compile(hvp)
    rng = np.random.default_rng(4)
    for i, (x, _) in enumerate(_batches(5)):
        y = ad.tensor(rng.standard_normal((x.shape[0], 5)))
        vs = [ad.tensor(rng.standard_normal(p.shape)) for p in params]
        he, hc = eager(x, y, vs), compiled(x, y, vs)
        assert len(hc) == len(params) and _same(he, hc)
    assert compiled.traces == 1 and not compiled._unverified
    assert all(isinstance(e, list) for e in compiled.programs.values())   # no fallback
    # and the products are Hessian-vector products: central differences of the gradient
    x = _batches(1)[0][0]
    y = ad.tensor(rng.standard_normal((x.shape[0], 5)))
    v = [ad.tensor(rng.standard_normal(p.shape)) for p in params]
    hv = compiled(x, y, v)
    eps = 1e-6

    def grads_at(sign):
        with ad.no_grad():
            for p, vi in zip(params, v):
                p.array += sign * eps * vi.array
        g = ad.grad(F.mse_loss(_apply(params, x), y), params)
        with ad.no_grad():
            for p, vi in zip(params, v):
                p.array -= sign * eps * vi.array
        return g
    gp, gm = grads_at(1), grads_at(-1)
    for h, a, b in zip(hv, gp, gm):
        np.testing.assert_allclose(h.array, (a.array - b.array) / (2 * eps), rtol=1e-5,
                                   atol=1e-7)


def _apply(params, x):
    w1, b1, w2, b2 = params
    return F.linear(ad.tanh(F.linear(x, w1, b1)), w2, b2)


def test_guards_retrace():
    model, opt, step = _mlp("sgd")
    compiled = ad_compile(step)
    x, y = _batches(1)[0]
    compiled(x, y)
    compiled(x, y)
    assert compiled.traces == 1
    compiled(x[:8], y[:8])                                   # shape
    assert compiled.traces == 2
    compiled(x[:8], y[:8])
    assert compiled.traces == 2
    model.eval()                                             # a module's training flag
    compiled(x, y)
    assert compiled.traces == 3
    model.train()
    compiled(x, y)
    assert compiled.traces == 3
    xr = x.detach().requires_grad_(True)                     # requires_grad of an input
    compiled(xr, y)
    assert compiled.traces == 4
    assert xr.grad is not None and xr.grad.shape == x.shape
    xr.grad = None
    compiled(xr, y)                                          # replayed: the .grad is set again
    assert compiled.traces == 4 and xr.grad is not None
    with ad.no_grad():                                       # grad mode
        f = ad_compile(lambda t: t * 2)
        f(x)
    f(x)
    assert f.traces == 2
    f(x.float())                                             # dtype
    assert f.traces == 3
    assert same(f(x.float()).array, (x.float() * 2).array)
    first = list(model.parameters())[0]                      # a parameter's requires_grad
    first.requires_grad_(False)
    compiled(x, y)
    assert compiled.traces == 5
    first.requires_grad_(True)


def test_lr_change_takes_effect_without_retrace():
    me, oe, eager = _mlp("sgd")
    mc, oc, step = _mlp("sgd")
    compiled = ad_compile(step)
    se = optim.lr_scheduler.StepLR(oe, step_size=3, gamma=0.5)
    sc = optim.lr_scheduler.StepLR(oc, step_size=3, gamma=0.5)
    data = _batches()
    for i in range(10):
        x, y = data[i % 3]
        eager(x, y)
        compiled(x, y)
        se.step()
        sc.step()
    assert oc.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
    assert compiled.traces == 1
    assert _same(me.parameters(), mc.parameters())


def test_graph_break_warns_once_names_the_line_and_matches_eager():
    me, oe, eager = _mlp("sgd")
    mc, oc, step = _mlp("sgd")
    seen = []

    def with_item(x, y):
        loss = step(x, y)
        seen.append(loss.item())       # the graph break
        return loss
    compiled = ad_compile(with_item)
    data = _batches()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i in range(6):
            x, y = data[i % 3]
            assert same(eager(x, y).array, compiled(x, y).array)
    msgs = [str(m.message) for m in w if "graph break" in str(m.message)]
    assert len(msgs) == 1 and "item()" in msgs[0]
    assert w[0].filename == __file__
    assert w[0].lineno == with_item.__code__.co_firstlineno + 2
    assert compiled.traces == 1 and len(seen) == 6
    assert _same(me.parameters(), mc.parameters())


@pytest.mark.parametrize("brk", ["item", "bool", "numpy", "inplace", "random"])
def test_fullgraph_raises(brk):
    x = ad.tensor(np.arange(4.0))
    w = ad.tensor(np.ones(4), requires_grad=True)

    def fn(x):
        y = x * w
        if brk == "item":
            y.sum().item()
        elif brk == "bool":
            if y.sum() > 0:
                y = y + 1
        elif brk == "numpy":
            y.numpy()
        elif brk == "inplace":              # a raw write: no update op
            w.array[...] += 1.0
            ad.increment_version(w)
        else:                               # a sampler (dropout's draw is an op: no break)
            y = y * ad.rand(4, dtype=ad.float64)
        return y
    with pytest.raises(GraphBreak, match="graph break"):
        ad_compile(fn, fullgraph=True)(x)


def test_compiled_outputs_structure_and_decorator():
    w = ad.tensor(np.array([1.0, 2.0]), requires_grad=True)

    @ad_compile
    def fn(x, scale=3.0):
        y = x * w * scale
        return {"y": y, "pair": (y.sum(), 7)}
    for _ in range(3):
        out = fn(ad.tensor(np.array([2.0, 5.0])))
        assert same(out["y"].array, [6.0, 30.0])
        assert out["pair"][0].array == 36.0 and out["pair"][1] == 7
    assert fn.traces == 1
    assert same(fn(ad.tensor(np.array([1.0, 1.0])), scale=2.0)["y"].array, [2.0, 4.0])
    assert fn.traces == 2


def test_replay_frees_intermediates_and_keeps_outputs():
    _, _, step = _mlp("sgd")
    compiled = ad_compile(step)
    x, y = _batches(1)[0]
    compiled(x, y)
    prog = next(iter(compiled.programs.values()))[0]
    dropped = {s for d in prog.dead_after for s in d}
    kept = {s for k, _, s in prog.effects if k == "grad" and s is not None}
    assert kept and not kept & dropped            # .grad buffers survive the replay
    produced = {s for op in prog.ops for s in op.outs if s is not None}
    assert len(produced - dropped - kept) <= 1    # all else is freed (the returned loss)


def test_value_computed_outside_the_ops_is_caught_by_verification():
    w = ad.tensor(np.array([1.0, -2.0]), requires_grad=True)

    def fn(x):
        hidden = ad.tensor(x.array * 3.0)         # raw array work: invisible to the tracer
        return (x * w + hidden).sum()
    compiled = ad_compile(fn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(4):
            x = ad.tensor(np.array([1.0, 2.0]) + k)
            assert compiled(x).array == 4.0 * (1.0 + k) + 1.0 * (2.0 + k)
    assert sum("did not reproduce" in str(m.message) for m in caught) == 1


def test_cross_entropy_hvp_replays_with_each_call_s_labels():
    """The cross-entropy rule under create_graph makes one-hot rows from the labels: an op of
    the program (``derived``), so each replay remakes them from that call's labels (a baked
    one-hot would give the first batch's HVP for every batch)."""
    ad.manual_seed(0)
    model = nn.Linear(6, 3).to(ad.float64)
    params = list(model.parameters())

    def hvp(x, y):
        gs = ad.grad(F.cross_entropy(model(x), y), params, create_graph=True)
        return ad.grad(sum((g * g).sum() for g in gs), params)
    compiled = ad_compile(hvp, fullgraph=True)
    rng = np.random.default_rng(0)
    x = ad.tensor(rng.standard_normal((4, 6)))
    for k in range(6):
        y = ad.tensor(rng.integers(0, 3, 4) if k != 4 else np.array([0, 0, 0, 0]))
        assert _same(hvp(x, y), compiled(x, y)), k     # same x: only the labels change
    assert compiled.traces == 1


def test_replay_allocates_no_new_pool_buffers_after_the_first(fusion_mode):
    pe, _, eager = _cubic()
    pc, _, step = _cubic()
    compiled = ad_compile(step)
    compiled()
    compiled()                                  # verified against eager
    prog = next(iter(compiled.programs.values()))[0]
    pooled = sum(b >= 0 for op_bufs in prog.out_buffer         # a fused op: one per result
                 for b in (op_bufs if isinstance(op_bufs, tuple) else (op_bufs,)))
    assert pooled >= 4
    compiled()
    made = prog.pool.allocations
    # slots with disjoint lifetimes share buffers (fused, the four gradient sums of one
    # kernel live together)
    assert 0 < made < pooled or (fusion_mode == "fused" and 0 < made <= pooled)
    for _ in range(10):
        compiled()
    assert prog.pool.allocations == made
    for _ in range(13):
        eager()
    assert _same(pe, pc)


def test_cnn_step_bit_identical():
    rng = np.random.default_rng(2)
    data = [(ad.tensor(rng.standard_normal((4, 1, 8, 8))), ad.tensor(rng.integers(0, 3, 4)))
            for _ in range(3)]

    def build():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(48, 3)).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return model, _ce_step(model, opt)
    me, mc, compiled = _eager_and_compiled(build, data)
    assert compiled.traces == 1
    assert _same(me.parameters(), mc.parameters())


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_char_rnn_step_bit_identical(kind):
    vocab, hidden, steps, batch = 11, 8, 5, 3
    rng = np.random.default_rng(6)
    data = [(ad.tensor(rng.integers(0, vocab, (steps, batch))),
             ad.tensor(rng.integers(0, vocab, steps * batch))) for _ in range(3)]

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, hidden)
            self.rnn = (nn.LSTM if kind == "lstm" else nn.RNN)(hidden, hidden)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, x):
            h, _ = self.rnn(self.emb(x))
            return self.out(h.reshape(-1, hidden))

    def build():
        ad.manual_seed(0)
        model = CharModel().to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.1)
        return model, train_step(model, opt)
    me, eager = build()
    mc, step = build()
    compiled = ad_compile(step, fullgraph=True)
    for i in range(STEPS):
        x, y = data[i % 3]
        assert same(eager(x, y).array, compiled(x, y).array)
    assert compiled.traces == 1
    assert _same(me.parameters(), mc.parameters())


def test_zero_grad_in_place_and_accumulation():
    """zero_grad(set_to_none=False) (an in-place fill of .grad) and gradients accumulated
    over two backward passes in one step."""
    def build():
        _, opt, _ = _mlp("sgd")
        model = opt.param_groups[0]["params"]

        def step(x, y):
            opt.zero_grad(set_to_none=False)
            for half in (slice(0, 8), slice(8, 16)):
                h = F.relu(F.linear(x[half], model[0], model[1]))
                F.cross_entropy(F.linear(h, model[2], model[3]), y[half]).backward()
            opt.step()
        return model, opt, step
    pe, oe, eager = build()
    pc, oc, step = build()
    data = _batches()
    for i in range(2):                         # .grad exists before the compiled calls
        eager(*data[i])
        step(*data[i])
    compiled = ad_compile(step, fullgraph=True)
    for i in range(STEPS):
        eager(*data[i % 3])
        compiled(*data[i % 3])
    assert compiled.traces == 1
    assert _same(pe, pc) and _same([p.grad for p in pe], [p.grad for p in pc])


def test_an_error_while_tracing_leaves_no_tracer_behind():
    from autodiff import tape

    def bad(x):
        (x * 2).sum()
        raise KeyError("boom")
    compiled = ad_compile(bad)
    with pytest.raises(KeyError):
        compiled(ad.tensor(np.ones(3)))
    assert tape._tracer is None and compiled.traces == 0
    with pytest.raises(TypeError, match="expected a callable"):
        ad_compile(3)


@pytest.mark.parametrize("form", ["isub", "data_add_", "add_alpha", "sub_alpha", "mul_div_copy"])
def test_hand_written_sgd_in_place_methods_replay(form):
    """The public in-place methods under no_grad are update ops: ``p -= lr * p.grad``,
    ``p.data.add_``, ``p.add_(g, alpha=-lr)`` replay (no graph break) and match eager."""
    lr = 0.05

    def build():
        model, _, _ = _mlp("sgd")
        params = list(model.parameters())
        bufs = [ad.zeros(p.shape, dtype=ad.float64) for p in params]

        def step(x, y):
            for p in params:
                p.grad = None
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            with ad.no_grad():
                for p, b in zip(params, bufs):
                    if form == "isub":
                        p -= lr * p.grad
                    elif form == "data_add_":
                        p.data.add_(-lr * p.grad)
                    elif form == "add_alpha":
                        p.add_(p.grad, alpha=-lr)
                    elif form == "sub_alpha":
                        p.sub_(p.grad, alpha=lr)
                    else:                       # a decayed average kept in a buffer
                        b.mul_(0.5).add_(p.grad).div_(2.0)
                        p.sub_(b * lr)
                        p.grad.copy_(b)
                        b.clamp_(-1.0, 1.0)
            return loss
        return params, bufs, step
    pe, be, eager = build()
    pc, bc, step = build()
    compiled = ad_compile(step, fullgraph=True)
    data = _batches()
    p0 = [p.array.copy() for p in pe]
    for i in range(STEPS):
        x, y = data[i % 3]
        assert same(eager(x, y).array, compiled(x, y).array)
    assert compiled.traces == 1 and all(isinstance(e, list) for e in compiled.programs.values())
    assert _same(pe, pc) and _same(be, bc)
    assert not any(same(a, p.array) for a, p in zip(p0, pe))   # it did train
    # one step by hand: p - lr * grad, with the gradient from the eager model
    if form != "mul_div_copy":
        x, y = data[0]
        for p in pe:
            p.grad = None
        F.cross_entropy(_mlp_apply(pe, x), y).backward()
        expect = [p.array - lr * p.grad.array for p in pe]
        compiled(x, y)
        for e, p in zip(expect, pc):
            np.testing.assert_allclose(p.array, e, rtol=1e-15, atol=1e-15)


def _mlp_apply(params, x):
    w1, b1, w2, b2 = params
    return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)


def test_dropout_draws_fresh_masks_from_the_eager_stream():
    """A random draw is an op of the program: each replay draws a new mask from the global
    generator, so 20 seeded compiled steps equal 20 seeded eager steps, and the stream is
    left where eager leaves it."""
    def build():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.3),
                              nn.Linear(16, 5)).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            return loss, out
        model.opt = opt
        return model, step
    data = _batches()

    def run(step):
        ad.manual_seed(7)
        outs = [step(*data[i % 3]) for i in range(STEPS)]
        return outs, ad.rand(3).array
    me, eager = build()
    mc, step = build()
    compiled = ad_compile(step, fullgraph=True)
    (oe, ne), (oc, nc) = run(eager), run(compiled)
    assert compiled.traces == 1 and not compiled._unverified
    assert any(op.kind == "draw" for op in compiled.programs[next(iter(compiled.programs))][0].ops)
    for (le, he), (lc, hc) in zip(oe, oc):
        assert same(le.array, lc.array) and same(he.array, hc.array)
    assert _same(me.parameters(), mc.parameters())
    assert same(ne, nc)                       # the stream advanced as eager's
    # fresh masks, as written out in NumPy: with lr 0 (read at each replay) the weights stay
    # put and two replays on one batch give (relu(x W1' + b1) * m_k / 0.7) W2' + b2, with the
    # masks m_k the next two draws of the seeded stream
    for g in mc.opt.param_groups:
        g["lr"] = 0.0
    x, y = data[0]
    w1, b1, w2, b2 = (p.array.copy() for p in mc.parameters())
    ad.manual_seed(11)
    rng = np.random.default_rng(11)
    masks = []
    for _ in range(2):
        _, out = compiled(x, y)
        m = rng.random((16, 16)) >= 0.3
        masks.append(m)
        ref = (np.maximum(x.array @ w1.T + b1, 0) * m / 0.7) @ w2.T + b2
        np.testing.assert_allclose(out.array, ref, rtol=1e-12, atol=1e-12)
    assert compiled.traces == 1 and (masks[0] != masks[1]).any()


class _ResBlock(nn.Module):
    """ResNet-20's basic block: conv-BN-ReLU-conv-BN, plus the input, then ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + x)


def test_resnet_block_batch_norm_training_bit_identical():
    """Batch norm in training mode: its statistics are remade at each replay and the running
    averages and num_batches_tracked are update ops, so 20 compiled SGD-momentum steps equal
    20 eager ones, buffers included; an eval call after training reads the new running
    statistics."""
    rng = np.random.default_rng(3)
    data = [(ad.tensor(rng.standard_normal((4, 3, 6, 6))), ad.tensor(rng.integers(0, 3, 4)))
            for _ in range(3)]

    def build():
        ad.manual_seed(0)
        model = nn.Sequential(_ResBlock(3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(3, 3)).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return model, _ce_step(model, opt)
    me, mc, compiled = _eager_and_compiled(build, data)
    assert compiled.traces == 1 and all(isinstance(e, list) for e in compiled.programs.values())
    assert _same(me.parameters(), mc.parameters())
    assert [k for k, _ in me.named_buffers()] == [k for k, _ in mc.named_buffers()]
    assert _same(me.buffers(), mc.buffers())
    bn = mc[0].bn1
    assert int(bn.num_batches_tracked.item()) == STEPS
    # the running mean by the formula: r <- 0.9 r + 0.1 mean over (N, H, W) of conv1's output
    x = data[0][0]
    r = bn.running_mean.array.copy()
    with ad.no_grad():
        z = mc[0].conv1(x).array
    compiled(*data[0])
    np.testing.assert_allclose(bn.running_mean.array, 0.9 * r + 0.1 * z.mean(axis=(0, 2, 3)),
                               rtol=1e-13, atol=1e-15)
    # eval: the running statistics are read where they live (never baked into a trace)
    infer = ad_compile(lambda x: mc(x))
    mc.eval()
    first = [infer(x).array.copy() for _ in range(3)]
    mc.train()
    compiled(*data[1])
    mc.eval()
    with ad.no_grad():
        expect = mc(x).array
    assert same(infer(x).array, expect) and not np.array_equal(first[-1], expect)


@pytest.mark.parametrize("dtype", [ad.float32, ad.float64])
def test_legendre_step_with_a_repeated_subexpression_replays(dtype):
    """y = a + b P3(c + d x) with ``c + d x`` computed twice and ``p -= lr * p.grad``: the
    gradients of c and d are sums of two 0-d contributions (NumPy scalars that Tensors hold
    as 0-d arrays); the program reads those sums, never the arrays of the trace as constants,
    so it replays (no fallback) and matches eager bit for bit."""
    def build():
        ps = [ad.tensor(v, dtype=dtype, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3)]
        a, b, c, d = ps
        x = ad.linspace(-math.pi, math.pi, 200, dtype=dtype)
        y = ad.sin(x)

        def step():
            pred = a + b * (0.5 * (5 * (c + d * x) ** 3 - 3 * (c + d * x)))
            loss = ((pred - y) ** 2).sum()
            loss.backward()
            with ad.no_grad():
                for p in ps:
                    p -= 5e-6 * p.grad
                    p.grad = None
            return loss
        return ps, x, y, step
    pe, _, _, eager = build()
    pc, x, y, step = build()
    compiled = ad_compile(step, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(STEPS):
            assert same(eager().array, compiled().array)
    assert compiled.traces == 1 and all(isinstance(e, list) for e in compiled.programs.values())
    assert _same(pe, pc)
    # one more step against the closed form in float64: r = pred - y, g = sum(2 r dpred/dp)
    a, b, c, d = (float(p.array) for p in pc)
    xs, ys = x.array.astype(np.float64), y.array.astype(np.float64)
    z = c + d * xs
    p3, dp3 = 0.5 * (5 * z ** 3 - 3 * z), 0.5 * (15 * z ** 2 - 3)
    r = a + b * p3 - ys
    grads = [2 * r.sum(), 2 * (r * p3).sum(), 2 * (r * b * dp3).sum(), 2 * (r * b * dp3 * xs).sum()]
    loss = compiled()
    tol = 1e-5 if dtype == ad.float32 else 1e-12
    np.testing.assert_allclose(float(loss.array), (r ** 2).sum(), rtol=tol)
    for p, v, g in zip(pc, (a, b, c, d), grads):
        np.testing.assert_allclose(float(p.array), v - 5e-6 * g, rtol=tol, atol=tol * 1e-3)


@pytest.mark.parametrize("fuse", [False, None])
def test_sigmoid_mse_momentum_replays(fuse):
    """mse_loss(sigmoid(...)) with SGD momentum: the loss is a 0-d result (kept as a NumPy
    scalar by the op, a 0-d array by its Tensor): verified and replayed, fused or not."""
    def build():
        ad.manual_seed(2)
        model = nn.Sequential(nn.Linear(20, 12), nn.Sigmoid(), nn.Linear(12, 5),
                              nn.Sigmoid()).to(ad.float64)
        opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        return model, train_step(model, opt, F.mse_loss)
    rng = np.random.default_rng(8)
    data = [(x, ad.tensor(rng.random((16, 5)))) for x, _ in _batches()]
    me, eager = build()
    mc, step = build()
    compiled = ad_compile(step, fuse=fuse)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(STEPS):
            assert same(eager(*data[i % 3]).array, compiled(*data[i % 3]).array)
    assert compiled.traces == 1 and all(isinstance(e, list) for e in compiled.programs.values())
    assert _same(me.parameters(), mc.parameters())


def test_no_memory_growth_over_many_replays():
    """10,000 replays of a small step: the program's pool makes no buffer after the first
    replay and the Python heap does not grow (what tracemalloc sees after 5,000 more replays,
    and its peak over them, are what it saw over the first 5,000, within a few kilobytes of
    allocator noise)."""
    import gc
    import tracemalloc
    _, _, step = _cubic()
    compiled = ad_compile(step)
    for _ in range(3):
        compiled()
    prog = next(iter(compiled.programs.values()))[0]
    made = prog.pool.allocations
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(5000):
            compiled()
        gc.collect()            # what is kept, not garbage waiting for the collector
        first, peak_first = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(5000):
            compiled()
        gc.collect()
        second, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prog.pool.allocations == made and compiled.traces == 1
    assert second - first < 4096, (first, second)
    assert peak <= peak_first + 4096, (peak_first, peak)     # the peak is stable too


def test_lbfgs_closure_breaks_once_and_matches_eager():
    """L-BFGS reads the loss on the host (its convergence tests call item()): the step is a
    graph break, reported once with the user's line, and 20 steps still equal eager's."""
    def build():
        ad.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(ad.float64)
        opt = optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)

        def step(x, y):
            def closure():
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss
            return opt.step(closure)
        return model, step
    rng = np.random.default_rng(0)
    data = [(ad.tensor(rng.standard_normal((16, 6))), ad.tensor(rng.integers(0, 3, 16)))
            for _ in range(3)]
    me, eager = build()
    mc, step = build()
    compiled = ad_compile(step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(STEPS):
            x, y = data[i % 3]
            assert same(eager(x, y).array, compiled(x, y).array)
    breaks = [str(m.message) for m in caught if "graph break" in str(m.message)]
    assert len(breaks) == 1 and "item()" in breaks[0] and "test_compile.py" in breaks[0]
    assert compiled.traces == 1
    assert _same(me.parameters(), mc.parameters())
    with pytest.raises(GraphBreak):
        ad_compile(build()[1], fullgraph=True)(*data[0])


def test_generated_replay_matches_the_interpreter(fusion_mode):
    """The replay is a generated function (``codegen.py``, its text in ``program.source``):
    one line per op, and the numbers of the interpreter that walks the same ops."""
    rng = np.random.default_rng(7)
    w = ad.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = ad.tensor(rng.standard_normal(3), requires_grad=True)

    def f(x):
        loss = (ad.tanh(x @ w + b) ** 2).sum()
        gw, gb = ad.grad(loss, [w, b])
        return loss, gw, gb
    compiled = ad_compile(f)
    for _ in range(3):
        x = ad.tensor(rng.standard_normal((4, 5)))
        got = compiled(x)
    prog = next(iter(compiled.programs.values()))[0]
    assert prog.source.startswith("def replay(args):")
    assert all(f"bufs[{op.outs[0]}]" in prog.source for op in prog.ops if op.outs)
    x = ad.tensor(rng.standard_normal((4, 5)))
    fast, slow, want = prog.replay([x]), prog.interpret([x]), f(x)
    for a, b_, c in zip(fast, slow, want):
        assert np.array_equal(a.array, b_.array) and same(a, c)


def test_products_by_constant_ones_are_dropped(fusion_mode):
    """``x * ones`` (a folded constant of ones, as the gradient of a sum gives) is ``x`` bit
    for bit: the pass drops the product and its readers read ``x``; the numbers stay eager's."""
    rng = np.random.default_rng(8)
    v = ad.tensor(rng.standard_normal((3, 4)))
    w = ad.tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def f():
        (g,) = ad.grad(((w * w).sum() * 1.0), [w], create_graph=True)
        return ad.grad((g * v).sum(), [w])[0] * ad.ones((3, 4), dtype=ad.float64) + 0.0
    compiled = ad_compile(f)
    for _ in range(3):
        got = compiled()
    assert same(got, f())
    prog = next(iter(compiled.programs.values()))[0]
    consts = {s: a for s, k, a, _ in prog.sources if k == "const"}
    assert not [op for op in prog.reference_ops if op.kind == "prim" and op.name == "mul" and
                any(s in consts and np.all(consts[s] == 1) for s in op.ins)]


def test_piecewise_constant_gradients_fold_to_constant_zeros(fusion_mode):
    """A step function's VJP (zeros: ``sign`` here) is made by an op of the tape with no
    operands: the trace records it and the program holds it as a constant, no backward rule
    left to run; the leaf's .grad (zeros from the sign, plus y) matches eager."""
    rng = np.random.default_rng(9)
    x = ad.tensor(rng.standard_normal(5), requires_grad=True)

    def f(y):
        x.grad = None
        ((ad.sign(x) + x) * y).sum().backward()
        return x.grad
    compiled = ad_compile(f)
    for _ in range(4):
        y = ad.tensor(rng.standard_normal(5))
        got = compiled(y)
        assert same(got, f(y)) and same(got, y.numpy())
    prog = next(iter(compiled.programs.values()))[0]
    assert not [op for op in prog.ops if op.kind == "rule"]


def test_a_product_by_ones_written_in_place_keeps_its_own_array(fusion_mode):
    """``y = x * ones`` then ``y.add_(1)`` in place: the product must stay a separate array (an
    alias would write x); x keeps its values, every replay gives (x + 1) * 2."""
    x = ad.tensor(np.arange(4.0))

    def f():
        y = x * ad.ones(4, dtype=ad.float64)
        y.add_(1.0)
        return y * 2.0
    compiled = ad_compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no fallback from a failed verification
        for _ in range(4):
            got = compiled()
            assert same(got, (np.arange(4.0) + 1.0) * 2.0) and same(x, np.arange(4.0))
    assert all(isinstance(p, list) for p in compiled.programs.values())
