"""Matrix products: matmul (1-D, 2-D, batched, broadcast batch dims), dot, outer, einsum;
forward against NumPy, first and second derivatives against central differences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def x64(a) -> ad.Tensor:
    return ad.tensor(a, dtype=ad.float64, requires_grad=True)


@st.composite
def matmul_shapes(draw):
    """Operand shapes for matmul: 1-D or n-D, with broadcastable batch dims."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2))
    ba, bb = batch.input_shapes
    sa = (k,) if draw(st.booleans()) and not ba else ba + (n, k)
    sb = (k,) if draw(st.booleans()) and not bb else bb + (k, m)
    return sa, sb


@SETTINGS
@given(shapes=matmul_shapes(), seed=st.integers(0, 2**31))
def test_matmul(shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes
    a_np, b_np = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = x64(a_np), x64(b_np)
    out = ad.matmul(a, b)
    want = np.matmul(a_np, b_np)
    assert out.shape == want.shape
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((a @ b).numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.matmul(b).numpy(), want, rtol=1e-12, atol=1e-12)
    assert ad.gradcheck(ad.matmul, (a, b))
    assert ad.gradgradcheck(ad.matmul, (a, b))
    (a @ b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb


def test_matmul_with_numpy_operand():
    a_np = np.arange(6.0).reshape(2, 3)
    x = x64(np.ones((3, 2)))
    np.testing.assert_allclose((a_np @ x).numpy(), a_np @ np.ones((3, 2)))
    np.testing.assert_allclose((x @ a_np).numpy(), np.ones((3, 2)) @ a_np)
    (a_np @ x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a_np.sum(0)[:, None] * np.ones((3, 2)))


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 2)), ((3,), (4,)), ((2, 2, 3), (2, 4, 1)),
                                   ((3, 2, 4), (2, 4, 5)), ((5,), (2, 4))])
def test_matmul_mismatch_names_shapes(sa, sb):
    with pytest.raises(ValueError, match="matmul") as e:
        ad.matmul(ad.ones(sa), ad.ones(sb))
    assert str(sa) in str(e.value) and str(sb) in str(e.value)


def test_matmul_0d_refused():
    with pytest.raises(ValueError, match="matmul"):
        ad.matmul(ad.tensor(2.0), ad.ones(3))


@SETTINGS
@given(n=st.integers(1, 5), m=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_dot_outer(n, m, seed):
    rng = np.random.default_rng(seed)
    a_np, b_np, c_np = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(m)
    a, b, c = x64(a_np), x64(b_np), x64(c_np)
    np.testing.assert_allclose(ad.dot(a, b).numpy(), np.dot(a_np, b_np), rtol=1e-12)
    np.testing.assert_allclose(a.dot(b).numpy(), np.dot(a_np, b_np), rtol=1e-12)
    np.testing.assert_allclose(ad.outer(a, c).numpy(), np.outer(a_np, c_np), rtol=1e-12)
    np.testing.assert_allclose(a.outer(c).numpy(), np.outer(a_np, c_np), rtol=1e-12)
    for fn, args in ((ad.dot, (a, b)), (ad.outer, (a, c))):
        assert ad.gradcheck(fn, args)
        assert ad.gradgradcheck(fn, args)


def test_dot_mismatch():
    with pytest.raises(ValueError, match=r"dot.*\(3,\).*\(4,\)"):
        ad.dot(ad.ones(3), ad.ones(4))


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ijk,ik->j", [(2, 3, 2), (2, 2)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 2), (2, 2)]),
    ("ij,k->ijk", [(2, 2), (3,)]),
    ("ij,kj->", [(2, 3), (2, 3)]),
    # an index repeated within an operand: its diagonal (trace, batched diagonal, ...)
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->ij", [(2, 2, 3)]),
    ("bii,bi->b", [(2, 3, 3), (2, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("iii->", [(2, 2, 2)]),
]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[e[0] for e in EINSUMS])
def test_einsum(spec, shapes):
    rng = np.random.default_rng(len(spec))
    arrs = [rng.standard_normal(s) for s in shapes]
    xs = [x64(v) for v in arrs]
    out = ad.einsum(spec, *xs)
    np.testing.assert_allclose(out.numpy(), np.einsum(spec, *arrs), rtol=1e-12, atol=1e-12)
    assert ad.gradcheck(lambda *t: ad.einsum(spec, *t), xs)
    assert ad.gradgradcheck(lambda *t: ad.einsum(spec, *t), xs)


def test_einsum_trace_gradient_is_identity():
    a = x64(np.arange(9.0).reshape(3, 3))
    t = ad.einsum("ii", a)
    assert t.item() == 12.0
    (g,) = ad.grad(t, a)
    np.testing.assert_array_equal(g.numpy(), np.eye(3))


def test_einsum_errors():
    with pytest.raises(ValueError, match="repeated in 'ii' with different sizes"):
        ad.einsum("ii->i", ad.ones(2, 3))
    with pytest.raises(ValueError, match="output subscripts"):
        ad.einsum("i->ii", ad.ones(2))
    with pytest.raises(ValueError, match="einsum"):
        ad.einsum("ij,jk->ik", ad.ones(2, 3), ad.ones(4, 2))
    with pytest.raises(ValueError, match="einsum"):
        ad.einsum("ij->i", ad.ones(2, 3), ad.ones(2))
    with pytest.raises(ValueError, match="einsum"):
        ad.einsum("ijk->i", ad.ones(2, 3))
