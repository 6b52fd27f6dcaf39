"""Elementwise ops: forward against NumPy/SciPy, first and second derivatives against float64
central differences (``ad.gradcheck`` / ``ad.gradgradcheck``) on hypothesis-drawn broadcasting
shapes, operators with Python scalars and NumPy arrays on either side."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from scipy import special

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
SHAPES2 = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def leaf(rng: np.random.Generator, shape, low=-2.0, high=2.0) -> ad.Tensor:
    return ad.tensor(rng.uniform(low, high, shape), dtype=ad.float64, requires_grad=True)


def away_from(rng, shape, points, low=-2.0, high=2.0, gap=0.1) -> np.ndarray:
    """Uniform samples at least ``gap`` from every point of ``points`` (kinks)."""
    x = rng.uniform(low, high, shape)
    for p in points:
        close = np.abs(x - p) < gap
        x = np.where(close, p + np.sign(x - p + 1e-12) * gap * 2, x)
    return x


def check_grads(fn, *inputs, second: bool = True, atol: float = 1e-5) -> None:
    assert ad.gradcheck(fn, inputs, atol=atol)
    if second:
        assert ad.gradgradcheck(fn, inputs, atol=atol)


# ----------------------------------------------------------------------------- unary
# name -> (ad fn, numpy reference, domain sampler(rng, shape))
def _dom(low, high, kinks=()):
    return lambda rng, shape: away_from(rng, shape, kinks, low, high)


UNARY = {
    "exp": (ad.exp, np.exp, _dom(-2, 2)),
    "log": (ad.log, np.log, _dom(0.3, 3)),
    "log1p": (ad.log1p, np.log1p, _dom(-0.6, 3)),
    "expm1": (ad.expm1, np.expm1, _dom(-2, 2)),
    "sqrt": (ad.sqrt, np.sqrt, _dom(0.3, 3)),
    "abs": (ad.abs, np.abs, _dom(-2, 2, (0.0,))),
    "sin": (ad.sin, np.sin, _dom(-3, 3)),
    "cos": (ad.cos, np.cos, _dom(-3, 3)),
    "tan": (ad.tan, np.tan, _dom(-1.2, 1.2)),
    "tanh": (ad.tanh, np.tanh, _dom(-3, 3)),
    "sigmoid": (ad.sigmoid, special.expit, _dom(-4, 4)),
    "relu": (ad.relu, lambda x: np.maximum(x, 0), _dom(-2, 2, (0.0,))),
    "leaky_relu": (lambda x: ad.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                   _dom(-2, 2, (0.0,))),
    "elu": (lambda x: ad.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)),
            _dom(-2, 2, (0.0,))),
    "softplus": (ad.softplus, lambda x: np.logaddexp(0, x), _dom(-4, 4)),
    "softplus_beta": (lambda x: ad.softplus(x, beta=2.0),
                      lambda x: np.logaddexp(0, 2 * x) / 2, _dom(-4, 4)),
    "gelu": (ad.gelu, lambda x: x * 0.5 * (1 + special.erf(x / np.sqrt(2))), _dom(-3, 3)),
    "gelu_tanh": (lambda x: ad.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
                  _dom(-3, 3)),
    "erf": (ad.erf, special.erf, _dom(-2, 2)),
    "neg": (ad.neg, np.negative, _dom(-2, 2)),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, _dom(-2, 2)),
    "pow_half": (lambda x: x ** 0.5, np.sqrt, _dom(0.3, 3)),
    "pow_neg": (lambda x: x ** -2, lambda x: x ** -2.0, _dom(0.5, 2)),
    "clip": (lambda x: ad.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
             _dom(-2, 2, (-0.5, 0.7))),
    "clip_min": (lambda x: ad.clamp(x, min=0.2), lambda x: np.maximum(x, 0.2),
                 _dom(-2, 2, (0.2,))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
       seed=st.integers(0, 2**31))
def test_unary_forward_and_grads(name, shape, seed):
    fn, ref, dom = UNARY[name]
    rng = np.random.default_rng(seed)
    x = ad.tensor(dom(rng, shape), dtype=ad.float64, requires_grad=True)
    out = fn(x)
    assert out.shape == shape
    np.testing.assert_allclose(out.numpy(), ref(x.numpy()), rtol=1e-12, atol=1e-12)
    check_grads(fn, x)


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "tanh", "relu", "gelu", "softplus"])
def test_unary_methods_and_float32(name):
    fn, ref, dom = UNARY[name]
    x = ad.tensor(dom(np.random.default_rng(1), (4, 3)).astype(np.float32))
    out = fn(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref(x.numpy().astype(np.float64)), rtol=1e-5,
                               atol=1e-6)
    if hasattr(ad.Tensor, name):
        np.testing.assert_allclose(getattr(x, name)().numpy(), out.numpy())


# ----------------------------------------------------------------------------- binary
BINARY = {
    "add": (ad.add, np.add, _dom(-2, 2), _dom(-2, 2)),
    "sub": (ad.sub, np.subtract, _dom(-2, 2), _dom(-2, 2)),
    "mul": (ad.mul, np.multiply, _dom(-2, 2), _dom(-2, 2)),
    "div": (ad.div, np.divide, _dom(-2, 2), _dom(0.5, 2)),
    "pow": (ad.pow, np.power, _dom(0.3, 2), _dom(-2, 2)),
    "maximum": (ad.maximum, np.maximum, _dom(-2, 2), _dom(-2, 2)),
    "minimum": (ad.minimum, np.minimum, _dom(-2, 2), _dom(-2, 2)),
    "matmul_free_atan2ish": (lambda a, b: a * ad.tanh(b) + b / (1 + a * a),
                             lambda a, b: a * np.tanh(b) + b / (1 + a * a),
                             _dom(-2, 2), _dom(-2, 2)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(shapes=SHAPES2, seed=st.integers(0, 2**31))
def test_binary_broadcast_forward_and_grads(name, shapes, seed):
    fn, ref, dom_a, dom_b = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a_np, b_np = dom_a(rng, sa), dom_b(rng, sb)
    if name in ("maximum", "minimum"):  # ties are tested in test_conventions
        assume(np.abs(np.subtract(a_np, b_np)).min(initial=1.0) > 0.05)
    a = ad.tensor(a_np, dtype=ad.float64, requires_grad=True)
    b = ad.tensor(b_np, dtype=ad.float64, requires_grad=True)
    out = fn(a, b)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), ref(a_np, b_np), rtol=1e-12, atol=1e-12)
    check_grads(fn, a, b)
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=st.integers(0, 2**31))
def test_where_broadcast(shapes, seed):
    rng = np.random.default_rng(seed)
    sc, sa, sb = shapes.input_shapes
    cond = rng.random(sc) > 0.5
    a, b = leaf(rng, sa), leaf(rng, sb)
    out = ad.where(cond, a, b)
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a.numpy(), b.numpy()))
    check_grads(lambda a, b: ad.where(cond, a * a, ad.sin(b)), a, b)
    # condition given as a bool Tensor, and a scalar branch
    out2 = ad.where(ad.tensor(cond), a, 0.0)
    np.testing.assert_array_equal(out2.numpy(), np.where(cond, a.numpy(), 0.0))


def test_where_scalar_first_branch():
    b = ad.tensor([1.0, 2.0, 3.0], dtype=ad.float64, requires_grad=True)
    out = ad.where(np.array([True, False, True]), 5.0, b)
    np.testing.assert_array_equal(out.numpy(), [5.0, 2.0, 5.0])
    out.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- operators
def test_operators_with_scalars_and_arrays_on_both_sides():
    rng = np.random.default_rng(0)
    xn = rng.uniform(0.5, 2, (2, 3))
    arr = rng.uniform(0.5, 2, (3,))
    x = ad.tensor(xn, dtype=ad.float64, requires_grad=True)
    cases = [
        (lambda t: t + 2, xn + 2), (lambda t: 2 + t, 2 + xn),
        (lambda t: t - 2, xn - 2), (lambda t: 2 - t, 2 - xn),
        (lambda t: t * 3, xn * 3), (lambda t: 3 * t, 3 * xn),
        (lambda t: t / 4, xn / 4), (lambda t: 4 / t, 4 / xn),
        (lambda t: t ** 2, xn ** 2), (lambda t: 2 ** t, 2 ** xn),
        (lambda t: -t, -xn), (lambda t: +t, xn), (lambda t: abs(t - 1), np.abs(xn - 1)),
        (lambda t: t + arr, xn + arr), (lambda t: arr + t, arr + xn),
        (lambda t: arr - t, arr - xn), (lambda t: arr * t, arr * xn),
        (lambda t: arr / t, arr / xn), (lambda t: t @ arr, xn @ arr),
        (lambda t: arr[:2] @ t, arr[:2] @ xn),
    ]
    for fn, want in cases:
        out = fn(x)
        assert isinstance(out, ad.Tensor)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)
        assert ad.gradcheck(fn, (x,))


def test_scalar_keeps_tensor_dtype():
    x = ad.ones(3)
    assert (x * 2.5).dtype == np.float32
    assert (2.5 * x).dtype == np.float32
    assert (ad.ones(3, dtype=ad.float64) + 1).dtype == np.float64
    i = ad.arange(3)
    assert (i + 1).dtype == np.int64
    assert (i / 2).dtype.kind == "f"


def test_comparisons_and_logical_have_no_grad():
    a = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = ad.tensor([3.0, 2.0, 1.0])
    for op, ref in [(a < b, [True, False, False]), (a <= b, [True, True, False]),
                    (a > b, [False, False, True]), (a >= b, [False, True, True]),
                    (a == b, [False, True, False]), (a != b, [True, False, True])]:
        assert op.dtype == np.bool_ and not op.requires_grad
        np.testing.assert_array_equal(op.numpy(), ref)
    m = (a > 1) & (b > 1)
    np.testing.assert_array_equal(m.numpy(), [False, True, False])
    np.testing.assert_array_equal(((a > 2) | (b > 2)).numpy(), [True, False, True])
    np.testing.assert_array_equal((~(a > 2)).numpy(), [True, True, False])
    s = ad.sign(a)  # as PyTorch: on the graph, with gradient 0
    assert s.requires_grad and not ad.grad(s.sum(), a)[0].numpy().any()
    np.testing.assert_array_equal(ad.sign(a - 2).numpy(), [-1, 0, 1])
    np.testing.assert_array_equal(ad.isnan(ad.tensor([np.nan, 1.0])).numpy(), [True, False])
    np.testing.assert_array_equal(ad.isfinite(ad.tensor([np.inf, 1.0])).numpy(), [False, True])


def test_pow_tensor_exponent_at_zero_base():
    x = ad.tensor([0.0, 2.0], dtype=ad.float64, requires_grad=True)
    y = ad.tensor([2.0, 3.0], dtype=ad.float64, requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 12.0])
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 8 * math.log(2)])


def test_integer_inputs_to_float_ops():
    i = ad.tensor([1, 2, 4])
    np.testing.assert_allclose(ad.sqrt(i).numpy(), np.sqrt([1, 2, 4]), rtol=1e-6)
    assert ad.sqrt(i).dtype == np.float32
    np.testing.assert_allclose(ad.exp(i).numpy(), np.exp([1, 2, 4]), rtol=1e-6)
