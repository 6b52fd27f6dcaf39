"""``Tensor.register_hook`` (``autodiff/grad_hooks.py``): the hook sees the gradient with respect
to its tensor and may replace it, on leaves and non-leaves, for ``backward``, ``grad`` and
``create_graph``; handles remove hooks; bad hooks raise. Expected values are worked out by hand
in each test; PyTorch's behaviour is checked too where it is installed."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad


def x64(values) -> ad.Tensor:
    return ad.tensor(values, dtype=ad.float64, requires_grad=True)


def test_leaf_hook_replaces_the_gradient_in_grad_and_backward():
    x = x64([1.0, 2.0])
    handle = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()                       # d/dx = 2x, times 10
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 40.0])
    (gx,) = ad.grad((x * x).sum(), x)
    np.testing.assert_array_equal(gx.numpy(), [20.0, 40.0])
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_leaf_hook_runs_once_on_the_summed_gradient():
    x = x64([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.numpy().copy()))
    (x * x + x).sum().backward()                   # 2x + 1, in one call
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0], [3.0, 5.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


def test_non_leaf_hook_feeds_the_rest_of_the_sweep_and_retain_grad():
    x = x64([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()) or g + 1)
    (y * y).sum().backward()                       # dL/dy = 2y = [6, 12]; hooked: [7, 13]
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])
    np.testing.assert_array_equal(y.grad.numpy(), [7.0, 13.0])
    np.testing.assert_array_equal(x.grad.numpy(), [21.0, 39.0])


def test_hooks_run_in_registration_order():
    x = x64([1.0])
    x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 2)
    (x * 5).sum().backward()                       # (5 + 1) * 2
    assert x.grad.item() == 12.0


def test_grad_of_a_non_leaf_is_taken_before_its_hooks_and_backward_inputs_after():
    """PyTorch's order: ``grad`` returns what arrives at ``y``; the hook still changes what flows
    on to ``x``; ``backward(inputs=[y])`` stores the hooked gradient."""
    x = x64([1.0, 2.0])
    y = x * 3
    y.register_hook(lambda g: g * 10)
    gy, gx = ad.grad((y * y).sum(), [y, x])        # dL/dy = 2y = [6, 12]
    np.testing.assert_array_equal(gy.numpy(), [6.0, 12.0])
    np.testing.assert_array_equal(gx.numpy(), [180.0, 360.0])
    x2 = x64([1.0, 2.0])
    y2 = x2 * 3
    y2.register_hook(lambda g: g * 10)
    (y2 * y2).sum().backward(inputs=[y2])
    np.testing.assert_array_equal(y2.grad.numpy(), [60.0, 120.0])


def test_hook_on_one_output_of_a_multi_output_function():
    class Two(ad.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = x64([1.0, 1.0])
    a, b = Two.apply(x)
    a.register_hook(lambda g: g * 0)
    (a + b).sum().backward()                       # only b's path: 3
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_hooks_are_recorded_only_under_create_graph():
    w = ad.tensor(2.0, dtype=ad.float64, requires_grad=True)
    x = x64([1.0, 2.0])
    modes = []
    x.register_hook(lambda g: modes.append(ad.is_grad_enabled()) or g * w)
    (gx,) = ad.grad((x * x).sum(), x, create_graph=True)   # 2x * w
    np.testing.assert_array_equal(gx.numpy(), [4.0, 8.0])
    (gw,) = ad.grad(gx.sum(), w)                             # sum(2x) = 6
    assert gw.item() == 6.0
    (x * x).sum().backward()
    assert modes == [True, False]
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_a_replacement_gradient_is_not_aliased_into_grad():
    keep = ad.tensor([5.0, 5.0], dtype=ad.float64)
    x = x64([1.0, 2.0])
    x.register_hook(lambda g: keep)
    (x * 1).sum().backward()
    x.grad.zero_()
    np.testing.assert_array_equal(keep.numpy(), [5.0, 5.0])


def test_post_accumulate_hook_sees_the_hooked_gradient():
    x = x64([1.0, 2.0])
    x.register_hook(lambda g: g * 2)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], [4.0, 8.0])


def test_handle_as_context_manager_removes_the_hook():
    x = x64([1.0])
    with x.register_hook(lambda g: g * 7):
        (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert x.grad.item() == 8.0                    # 7 + 1


def test_bad_hooks_raise():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(TypeError, match="callable"):
        x64([1.0]).register_hook(3)
    for hook, err, msg in [(lambda g: ad.ones(3, dtype=ad.float64), RuntimeError, "size"),
                           (lambda g: g.float(), RuntimeError, "type"),
                           (lambda g: 5, TypeError, "returned 'int'")]:
        x = x64([1.0, 2.0])
        x.register_hook(hook)
        with pytest.raises(err, match=msg):
            (x * 2).sum().backward()


def test_against_pytorch(torch):
    values = [0.5, -1.5, 2.0]
    out = {}
    for lib, make in (("ad", lambda v: x64(v)),
                      ("torch", lambda v: torch.tensor(v, dtype=torch.float64,
                                                       requires_grad=True))):
        x = make(values)
        y = x.exp() if lib == "torch" else ad.exp(x)
        y.register_hook(lambda g: g * y.detach())
        x.register_hook(lambda g: g - 1)
        ((y * x).sum()).backward()
        out[lib] = x.grad.detach().numpy() if lib == "torch" else x.grad.numpy()
    np.testing.assert_allclose(out["ad"], out["torch"], rtol=1e-12)
