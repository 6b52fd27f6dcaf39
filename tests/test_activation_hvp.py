"""Second derivatives of the nn activations (issue "Port PyTorch code unchanged", silent
difference 8) and small mismatches the fuzzer found.

For every elementwise activation of ``autodiff.nn.functional`` (one table): with
``create_graph=True`` the first gradient requires grad, and the Hessian-vector product with
v = 1 (the diagonal second derivative, the activations being elementwise) equals a closed form
written out in NumPy: 0 on the piecewise-linear pieces (hardtanh, relu6, the shrinks,
threshold, prelu, rrelu...), the published second derivatives for the smooth ones, and
PyTorch's conventions at the kinks (elu/celu/selu: 0 at 0; hardswish: 1/3 on the open interval
(-3, 3)). The points include the kinks themselves (0, +-0.5 = lambd, +-1, +-3, 1.5 = softplus's
threshold, 6). With PyTorch installed, the first gradients and the HVPs are compared with
PyTorch's on the same points.

Regressions, against PyTorch's documented values as constants and PyTorch itself:
``max()``/``min()`` without dim give exactly 0 off the extremes for a NaN gradient (amax
spreads it, as PyTorch's); ``relu(-0.0)`` is -0.0; ``clamp(int32 tensor, 0.5)`` is float32.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import functional as F
from autodiff.nn import functional_activation

X = np.array([-7.0, -4.0, -3.0, -2.5, -1.0, -0.7, -0.5, -0.3, 0.0, 0.2, 0.5, 0.9, 1.0, 1.5,
              2.0, 3.0, 4.0, 6.0, 7.5])
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _phi(x):
    return np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _zero(x):
    return np.zeros_like(x)


def _mish2(x):
    s, t = _sig(x), np.tanh(np.log1p(np.exp(x)))
    return (1 - t * t) * s * (2 + x * (1 - s) - 2 * x * t * s)


def _softplus2(x, beta=2.0, threshold=3.0):
    s = _sig(beta * x)
    return np.where(beta * x < threshold, beta * s * (1 - s), 0.0)  # 0 from the threshold on


# name: (call with the functional module, d2f/dx2 on X); the kinks take PyTorch's side
TABLE = {
    "relu": (lambda f, x: f.relu(x), _zero),
    "relu6": (lambda f, x: f.relu6(x), _zero),
    "hardtanh": (lambda f, x: f.hardtanh(x), _zero),
    "hardtanh_wide": (lambda f, x: f.hardtanh(x, -3.0, 6.0), _zero),
    "hardsigmoid": (lambda f, x: f.hardsigmoid(x), _zero),
    "hardswish": (lambda f, x: f.hardswish(x), lambda x: np.where(np.abs(x) < 3, 1 / 3, 0.0)),
    "hardshrink": (lambda f, x: f.hardshrink(x), _zero),
    "softshrink": (lambda f, x: f.softshrink(x, 1.0), _zero),
    "threshold": (lambda f, x: f.threshold(x, 0.5, -2.0), _zero),
    "leaky_relu": (lambda f, x: f.leaky_relu(x, 0.1), _zero),
    "rrelu": (lambda f, x: f.rrelu(x, training=False), _zero),
    "prelu": (lambda f, x: f.prelu(x, _const(f, [0.25])), _zero),
    "elu": (lambda f, x: f.elu(x, 1.5), lambda x: np.where(x < 0, 1.5 * np.exp(x), 0.0)),
    "celu": (lambda f, x: f.celu(x, 2.0), lambda x: np.where(x < 0, np.exp(x / 2) / 2, 0.0)),
    "selu": (lambda f, x: f.selu(x),
             lambda x: np.where(x < 0, SELU_SCALE * SELU_ALPHA * np.exp(x), 0.0)),
    "silu": (lambda f, x: f.silu(x),
             lambda x: _sig(x) * (1 - _sig(x)) * (2 + x * (1 - 2 * _sig(x)))),
    "mish": (lambda f, x: f.mish(x), _mish2),
    "softplus": (lambda f, x: f.softplus(x, 2.0, 3.0), _softplus2),
    "logsigmoid": (lambda f, x: f.logsigmoid(x), lambda x: -_sig(x) * (1 - _sig(x))),
    "gelu": (lambda f, x: f.gelu(x), lambda x: _phi(x) * (2 - x * x)),
    "softsign": (lambda f, x: f.softsign(x), lambda x: -2 * np.sign(x) / (1 + np.abs(x)) ** 3),
    "tanhshrink": (lambda f, x: f.tanhshrink(x),
                   lambda x: 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (lambda f, x: f.sigmoid(x),
                lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
    "tanh": (lambda f, x: f.tanh(x), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
}
# PyTorch has no double backward for hardsigmoid ("derivative for aten::hardsigmoid_backward is
# not implemented"); autodiff gives the true 0
TORCH_RAISES = {"hardsigmoid"}


def _const(f, v):
    if f is F:
        return ad.tensor(np.asarray(v))
    import torch
    return torch.tensor(v, dtype=torch.float64)


def _hvp(lib, fn, x):
    """(first gradient, whether it requires grad, HVP with v = 1) of sum(fn(x))."""
    g, = lib.autograd.grad(fn(x).sum(), x, create_graph=True)
    h, = lib.autograd.grad(g.sum(), x)
    return g.detach().numpy(), g.requires_grad, h.detach().numpy()


def test_table_covers_every_elementwise_activation():
    names = {n for n in functional_activation.__all__ if not n.endswith("_")}
    assert names - {"softmin", "glu"} <= {n.split("_wide")[0] for n in TABLE}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hvp_closed_form(name):
    fn, d2 = TABLE[name]
    x = ad.tensor(X.copy(), requires_grad=True)
    _, requires, h = _hvp(ad, lambda t: fn(F, t), x)
    assert requires, f"{name}: the first gradient left the graph"
    np.testing.assert_allclose(h, d2(X), rtol=1e-12, atol=1e-14)


def test_glu_hvp_closed_form():
    """glu(x) = a * sigmoid(b): the HVP with v = 1 is sigmoid'(b) on a and
    sigmoid'(b) + a * sigmoid''(b) on b."""
    a, b = X[:8], X[8:16]
    x = ad.tensor(np.concatenate([a, b]), requires_grad=True)
    _, requires, h = _hvp(ad, F.glu, x)
    s = _sig(b)
    ds, dds = s * (1 - s), s * (1 - s) * (1 - 2 * s)
    assert requires
    np.testing.assert_allclose(h, np.concatenate([ds, ds + a * dds]), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(TABLE) + ["glu"])
def test_hvp_matches_torch(name, torch):
    fn = TABLE[name][0] if name != "glu" else (lambda f, t: f.glu(t))
    x = ad.tensor(X[:18].copy(), requires_grad=True)
    tx = torch.tensor(X[:18].copy(), requires_grad=True)
    g, requires, h = _hvp(ad, lambda t: fn(F, t), x)
    if name in TORCH_RAISES:
        with pytest.raises(RuntimeError, match="not implemented"):
            _hvp(torch, lambda t: fn(torch.nn.functional, t), tx)
        np.testing.assert_array_equal(h, 0.0)
        return
    tg, trequires, th = _hvp(torch, lambda t: fn(torch.nn.functional, t), tx)
    assert requires == trequires
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, th, rtol=1e-12, atol=1e-14)


def test_prelu_weight_gradient_stays_on_the_graph():
    """d2/dw dx of prelu: the gradient wrt x is w below 0, so its derivative wrt w is 1 there."""
    x = ad.tensor(X.copy(), requires_grad=True)
    w = ad.tensor(np.array([0.25]), requires_grad=True)
    g, = ad.grad(F.prelu(x, w).sum(), x, create_graph=True)
    hw, = ad.grad(g.sum(), w)
    np.testing.assert_allclose(hw.numpy(), [np.sum(X <= 0)])


# ----------------------------------------------------------------------------- fuzzer regressions
V = [1.0, 3.0, 2.0, 3.0]
# PyTorch's CPU evenly_distribute_backward: masked_fill of zeros, so exactly 0 off the extremes
EXTREME_NAN_GRAD = {"max": [0.0, math.nan, 0.0, math.nan], "min": [math.nan, 0.0, 0.0, 0.0],
                    "amax": [math.nan] * 4}


@pytest.mark.parametrize("op", sorted(EXTREME_NAN_GRAD))
def test_max_min_nan_gradient(op):
    np.testing.assert_array_equal(_nan_grad(op), EXTREME_NAN_GRAD[op])


@pytest.mark.parametrize("op", sorted(EXTREME_NAN_GRAD))
def test_max_min_nan_gradient_torch(op, torch):
    tx = torch.tensor(V, dtype=torch.float64, requires_grad=True)
    tg, = torch.autograd.grad(getattr(torch, op)(tx), tx,
                              torch.tensor(math.nan, dtype=torch.float64))
    np.testing.assert_array_equal(_nan_grad(op), tg.numpy())


def _nan_grad(op: str) -> np.ndarray:
    x = ad.tensor(np.array(V), requires_grad=True)
    g, = ad.grad(getattr(ad, op)(x), x, ad.tensor(math.nan, dtype=ad.float64))
    return g.numpy()


def test_max_without_dim_still_splits_ties():
    x = ad.tensor(np.array(V), requires_grad=True)
    g, = ad.grad(ad.max(x), x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.5, 0.0, 0.5])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_keeps_negative_zero(dtype):
    y = ad.relu(ad.tensor(np.array([-0.0, 0.0, -1.0, 2.0]), dtype=getattr(ad, dtype)))
    assert list(np.signbit(y.numpy())) == [True, False, False, False]
    assert list(y.numpy()) == [0.0, 0.0, 0.0, 2.0]


def test_relu_negative_zero_torch(torch):
    t = torch.relu(torch.tensor([-0.0, 0.0, -1.0, 2.0]))
    assert list(np.signbit(t.numpy())) == list(np.signbit(ad.relu(ad.tensor(
        np.array([-0.0, 0.0, -1.0, 2.0], np.float32))).numpy()))


CLIP_CASES = [
    (0.5, None, "float32", [0.5, 1.0, 2.0]),       # a float bound: the default float dtype
    (None, 1.5, "float32", [0.0, 1.0, 1.5]),
    (0, 1, "int32", [0, 1, 1]),                    # integer bounds keep the integer dtype
]


def _clip_int(lo, hi):
    return ad.clip(ad.tensor(np.array([0, 1, 2], np.int32)), lo, hi)


@pytest.mark.parametrize("lo, hi, dtype, values", CLIP_CASES)
def test_clip_int_tensor_promotes(lo, hi, dtype, values):
    y = _clip_int(lo, hi)
    assert y.dtype == getattr(ad, dtype)
    np.testing.assert_array_equal(y.numpy(), values)


@pytest.mark.parametrize("lo, hi, dtype, values", CLIP_CASES)
def test_clip_int_tensor_promotes_torch(lo, hi, dtype, values, torch):
    t = torch.clamp(torch.tensor([0, 1, 2], dtype=torch.int32), lo, hi)
    assert str(t.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(_clip_int(lo, hi).numpy(), t.numpy())
