"""Silent differences from PyTorch in autograd, fixed (issue "Port PyTorch code unchanged"),
each asserted against PyTorch's documented values written out as constants (and, where PyTorch
is installed, against PyTorch itself as a second oracle):

5. ``pow`` at singular points: PyTorch's ``pow_backward_self`` / ``pow_backward_exponent``
   conventions (0 ** y, x ** 0, negative bases; tensor, scalar-exponent and scalar-base forms),
   first and second derivatives;
8. second derivatives through piecewise-linear and piecewise-constant ops: the gradient stays
   on the graph (derivative 0), so a Hessian-vector product is 0 where PyTorch's is, instead of
   "does not require grad"; backward through ``sign``, ``floor``... gives 0 instead of raising;
9. a custom ``Function`` whose backward returns the wrong number of gradients raises PyTorch's
   "function XBackward returned an incorrect number of gradients (expected 3, got 2)".
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autodiff as ad

INF, NAN = math.inf, math.nan


def x64(v) -> ad.Tensor:
    return ad.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)


def first_and_second(f, xs):
    """d f / d x_i and the Hessian rows d(d f / d x_i)/d x_j of a scalar function of scalars
    (a Hessian entry is None where the first derivative does not depend on x_j at all)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gs = ad.grad(f(*xs), xs, create_graph=True)
        hs = [ad.grad(g, xs, retain_graph=True, allow_unused=True) if g.requires_grad
              else (None,) * len(xs) for g in gs]
    return [g.item() for g in gs], [[None if h is None else h.item() for h in row] for row in hs]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-12 * abs(b)


# --------------------------------------------------------------------- 5. pow
# (x, y): (d/dx, d/dy) of x ** y, PyTorch's values: d/dx = 0 where y == 0 (even at x = 0);
# d/dy = 0 at x = 0 for y >= 0 (the limit from x > 0) and -inf for y < 0 (x**y log x -> -inf
# as x -> +0); NaN for a negative base (log x)
POW_GRADS = {
    (0.0, -1.5): (-INF, -INF), (0.0, -1.0): (-INF, -INF), (0.0, 0.0): (0.0, 0.0),
    (0.0, 0.5): (INF, 0.0), (0.0, 1.0): (1.0, 0.0), (0.0, 2.0): (0.0, 0.0),
    (-1.5, 2.0): (-3.0, NAN), (-1.0, 0.0): (0.0, NAN), (-1.5, 1.0): (1.0, NAN),
    (2.0, 0.0): (0.0, math.log(2.0)), (1.0, 2.0): (2.0, 0.0),
}
# (x, y): [[d2/dx2, d2/dxdy], [d2/dydx, d2/dy2]] where PyTorch's are not the calculus ones:
# the rules are written op for op as PyTorch's, so the singular points agree too
POW_HESSIANS = {
    (0.0, 0.0): [[NAN, NAN], [NAN, NAN]],
    (0.0, 1.0): [[0.0, 1.0], [NAN, NAN]],
    (0.0, 2.0): [[2.0, 0.0], [NAN, NAN]],
    (0.0, -1.0): [[INF, INF], [INF, INF]],
    # a regular point: the closed forms y(y-1)x^(y-2), x^(y-1)(1 + y ln x), x^y ln^2 x
    (2.0, 3.0): [[12.0, 4 * (1 + 3 * math.log(2))],
                 [4 * (1 + 3 * math.log(2)), 8 * math.log(2) ** 2]],
}


@pytest.mark.parametrize("xy", sorted(POW_GRADS), ids=str)
def test_pow_gradients_at_singular_points(xy):
    (gx, gy), _ = first_and_second(lambda a, b: a ** b, [x64(xy[0]), x64(xy[1])])
    want = POW_GRADS[xy]
    assert same(gx, want[0]) and same(gy, want[1]), f"{xy}: got {(gx, gy)}, want {want}"


@pytest.mark.parametrize("xy", sorted(POW_HESSIANS), ids=str)
def test_pow_second_derivatives_at_singular_points(xy):
    _, h = first_and_second(lambda a, b: a ** b, [x64(xy[0]), x64(xy[1])])
    want = POW_HESSIANS[xy]
    for i in range(2):
        for j in range(2):
            assert same(h[i][j], want[i][j]), f"{xy}: H[{i}][{j}] = {h[i][j]}, want {want[i][j]}"


# x ** c with a Python exponent: c x**(c-1), and exactly 0 for c == 0 (not 0 * inf = NaN)
POW_SCALAR_AT_0 = {0: 0.0, 0.5: INF, 1: 1.0, 2: 0.0, 3: 0.0, -1: -INF, -2.0: -INF}
# c ** y with a Python base: c**y log c; for c == 0: 0 for y >= 0, -inf for y < 0
POW_SCALAR_BASE = {(0.0, 1.0): 0.0, (0.0, 0.0): 0.0, (0.0, -1.0): -INF,
                   (2.0, 1.0): 2 * math.log(2.0), (-2.0, 2.0): NAN}


@pytest.mark.parametrize("c", sorted(POW_SCALAR_AT_0), ids=str)
def test_pow_scalar_exponent_at_zero(c):
    (g,), _ = first_and_second(lambda a: a ** c, [x64(0.0)])
    assert same(g, POW_SCALAR_AT_0[c])


@pytest.mark.parametrize("cy", sorted(POW_SCALAR_BASE), ids=str)
def test_pow_scalar_base(cy):
    c, y = cy
    (g,), _ = first_and_second(lambda b: c ** b, [x64(y)])
    assert same(g, POW_SCALAR_BASE[cy])


def test_pow_linear_exponent_stays_on_the_graph():
    x = x64([0.0, 2.0])
    (g,) = ad.grad((x ** 1).sum(), x, create_graph=True)
    (h,) = ad.grad(g.sum(), x)  # PyTorch: g = grad * 1 * x**0, an HVP of 0
    np.testing.assert_array_equal(h.numpy(), [0.0, 0.0])


def test_pow_conventions_match_pytorch(torch):
    pts = sorted(set(POW_GRADS) | set(POW_HESSIANS))
    for xv, yv in pts:
        ours = first_and_second(lambda a, b: a ** b, [x64(xv), x64(yv)])
        x, y = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (xv, yv))
        gs = torch.autograd.grad(x ** y, [x, y], create_graph=True)
        hs = [torch.autograd.grad(g, [x, y], retain_graph=True, allow_unused=True) for g in gs]
        for a, b in zip(ours[0], gs):
            assert same(a, b.item()), (xv, yv)
        for row, trow in zip(ours[1], hs):
            for a, b in zip(row, trow):
                assert same(0.0 if a is None else a, 0.0 if b is None else b.item()), (xv, yv)
    for c, want in POW_SCALAR_AT_0.items():
        x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
        assert same(torch.autograd.grad(x ** c, x)[0].item(), want), c
    for (c, yv), want in POW_SCALAR_BASE.items():
        y = torch.tensor(yv, dtype=torch.float64, requires_grad=True)
        assert same(torch.autograd.grad(c ** y, y)[0].item(), want), (c, yv)


# --------------------------------------------------------------------- 8. piecewise ops
X = [-1.5, -0.5, 0.0, 0.5, 2.0]
Y = [0.5, -0.5, 0.0, 1.0, 2.0]      # ties with X at 0 and 2
# op -> its gradient (sum of the output) at X
PIECEWISE = {
    "abs": (ad.abs, [-1.0, -1.0, 0.0, 1.0, 1.0]),
    "relu": (ad.relu, [0.0, 0.0, 0.0, 1.0, 1.0]),
    "leaky_relu": (lambda x: ad.leaky_relu(x, 0.1), [0.1, 0.1, 0.1, 1.0, 1.0]),
    "copysign": (lambda x: ad.copysign(x, -1.0), [1.0, 1.0, 0.0, -1.0, -1.0]),
    "clamp": (lambda x: ad.clamp(x, -1.0, 0.5), [0.0, 1.0, 1.0, 1.0, 0.0]),
    "clamp_tensor": (lambda x: ad.clamp(x, min=ad.tensor(Y)), [0.0, 1.0, 1.0, 0.0, 1.0]),
    "maximum": (lambda x: ad.maximum(x, ad.tensor(Y)), [0.0, 0.5, 0.5, 0.0, 0.5]),
    "minimum": (lambda x: ad.minimum(x, ad.tensor(Y)), [1.0, 0.5, 0.5, 1.0, 0.5]),
    "nan_to_num": (ad.nan_to_num, [1.0] * 5),
    "remainder": (lambda x: ad.remainder(x, 0.75), [1.0] * 5),
    "fmod": (lambda x: ad.fmod(x, 0.75), [1.0] * 5),
    "frac": (ad.frac, [1.0] * 5),
}
# PyTorch keeps these gradients on the graph: HVP 0, except copysign's at 0 (its rule divides
# the result by the input: 0/0 there, NaN in PyTorch and here alike)
TORCH_CONNECTED = {"abs": [0.0] * 5, "relu": [0.0] * 5, "leaky_relu": [0.0] * 5,
                   "copysign": [0.0, 0.0, NAN, 0.0, 0.0]}
# PyTorch's gradient is a constant for these (its rule reads only bool masks), so its HVP
# raises "does not require grad"; here it is 0 (the more connected graph is harmless)
CONNECTED_ONLY_HERE = {"clamp", "clamp_tensor", "maximum", "minimum", "nan_to_num"}
# the gradient is the incoming one unchanged (a constant here as in PyTorch)
IDENTITY_GRADIENT = {"remainder", "fmod", "frac"}
TORCH_TWINS = {
    "abs": lambda t, x: t.abs(x), "relu": lambda t, x: t.relu(x),
    "leaky_relu": lambda t, x: t.nn.functional.leaky_relu(x, 0.1),
    "copysign": lambda t, x: t.copysign(x, t.tensor(-1.0, dtype=t.float64)),
    "clamp": lambda t, x: t.clamp(x, -1.0, 0.5),
    "clamp_tensor": lambda t, x: t.clamp(x, min=t.tensor(Y, dtype=t.float64)),
    "maximum": lambda t, x: t.maximum(x, t.tensor(Y, dtype=t.float64)),
    "minimum": lambda t, x: t.minimum(x, t.tensor(Y, dtype=t.float64)),
    "remainder": lambda t, x: t.remainder(x, 0.75), "fmod": lambda t, x: t.fmod(x, 0.75),
    "frac": lambda t, x: t.frac(x), "nan_to_num": lambda t, x: t.nan_to_num(x),
}


@pytest.mark.parametrize("name", sorted(PIECEWISE))
def test_gradient_of_piecewise_op_stays_on_the_graph(name):
    fn, want = PIECEWISE[name]
    x = x64(X)
    (g,) = ad.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), want)
    if name in IDENTITY_GRADIENT:
        assert not g.requires_grad
        return
    assert g.requires_grad, f"{name}: the gradient left the graph"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (h,) = ad.grad(g.sum(), x)   # raised "an output does not require grad" before the fix
    np.testing.assert_array_equal(h.numpy(), TORCH_CONNECTED.get(name, [0.0] * 5))


@pytest.mark.parametrize("name", sorted(PIECEWISE))
def test_piecewise_hvps_match_pytorch(name, torch):
    fn, _ = PIECEWISE[name]
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(TORCH_TWINS[name](torch, t).sum(), t, create_graph=True)
    assert tg.requires_grad == (name in TORCH_CONNECTED)
    x = x64(X)
    (g,) = ad.grad(fn(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), tg.detach().numpy())
    if tg.requires_grad:
        (th,) = torch.autograd.grad(tg.sum(), t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            (h,) = ad.grad(g.sum(), x)
        np.testing.assert_array_equal(h.numpy(), (th + 0).numpy())  # + 0: a ZeroTensor


@pytest.mark.parametrize("op", [ad.sign, ad.floor, ad.ceil, ad.trunc, ad.round,
                                lambda x: ad.round(x, decimals=1),
                                lambda x: ad.div(x, 0.7, rounding_mode="floor"),
                                lambda x: x // 0.7], ids=lambda f: getattr(f, "__name__", "op"))
def test_backward_through_piecewise_constants_gives_zero(op):
    x = x64(X)
    y = op(x)
    assert y.requires_grad            # as PyTorch: on the graph (sign raised before the fix)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))


def test_hvp_of_expression_with_abs_and_relu():
    """The motivating case: H v of f = sum(|x| y + relu(x)^2) by functional.hvp: d2/dx2 =
    2 [x > 0], d2/dxdy = sign(x); the relu branch keeps the gradient on the graph, the abs one
    used to make d f/dx a constant in x."""
    x0, y0 = np.array(X), np.array(Y)
    v = (np.array([1.0, -2.0, 0.5, 1.5, 3.0]), np.array([0.5, 1.0, -1.0, 2.0, -0.5]))

    def f(x, y):
        return (ad.abs(x) * y).sum() + (ad.relu(x) ** 2).sum()

    _, (hx, hy) = ad.functional.hvp(f, (ad.tensor(x0), ad.tensor(y0)),
                                    tuple(ad.tensor(a) for a in v))
    s = np.sign(x0)
    np.testing.assert_allclose(hx.numpy(), 2 * (x0 > 0) * v[0] + s * v[1])
    np.testing.assert_allclose(hy.numpy(), s * v[0])
    # the abs-only part: the gradient in x is y sign(x), constant in x
    x = x64(X)
    (g,) = ad.grad(ad.abs(x).sum(), x, create_graph=True)
    assert ad.grad((g * ad.tensor(v[0])).sum(), x)[0].numpy().tolist() == [0.0] * 5


# --------------------------------------------------------------------- 9. Function gradients
def _function(name: str, forward, backward, base=ad.Function):
    """A custom Function class (``base``: autodiff's or PyTorch's) named ``name``."""
    return type(name, (base,), {"forward": staticmethod(forward),
                                "backward": staticmethod(backward)})


# (forward, backward): one gradient missing; one per tensor only (PyTorch counts every
# argument: (g, None) is expected); one too many that is not None; trailing Nones (ignored)
_BODIES = {
    "_Product3": (lambda ctx, a, b, c: a * b * c, lambda ctx, g: (g, g)),
    "_Scale": (lambda ctx, a, k: a * k, lambda ctx, g: g * 2),
    "_ScaleExtra": (lambda ctx, a, k: a * k, lambda ctx, g: (g * 2, None, g)),
    "_ScaleTrailingNones": (lambda ctx, a, k: a * k, lambda ctx, g: (g * 2, None, None)),
}
_Product3, _Scale, _ScaleExtra, _ScaleTrailingNones = (_function(n, *b) for n, b in _BODIES.items())


@pytest.mark.parametrize("fn,args,expected,got", [
    (_Product3, 3, 3, 2), (_Scale, 1, 2, 1), (_ScaleExtra, 1, 2, 3)],
    ids=lambda v: getattr(v, "__name__", str(v)))
def test_function_wrong_number_of_gradients_raises(fn, args, expected, got):
    a = x64([1.0, 2.0])
    out = fn.apply(a, a, a) if args == 3 else fn.apply(a, 2.0)
    msg = (f"function {fn.__name__}Backward returned an incorrect number of gradients "
           f"(expected {expected}, got {got})")
    with pytest.raises(RuntimeError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        out.sum().backward()


def test_function_trailing_nones_are_ignored():
    a = x64([1.0, 2.0])
    _ScaleTrailingNones.apply(a, 2.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])


def test_function_gradient_count_messages_match_pytorch(torch):
    def twin(cls):
        return _function(cls.__name__, *_BODIES[cls.__name__], base=torch.autograd.Function)

    for cls, n in ((_Product3, 3), (_Scale, 1), (_ScaleExtra, 1)):
        t = torch.ones(2, dtype=torch.float64, requires_grad=True)
        a = x64([1.0, 1.0])
        with pytest.raises(RuntimeError) as theirs:
            (twin(cls).apply(t, t, t) if n == 3 else twin(cls).apply(t, 2.0)).sum().backward()
        with pytest.raises(RuntimeError) as ours:
            (cls.apply(a, a, a) if n == 3 else cls.apply(a, 2.0)).sum().backward()
        assert str(ours.value) == str(theirs.value)
