"""The Legendre custom-function example: gradients against finite differences and closed
forms, and the documented fit."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import autodiff as ad

_spec = importlib.util.spec_from_file_location(
    "legendre", Path(__file__).resolve().parents[1] / "examples" / "legendre.py")
legendre = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(legendre)
P3 = legendre.LegendrePolynomial3.apply


def test_p3_value_and_derivatives_closed_form():
    xs = np.linspace(-1.5, 1.5, 7)
    x = ad.tensor(xs, requires_grad=True)
    y = P3(x)
    np.testing.assert_allclose(y.numpy(), 0.5 * (5 * xs ** 3 - 3 * xs), rtol=1e-12)
    (g,) = ad.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 1.5 * (5 * xs ** 2 - 1), rtol=1e-12)
    (h,) = ad.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 15 * xs, rtol=1e-12, atol=1e-12)


def test_p3_gradcheck_first_and_second_order():
    x = ad.tensor(np.random.default_rng(1).uniform(-2, 2, (3, 4)), requires_grad=True)
    assert ad.gradcheck(P3, [x])
    assert ad.gradgradcheck(P3, [x])


def test_p3_inside_expression_matches_finite_differences():
    rng = np.random.default_rng(2)
    x = ad.tensor(rng.uniform(-3, 3, 50))
    params = [ad.tensor(float(v), dtype="float64", requires_grad=True)
              for v in (0.1, -0.9, 0.05, 0.3)]

    def loss(a, b, c, d):
        return ((a + b * P3(c + d * x) - ad.sin(x)) ** 2).sum()

    assert ad.gradcheck(loss, params)
    assert ad.gradgradcheck(loss, params)


def test_fit_reaches_documented_solution():
    res = legendre.fit(verbose=False)
    # the documents' result: y = -5.4e-9 + -2.2086 * P3(1.3e-9 + 0.2554 x), loss about 8.9
    assert res["loss"] < 9.0
    np.testing.assert_allclose([res["b"], res["d"]], [-2.2086, 0.2555], atol=2e-3)
    assert abs(res["a"]) < 1e-3 and abs(res["c"]) < 1e-3
    losses = [v for _, v in res["history"]]
    assert all(l1 >= l2 for l1, l2 in zip(losses, losses[1:]))
