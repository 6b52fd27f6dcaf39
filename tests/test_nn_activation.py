"""The activations of nn.functional_activation beyond the op table: gradients at the kinks
(PyTorch's conventions, hand-computed), inplace=, rrelu's random slopes, PReLU's learnable
weight, softmin's implicit dim, errors, and the modules' reprs against torch's."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _grad_at(fn, points):
    x = ad.tensor(np.array(points, dtype=np.float64), requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


# (function, points, gradients there): each kink's derivative as PyTorch's backward defines it
KINKS = [
    ("hardtanh", F.hardtanh, [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    ("relu6", F.relu6, [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),
    ("hardsigmoid", F.hardsigmoid, [-3.0, 3.0, 0.0], [0.0, 0.0, 1 / 6]),
    ("hardswish", F.hardswish, [-3.0, 3.0, -3.5, 3.5, 0.0], [0.0, 1.0, 0.0, 1.0, 0.5]),
    ("softshrink", F.softshrink, [-0.5, 0.5, 0.0, 0.7], [0.0, 0.0, 0.0, 1.0]),
    ("hardshrink", F.hardshrink, [-0.5, 0.5, 0.7], [0.0, 0.0, 1.0]),
    ("threshold", lambda x: F.threshold(x, 0.5, 9.0), [0.5, 0.6], [0.0, 1.0]),
    ("celu", lambda x: F.celu(x, 2.0), [0.0], [1.0]),
    ("selu", F.selu, [0.0], [SELU_SCALE * SELU_ALPHA]),
    ("prelu", lambda x: F.prelu(x, ad.tensor([0.3], dtype=ad.float64)), [0.0], [0.3]),
    ("rrelu", lambda x: F.rrelu(x, 0.2, 0.4), [0.0], [0.3]),
    ("softsign", F.softsign, [0.0], [1.0]),
    ("logsigmoid", F.logsigmoid, [0.0, -800.0, 800.0], [0.5, 1.0, 0.0]),
    ("mish", F.mish, [0.0], [np.tanh(np.log(2.0))]),
]


@pytest.mark.parametrize("name, fn, points, grads", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_kinks(name, fn, points, grads):
    np.testing.assert_allclose(_grad_at(fn, points), grads, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name, fn, points, grads", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_kinks_against_torch(torch, name, fn, points, grads):
    tf = {"prelu": lambda x: torch.nn.functional.prelu(x, torch.tensor([0.3], dtype=x.dtype)),
          "threshold": lambda x: torch.nn.functional.threshold(x, 0.5, 9.0),
          "celu": lambda x: torch.nn.functional.celu(x, 2.0),
          "rrelu": lambda x: torch.nn.functional.rrelu(x, 0.2, 0.4)}.get(
        name, getattr(torch.nn.functional, name))
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    tf(x).sum().backward()
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, even in float64
    np.testing.assert_allclose(_grad_at(fn, points), x.grad.numpy(),
                               rtol=1e-7 if name == "hardsigmoid" else 1e-12, atol=1e-300)


def test_logsigmoid_is_finite_far_out():
    x = ad.tensor([-800.0, 800.0])
    np.testing.assert_allclose(F.logsigmoid(x).numpy(), [-800.0, 0.0], atol=1e-300)


def test_hardsigmoid_matches_torch_to_its_float32_constant(torch):
    x = np.random.default_rng(0).uniform(-4, 4, 20)
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.hardsigmoid(t).sum().backward()
    np.testing.assert_allclose(_grad_at(F.hardsigmoid, x), t.grad.numpy(), rtol=1e-7)
    np.testing.assert_allclose(F.hardsigmoid(ad.tensor(x)).numpy(),
                               torch.nn.functional.hardsigmoid(torch.tensor(x)).numpy(),
                               rtol=1e-12)


INPLACE = [("celu", lambda x, **k: F.celu(x, 0.5, **k)), ("selu", F.selu), ("silu", F.silu),
           ("mish", F.mish), ("hardtanh", lambda x, **k: F.hardtanh(x, -0.5, 0.5, **k)),
           ("relu6", F.relu6), ("hardswish", F.hardswish), ("hardsigmoid", F.hardsigmoid),
           ("threshold", lambda x, **k: F.threshold(x, 0.1, -2.0, **k)),
           ("rrelu", lambda x, **k: F.rrelu(x, 0.1, 0.3, **k))]


@pytest.mark.parametrize("name, fn", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_overwrites_the_input_and_keeps_the_gradient(name, fn):
    data = np.random.default_rng(1).uniform(-4, 8, (3, 4))
    leaf = ad.tensor(data, requires_grad=True)
    want = fn(leaf * 1.0)
    (g_want,) = ad.grad((want * want).sum(), leaf)
    x = leaf * 1.0                                  # a non-leaf: in place is allowed
    version = x._version.v
    y = fn(x, inplace=True)
    assert y is x and x._version.v > version
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=1e-15)
    (g,) = ad.grad((y * y).sum(), leaf)
    np.testing.assert_allclose(g.numpy(), g_want.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf"):
        fn(ad.tensor(data, requires_grad=True), inplace=True)


@pytest.mark.parametrize("name, args", [
    ("relu_", ()), ("elu_", (0.5,)), ("leaky_relu_", (0.2,)), ("celu_", (2.0,)), ("selu_", ()),
    ("hardtanh_", (-0.5, 0.5)), ("rrelu_", (0.1, 0.3)), ("threshold_", (0.1, -2.0))])
def test_underscore_spellings_are_inplace(name, args):
    data = np.random.default_rng(6).uniform(-2, 2, (2, 5))
    x = ad.tensor(data)
    assert getattr(F, name)(x, *args) is x
    np.testing.assert_array_equal(x.numpy(), getattr(F, name[:-1])(ad.tensor(data), *args).numpy())


def test_inplace_modules():
    x = ad.tensor([-1.0, 2.0, 7.0])
    assert nn.ReLU6(inplace=True)(x) is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 2.0, 6.0])


def test_rrelu_training_draws_slopes_in_range():
    x = ad.tensor(-np.linspace(0.5, 2.0, 4000), requires_grad=True)
    ad.manual_seed(5)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slope = y.numpy() / x.numpy()
    assert slope.min() >= 0.1 and slope.max() <= 0.3
    assert abs(slope.mean() - 0.2) < 0.005 and slope.std() > 0.05   # U(0.1, 0.3): sd 0.058
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-12)   # the drawn slopes
    ad.manual_seed(5)
    np.testing.assert_array_equal(F.rrelu(x, 0.1, 0.3, training=True).numpy(), y.numpy())
    pos = ad.tensor([0.5, 3.0])
    np.testing.assert_array_equal(F.rrelu(pos, training=True).numpy(), [0.5, 3.0])
    m = nn.RReLU(0.1, 0.3)
    np.testing.assert_allclose(m.eval()(ad.tensor([-1.0])).numpy(), [-0.2])


def test_prelu_learns_its_weight():
    m = nn.PReLU(3, init=0.25, dtype=ad.float64)
    x = np.random.default_rng(2).normal(size=(4, 3, 5))
    out = m(ad.tensor(x))
    out.sum().backward()
    # d/dw_c sum(prelu) = sum of x over the non-positive entries of channel c
    np.testing.assert_allclose(m.weight.grad.numpy(), np.where(x > 0, 0, x).sum((0, 2)),
                               rtol=1e-12)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="channel"):
        m(ad.tensor(np.zeros((2, 4))))
    one = nn.PReLU()
    np.testing.assert_allclose(one(ad.tensor([[-2.0, 2.0]])).numpy(), [[-0.5, 2.0]])


def test_prelu_loads_torch_weight(torch):
    tm = torch.nn.PReLU(3, init=0.1)
    m = nn.PReLU(3)
    m.load_state_dict(tm.state_dict())
    x = np.random.default_rng(3).normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(m(ad.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)


def test_softmin_implicit_dim_warns_and_picks_pytorchs_dim():
    x = np.random.default_rng(4).normal(size=(2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmin(ad.tensor(x))
    e = np.exp(-x)
    np.testing.assert_allclose(y.numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmin()(ad.tensor(x[0]))
    np.testing.assert_allclose(y.numpy(), e[0] / e[0].sum(), rtol=1e-12)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.glu(ad.zeros(2, 3)), ValueError, "even"),
    (lambda: F.glu(ad.zeros(2, 4), dim=2), IndexError, "dim"),
    (lambda: F.hardtanh(ad.zeros(2), 1.0, -1.0), ValueError, "min_val"),
    (lambda: nn.Hardtanh(1.0, 1.0), ValueError, "max_val"),
    (lambda: F.celu(ad.zeros(2), 0.0), ValueError, "alpha"),
    (lambda: F.softshrink(ad.zeros(2), -1.0), ValueError, "lambd"),
    (lambda: F.hardshrink(ad.zeros(2), -1.0), ValueError, "lambd"),
    (lambda: F.rrelu(ad.zeros(2), 0.5, 0.1), ValueError, "lower"),
    (lambda: F.prelu(ad.zeros(2, 3), ad.zeros(2)), ValueError, "channel"),
    (lambda: F.normalize(ad.zeros(2, 3), dim=2), IndexError, "dim"),
    (lambda: F.cosine_similarity(ad.zeros(2, 3), ad.zeros(2, 4)), ValueError, "broadcast"),
    (lambda: F.pairwise_distance(ad.zeros(3), ad.zeros(3), p=-1), ValueError, "non-negative"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_vector_norms_at_zero_and_special_p():
    z = ad.tensor(np.zeros((2, 3)), requires_grad=True)
    out = F.normalize(z)
    out.sum().backward()
    assert np.all(out.numpy() == 0) and np.all(z.grad.numpy() == 1e12)   # 1 / eps
    a, b = ad.tensor([[1.0, 2.0, 3.0]]), ad.tensor([[1.0, 0.0, 3.0]])
    np.testing.assert_allclose(F.pairwise_distance(a, b, p=0, eps=0.0).numpy(), [1.0])
    np.testing.assert_allclose(F.cosine_similarity(a, ad.zeros(1, 3)).numpy(), [0.0])


def _all_modules(nn_mod):
    return [nn_mod.CELU(), nn_mod.CELU(2.0, True), nn_mod.SELU(True), nn_mod.SiLU(),
            nn_mod.Mish(True), nn_mod.Hardtanh(), nn_mod.Hardtanh(-2.0, 3.0, True),
            nn_mod.ReLU6(), nn_mod.ReLU6(True), nn_mod.Hardswish(True), nn_mod.Hardsigmoid(),
            nn_mod.LogSigmoid(), nn_mod.Softsign(), nn_mod.Softmin(), nn_mod.Softmin(1),
            nn_mod.GLU(), nn_mod.Tanhshrink(), nn_mod.Softshrink(), nn_mod.Hardshrink(0.3),
            nn_mod.Threshold(0.1, 20.0), nn_mod.Threshold(0.1, 20.0, True), nn_mod.PReLU(),
            nn_mod.PReLU(3, 0.1), nn_mod.RReLU(), nn_mod.RReLU(0.1, 0.3, True),
            nn_mod.ReLU(True), nn_mod.LeakyReLU(0.2, True), nn_mod.ELU(inplace=True)]


def test_reprs_as_pytorch(torch):
    assert [repr(m) for m in _all_modules(nn)] == [repr(m) for m in _all_modules(torch.nn)]
