"""Shape ops: forward against NumPy, first and second derivatives against float64 central
differences. Every op is checked through a non-linear head (``* w``) so the gradient is not
trivially ones."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True)
SHAPE = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


def check_op(op, ref, a: np.ndarray, second: bool = True) -> None:
    """op(Tensor) against ref(ndarray), then gradcheck of sum-free op(x) * w."""
    x = x64(a)
    out = op(x)
    want = ref(a)
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.numpy(), want)
    w = np.random.default_rng(7).uniform(-1, 1, want.shape)

    def f(t):
        return op(t * t) * w
    assert ad.gradcheck(f, (x,))
    if second:
        assert ad.gradgradcheck(f, (x,))


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31))
def test_reshape_view_flatten(shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape)
    check_op(lambda t: t.reshape(-1), lambda v: v.reshape(-1), a)
    check_op(lambda t: ad.reshape(t, (1,) + shape[::-1]), lambda v: v.reshape((1,) + shape[::-1]),
             a)
    check_op(lambda t: t.view(*shape[::-1]), lambda v: v.reshape(shape[::-1]), a)
    check_op(lambda t: ad.view(t, a.size), lambda v: v.reshape(a.size), a, second=False)
    check_op(lambda t: t.flatten(), lambda v: v.reshape(-1), a, second=False)
    check_op(lambda t: ad.flatten(t, 1) if t.ndim > 1 else t,
             lambda v: v.reshape(v.shape[0], -1) if v.ndim > 1 else v, a, second=False)


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31), data=st.data())
def test_permute_transpose_swapaxes_movedim(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    nd = len(shape)
    perm = tuple(data.draw(st.permutations(range(nd))))
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    check_op(lambda t: t.permute(*perm), lambda v: v.transpose(perm), a)
    check_op(lambda t: ad.permute(t, perm), lambda v: v.transpose(perm), a, second=False)
    check_op(lambda t: t.transpose(d0, d1), lambda v: np.swapaxes(v, d0, d1), a)
    check_op(lambda t: ad.swapaxes(t, d0, d1), lambda v: np.swapaxes(v, d0, d1), a,
             second=False)
    check_op(lambda t: t.T, lambda v: v.T, a, second=False)
    check_op(lambda t: ad.movedim(t, d0, d1), lambda v: np.moveaxis(v, d0, d1), a,
             second=False)


def test_mT_and_transpose_tuple():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = x64(a)
    np.testing.assert_array_equal(x.mT.numpy(), np.swapaxes(a, -1, -2))
    np.testing.assert_array_equal(ad.transpose(x).numpy(), a.T)
    np.testing.assert_array_equal(ad.transpose(x, (1, 0, 2)).numpy(), a.transpose(1, 0, 2))


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple),
       seed=st.integers(0, 2**31), data=st.data())
def test_squeeze_unsqueeze(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    nd = len(shape)
    check_op(lambda t: t.squeeze(), lambda v: np.squeeze(v), a)
    ones = [i for i, s in enumerate(shape) if s == 1]
    if ones:
        d = data.draw(st.sampled_from(ones))
        check_op(lambda t: ad.squeeze(t, d), lambda v: np.squeeze(v, d), a, second=False)
    d = data.draw(st.integers(-nd, nd - 1))
    if shape[d] != 1:  # squeezing a non-1 dim is a no-op, as in PyTorch
        assert ad.squeeze(x64(a), d).shape == shape
    u = data.draw(st.integers(-nd - 1, nd))
    check_op(lambda t: t.unsqueeze(u), lambda v: np.expand_dims(v, u), a)


@SETTINGS
@given(shape=st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**31), data=st.data())
def test_expand_broadcast_to(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    target = tuple(data.draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    full = lead + target
    check_op(lambda t: ad.broadcast_to(t, full), lambda v: np.broadcast_to(v, full), a)
    sizes = lead + tuple(-1 if s == t else t for s, t in zip(shape, target))
    check_op(lambda t: t.expand(*sizes), lambda v: np.broadcast_to(v, full), a, second=False)
    check_op(lambda t: ad.expand(t, full), lambda v: np.broadcast_to(v, full), a, second=False)
    y = ad.ones(full, dtype=ad.float64)
    check_op(lambda t: t.expand_as(y), lambda v: np.broadcast_to(v, full), a, second=False)


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31), data=st.data())
def test_tile_repeat(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=len(shape) + 1)))
    check_op(lambda t: ad.tile(t, reps), lambda v: np.tile(v, reps), a)
    full = (1,) * (len(shape) - len(reps)) + reps if len(reps) < len(shape) else reps
    check_op(lambda t: t.repeat(*full), lambda v: np.tile(v, full), a, second=False)
    check_op(lambda t: t.tile(reps), lambda v: np.tile(v, reps), a, second=False)


def test_repeat_interleave():
    a = np.arange(6.0).reshape(2, 3)
    check_op(lambda t: ad.repeat_interleave(t, 2, dim=1), lambda v: np.repeat(v, 2, axis=1), a)
    check_op(lambda t: t.repeat_interleave(3), lambda v: np.repeat(v, 3), a, second=False)


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31), data=st.data())
def test_pad(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    pw = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    check_op(lambda t: ad.pad(t, pw), lambda v: np.pad(v, pw), a)
    check_op(lambda t: ad.pad(t, pw, value=1.5),
             lambda v: np.pad(v, pw, constant_values=1.5), a, second=False)
    rw = tuple((min(p, s - 1), min(q, s - 1)) for (p, q), s in zip(pw, shape))
    check_op(lambda t: ad.pad(t, rw, mode="reflect"), lambda v: np.pad(v, rw, mode="reflect"),
             a)
    check_op(lambda t: ad.pad(t, 1), lambda v: np.pad(v, 1), a, second=False)


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31), data=st.data())
def test_cat_stack(shape, seed, data):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    arrs = []
    for n in sizes:
        s = list(shape)
        s[d] = n
        arrs.append(rng.standard_normal(s))
    xs = [x64(v) for v in arrs]
    out = ad.cat(xs, d)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrs, d))
    np.testing.assert_array_equal(ad.concatenate(xs, axis=d).numpy(), np.concatenate(arrs, d))
    w = rng.standard_normal(out.shape)
    assert ad.gradcheck(lambda *ts: ad.cat([t * t for t in ts], d) * w, xs)
    assert ad.gradgradcheck(lambda *ts: ad.cat([t * t for t in ts], d) * w, xs)
    same = [rng.standard_normal(shape) for _ in sizes]
    ys = [x64(v) for v in same]
    sd = data.draw(st.integers(-nd - 1, nd))
    np.testing.assert_array_equal(ad.stack(ys, sd).numpy(), np.stack(same, sd))
    w2 = rng.standard_normal(np.stack(same, sd).shape)
    assert ad.gradcheck(lambda *ts: ad.stack([t * t for t in ts], sd) * w2, ys)
    assert ad.gradgradcheck(lambda *ts: ad.stack([t * t for t in ts], dim=sd) * w2, ys)


def test_cat_only_some_require_grad():
    a = x64(np.ones((2, 2)))
    b = ad.tensor(np.zeros((1, 2)))
    ad.cat([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    assert b.grad is None


@SETTINGS
@given(n=st.integers(1, 7), k=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_split_chunk_unbind(n, k, seed):
    a = np.random.default_rng(seed).standard_normal((2, n))
    x = x64(a)
    parts = ad.split(x, k, dim=1)
    want = np.split(a, list(range(k, n, k)), axis=1)
    assert len(parts) == len(want)
    for p, w in zip(parts, want):
        np.testing.assert_array_equal(p.numpy(), w)
    chunks = x.chunk(k, dim=1)
    ref_chunks = np.array_split(a, list(range(-(-n // k), n, -(-n // k))), axis=1)
    assert [c.shape for c in chunks] == [r.shape for r in ref_chunks]
    assert len(chunks) <= k
    sections = [1, n - 1] if n > 1 else [1]
    for p, w in zip(x.split(sections, 1), np.split(a, [1], axis=1)):
        np.testing.assert_array_equal(p.numpy(), w)
    ws = [np.arange(1.0, 1 + p.numel()).reshape(p.shape) for p in parts]

    def f(t):
        return ad.stack([(p * p * w).sum() for p, w in zip(ad.split(t, k, 1), ws)])
    assert ad.gradcheck(f, (x,))
    assert ad.gradgradcheck(f, (x,))
    rows = ad.unbind(x, 1)
    assert len(rows) == n
    np.testing.assert_array_equal(rows[-1].numpy(), a[:, -1])
    assert ad.gradcheck(lambda t: ad.unbind(t * t, 0)[1], (x,))


def test_chunk_uneven_like_torch():
    x = ad.arange(10.0)
    assert [c.shape[0] for c in ad.chunk(x, 4)] == [3, 3, 3, 1]
    assert [c.shape[0] for c in ad.chunk(x, 3)] == [4, 4, 2]
    assert [c.shape[0] for c in ad.split(x, [2, 8])] == [2, 8]


@SETTINGS
@given(shape=SHAPE, seed=st.integers(0, 2**31), data=st.data())
def test_flip(shape, seed, data):
    a = np.random.default_rng(seed).standard_normal(shape)
    dims = tuple(data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True)))
    check_op(lambda t: ad.flip(t, dims), lambda v: np.flip(v, dims), a)


def test_astype_differentiable_between_floats():
    x = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    y = x.astype(ad.float32)
    assert y.dtype == np.float32 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    i = x.astype("int64")
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(x.long().numpy(), [1, 2])
    assert x.float().dtype == np.float32 and x.double().dtype == np.float64
    x.grad = None
    (g,) = ad.grad((x.astype(ad.float32) ** 3).sum(), x, create_graph=True)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    (gg,) = ad.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [6.0, 12.0])


@SETTINGS
@given(shapes=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**31), data=st.data())
def test_sum_to(shapes, seed, data):
    big = shapes
    small = tuple(data.draw(st.sampled_from([1, s])) for s in big)[
        data.draw(st.integers(0, len(big))):]
    a = np.random.default_rng(seed).standard_normal(big)
    x = x64(a)
    out = ad.sum_to(x, small)
    lead = len(big) - len(small)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(small)
                                      if s == 1 and big[lead + i] != 1)
    np.testing.assert_allclose(out.numpy(), a.sum(axis=axes, keepdims=True).reshape(small))
    assert ad.gradcheck(lambda t: ad.sum_to(t * t, small), (x,))
    assert ad.gradgradcheck(lambda t: ad.sum_to(t * t, small), (x,))


def test_shape_ops_preserve_no_grad():
    x = ad.ones(2, 3)
    for y in (x.reshape(3, 2), x.T, x.unsqueeze(0), ad.cat([x, x]), ad.pad(x, 1), x[0]):
        assert not y.requires_grad and y.grad_fn is None


@pytest.mark.parametrize("op", [lambda t: t.reshape(4, 4), lambda t: t.view(5),
                                lambda t: ad.reshape(t, (-1, 4))])
def test_reshape_mismatch_raises(op):
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        op(ad.ones(2, 3))
