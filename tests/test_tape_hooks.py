"""``Tensor.register_post_accumulate_grad_hook``: when the hook runs (once per backward, after the
leaf's ``.grad`` holds the summed gradient, before the rest of the sweep), what it sees, removal,
errors, and that it leaves the gradients themselves unchanged."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import autodiff as ad
from autodiff import tape

from backward_probe import BackwardProbe


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


def test_hook_sees_the_accumulated_grad_once_per_backward():
    x = x64([1.0, 2.0, 3.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append((t is x, t.grad.numpy().copy())))
    (x * x).sum().backward()
    assert len(seen) == 1 and seen[0][0]
    np.testing.assert_array_equal(seen[0][1], [2.0, 4.0, 6.0])
    (3.0 * x).sum().backward()  # accumulates: the hook sees 2x + 3
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[1][1], [5.0, 7.0, 9.0])


def test_leaf_used_many_times_gets_one_call_with_the_sum():
    x = x64([0.5, -1.0])
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    y = x * x + ad.sin(x) * x + x  # four uses of x
    y.sum().backward()
    xn = np.array([0.5, -1.0])
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 2 * xn + np.cos(xn) * xn + np.sin(xn) + 1, rtol=1e-14)


def test_hook_runs_as_soon_as_the_leaf_is_complete_not_at_the_end():
    """w2 is used last in the forward, so its gradient is complete before the backward of the
    first layer runs: its hook must fire first. w1's hook fires after that backward."""
    log = []
    x = ad.tensor(np.ones((2, 3)))
    w1, w2 = x64(np.full((3, 3), 0.1)), x64(np.full((3, 1), 0.2))
    w1.register_post_accumulate_grad_hook(lambda t: log.append("hook w1"))
    w2.register_post_accumulate_grad_hook(lambda t: log.append("hook w2"))
    h = BackwardProbe.apply(x @ w1, lambda: log.append("backward of layer 1"))
    (h @ w2).sum().backward()
    assert log == ["hook w2", "backward of layer 1", "hook w1"]


def test_grads_with_hooks_equal_grads_without():
    ad.manual_seed(3)
    ws = [x64(np.random.default_rng(i).normal(size=(4, 4))) for i in range(3)]
    x = ad.tensor(np.random.default_rng(9).normal(size=(5, 4)))

    def loss():
        h = x
        for w in ws:
            h = ad.tanh(h @ w) + h  # residual: each w's gradient arrives along several paths
        return (h * h).sum()

    loss().backward()
    plain = [w.grad.numpy().copy() for w in ws]
    for w in ws:
        w.grad = None
    order = []
    handles = [w.register_post_accumulate_grad_hook(lambda t, i=i: order.append(i))
               for i, w in enumerate(ws)]
    loss().backward()
    assert order == [2, 1, 0]
    for w, ref in zip(ws, plain):
        np.testing.assert_array_equal(w.grad.numpy(), ref)
    for h in handles:
        h.remove()
    assert all(id(w) not in tape._post_hooks for w in ws)


def test_remove_and_context_manager():
    x = x64([1.0])
    n = []
    h = x.register_post_accumulate_grad_hook(lambda t: n.append(1))
    with x.register_post_accumulate_grad_hook(lambda t: n.append(2)):
        (x * 2).sum().backward()
    assert sorted(n) == [1, 2]
    (x * 2).sum().backward()
    assert sorted(n) == [1, 1, 2]
    h.remove()
    h.remove()  # idempotent
    (x * 2).sum().backward()
    assert sorted(n) == [1, 1, 2]
    assert x.grad.item() == 6.0


def test_not_called_by_grad_called_by_backward_inputs_and_root_leaf():
    x, y = x64([2.0]), x64([3.0])
    n = {"x": 0, "y": 0}
    x.register_post_accumulate_grad_hook(lambda t: n.__setitem__("x", n["x"] + 1))
    y.register_post_accumulate_grad_hook(lambda t: n.__setitem__("y", n["y"] + 1))
    ad.grad((x * y).sum(), [x, y])  # nothing is accumulated: no hook
    assert n == {"x": 0, "y": 0}
    (x * y).sum().backward(inputs=[x])
    assert n == {"x": 1, "y": 0} and x.grad.item() == 3.0 and y.grad is None
    x.backward(ad.tensor([1.0], dtype=ad.float64))  # the root is the leaf itself
    assert n == {"x": 2, "y": 0} and x.grad.item() == 4.0


def test_leaf_whose_path_gives_no_gradient_still_gets_its_hook_at_the_end():
    class NoGradForFirst(ad.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return None, g  # a needs grad but receives none along this edge

    x = x64([2.0])
    got = []
    x.register_post_accumulate_grad_hook(lambda t: got.append(t.grad.item()))
    (NoGradForFirst.apply(x, x64([5.0])) + 7.0 * x).sum().backward()
    assert got == [7.0]


def test_create_graph_hook_sees_a_differentiable_grad():
    x = x64([1.5])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad))
    (x ** 3).sum().backward(create_graph=True)
    (g,) = seen
    assert g.grad_fn is not None and g.item() == pytest.approx(3 * 1.5 ** 2, rel=1e-15)
    (h,) = ad.grad(g.sum(), x)
    assert h.item() == pytest.approx(6 * 1.5, rel=1e-15)


def test_registration_errors():
    x = x64([1.0])
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.tensor([1.0]).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="callable"):
        x.register_post_accumulate_grad_hook(3)
    x.register_post_accumulate_grad_hook(lambda t: 1)
    with pytest.raises(RuntimeError, match="expected to return None"):
        (x * 2).sum().backward()


def test_registry_does_not_keep_the_tensor_alive():
    x = x64([1.0])
    x.register_post_accumulate_grad_hook(lambda t: None)
    assert id(x) in tape._post_hooks
    key = id(x)
    del x
    gc.collect()
    assert key not in tape._post_hooks


def test_against_pytorch(torch):
    calls = {"ad": [], "pt": []}
    xa = x64([1.0, -2.0])
    xt = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    xa.register_post_accumulate_grad_hook(lambda t: calls["ad"].append(t.grad.numpy().copy()))
    xt.register_post_accumulate_grad_hook(
        lambda t: calls["pt"].append(t.grad.detach().numpy().copy()))
    for _ in range(2):
        (xa * xa * xa + xa).sum().backward()
        (xt * xt * xt + xt).sum().backward()
    assert len(calls["ad"]) == len(calls["pt"]) == 2
    for a, b in zip(calls["ad"], calls["pt"]):
        np.testing.assert_allclose(a, b, rtol=1e-15)
