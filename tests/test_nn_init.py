"""nn.init: PyTorch's gains and fans; sample statistics against the formulas on large tensors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import init


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")


# PyTorch's documented gains (torch.nn.init.calculate_gain), as closed forms.
GAINS = [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0), ("conv3d", None, 1.0),
    ("conv_transpose1d", None, 1.0), ("conv_transpose2d", None, 1.0),
    ("conv_transpose3d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.3, math.sqrt(2 / 1.09)), ("leaky_relu", 1, 1.0),
    ("leaky_relu", 0, math.sqrt(2)), ("selu", None, 0.75),
]


@pytest.mark.parametrize("nl,param,gain", GAINS)
def test_calculate_gain_closed_forms(nl, param, gain):
    assert init.calculate_gain(nl, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_matches_torch(torch):
    for nl, p, gain in GAINS:
        assert torch.nn.init.calculate_gain(nl, p) == pytest.approx(gain, rel=1e-15)
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", True)


def _std(t):
    return float(t.numpy().std())


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_kaiming_and_xavier_std(shape):
    w = ad.empty(*shape, dtype=ad.float64)
    fan_in = shape[1] * int(np.prod(shape[2:]))
    fan_out = shape[0] * int(np.prod(shape[2:]))
    cases = [
        (lambda: init.kaiming_normal_(w, nonlinearity="relu"), math.sqrt(2 / fan_in)),
        (lambda: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"),
         math.sqrt(2 / fan_out)),
        (lambda: init.kaiming_uniform_(w, a=math.sqrt(5)), 1 / math.sqrt(3 * fan_in)),
        (lambda: init.kaiming_uniform_(w, nonlinearity="tanh"), 5 / 3 / math.sqrt(fan_in)),
        (lambda: init.xavier_normal_(w), math.sqrt(2 / (fan_in + fan_out))),
        (lambda: init.xavier_uniform_(w, gain=2.0), 2 * math.sqrt(2 / (fan_in + fan_out))),
    ]
    for fill, std in cases:
        assert fill() is w
        assert abs(_std(w) / std - 1) < 0.03
        assert abs(w.numpy().mean()) < 0.05 * std
    # uniform bounds are respected exactly
    init.xavier_uniform_(w)
    a = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= a and np.abs(w.numpy()).max() > 0.99 * a


def test_simple_fills_and_versions():
    w = nn.Parameter(ad.empty(3, 4))
    v0 = w._version.v
    init.constant_(w, 0.25)
    np.testing.assert_array_equal(w.numpy(), 0.25)
    assert w._version.v > v0
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert (w.numpy() == 1).all()
    init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(3, 4))
    assert w.dtype == np.float32 and w.is_leaf and w.requires_grad
    init.uniform_(w, -2, 3)
    assert w.numpy().min() >= -2 and w.numpy().max() <= 3
    big = ad.empty(200, 200, dtype=ad.float64)
    init.normal_(big, 1.0, 0.5)
    assert abs(big.numpy().mean() - 1) < 0.01 and abs(_std(big) - 0.5) < 0.01
    init.uniform_(big, -1, 1)
    assert abs(_std(big) - 1 / math.sqrt(3)) < 0.01
    init.trunc_normal_(big, std=1.0, a=-1.0, b=1.0)
    assert np.abs(big.numpy()).max() <= 1.0
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(ad.empty(2, 2, 2))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_normal_(ad.empty(5))


def test_orthogonal_and_dirac():
    w = ad.empty(6, 4, dtype=ad.float64)
    init.orthogonal_(w, gain=2.0)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), 4 * np.eye(4), atol=1e-10)
    k = ad.empty(3, 3, 3, 3)
    init.dirac_(k)
    # a dirac conv kernel is the identity: the centre tap is eye, every other tap zero
    assert (k.numpy()[:, :, 1, 1] == np.eye(3)).all() and k.numpy().sum() == 3


def test_init_reproducible_with_seed():
    ad.manual_seed(7)
    a = nn.Linear(5, 3).weight.numpy().copy()
    ad.manual_seed(7)
    b = nn.Linear(5, 3).weight.numpy().copy()
    np.testing.assert_array_equal(a, b)


def test_init_inside_no_grad_does_not_record():
    w = nn.Parameter(ad.empty(4, 4))
    init.kaiming_uniform_(w)
    assert w.grad_fn is None and w.is_leaf
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 2)


def test_normal_inits_use_only_what_cupys_generator_has(monkeypatch):
    """CuPy's Generator has standard_normal and uniform but no normal: the normal initialisers
    must not need it (kaiming_normal_ of a ResNet on the GPU failed that way)."""
    from autodiff.nn import init as I

    class CupyLikeGenerator:
        def __init__(self):
            self._g = np.random.default_rng(7)

        def standard_normal(self, size):
            return self._g.standard_normal(size)

        def uniform(self, low, high, size):
            return self._g.uniform(low, high, size)

    monkeypatch.setattr(I, "generator", lambda xp: CupyLikeGenerator())
    w = ad.zeros((200, 100))
    I.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    ref = np.random.default_rng(7).standard_normal((200, 100)) * np.sqrt(2.0 / 100)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-6)
    I.normal_(w, 1.0, 0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.02 and abs(w.numpy().std() - 0.5) < 0.02
    I.trunc_normal_(w, 0.0, 1.0, -0.5, 0.5)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 0.5
