"""Indexing: ``__getitem__`` (ints, slices, None, Ellipsis, integer arrays, boolean masks;
repeated indices scatter-add), ``__setitem__`` (differentiable out-of-place rebase, refused on
leaves), gather/take/index_select/take_along_axis, sort/argsort. Forward against NumPy,
gradients against central differences and closed forms."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


A = np.arange(1.0, 25.0).reshape(2, 3, 4) / 7.0

KEYS = [
    1, -1, (0, 2), (1, -1, 3), slice(None), slice(1, None), (slice(None), slice(0, 3, 2)),
    (Ellipsis, 1), (None, 0), (0, None, slice(1, 3)), (Ellipsis, None),
    (slice(None, None, -1),), np.array([1, 0, 1]), (slice(None), np.array([2, 2, 0])),
    (np.array([0, 1]), np.array([2, 0])), (np.array([[0, 1], [1, 1]]),),
    (0, np.array([True, False, True])), (Ellipsis, np.array([3, 3, 3, 0])),
    (A > 1.5), (A[:, :, 0] > 1.0), [0, 0, 1],
]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k)[:40] for k in KEYS])
def test_getitem_forward_and_grads(key):
    x = x64(A)
    out = x[key]
    want = A[key]
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.numpy(), want)
    w = np.random.default_rng(0).standard_normal(want.shape)
    assert ad.gradcheck(lambda t: (t * t)[key] * w, (x,))
    assert ad.gradgradcheck(lambda t: (t * t)[key] * w, (x,))


def test_getitem_repeated_indices_accumulate():
    x = x64(np.arange(5.0))
    idx = np.array([0, 2, 2, 2, 4, 0])
    x[idx].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 0, 3, 0, 1])
    y = x64(np.arange(6.0).reshape(2, 3))
    y[[1, 1, 0], [2, 2, 2]].sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0, 0, 1], [0, 0, 2]])


def test_getitem_tensor_indices():
    x = x64(A)
    i = ad.tensor([1, 0, 1])
    np.testing.assert_array_equal(x[i].numpy(), A[[1, 0, 1]])
    m = ad.tensor(A > 2.0)
    np.testing.assert_array_equal(x[m].numpy(), A[A > 2.0])
    x[m].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (A > 2.0).astype(float))


def test_getitem_bad_index():
    x = ad.ones(2, 3)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[5]
    with pytest.raises(IndexError):
        x[np.array([0.5])]


@SETTINGS
@given(n=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_random_integer_index_scatter(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 3))
    idx = rng.integers(0, 4, n)
    x = x64(a)
    g = rng.standard_normal((n, 3))
    x[idx].backward(ad.tensor(g))
    want = np.zeros((4, 3))
    np.add.at(want, idx, g)
    np.testing.assert_allclose(x.grad.numpy(), want)


# ----------------------------------------------------------------------------- setitem
def test_setitem_differentiable_on_non_leaf():
    x = x64(np.arange(6.0).reshape(2, 3))
    v = x64(np.array([10.0, 20.0]))
    y = x * 2
    y[0, 1:] = v * v
    np.testing.assert_array_equal(y.numpy(), [[0, 100, 400], [6, 8, 10]])
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [24, 32, 40]])  # 4 x where kept
    np.testing.assert_allclose(v.grad.numpy(), 4 * np.array([10.0, 20.0]) ** 3)

    def f(x, v):
        y = x * 1.0
        y[1, [0, 2]] = ad.sin(v)
        return y * y
    assert ad.gradcheck(f, (x64(np.arange(6.0).reshape(2, 3)), x64(np.array([0.3, 0.7]))))
    assert ad.gradgradcheck(f, (x64(np.arange(6.0).reshape(2, 3)), x64(np.array([0.3, 0.7]))))


def test_setitem_into_plain_tensor_with_grad_value():
    z = ad.zeros(2, 3, dtype=ad.float64)
    v = x64(np.array([1.0, 2.0, 3.0]))
    z[1] = v
    assert z.requires_grad
    (z * z).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0, 6.0])


def test_setitem_refused_on_leaf_requiring_grad():
    x = x64(np.zeros(3))
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    with ad.no_grad():
        x[0] = 1.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 0.0, 0.0])


def test_setitem_plain_in_place():
    z = ad.zeros(3)
    v0 = z._version.v
    z[1] = 4.0
    np.testing.assert_array_equal(z.numpy(), [0.0, 4.0, 0.0])
    assert z._version.v == v0 + 1
    with pytest.raises(ValueError, match="setitem"):
        z[:2] = np.ones(3)


def test_setitem_on_saved_tensor_detected():
    x = x64(np.ones(3))
    y = x * 2
    z = y * y  # saves y
    y[0] = 5.0
    with pytest.raises(RuntimeError, match="mul"):
        z.sum().backward()


def test_index_put():
    x = x64(np.arange(4.0))
    out = ad.index_put(x, (np.array([1, 3]),), ad.tensor([9.0, 8.0], dtype=ad.float64))
    np.testing.assert_array_equal(out.numpy(), [0, 9, 2, 8])
    np.testing.assert_array_equal(x.numpy(), [0, 1, 2, 3])  # out of place
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 1, 0])


# ----------------------------------------------------------------------------- gather family
@SETTINGS
@given(seed=st.integers(0, 2**31), dim=st.integers(-2, 1), k=st.integers(1, 4))
def test_gather_take_along_axis(seed, dim, k):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4))
    shape = [3, 4]
    shape[dim] = k
    idx = rng.integers(0, a.shape[dim], shape)
    x = x64(a)
    want = np.take_along_axis(a, idx, dim)
    np.testing.assert_array_equal(ad.gather(x, dim, ad.tensor(idx)).numpy(), want)
    np.testing.assert_array_equal(x.gather(dim, idx).numpy(), want)
    np.testing.assert_array_equal(ad.take_along_axis(x, idx, dim).numpy(), want)
    assert ad.gradcheck(lambda t: ad.gather(t * t, dim, idx), (x,))
    assert ad.gradgradcheck(lambda t: ad.gather(t * t, dim, idx), (x,))


def test_gather_rank_mismatch():
    with pytest.raises(ValueError, match="gather"):
        ad.gather(ad.ones(2, 3), 1, np.zeros(2, dtype=np.int64))


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(1, 5))
def test_take_index_select(seed, n):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4))
    x = x64(a)
    flat = rng.integers(0, 12, (n, 2))
    np.testing.assert_array_equal(ad.take(x, ad.tensor(flat)).numpy(), np.take(a, flat))
    np.testing.assert_array_equal(x.take(flat).numpy(), np.take(a, flat))
    assert ad.gradcheck(lambda t: ad.take(t * t, flat), (x,))
    assert ad.gradgradcheck(lambda t: ad.take(t * t, flat), (x,))
    for dim in (0, 1, -1):
        idx = rng.integers(0, a.shape[dim], n)
        np.testing.assert_array_equal(ad.index_select(x, dim, ad.tensor(idx)).numpy(),
                                      np.take(a, idx, axis=dim))
        np.testing.assert_array_equal(x.index_select(dim, idx).numpy(),
                                      np.take(a, idx, axis=dim))
        assert ad.gradcheck(lambda t: ad.index_select(t * t, dim, idx), (x,))
    with pytest.raises(ValueError, match="index_select"):
        ad.index_select(x, 0, np.zeros((2, 2), dtype=np.int64))


# ----------------------------------------------------------------------------- sort
@SETTINGS
@given(seed=st.integers(0, 2**31), dim=st.integers(-2, 1), desc=st.booleans())
def test_sort_argsort(seed, dim, desc):
    rng = np.random.default_rng(seed)
    a = rng.permutation(np.linspace(-2, 2, 12)).reshape(3, 4)  # distinct values
    x = x64(a)
    vals, idx = ad.sort(x, dim=dim, descending=desc)
    want_idx = np.argsort(-a if desc else a, axis=dim)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_array_equal(vals.numpy(), np.take_along_axis(a, want_idx, dim))
    np.testing.assert_array_equal(x.argsort(dim, desc).numpy(), want_idx)
    r = x.sort(dim)
    np.testing.assert_array_equal(r.values.numpy(), np.sort(a, dim))
    assert r.indices.dtype == np.int64 and not r.indices.requires_grad
    w = rng.standard_normal(a.shape)
    assert ad.gradcheck(lambda t: ad.sort(t, dim, desc)[0] * w, (x,))
    assert ad.gradgradcheck(lambda t: ad.sort(t ** 3, dim, desc)[0] * w, (x,))


def test_sort_gradient_routes_by_index():
    x = x64(np.array([3.0, 1.0, 2.0]))
    vals, _ = ad.sort(x)
    (vals * ad.tensor([1.0, 10.0, 100.0], dtype=ad.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 1.0, 10.0])
