"""The tape: recording rules, the backward sweep (accumulation, retain_graph, depth), grad mode,
in-place updates and the version counter, ``ad.grad`` with ``create_graph``, and memory
(graphs freed by reference counting alone, no growth over a training loop)."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import autodiff as ad
from autodiff.tape import Node


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


# ----------------------------------------------------------------------------- accumulation
def test_grad_accumulates_across_calls_and_uses():
    x = x64([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()  # adds, as PyTorch does
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    x.grad = None
    y = x * x + ad.sin(x) * x + x  # x used four times
    y.sum().backward()
    xn = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xn + np.cos(xn) * xn + np.sin(xn) + 1)


def test_diamond_graph_and_shared_subexpression():
    x = x64(2.0)
    a = x * 3.0
    b = a * a
    c = a + b  # a reaches c along two paths
    c.backward()
    assert x.grad.item() == (1 + 2 * 6.0) * 3.0


def test_grad_is_not_aliased_between_leaves():
    a, b = x64([1.0, 2.0]), x64([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.array[0] = 100.0
    assert b.grad.numpy()[0] == 1.0


def test_backward_with_gradient_argument():
    x = x64([1.0, 2.0])
    y = x * x
    y.backward(ad.tensor([10.0, 1.0], dtype=ad.float64))
    np.testing.assert_allclose(x.grad.numpy(), [20.0, 4.0])
    z = x64([1.0, 2.0])
    (z * 2).backward(np.array([1.0, 1.0]))
    np.testing.assert_allclose(z.grad.numpy(), [2.0, 2.0])


def test_non_leaf_has_no_grad_unless_retained():
    x = x64([1.0, 2.0])
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad.numpy(), h.numpy())


def test_backward_inputs_restricts_accumulation():
    a, b = x64([1.0]), x64([2.0])
    (a * b).sum().backward(inputs=[a])
    np.testing.assert_allclose(a.grad.numpy(), [2.0])
    assert b.grad is None


def test_float32_grad_dtype_and_int_leaf_untouched():
    w = ad.ones(3, requires_grad=True)
    idx = ad.tensor([0, 2])
    (w[idx] * 2.0).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 0.0, 2.0])
    assert idx.grad is None and not idx.requires_grad


# ----------------------------------------------------------------------------- retain_graph
def test_second_backward_without_retain_graph_raises():
    x = x64([1.0, 2.0])
    y = (ad.exp(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = x64([1.0, 2.0])
    y = (ad.exp(x) * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_grad_twice_without_retain_raises():
    x = x64([1.0, 2.0])
    y = (x * x).sum()
    ad.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        ad.grad(y, x)


# ----------------------------------------------------------------------------- depth
def test_deep_chain_100k_no_recursion():
    x = x64(1.5)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.backward()
    assert x.grad.item() == 1.0


# ----------------------------------------------------------------------------- recording
def test_no_node_without_requires_grad_or_under_no_grad():
    a = ad.ones(3)
    with ad.Tape() as tape:
        b = ad.exp(a) * 2 + a
    assert tape.nodes == [] and b.grad_fn is None and not b.requires_grad
    w = ad.ones(3, requires_grad=True)
    with ad.no_grad(), ad.Tape() as tape:
        c = ad.exp(w) * 2
    assert tape.nodes == [] and c.grad_fn is None and not c.requires_grad


def test_tape_records_in_execution_order_and_only_needed_edges():
    w = ad.ones(3, requires_grad=True)
    a = ad.ones(3)
    with ad.Tape() as tape:
        h = a * 2  # no grad needed: not recorded
        y = ad.exp(w * h).sum()
    assert [n.name for n in tape.nodes] == ["mul", "exp", "sum"]
    seqs = [n.seq for n in tape.nodes]
    assert seqs == sorted(seqs)
    mul = tape.nodes[0]
    assert tuple(mul.needs_input_grad) == (True, False)
    assert y.grad_fn is tape.nodes[-1]
    assert w.is_leaf and not y.is_leaf


# ----------------------------------------------------------------------------- grad mode
def test_grad_mode_context_managers():
    w = ad.ones(2, requires_grad=True)
    assert ad.is_grad_enabled()
    with ad.no_grad():
        assert not ad.is_grad_enabled()
        assert not (w * 2).requires_grad
        with ad.enable_grad():
            assert ad.is_grad_enabled() and (w * 2).requires_grad
        assert not ad.is_grad_enabled()
    assert ad.is_grad_enabled()
    with ad.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert ad.is_grad_enabled()
    with ad.set_grad_enabled(True):
        assert (w * 2).requires_grad


def test_set_grad_enabled_plain_call():
    ad.set_grad_enabled(False)
    try:
        assert not ad.is_grad_enabled()
    finally:
        ad.set_grad_enabled(True)
    assert ad.is_grad_enabled()


def test_grad_mode_decorators():
    w = ad.ones(2, requires_grad=True)

    @ad.no_grad()
    def f(t):
        return t * 2

    @ad.enable_grad()
    def g(t):
        return t * 2

    @ad.set_grad_enabled(False)
    def h(t):
        return t * 2

    assert ad.is_grad_enabled()  # decorating does not switch the mode
    assert not f(w).requires_grad and ad.is_grad_enabled()
    assert not h(w).requires_grad and ad.is_grad_enabled()
    with ad.no_grad():
        assert g(w).requires_grad
        assert not ad.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with ad.no_grad():
            1 / 0
    assert ad.is_grad_enabled()


# ----------------------------------------------------------------------------- in place
def test_in_place_updates_on_leaves_under_no_grad():
    p = x64([1.0, 2.0])
    (p * p).sum().backward()
    data_id = id(p.array)
    with ad.no_grad():
        p -= 0.5 * p.grad
        np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
        p += 1.0
        p *= ad.tensor([2.0, 3.0], dtype=ad.float64)
        p /= 2.0
    np.testing.assert_allclose(p.numpy(), [1.0, 1.5])
    assert id(p.array) == data_id and p.is_leaf and p.requires_grad
    p.grad.zero_()
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    with ad.no_grad():
        p.add_(1.0).mul_(2.0).sub_(ad.tensor([1.0, 1.0], dtype=ad.float64)).div_(2.0)
    np.testing.assert_allclose(p.numpy(), [1.5, 2.0])
    p.zero_()
    np.testing.assert_array_equal(p.numpy(), [0.0, 0.0])
    p.fill_(3.0)
    np.testing.assert_array_equal(p.numpy(), [3.0, 3.0])


def test_in_place_on_leaf_requiring_grad_outside_no_grad_raises():
    p = x64([1.0])
    with pytest.raises(RuntimeError, match="leaf"):
        p += 1.0


def test_in_place_on_non_leaf_is_recorded():
    a = x64([1.0, 2.0])
    b = a * 2
    b += a * a
    b *= 3.0
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 3 * (2 + 2 * a.numpy()))


def test_in_place_broadcast_mismatch():
    with pytest.raises(ValueError, match=r"add_.*\(2,\)"):
        ad.zeros(2).add_(ad.ones(3))


def test_version_counter_detects_modified_saved_input():
    w = x64([1.0, 2.0])
    x = x64([3.0, 4.0])
    y = (w * x).sum()  # mul saves w and x
    with ad.no_grad():
        w -= 1.0
    with pytest.raises(RuntimeError, match=r"mul.*in-place|in-place.*mul"):
        y.backward()


def test_version_counter_detects_modified_saved_output():
    x = x64([0.0, 1.0])
    y = ad.exp(x)  # exp saves its output
    z = y.sum()
    with ad.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError, match="exp"):
        z.backward()


def test_version_counter_ignores_unsaved_modifications():
    x = x64([1.0, 2.0])
    y = x + 1.0  # add saves nothing
    z = y.sum()
    with ad.no_grad():
        x.mul_(5.0)
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ----------------------------------------------------------------------------- grad()
def test_grad_create_graph_higher_orders():
    x = x64([0.5, 1.5])
    y = (x ** 4).sum()
    (g,) = ad.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 4 * x.numpy() ** 3)
    assert g.requires_grad
    (g2,) = ad.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(g2.numpy(), 12 * x.numpy() ** 2)
    (g3,) = ad.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.numpy(), 24 * x.numpy())
    assert not g3.requires_grad and x.grad is None


def test_grad_options():
    a, b, c = x64([1.0]), x64([2.0]), x64([3.0])
    y = (a * b).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        ad.grad(y, [a, c], retain_graph=True)
    ga, gc_ = ad.grad(y, [a, c], allow_unused=True, retain_graph=True)
    assert gc_ is None and ga.item() == 2.0
    _, gz = ad.grad(y, [a, c], materialize_grads=True, retain_graph=True)
    assert gz.item() == 0.0
    (gb,) = ad.grad([y, (b * b).sum()], b, grad_outputs=[ad.tensor(2.0, dtype=ad.float64), None])
    assert gb.item() == 2.0 * 1.0 + 4.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.grad((a * 2).sum(), ad.ones(1))


def test_grad_wrt_non_leaf():
    x = x64([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    (gh,) = ad.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


def test_grad_does_not_touch_dot_grad():
    x = x64([1.0, 2.0])
    ad.grad((x * x).sum(), x)
    assert x.grad is None


def _mlp_loss(w1, b1, w2, x, target):
    h = ad.tanh(x @ w1 + b1)
    logits = ad.relu(h) @ w2 + ad.sigmoid(h).sum(-1, keepdims=True)
    lp = ad.log_softmax(logits, -1)
    return -(lp * target).sum() / x.shape[0] + 0.01 * (w1 * w1).sum() + ad.norm(w2)


def test_backward_equals_grad_create_graph_exactly():
    rng = np.random.default_rng(0)
    params = [x64(rng.standard_normal(s)) for s in [(4, 5), (5,), (5, 3)]]
    x = ad.tensor(rng.standard_normal((6, 4)), dtype=ad.float64)
    target = ad.tensor(np.eye(3)[rng.integers(0, 3, 6)], dtype=ad.float64)
    _mlp_loss(*params, x, target).backward()
    plain = [p.grad.numpy().copy() for p in params]
    graph = ad.grad(_mlp_loss(*params, x, target), params, create_graph=True)
    for a, b in zip(plain, graph):
        assert b.requires_grad
        np.testing.assert_array_equal(a, b.numpy())  # bit-identical
    nograph = ad.grad(_mlp_loss(*params, x, target), params)
    for a, b in zip(plain, nograph):
        np.testing.assert_array_equal(a, b.numpy())
    for p in params:
        p.grad = None
    _mlp_loss(*params, x, target).backward(create_graph=True)
    for a, p in zip(plain, params):
        np.testing.assert_array_equal(a, p.grad.numpy())
        assert p.grad.requires_grad


# ----------------------------------------------------------------------------- memory
@pytest.fixture
def no_gc():
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


def _live_nodes() -> int:
    return sum(type(o) is Node for o in gc.get_objects())


def test_graph_freed_by_refcount_after_backward(no_gc):
    w = ad.randn(4, 3, requires_grad=True)
    x = ad.randn(5, 4)
    h = ad.tanh(x @ w)
    y = ad.exp(h)  # saves its own output
    loss = ad.log_softmax(y, -1).sum()
    refs = [weakref.ref(t) for t in (h, y)]
    node_refs = [weakref.ref(n) for n in (h.grad_fn, y.grad_fn, loss.grad_fn)]
    loss.backward()
    del h, y, loss
    assert all(r() is None for r in refs)
    assert all(r() is None for r in node_refs)
    assert w.grad is not None and w.grad.grad_fn is None


def test_graph_freed_without_backward(no_gc):
    w = ad.randn(3, requires_grad=True)
    y = ad.sigmoid(w * 2).sum()
    r = weakref.ref(y.grad_fn)
    del y
    assert r() is None


def test_create_graph_graph_freed(no_gc):
    x = ad.randn(3, requires_grad=True)
    (g,) = ad.grad((x ** 3).sum(), x, create_graph=True)
    r = weakref.ref(g.grad_fn)
    g.sum().backward()
    del g
    assert r() is None


def test_training_loop_does_not_grow_live_nodes(no_gc):
    w = ad.randn(4, 3, requires_grad=True)
    b = ad.zeros(3, requires_grad=True)
    x = ad.randn(8, 4)
    counts = []
    for step in range(2000):
        loss = (ad.tanh(x @ w + b) ** 2).mean()
        loss.backward()
        with ad.no_grad():
            w -= 0.01 * w.grad
            b -= 0.01 * b.grad
        w.grad = None
        b.grad = None
        if step in (10, 1999):
            counts.append(_live_nodes())
    assert counts[0] == counts[1]
    del loss
    assert _live_nodes() == 0


# ----------------------------------------------------------------------------- 0-d and views
def test_scalar_grads_are_writable_arrays():
    x = ad.tensor(2.0, requires_grad=True)
    (x * x).backward()
    (x * x).backward()
    assert x.grad.item() == 8.0
    x.grad.zero_()
    assert x.grad.item() == 0.0


def test_grad_from_broadcast_is_writable_and_not_aliased():
    a = ad.ones(2, 3, requires_grad=True)
    a.sum().backward()
    a.grad.zero_()  # the sum's gradient is a broadcast view: must have been copied
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((2, 3)))
    b = ad.ones(2, 3, requires_grad=True)
    g = np.ones(6)
    b.reshape(6).backward(g)
    b.grad.zero_()
    np.testing.assert_array_equal(g, np.ones(6))  # the caller's gradient is untouched


def test_in_place_on_zero_dim_result():
    h = ad.exp(ad.tensor(0.0))
    h += 1.0
    assert h.item() == 2.0
    h.mul_(3.0)
    assert h.item() == 6.0
    h.zero_()
    assert h.item() == 0.0


def test_retained_and_inputs_grads_are_writable():
    x = ad.ones(2, 3, requires_grad=True)
    x.sum().backward(inputs=[x])
    x.grad.zero_()
    h = x * 2
    h.retain_grad()
    h.sum().backward()
    h.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
