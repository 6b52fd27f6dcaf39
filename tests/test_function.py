"""Custom functions (``ad.Function``): save_for_backward / saved_tensors, needs_input_grad,
non-tensor arguments and ctx attributes, multiple outputs, double backward through a backward
written with Tensor ops, the refusal of outputs stashed on ctx, and ``ad.once_differentiable``."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import autodiff as ad


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


class LegendreP3(ad.Function):
    """P3(x) = (5x^3 - 3x) / 2, backward written with Tensor ops (differentiable again)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x ** 3 - 3 * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 1.5 * (5 * x ** 2 - 1)


class ScaledPow(ad.Function):
    """y = scale * x ** p with non-tensor args; records what backward saw."""

    seen: dict = {}

    @staticmethod
    def forward(ctx, x, p: float, scale, *, offset: float = 0.0):
        ctx.p = p
        ctx.scale = scale
        ctx.offset = offset
        ctx.save_for_backward(x, None if not isinstance(scale, ad.Tensor) else scale)
        return scale * x ** p + offset

    @staticmethod
    def backward(ctx, g):
        x, scale = ctx.saved_tensors
        ScaledPow.seen["needs"] = tuple(ctx.needs_input_grad)
        s = ctx.scale if scale is None else scale
        gx = g * s * ctx.p * x ** (ctx.p - 1) if ctx.needs_input_grad[0] else None
        gs = (g * x ** ctx.p) if ctx.needs_input_grad[2] else None
        return gx, None, gs


class SaveOutput(ad.Function):
    """exp with its output saved (rebuilt attached to the node for double backward)."""

    @staticmethod
    def forward(ctx, x):
        y = ad.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class SplitTwo(ad.Function):
    """Two outputs: (x^2, sin x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x, ad.sin(x)

    @staticmethod
    def backward(ctx, g1, g2):
        (x,) = ctx.saved_tensors
        return g1 * 2 * x + g2 * ad.cos(x)


def test_forward_backward_closed_form():
    x = x64([-0.7, 0.2, 1.3])
    y = LegendreP3.apply(x)
    xn = x.numpy()
    np.testing.assert_allclose(y.numpy(), 0.5 * (5 * xn ** 3 - 3 * xn))
    assert y.grad_fn is not None and "LegendreP3" in y.grad_fn.name
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.5 * (5 * xn ** 2 - 1))


def test_calling_an_instance_points_to_apply():
    with pytest.raises(TypeError, match=r"LegendreP3\.apply\(x\)"):
        LegendreP3()(x64([0.5]))


def test_gradcheck_and_double_backward():
    x = x64([-0.7, 0.2, 1.3])
    assert ad.gradcheck(LegendreP3.apply, (x,))
    assert ad.gradgradcheck(LegendreP3.apply, (x,))
    (g,) = ad.grad(LegendreP3.apply(x).sum(), x, create_graph=True)
    (gg,) = ad.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 15 * x.numpy())  # P3'' = 15 x


def test_forward_runs_without_recording():
    seen = {}

    class Probe(ad.Function):
        @staticmethod
        def forward(ctx, x):
            seen["enabled"] = ad.is_grad_enabled()
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    y = Probe.apply(x64([1.0]))
    assert seen["enabled"] is False and y.requires_grad


def test_non_tensor_args_ctx_attributes_and_needs_input_grad():
    x = x64([1.0, 2.0])
    y = ScaledPow.apply(x, 3.0, 2.0, offset=1.0)
    np.testing.assert_allclose(y.numpy(), 2 * x.numpy() ** 3 + 1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2)
    assert ScaledPow.seen["needs"] == (True, False, False)
    s = x64(2.0)
    xc = ad.tensor([1.0, 2.0], dtype=ad.float64)
    ScaledPow.apply(xc, 2.0, s).sum().backward()
    assert ScaledPow.seen["needs"] == (False, False, True)
    np.testing.assert_allclose(s.grad.item(), (xc.numpy() ** 2).sum())
    assert xc.grad is None
    assert ad.gradcheck(lambda a, b: ScaledPow.apply(a, 2.5, b), (x64([1.0, 2.0]), x64(1.5)))
    assert ad.gradgradcheck(lambda a, b: ScaledPow.apply(a, 2.5, b), (x64([1.0, 2.0]), x64(1.5)))


def test_broadcast_gradient_reduced():
    class AddB(ad.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # g has the broadcast shape: reduced to b's shape by apply
    a, b = x64(np.ones((2, 3))), x64(np.ones(3))
    AddB.apply(a, b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])


def test_saved_output_double_backward():
    x = x64([0.1, 0.5])
    assert ad.gradcheck(SaveOutput.apply, (x,))
    assert ad.gradgradcheck(SaveOutput.apply, (x,))


def test_multiple_outputs():
    x = x64([0.3, 1.1])
    a, b = SplitTwo.apply(x)
    (a * 3 + b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() + np.cos(x.numpy()))
    x.grad = None
    a, _ = SplitTwo.apply(x)  # an unused output gets a zero gradient
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    assert ad.gradcheck(lambda t: SplitTwo.apply(t), (x,))
    assert ad.gradgradcheck(lambda t: SplitTwo.apply(t), (x,))


def test_no_grad_apply_records_nothing():
    x = x64([1.0])
    with ad.no_grad():
        y = LegendreP3.apply(x)
    assert y.grad_fn is None and not y.requires_grad
    z = LegendreP3.apply(ad.tensor([1.0]))
    assert z.grad_fn is None


def test_storing_output_on_ctx_raises():
    class Bad(ad.Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2
            ctx.out = y
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2
    with pytest.raises(RuntimeError, match="save_for_backward"):
        Bad.apply(x64([1.0]))


def test_save_for_backward_rejects_non_tensors():
    class Bad(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3.0)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g
    with pytest.raises(TypeError, match="save_for_backward"):
        Bad.apply(x64([1.0]))


def test_saved_tensor_modified_in_place_detected():
    x = x64([1.0, 2.0])
    h = x * 1.0
    y = LegendreP3.apply(h)
    with ad.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match="LegendreP3"):
        y.sum().backward()


def test_second_backward_through_function_raises():
    x = x64([1.0, 2.0])
    y = LegendreP3.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_once_differentiable():
    class Cube(ad.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @ad.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2
    x = x64([1.0, 2.0])
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    assert ad.gradcheck(Cube.apply, (x64([1.0, 2.0]),))
    (g,) = ad.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    with pytest.raises(RuntimeError, match="once_differentiable"):
        ad.grad(g.sum(), x)


def test_wrong_number_of_gradients():
    class TooMany(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, g, g
    with pytest.raises(RuntimeError, match="TooMany"):
        TooMany.apply(x64([1.0])).sum().backward()


def test_function_graph_freed():
    gc.collect()
    gc.disable()
    try:
        x = x64([1.0, 2.0])
        y = SaveOutput.apply(LegendreP3.apply(x))
        r = weakref.ref(y.grad_fn)
        y.sum().backward()
        del y
        assert r() is None
    finally:
        gc.enable()
