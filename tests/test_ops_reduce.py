"""Reductions, the softmax family and scans: forward against NumPy, first and second
derivatives against float64 central differences on hypothesis-drawn shapes and axes (int,
tuple, None; ``axis``/``keepdims`` and ``dim``/``keepdim`` spellings)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


@st.composite
def shape_and_axis(draw, min_dims=1):
    """A shape and a reduction axis: None, an int (possibly negative) or a tuple."""
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=min_dims, max_size=3)))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none" or nd == 0:
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                   unique=True)))
    return shape, axis, draw(st.booleans()), draw(st.integers(0, 2**31))


def distinct_values(rng, shape, low=-2.0, high=2.0):
    """Values with no ties (so max/min/sort are differentiable there)."""
    n = int(np.prod(shape))
    vals = np.linspace(low, high, max(n, 1))[:n] + rng.uniform(0, 0.01, n)
    return rng.permutation(vals).reshape(shape)


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


def check(fn, *xs, second=True):
    assert ad.gradcheck(fn, xs)
    if second:
        assert ad.gradgradcheck(fn, xs)


def _np_logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))), shifted by the max (the formula written out: no SciPy, which
    misreads the no-torch test plugin's stub)."""
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_log_softmax(a, axis):
    return a - _np_logsumexp(a, axis, True)


def _npvar(a, axis, keepdims, ddof):
    return np.var(a, axis=axis, keepdims=keepdims, ddof=ddof)


REDUCTIONS = {
    # name -> (ad fn(x, axis, keep), numpy ref, sampler, second order)
    "sum": (lambda x, a, k: ad.sum(x, axis=a, keepdims=k),
            lambda x, a, k: np.sum(x, axis=a, keepdims=k), None),
    "mean": (lambda x, a, k: ad.mean(x, axis=a, keepdims=k),
             lambda x, a, k: np.mean(x, axis=a, keepdims=k), None),
    "var_pop": (lambda x, a, k: ad.var(x, axis=a, keepdims=k, ddof=0),
                lambda x, a, k: _npvar(x, a, k, 0), None),
    "std_pop": (lambda x, a, k: ad.std(x, axis=a, keepdims=k, unbiased=False),
                lambda x, a, k: np.std(x, axis=a, keepdims=k), None),
    "prod": (lambda x, a, k: ad.prod(x, axis=a, keepdims=k),
             lambda x, a, k: np.prod(x, axis=a, keepdims=k), None),
    "amax": (lambda x, a, k: ad.amax(x, a, k),
             lambda x, a, k: np.amax(x, axis=a, keepdims=k), distinct_values),
    "amin": (lambda x, a, k: ad.amin(x, axis=a, keepdims=k),
             lambda x, a, k: np.amin(x, axis=a, keepdims=k), distinct_values),
    "nansum": (lambda x, a, k: ad.nansum(x, dim=a, keepdim=k),
               lambda x, a, k: np.nansum(x, axis=a, keepdims=k), None),
    "norm": (lambda x, a, k: ad.norm(x, axis=a, keepdims=k),
             lambda x, a, k: np.sqrt((x * x).sum(axis=a, keepdims=k)), None),
    "norm1": (lambda x, a, k: ad.norm(x, 1, axis=a, keepdims=k),
              lambda x, a, k: np.abs(x).sum(axis=a, keepdims=k),
              lambda rng, s: distinct_values(rng, s) + 0.05),
    "norm3": (lambda x, a, k: ad.norm(x, p=3, axis=a, keepdims=k),
              lambda x, a, k: (np.abs(x) ** 3).sum(axis=a, keepdims=k) ** (1 / 3),
              lambda rng, s: distinct_values(rng, s) + 0.05),
    "norm_inf": (lambda x, a, k: ad.norm(x, float("inf"), axis=a, keepdims=k),
                 lambda x, a, k: np.abs(x).max(axis=a, keepdims=k),
                 lambda rng, s: distinct_values(rng, s, 0.1, 2.0)),
    "logsumexp": (lambda x, a, k: ad.logsumexp(x, axis=a, keepdims=k),
                  lambda x, a, k: _np_logsumexp(x, a, k), None),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=shape_and_axis())
def test_reduction(name, case):
    shape, axis, keep, seed = case
    fn, ref, sampler = REDUCTIONS[name]
    rng = np.random.default_rng(seed)
    a = sampler(rng, shape) if sampler else rng.uniform(-2, 2, shape)
    if name == "prod":
        a = np.where(np.abs(a) < 0.2, 0.5, a)
    x = x64(a)
    out = fn(x, axis, keep)
    want = ref(a, axis, keep)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-11, atol=1e-12)
    check(lambda t: fn(t, axis, keep), x)


@SETTINGS
@given(case=shape_and_axis())
def test_var_std_unbiased_default(case):
    shape, axis, keep, seed = case
    a = np.random.default_rng(seed).uniform(-2, 2, shape)
    n = a.size if axis is None else int(np.prod([shape[i] for i in np.atleast_1d(axis)]))
    if n < 2:
        return
    x = x64(a)
    np.testing.assert_allclose(ad.var(x, axis, keepdim=keep).numpy(),
                               np.var(a, axis=axis, keepdims=keep, ddof=1), rtol=1e-11)
    np.testing.assert_allclose(x.std(axis, keepdim=keep).numpy(),
                               np.std(a, axis=axis, keepdims=keep, ddof=1), rtol=1e-11)
    # PyTorch's positional form var(x, dim, unbiased, keepdim)
    np.testing.assert_allclose(ad.var(x, axis, False, keep).numpy(),
                               np.var(a, axis=axis, keepdims=keep), rtol=1e-11, atol=1e-15)
    check(lambda t: ad.var(t, axis, keepdim=keep), x)
    check(lambda t: ad.std(t, axis, keepdim=keep), x)


def test_torch_style_dim_keepdim_spelling():
    a = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4))
    x = x64(a)
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_allclose(x.mean(dim=(0, 2)).numpy(), a.mean((0, 2)))
    np.testing.assert_allclose(ad.logsumexp(x, dim=-1).numpy(), _np_logsumexp(a, -1))
    np.testing.assert_allclose(x.var(dim=2, unbiased=False).numpy(), a.var(2))
    vals, idx = x.max(dim=1)
    np.testing.assert_array_equal(vals.numpy(), a.max(1))
    np.testing.assert_array_equal(idx.numpy(), a.argmax(1))
    vals, idx = x.min(dim=0, keepdim=True)
    np.testing.assert_array_equal(vals.numpy(), a.min(0, keepdims=True))
    np.testing.assert_array_equal(idx.numpy(), a.argmin(0)[None])
    vals, idx = x.max(axis=1)       # axis is an alias of dim: the same (values, indices)
    np.testing.assert_array_equal(vals.numpy(), a.max(1))
    np.testing.assert_array_equal(idx.numpy(), a.argmax(1))
    vals, idx = ad.max(x, 2, True)   # dim and keepdim positional
    np.testing.assert_array_equal(vals.numpy(), a.max(2, keepdims=True))
    np.testing.assert_array_equal(idx.numpy(), a.argmax(2)[..., None])
    assert x.max().shape == ()
    np.testing.assert_array_equal(ad.argmax(x, dim=2).numpy(), a.argmax(2))
    np.testing.assert_array_equal(x.argmin(axis=1).numpy(), a.argmin(1))
    np.testing.assert_array_equal(ad.argmax(x).numpy(), a.argmax())
    assert not ad.argmax(x, 1).requires_grad
    assert ad.argmax(x, 1, keepdims=True).shape == (2, 1, 4)


def test_max_dim_values_gradient():
    x = x64(distinct_values(np.random.default_rng(3), (3, 4)))
    check(lambda t: t.max(dim=1)[0], x)
    check(lambda t: t.min(dim=0, keepdim=True).values, x)


def test_prod_with_zeros():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, 2.0, -1.0]])
    x = x64(a)
    ad.prod(x, axis=1).sum().backward()
    want = np.array([[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [-2.0, -1.5, 3.0]])
    np.testing.assert_allclose(x.grad.numpy(), want)
    assert ad.gradcheck(lambda t: ad.prod(t, axis=1), (x64(a),))
    assert ad.gradgradcheck(lambda t: ad.prod(t, axis=1), (x64(a),))


def test_integer_and_bool_reductions():
    i = ad.tensor([[1, 2], [3, 4]])
    assert ad.sum(i).item() == 10 and ad.sum(i).dtype.kind == "i"
    assert ad.mean(i).item() == 2.5 and ad.mean(i).dtype.kind == "f"
    m = ad.tensor([True, False, True])
    assert ad.sum(m).item() == 2
    assert bool(ad.any(m)) and not bool(ad.all(m))


# ----------------------------------------------------------------------------- softmax family
def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       data=st.data(), seed=st.integers(0, 2**31))
def test_softmax_log_softmax(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = np.random.default_rng(seed).uniform(-3, 3, shape)
    x = x64(a)
    np.testing.assert_allclose(ad.softmax(x, axis).numpy(), _np_softmax(a, axis), rtol=1e-12)
    np.testing.assert_allclose(ad.log_softmax(x, dim=axis).numpy(),
                               _np_log_softmax(a, axis), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.softmax(axis).numpy(), _np_softmax(a, axis), rtol=1e-12)
    check(lambda t: ad.softmax(t, axis), x)
    check(lambda t: ad.log_softmax(t, axis), x)


def test_softmax_stable_for_large_logits():
    a = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4]])
    for dt in (ad.float32, ad.float64):
        x = ad.tensor(a, dtype=dt, requires_grad=True)
        s = ad.softmax(x, -1)
        ls = ad.log_softmax(x, -1)
        assert np.isfinite(s.numpy()).all() and np.isfinite(ls.numpy()).all()
        np.testing.assert_allclose(ls.numpy(), _np_log_softmax(a, -1), rtol=1e-5)
        np.testing.assert_allclose(ad.logsumexp(x, -1).numpy(), _np_logsumexp(a, -1),
                                   rtol=1e-6)
        (ls[:, 0].sum() + ad.logsumexp(x, -1).sum()).backward()
        assert np.isfinite(x.grad.numpy()).all()


# ----------------------------------------------------------------------------- cumsum
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       data=st.data(), seed=st.integers(0, 2**31))
def test_cumsum(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = np.random.default_rng(seed).uniform(-2, 2, shape)
    x = x64(a)
    np.testing.assert_allclose(ad.cumsum(x, axis).numpy(), np.cumsum(a, axis), rtol=1e-12)
    np.testing.assert_allclose(x.cumsum(dim=axis).numpy(), np.cumsum(a, axis), rtol=1e-12)
    check(lambda t: ad.cumsum(t, axis) ** 2, x)


def test_mean_over_all_and_grad_value():
    x = ad.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], requires_grad=True)
    x.mean().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 1 / 6), rtol=1e-6)
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- the GPU path
def _standin_cases():
    import api_cases_reduce
    return api_cases_reduce.CASES


@pytest.mark.parametrize("case", _standin_cases(), ids=lambda c: c.id)
def test_api_cases_on_the_cupy_standin(case):
    """Every reduce/scan/search API case gives the same values, dtypes and gradients on the CPU
    stand-in of CuPy (device arrays that refuse host conversion) as on NumPy."""
    import cupy_standin

    def run(device):
        xs = [ad.tensor(np.asarray(a), device=device,
                        requires_grad=np.asarray(a).dtype.kind == "f" and case.grad > 0)
              for a in case.inputs]
        out = case.fn(*xs)
        outs = tuple(out) if isinstance(out, tuple) else (out,)
        diff = [o for o in outs if o.requires_grad]
        leaves = [x for x in xs if x.requires_grad]
        grads = ad.grad(diff, leaves, [ad.ones_like(o) for o in diff], allow_unused=True) \
            if diff else ()
        return [o.to("cpu").numpy() for o in outs], [g.to("cpu").numpy() for g in grads if
                                                     g is not None]

    want, want_g = run(None)
    with cupy_standin.activated():
        got, got_g = run("cuda")
    for a, b in zip(got + got_g, want + want_g):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
