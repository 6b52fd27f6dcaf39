"""The scatter family and the other index/mask ops of ``autodiff/ops/scatter.py``: random
``scatter_reduce`` calls against the loop definitions of ``ref_scatter`` (values, and
gradients by finite differences, first and second order, zeros and ties included), the
gradient conventions at ties and zeros, in-place semantics, argument errors, and the CuPy
stand-in. PyTorch, where installed, as a second oracle."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autodiff as ad
import cupy_standin
import ref_scatter as RS

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
REDUCTIONS = ["sum", "prod", "mean", "amax", "amin"]


@st.composite
def scatter_case(draw):
    """(x, dim, index, src): index with repeats, src at least as large as the index."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    dim = draw(st.integers(-ndim, ndim - 1))
    d = dim % ndim
    ishape = tuple(draw(st.integers(0 if a == d else 1, 5 if a == d else s))
                   for a, s in enumerate(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    index = rng.integers(0, shape[d], ishape)
    sshape = tuple(i + draw(st.integers(0, 1)) for i in ishape)
    # distinct values at least 0.05 apart: no ties, none moved by a finite-difference step
    vals = rng.permutation(np.arange(1, 1 + int(np.prod(shape)) + int(np.prod(sshape))))
    vals = (vals * 0.05 + 0.3) * rng.choice([-1, 1], vals.shape)
    return vals[:int(np.prod(shape))].reshape(shape), dim, index, \
        vals[int(np.prod(shape)):].reshape(sshape)


@SETTINGS
@given(case=scatter_case(), reduce=st.sampled_from(REDUCTIONS), include_self=st.booleans())
def test_scatter_reduce_against_definition(case, reduce, include_self):
    x, dim, index, src = case
    want = RS.scatter_reduce(x, dim % x.ndim, index, src, reduce, include_self)
    xt, st_ = ad.tensor(x, requires_grad=True), ad.tensor(src, requires_grad=True)
    out = ad.scatter_reduce(xt, dim, ad.tensor(index), st_, reduce, include_self=include_self)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-13)
    if src.size:            # (gradcheck takes no empty inputs)
        assert ad.gradcheck(lambda a, b: ad.scatter_reduce(a, dim, index, b, reduce,
                                                           include_self=include_self), (xt, st_))
    ints = np.round(x * 20).astype(np.int64), np.round(src * 20).astype(np.int64)
    if reduce != "prod":
        np.testing.assert_array_equal(
            ad.scatter_reduce(ad.tensor(ints[0]), dim, index, ad.tensor(ints[1]), reduce,
                              include_self=include_self).numpy(),
            RS.scatter_reduce(ints[0], dim % x.ndim, index, ints[1], reduce, include_self))


@SETTINGS
@given(case=scatter_case(), reduce=st.sampled_from(REDUCTIONS), include_self=st.booleans())
def test_scatter_reduce_against_pytorch(case, reduce, include_self, torch):
    x, dim, index, src = case
    src = src[tuple(slice(0, n) for n in index.shape)]   # PyTorch's backward needs this
    xt, st_ = ad.tensor(x, requires_grad=True), ad.tensor(src, requires_grad=True)
    tx, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    out = ad.scatter_reduce(xt, dim, ad.tensor(index), st_, reduce, include_self=include_self)
    tout = tx.scatter_reduce(dim, torch.tensor(index), ts, reduce, include_self=include_self)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-13)
    g = np.random.default_rng(0).standard_normal(x.shape)
    out.backward(ad.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(st_.grad.numpy(), ts.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("src", [
    [2.0, 0.0, 3.0, -1.5],          # one zero at position 0
    [0.0, 0.0, 3.0, -1.5],          # two zeros at position 0 (PyTorch: no double backward)
    [0.0, 0.0, 0.0, 0.0],           # three zeros at 0, one at 1
])
def test_prod_gradients_at_zeros(src, include_self):
    """The product's gradients are the products of the other factors (multiplied out in the
    reference); the product is a polynomial, so finite differences are exact enough for the
    second order, which PyTorch refuses for two zeros at one position."""
    x = np.array([0.5, 0.0, -2.0])
    src = np.array(src)
    index = np.array([0, 0, 0, 1])
    g = np.array([1.0, -2.0, 0.5])
    xt, st_ = ad.tensor(x, requires_grad=True), ad.tensor(src, requires_grad=True)
    out = ad.scatter_reduce(xt, 0, index, st_, "prod", include_self=include_self)
    out.backward(ad.tensor(g))
    want_x, want_s = RS.scatter_prod_grads(x, 0, index, src, g, include_self)
    np.testing.assert_allclose(xt.grad.numpy(), want_x)
    np.testing.assert_allclose(st_.grad.numpy(), want_s)
    f = lambda a, b: ad.scatter_reduce(a, 0, index, b, "prod", include_self=include_self)  # noqa
    assert ad.gradcheck(f, (xt, st_))
    assert ad.gradgradcheck(f, (xt, st_))


def test_amax_ties_share_the_gradient():
    """Ties share the gradient evenly (PyTorch's convention); with include_self=False an input
    equal to the result is no tie (PyTorch counts it and halves the true maximum's share)."""
    x = ad.tensor([3.0, 5.0], requires_grad=True)
    s = ad.tensor([3.0, 1.0, 3.0], requires_grad=True)
    ad.scatter_reduce(x, 0, ad.tensor([0, 0, 0]), s, "amax").sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 1.0])
    np.testing.assert_allclose(s.grad.numpy(), [1 / 3, 0.0, 1 / 3])
    x.grad = s.grad = None
    s2 = ad.tensor([3.0, 1.0], requires_grad=True)
    ad.scatter_reduce(x, 0, ad.tensor([0, 0]), s2, "amax", include_self=False).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0])
    np.testing.assert_allclose(s2.grad.numpy(), [1.0, 0.0])


def test_mean_counts_and_integer_floor():
    x = ad.tensor([7, -7, 2])
    out = ad.scatter_reduce(x, 0, ad.tensor([0, 0, 1]), ad.tensor([3, 4, 4]), "mean")
    np.testing.assert_array_equal(out.numpy(), [4, -2, 2])        # 14/3 -> 4, -3/2 -> -2
    xf = ad.tensor([1.0, 2.0, 3.0], dtype=ad.float64, requires_grad=True)
    sf = ad.tensor([4.0, 5.0], dtype=ad.float64, requires_grad=True)
    out = ad.scatter_reduce(xf, 0, ad.tensor([2, 2]), sf, "mean", include_self=False)
    np.testing.assert_allclose(out.numpy(), [1.0, 2.0, 4.5])
    out.sum().backward()
    np.testing.assert_allclose(xf.grad.numpy(), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(sf.grad.numpy(), [0.5, 0.5])


# ----------------------------------------------------------------------------- in place
def test_inplace_semantics():
    x = ad.zeros(2, 3)
    alias = x.data
    v0 = x._version.v
    x.scatter_(1, ad.tensor([[2], [0]]), 7.0)
    np.testing.assert_array_equal(alias.numpy(), [[0, 0, 7], [7, 0, 0]])   # same storage
    assert x._version.v == v0 + 1
    x.masked_fill_(ad.tensor([True, False, False]), -1.0).index_fill_(0, ad.tensor([1]), 2.0)
    np.testing.assert_array_equal(x.numpy(), [[-1, 0, 7], [2, 2, 2]])
    x.index_add_(1, ad.tensor([1, 1]), ad.ones(2, 2), alpha=3)
    np.testing.assert_array_equal(x.numpy(), [[-1, 6, 7], [2, 8, 2]])
    leaf = ad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scatter_add_: a leaf tensor that requires grad"):
        leaf.scatter_add_(0, ad.tensor([0]), ad.ones(1))
    with ad.no_grad():
        leaf.scatter_add_(0, ad.tensor([0, 0]), ad.ones(2))
    np.testing.assert_array_equal(leaf.numpy(), [2, 0, 0])
    with pytest.raises(RuntimeError, match=r"masked_fill_: the mask of shape \(2, 3\)"):
        ad.zeros(3).masked_fill_(ad.ones(2, 3, dtype=ad.bool), 1.0)


def test_inplace_on_a_graph_records_the_write():
    w = ad.tensor([1.0, 2.0, 3.0], dtype=ad.float64, requires_grad=True)
    s = ad.tensor([10.0], dtype=ad.float64, requires_grad=True)
    y = w * w
    y.scatter_(0, ad.tensor([1]), s * s).masked_fill_(ad.tensor([False, False, True]), 0.0)
    np.testing.assert_allclose(y.numpy(), [1.0, 100.0, 0.0])
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 0.0, 0.0])
    np.testing.assert_allclose(s.grad.numpy(), [20.0])


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call,error,match", [
    (lambda x: x.gather(1, ad.tensor([[-1], [0]])), IndexError,
     r"gather: index -1 is out of bounds for dimension 1 with size 3"),
    (lambda x: x.scatter(0, ad.tensor([[2, 0]]), 1.0), IndexError,
     r"scatter: index 2 is out of bounds for dimension 0 with size 2"),
    (lambda x: x.scatter(1, ad.tensor([[0]]), ad.ones(1, 1, dtype=ad.float32)), TypeError,
     r"self.dtype to be equal to src.dtype"),
    (lambda x: x.scatter(1, ad.tensor([0]), 1.0), ValueError, r"the same number"),
    (lambda x: x.scatter_add(0, ad.tensor([[0, 1, 1, 0]]), ad.ones(1, 4, dtype=ad.float64)),
     ValueError, r"no larger than the tensor \(2, 3\) apart from dimension 0"),
    (lambda x: x.scatter_add(0, ad.tensor([[0, 1]]), ad.ones(1, 1, dtype=ad.float64)),
     ValueError, r"no larger than src \(1, 1\)"),
    (lambda x: x.scatter_reduce(0, ad.tensor([[0]]), x, "max"), ValueError,
     r"sum, prod, mean, amax or amin, got 'max'"),
    (lambda x: x.scatter(0, ad.tensor([[0]]), 1.0, reduce="mean"), ValueError,
     r"either add or multiply"),
    (lambda x: x.gather(0, ad.tensor([[0.5]])), TypeError, r"integer index"),
    (lambda x: x.index_add(1, ad.tensor([-1]), ad.ones(2, 1, dtype=ad.float64)), IndexError,
     r"negative indices are not allowed"),
    (lambda x: x.index_add(1, ad.tensor([0, 1]), ad.ones(2, 1, dtype=ad.float64)), ValueError,
     r"with 2 \(the number of indices\) at dimension 1"),
    (lambda x: x.index_fill(1, ad.tensor([[0]]), 1.0), ValueError, r"vector or a scalar"),
    (lambda x: x.index_fill(1, ad.tensor([3]), 1.0), IndexError,
     r"index 3 is out of bounds for dimension 1 with size 3"),
    (lambda x: x.masked_fill(ad.tensor([1, 0, 1]), 1.0), TypeError, r"boolean masks"),
    (lambda x: x.masked_fill(ad.tensor([True, False, True]), ad.tensor([1.0])), ValueError,
     r"0-dimensional value tensor"),
    (lambda x: x.narrow(1, 2, 2), ValueError, r"start \(2\) \+ length \(2\) exceeds"),
    (lambda x: x.narrow(1, -4, 1), IndexError, r"expected to be in range of \[-3, 3\]"),
    (lambda x: x.select(0, 2), IndexError,
     r"select\(\): index 2 out of range for tensor of size \[2, 3\] at dimension 0"),
    (lambda x: ad.index_put(x, ad.tensor([0]), 1.0), TypeError, r"tuple of index tensors"),
    (lambda x: ad.take_along_dim(x, ad.tensor([0, 1]), 1), ValueError,
     r"same number of dimensions"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(ad.zeros(2, 3, dtype=ad.float64))


def test_scalar_and_empty_inputs():
    np.testing.assert_array_equal(ad.nonzero(ad.tensor(0.0)).shape, (0, 0))
    (i,) = ad.nonzero(ad.tensor(3), as_tuple=True)
    np.testing.assert_array_equal(i.numpy(), [0])
    assert ad.nonzero(ad.zeros(2, 3)).shape == (0, 2)
    assert ad.nonzero(ad.ones(2, 3)).dtype == np.int64
    np.testing.assert_array_equal(ad.masked_select(ad.tensor(2.0), ad.tensor(True)).numpy(), [2])
    x = ad.tensor(1.5, dtype=ad.float64)
    assert ad.scatter(x, 0, ad.tensor(0), 4.0).item() == 4.0
    assert ad.gather(x, 0, ad.tensor(0)).shape == ()
    z = ad.zeros(2, 3)
    np.testing.assert_array_equal(z.scatter_add(0, ad.zeros((0, 2), dtype=ad.int64),
                                                ad.ones(1, 2)).numpy(), np.zeros((2, 3)))


def test_runs_on_the_cupy_standin():
    """The generic scatter code (sort and pairwise tree, no ``multiply.at``) on device arrays
    agrees with the NumPy run."""
    rng = np.random.default_rng(3)
    x, s = rng.uniform(0.5, 1.5, (3, 5)), rng.uniform(0.5, 1.5, (3, 7))
    idx = rng.integers(0, 5, (3, 7))
    host = {r: ad.scatter_reduce(ad.tensor(x), 1, idx, ad.tensor(s), r, include_self=False)
            for r in REDUCTIONS}
    with cupy_standin.activated():
        for r in REDUCTIONS:
            out = ad.scatter_reduce(ad.tensor(x).to("cuda"), 1, ad.tensor(idx).to("cuda"),
                                    ad.tensor(s).to("cuda"), r, include_self=False)
            assert out.device == "cuda"
            np.testing.assert_allclose(out.cpu().numpy(), host[r].numpy(), rtol=1e-14)
        m = ad.masked_fill(ad.tensor(x).to("cuda"), ad.tensor(x > 1).to("cuda"), 0.0)
        np.testing.assert_array_equal(m.cpu().numpy(), np.where(x > 1, 0.0, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_scatter_add_rows_is_numpy_add_at(dtype):
    """The NumPy backend's row scatter-add (an embedding's gradient, a numba loop) sums in
    numpy.add.at's order: the same bits, negative rows wrapped, an out-of-range row an
    IndexError naming it."""
    from backends import numpy_backend
    rng = np.random.default_rng(5)
    rows = rng.integers(-9, 9, 300)
    values = rng.standard_normal((300, 4, 3)).astype(dtype)
    got, want = np.zeros((9, 4, 3), dtype), np.zeros((9, 4, 3), dtype)
    numpy_backend.scatter_add(got, (rows,), values)
    np.add.at(want, (rows,), values)
    assert np.array_equal(got, want)
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        numpy_backend.scatter_add(got, (np.array([1, 9]),), values[:2])
