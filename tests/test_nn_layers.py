"""Layers and their functional forms: values and gradients against NumPy/closed forms and
gradcheck in float64, and against PyTorch with the same weights where it is installed."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff import nn, optim
from autodiff.nn import functional as F
from ref_nn import ACTIVATIONS, BatchNormRef, mlp_loss_and_grads


def _grads(fn, *arrays):
    ts = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(ad.tensor(np.cos(np.arange(out.array.size)).reshape(out.shape)))
    return out.numpy(), [t.grad.numpy() for t in ts]


def _torch_grads(torch, fn, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape))))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


# ------------------------------------------------------------------------------------ linear
def test_linear_values_and_grads_closed_form():
    x, w, b = np.random.randn(5, 3), np.random.randn(4, 3), np.random.randn(4)
    out, (gx, gw, gb) = _grads(F.linear, x, w, b)
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-12)
    g = np.cos(np.arange(20)).reshape(5, 4)
    np.testing.assert_allclose(gx, g @ w, rtol=1e-12)
    np.testing.assert_allclose(gw, g.T @ x, rtol=1e-12)
    np.testing.assert_allclose(gb, g.sum(0), rtol=1e-12)


def test_linear_gradcheck_nd_and_double_backward():
    x = ad.randn(2, 3, 4, dtype=ad.float64, requires_grad=True)
    w = ad.randn(5, 4, dtype=ad.float64, requires_grad=True)
    b = ad.randn(5, dtype=ad.float64, requires_grad=True)
    assert ad.gradcheck(F.linear, (x, w, b))
    assert ad.gradcheck(lambda x, w: F.linear(x, w), (x, w))
    assert ad.gradgradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), (x, w, b))


def test_linear_module_init_bounds_and_errors():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = lin.weight.numpy()
    assert w.shape == (300, 400) and lin.bias.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    # kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)): std = bound / sqrt(3)
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02
    assert np.abs(lin.bias.numpy()).max() <= bound
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError, match=r"linear.*\(2, 5\).*\(300, 400\)"):
        lin(ad.randn(2, 5))


def test_linear_module_closed_form():
    """nn.Linear: y = x W^T + b and, for the loss sum(y^2), the gradients dy = 2y,
    dx = dy W, dW = dy^T x, db = sum(dy) (the same loss as the PyTorch comparison below)."""
    lin = nn.Linear(3, 4).double()
    assert list(lin.state_dict()) == ["weight", "bias"]
    W, b = lin.weight.numpy().copy(), lin.bias.numpy().copy()
    x = np.random.randn(6, 3)
    xa = ad.tensor(x, requires_grad=True)
    out = lin(xa)
    out.pow(2).sum().backward()
    y = x @ W.T + b
    np.testing.assert_allclose(out.numpy(), y, rtol=1e-12)
    np.testing.assert_allclose(xa.grad.numpy(), 2 * y @ W, rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(), 2 * y.T @ x, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.numpy(), 2 * y.sum(0), rtol=1e-12)


def test_linear_matches_torch(torch):
    lin = nn.Linear(3, 4).double()
    tl = torch.nn.Linear(3, 4).double()
    tl.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                        for k, v in lin.state_dict().items()})
    x = np.random.randn(6, 3)
    xa, xt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    lin(xa).pow(2).sum().backward()
    tl(xt).pow(2).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------------ activations
ACTS = [  # (id, module name, keyword arguments); references in ref_nn.ACTIVATIONS
    ("ReLU", "ReLU", {}),
    ("Sigmoid", "Sigmoid", {}),
    ("Tanh", "Tanh", {}),
    ("LeakyReLU", "LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", "ELU", {"alpha": 1.5}),
    ("GELU", "GELU", {}),
    ("GELU-tanh", "GELU", {"approximate": "tanh"}),
    ("Softplus", "Softplus", {"beta": 2.0}),
    ("Softplus-threshold", "Softplus", {"beta": 2.0, "threshold": 1.5}),  # linear for x > 0.75
    ("Softmax", "Softmax", {"dim": 1}),
    ("LogSoftmax", "LogSoftmax", {"dim": 1}),
]


def _act_input():
    """Values on both sides of every kink and of Softplus's threshold, but not near them (the
    finite differences would straddle a jump)."""
    x = np.random.randn(4, 5) * 1.5
    for kink in (0.0, 0.75):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + np.where(x[near] >= kink, 0.3, -0.3)
    return x


@pytest.mark.parametrize("case", ACTS, ids=[a[0] for a in ACTS])
def test_activation_modules(case):
    """Values and vector-Jacobian products against the closed forms; gradcheck."""
    _, name, kw = case
    ref, ref_vjp = ACTIVATIONS[name]
    x = _act_input()
    m = getattr(nn, name)(**kw)
    o, (g,) = _grads(m, x)
    np.testing.assert_allclose(o, ref(x, **kw), rtol=1e-10, atol=1e-12)
    upstream = np.cos(np.arange(x.size)).reshape(x.shape)     # the one _grads uses
    np.testing.assert_allclose(g, ref_vjp(x, upstream, **kw), rtol=1e-10, atol=1e-12)
    assert ad.gradcheck(m, (ad.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("case", ACTS, ids=[a[0] for a in ACTS])
def test_activation_modules_match_torch(torch, case):
    _, name, kw = case
    x = _act_input()
    ours = getattr(nn, name)(**kw)
    theirs = getattr(torch.nn, name)(**kw)
    o, (g,) = _grads(ours, x)
    ot, (gt,) = _torch_grads(torch, theirs, x)
    np.testing.assert_allclose(o, ot, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, gt, rtol=1e-10, atol=1e-12)


def test_identity_flatten():
    x = ad.randn(2, 3, 4, 5)
    assert nn.Identity(3, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert F.flatten(x).shape == (120,)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)


# ------------------------------------------------------------------------------------ dropout
def test_dropout_mask_scale_and_eval():
    x = ad.ones(200, 50, dtype=ad.float64, requires_grad=True)
    y = F.dropout(x, p=0.3, training=True)
    v = y.numpy()
    assert set(np.unique(v)).issubset({0.0, 1 / 0.7})
    assert abs((v == 0).mean() - 0.3) < 0.02
    y.sum().backward()
    # the mask is kept for backward: gradient equals the output pattern
    np.testing.assert_array_equal(x.grad.numpy(), v)
    assert F.dropout(x, 0.3, training=False) is x
    d = nn.Dropout(0.5)
    d.eval()
    assert d(x) is x
    d.train()
    assert (d(x).numpy() == 0).any()
    assert not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_dropout_reproducible_with_seed():
    ad.manual_seed(3)
    a = F.dropout(ad.ones(10, 10)).numpy()
    ad.manual_seed(3)
    b = F.dropout(ad.ones(10, 10)).numpy()
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------ batch norm
def _np_bn(x, w, b, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_batch_norm_training_values_grads_running_stats(shape):
    x = np.random.randn(*shape) * 2 + 1
    w, b = np.random.randn(3), np.random.randn(3)
    rm, rv = np.zeros(3), np.ones(3)
    rm_t, rv_t = ad.tensor(rm), ad.tensor(rv)
    out = F.batch_norm(ad.tensor(x), rm_t, rv_t, ad.tensor(w), ad.tensor(b), training=True,
                       momentum=0.1)
    np.testing.assert_allclose(out.numpy(), _np_bn(x, w, b), rtol=1e-10, atol=1e-12)
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // 3
    np.testing.assert_allclose(rm_t.numpy(), 0.1 * x.mean(axes), rtol=1e-12)
    np.testing.assert_allclose(rv_t.numpy(), 0.9 + 0.1 * x.var(axes) * n / (n - 1),
                               rtol=1e-12)

    def f(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)
    args = [ad.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert ad.gradcheck(f, args)
    assert ad.gradgradcheck(f, args)
    assert ad.gradcheck(lambda x: F.batch_norm(x, None, None, training=True),
                        (ad.tensor(x, requires_grad=True),))


def test_batch_norm_eval_uses_running_stats():
    x = np.random.randn(5, 3, 2, 2)
    rm, rv = np.random.randn(3), np.random.rand(3) + 0.5
    w, b = np.random.randn(3), np.random.randn(3)
    out = F.batch_norm(ad.tensor(x), ad.tensor(rm), ad.tensor(rv), ad.tensor(w), ad.tensor(b),
                       training=False, eps=1e-3)
    s = (1, 3, 1, 1)
    ref = (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-3) * w.reshape(s) + b.reshape(s)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    args = [ad.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert ad.gradcheck(lambda x, w, b: F.batch_norm(x, ad.tensor(rm), ad.tensor(rv), w, b,
                                                     eps=1e-3), args)


def test_batchnorm_module_errors_and_momentum_none():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(ad.randn(1, 3))
    with pytest.raises(ValueError, match=r"expected 3 channels"):
        bn(ad.randn(4, 5))
    with pytest.raises(ValueError, match="4D"):
        nn.BatchNorm2d(3)(ad.randn(4, 3))
    cma = nn.BatchNorm1d(2, momentum=None).double()
    xs = [np.random.randn(4, 2) for _ in range(3)]
    for x in xs:
        cma(ad.tensor(x))
    assert cma.num_batches_tracked.item() == 3
    np.testing.assert_allclose(cma.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0),
                               rtol=1e-12)
    plain = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and len(list(plain.parameters())) == 0
    plain.eval()
    x = ad.randn(5, 2)
    np.testing.assert_allclose(plain(x).numpy().mean(0), 0, atol=1e-6)  # batch stats in eval


def test_batchnorm_bias_false_keeps_only_the_scale():
    """PyTorch 2.x's keyword ``bias=False``: y = x_hat * weight, no shift parameter."""
    bn = nn.BatchNorm2d(3, bias=False).double()
    assert bn.bias is None and [n for n, _ in bn.named_parameters()] == ["weight"]
    w = np.random.randn(3)
    with ad.no_grad():
        bn.weight.copy_(w)
    x = np.random.randn(4, 3, 2, 2)
    np.testing.assert_allclose(bn(ad.tensor(x)).numpy(), _np_bn(x, w, np.zeros(3)), rtol=1e-10,
                               atol=1e-12)
    assert ad.gradcheck(lambda t: bn(t), (ad.tensor(x, requires_grad=True),))


BN_CASES = [  # (class, input shape, keyword arguments)
    ("BatchNorm1d", (8, 4), {"momentum": 0.2}),
    ("BatchNorm1d", (6, 4, 3), {"momentum": 0.2}),
    ("BatchNorm2d", (5, 4, 3, 3), {"momentum": 0.2}),
    ("BatchNorm2d", (3, 4, 2, 3), {"momentum": None}),          # cumulative average
    ("BatchNorm1d", (6, 4), {"momentum": None, "eps": 1e-3}),
    ("BatchNorm2d", (3, 4, 2, 2), {"affine": False}),
    ("BatchNorm1d", (5, 4, 2), {"track_running_stats": False}),  # batch statistics in eval
]
BN_IDS = [f"{c}-{len(s)}d-" + ",".join(f"{k}={v}" for k, v in kw.items()) for c, s, kw in BN_CASES]


def _bn_steps(shape, steps=3):
    """(input, upstream gradient) per training step; the mean drifts so the running
    statistics move."""
    return [(np.random.randn(*shape) * 3 + step, np.random.randn(*shape)) for step in range(steps)]


@pytest.mark.parametrize("cls,shape,kw", BN_CASES, ids=BN_IDS)
def test_batchnorm_over_steps_matches_reference(cls, shape, kw):
    """Outputs, input and parameter gradients, running statistics and the state dict over
    three training steps, then eval, against ref_nn.BatchNormRef (PyTorch's documented
    update: unbiased variance in the running estimate, biased in the normalisation)."""
    ours = getattr(nn, cls)(4, **kw).double()
    w, b = np.random.randn(4), np.random.randn(4)
    if ours.affine:
        with ad.no_grad():
            ours.weight.copy_(w)
            ours.bias.copy_(b)
    ref = BatchNormRef(4, **kw, weight=w, bias=b)
    for x, g in _bn_steps(shape):
        xa = ad.tensor(x, requires_grad=True)
        out = ours(xa)
        out.backward(ad.tensor(g))
        ref_out, ref_dx = ref.train_step(x, g)
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xa.grad.numpy(), ref_dx, rtol=1e-9, atol=1e-12)
    if ours.affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight_grad, rtol=1e-9)
        np.testing.assert_allclose(ours.bias.grad.numpy(), ref.bias_grad, rtol=1e-9)
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(ref_sd)
    for k, v in ref_sd.items():
        np.testing.assert_allclose(sd[k].numpy(), v, rtol=1e-12, err_msg=k)
    ours.eval()
    x = np.random.randn(*shape)
    np.testing.assert_allclose(ours(ad.tensor(x)).numpy(), ref.eval_forward(x), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("cls,shape,kw", BN_CASES, ids=BN_IDS)
def test_batchnorm_matches_torch_over_steps(torch, cls, shape, kw):
    ours = getattr(nn, cls)(4, **kw).double()
    theirs = getattr(torch.nn, cls)(4, **kw).double()
    if theirs.affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.randn(4))
            theirs.bias.copy_(torch.randn(4))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for x, g in _bn_steps(shape):
        xa, xt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours(xa).backward(ad.tensor(g))
        theirs(xt).backward(torch.tensor(g))
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    if theirs.affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                                   rtol=1e-9)
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-9)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = np.random.randn(*shape)
    np.testing.assert_allclose(ours(ad.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm():
    x = np.random.randn(3, 4, 5)
    ln = nn.LayerNorm(5).double()
    with ad.no_grad():
        ln.weight.copy_(np.random.randn(5))
        ln.bias.copy_(np.random.randn(5))
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    ref = (x - mu) / np.sqrt(var + 1e-5) * ln.weight.numpy() + ln.bias.numpy()
    np.testing.assert_allclose(ln(ad.tensor(x)).numpy(), ref, rtol=1e-10)
    assert ad.gradcheck(lambda x: F.layer_norm(x, (4, 5)), (ad.tensor(x, requires_grad=True),))
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(ad.randn(2, 3))


# ------------------------------------------------------------------------------------ embedding
def test_embedding_lookup_grad_and_padding():
    emb = nn.Embedding(6, 3, padding_idx=1).double()
    assert not emb.weight.numpy()[1].any()
    idx = ad.tensor([[0, 1, 2], [2, 2, 5]])
    out = emb(idx)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx.numpy()])
    out.sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[:, 0], [1, 0, 3, 0, 0, 1])  # repeats sum, padding 0
    with ad.detect_anomaly(), pytest.raises(IndexError, match="out of range"):
        emb(ad.tensor([6]))          # (checked on a GPU only in anomaly mode: no sync)
    pre = nn.Embedding.from_pretrained(np.eye(3))
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(ad.tensor([2])).numpy(), [[0, 0, 1]])


def test_embedding_init_stats():
    w = nn.Embedding(1000, 50).weight.numpy()
    assert abs(w.std() - 1) < 0.02 and abs(w.mean()) < 0.02


def test_one_hot():
    oh = F.one_hot(ad.tensor([0, 2, 1]), 4)
    assert oh.dtype == np.int64
    np.testing.assert_array_equal(oh.numpy(), np.eye(4, dtype=int)[[0, 2, 1]])
    assert F.one_hot(ad.tensor([[1], [3]])).shape == (2, 1, 4)
    with ad.detect_anomaly(), pytest.raises(ValueError):
        F.one_hot(ad.tensor([5]), 3)     # (checked on a GPU only in anomaly mode: no sync)


def _mlp_step(model, x, y, lr=0.1):
    """One cross-entropy SGD step on ``model``: the loss and the gradients before the step."""
    opt = optim.SGD(model.parameters(), lr=lr)
    loss = F.cross_entropy(model(ad.tensor(x)), ad.tensor(y))
    opt.zero_grad()
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    opt.step()
    return loss.item(), grads


def test_mlp_training_step_matches_numpy_by_hand():
    """A small MLP: loss, gradients and the weights after one SGD step equal the NumPy forward,
    hand-derived backward and update of ref_nn.mlp_loss_and_grads."""
    ours = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    before = [p.numpy().copy() for p in ours.parameters()]
    x, y = np.random.randn(10, 8), np.random.randint(0, 4, 10)
    loss, grads = _mlp_step(ours, x, y)
    ref_loss, ref_grads = mlp_loss_and_grads(before, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for (k, p), g, rg, w in zip(ours.named_parameters(), grads, ref_grads, before):
        np.testing.assert_allclose(g, rg, rtol=1e-10, atol=1e-14, err_msg=k)
        np.testing.assert_allclose(p.numpy(), w - 0.1 * rg, rtol=1e-12, atol=1e-14, err_msg=k)


def test_mlp_training_step_matches_torch(torch):
    """The same step in PyTorch from the same weights."""
    ours = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 4)).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x, y = np.random.randn(10, 8), np.random.randint(0, 4, 10)
    loss, grads = _mlp_step(ours, x, y)
    lt = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    lt.backward()
    tgrads = [q.grad.numpy().copy() for q in theirs.parameters()]
    with torch.no_grad():             # SGD's step (torch.optim's first import costs seconds)
        for q in theirs.parameters():
            q -= 0.1 * q.grad
    assert abs(loss - lt.item()) < 1e-12
    for (k, p), g, (_, q), gt in zip(ours.named_parameters(), grads, theirs.named_parameters(),
                                     tgrads):
        np.testing.assert_allclose(g, gt, rtol=1e-10, atol=1e-14, err_msg=k)
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14,
                                   err_msg=k)
