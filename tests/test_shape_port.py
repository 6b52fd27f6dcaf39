"""What the op table cannot say about the shape, structure and distance ops of the PyTorch
port: gradients where the function has a kink or a zero (cdist and the norms at a zero
distance: 0, PyTorch's value), values kept clear of inf in the masked part (tril, diag_embed),
meshgrid's default and warning, and the errors for bad arguments (PyTorch raises for each)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import autodiff as ad
from autodiff.nn import functional as F


def f64(a, grad=True) -> ad.Tensor:
    return ad.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ----------------------------------------------------------------------------- zero distances
_ZERO_ROWS = ([[1.0, 2.0, -1.0], [0.0, 0.5, 0.0]], [[1.0, 2.0, -1.0], [3.0, 1.0, 0.0]])


def _cdist_grads(p, mode="use_mm_for_euclid_dist_if_necessary"):
    a, b = (f64(v) for v in _ZERO_ROWS)
    d = ad.cdist(a, b, p, compute_mode=mode)
    return d, ad.grad(d.sum(), [a, b])


def _one_sided(p, row):
    """d/d(x1 row) of sum_j ||x1_row - x2_j||_p written out from the closed form
    sign(u) |u|^(p-1) / ||u||^(p-1), over the pairs at a non-zero distance."""
    x1, x2 = (np.array(v) for v in _ZERO_ROWS)
    g = np.zeros(3)
    for other in x2:
        u = x1[row] - other
        n = (np.abs(u) ** p).sum() ** (1 / p)
        if n > 0:
            g += np.sign(u) * np.abs(u) ** (p - 1) / n ** (p - 1)
    return g


@pytest.mark.parametrize("p, mode", [(2.0, "donot_use_mm_for_euclid_dist"),
                                     (2.0, "use_mm_for_euclid_dist"), (3.0, None), (1.5, None)])
def test_cdist_gradient_is_zero_at_a_zero_distance(p, mode):
    d, (ga, gb) = _cdist_grads(p, mode or "use_mm_for_euclid_dist_if_necessary")
    assert d.numpy()[0, 0] == 0
    np.testing.assert_allclose(ga.numpy()[0], _one_sided(p, 0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ga.numpy()[1], _one_sided(p, 1), rtol=1e-12)


def test_cdist_p1_and_pinf_gradients_at_a_zero_distance_are_sign_and_zero():
    _, (ga, _) = _cdist_grads(1.0)
    # row 0 meets itself (sign(0) = 0) and (-2, 1, -1): signs
    np.testing.assert_array_equal(ga.numpy()[0], [-1.0, 1.0, -1.0])
    _, (ga, _) = _cdist_grads(math.inf)
    # the largest |u| of (-2, 1, -1) is the first
    np.testing.assert_array_equal(ga.numpy()[0], [-1.0, 0.0, 0.0])


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf])
def test_cdist_zero_distance_against_pytorch(p, torch):
    d, (ga, gb) = _cdist_grads(p)
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in _ZERO_ROWS)
    td = torch.cdist(ta, tb, p)
    tga, tgb = torch.autograd.grad(td.sum(), [ta, tb])
    np.testing.assert_allclose(d.numpy(), td.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ga.numpy(), tga.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb.numpy(), tgb.numpy(), rtol=1e-12, atol=1e-15)


def test_cdist_hessian_is_finite_at_a_zero_distance():
    a, b = (f64(v) for v in _ZERO_ROWS)
    (ga,) = ad.grad(ad.cdist(a, b).sum(), a, create_graph=True)
    (h,) = ad.grad((ga * ga).sum(), a)
    assert np.isfinite(h.numpy()).all()


@pytest.mark.parametrize("ord", [2, 3, 1.5, 0.5, 1, math.inf, -1, 0])
def test_vector_norm_gradient_at_zero_is_zero(ord):
    z = f64(np.zeros(4))
    (g,) = ad.grad(ad.linalg.vector_norm(z, ord), z)
    np.testing.assert_array_equal(g.numpy(), np.zeros(4))


@pytest.mark.parametrize("ord", [0.5, -1.0])
def test_vector_norm_below_one_with_a_zero_entry(ord):
    """sum |x|^p with p < 1: the zero entry gets gradient 0 (PyTorch's), the others the closed
    form |x_i|^(p-1) sign(x_i) ||x||^(1-p)."""
    x = np.array([0.0, 1.0, -2.0])
    t = f64(x)
    n = ad.linalg.vector_norm(t, ord)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = (np.abs(x) ** ord).sum() ** (1 / ord)
        want = np.where(x != 0, np.sign(x) * np.abs(x) ** (ord - 1) * norm ** (1 - ord), 0.0)
    np.testing.assert_allclose(n.item(), norm, rtol=1e-13)
    np.testing.assert_allclose(ad.grad(n, t)[0].numpy(), want, rtol=1e-13)


def test_matrix_norm_needing_singular_values_says_so():
    for o in ("nuc", 2, -2):
        with pytest.raises(NotImplementedError, match="singular values"):
            ad.linalg.matrix_norm(ad.ones(2, 2), o)


# ----------------------------------------------------------------------------- masks keep inf out
def test_tril_triu_diag_embed_select_rather_than_multiply():
    x = f64([[1.0, math.inf], [2.0, 3.0]])
    lo = ad.tril(x)
    np.testing.assert_array_equal(lo.numpy(), [[1.0, 0.0], [2.0, 3.0]])
    (g,) = ad.grad(lo.sum(), x)
    np.testing.assert_array_equal(g.numpy(), [[1.0, 0.0], [1.0, 1.0]])
    v = f64([math.inf, 1.0])
    e = ad.diag_embed(v, 1)
    assert np.isinf(e.numpy()[0, 1]) and np.count_nonzero(np.isnan(e.numpy())) == 0


# ----------------------------------------------------------------------------- meshgrid
def test_meshgrid_default_is_ij_with_pytorchs_warning():
    a, b = ad.arange(2), ad.arange(3)
    with pytest.warns(UserWarning, match="indexing"):
        gi = ad.meshgrid(a, b)
    assert gi[0].shape == (2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gx = ad.meshgrid(a, b, indexing="xy")
    assert gx[0].shape == (3, 2)
    np.testing.assert_array_equal(gx[0].numpy(), np.meshgrid([0, 1], [0, 1, 2])[0])
    with pytest.raises(ValueError, match="indexing"):
        ad.meshgrid(a, b, indexing="yx")
    with pytest.raises(ValueError, match="0-d or 1-d"):
        ad.meshgrid(ad.ones(2, 2), indexing="ij")


def test_meshgrid_of_zero_d_tensors():
    g = ad.meshgrid(ad.tensor(1.0), ad.tensor([2.0, 3.0]), indexing="ij")
    assert [t.shape for t in g] == [(1, 2), (1, 2)]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("mode, pad, match", [
    ("reflect", (0, 5), "smaller than"),
    ("reflect", (-3, -2), "leave nothing"),
    ("replicate", (-5, 0), "leave nothing"),
    ("circular", (-3, 3), "more than once"),
    ("circular", (6, 0), "more than once"),
    ("constant", (-6, 0), "crop more"),
])
def test_pad_errors(mode, pad, match):
    with pytest.raises(ValueError, match=match):
        F.pad(ad.ones(1, 1, 5), pad, mode=mode)


def test_pad_errors_are_errors_in_pytorch_too(torch):
    x = torch.ones(1, 1, 5)
    for mode, pad in [("reflect", (0, 5)), ("reflect", (-3, -2)), ("replicate", (-5, 0)),
                      ("circular", (-3, 3)), ("circular", (6, 0)), ("constant", (-6, 0))]:
        with pytest.raises(RuntimeError):
            torch.nn.functional.pad(x, pad, mode=mode)


def test_pad_value_only_in_constant_mode():
    with pytest.raises(ValueError, match="does not take a value"):
        F.pad(ad.ones(1, 2, 3), (1, 1), mode="reflect", value=1.0)
    assert F.pad(ad.ones(1, 2, 3), (1, 1), mode="reflect", value=0.0).shape == (1, 2, 5)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ad.einsum("i...j...", ad.ones(2, 2)), ValueError, "one ellipsis"),
    (lambda: ad.einsum("ijk", ad.ones(2, 2)), ValueError, "do not match"),
    (lambda: ad.einsum("i...jk", ad.ones(2)), ValueError, "more dims"),
    (lambda: ad.einsum("i1", ad.ones(2, 2)), ValueError, "only letters"),
    (lambda: ad.einsum("ij,jk", [ad.ones(2, 3)]), ValueError, "2 operands"),
    (lambda: ad.einsum(ad.ones(2), [60]), ValueError, "sublist"),
    (lambda: ad.ones(5).unfold(0, 6, 1), ValueError, "size 6"),
    (lambda: ad.ones(5).unfold(0, 2, 0), ValueError, "step"),
    (lambda: ad.roll(ad.ones(2, 2), (1, 2)), ValueError, "one int"),
    (lambda: ad.roll(ad.ones(2, 2), (1, 2), 0), ValueError, "same length"),
    (lambda: ad.roll(ad.ones(2, 2), 1, 2), IndexError, "out of range"),
    (lambda: ad.rot90(ad.ones(2, 2), 1, (0, 0)), ValueError, "different dims"),
    (lambda: ad.ones(3, 1).expand(-1, 3, 4), ValueError, "leading"),
    (lambda: ad.outer(ad.ones(2, 2), ad.ones(2)), ValueError, "1-d"),
    (lambda: ad.tensor_split(ad.ones(4), 0), ValueError, "positive"),
    (lambda: ad.unflatten(ad.ones(2, 6), 1, (4, -1)), ValueError, "multiply up"),
    (lambda: ad.unflatten(ad.ones(2, 6), 1, (-1, -1)), ValueError, "multiply up"),
    (lambda: ad.diag(ad.ones(2, 2, 2)), ValueError, "1-d or 2-d"),
    (lambda: ad.trace(ad.ones(2)), ValueError, "2-d"),
    (lambda: ad.diag_embed(ad.ones(2), 0, 0, -2), ValueError, "differ"),
    (lambda: ad.movedim(ad.ones(2, 3), (0, 1), 0), ValueError, "same number"),
    (lambda: ad.movedim(ad.ones(2, 3), 2, 0), IndexError, "out of range"),
    (lambda: ad.cross(ad.ones(2, 3), ad.ones(2, 3), dim=0), ValueError, "size 3"),
    (lambda: ad.tensordot(ad.ones(2, 3), ad.ones(2, 3), 1), ValueError, "do not match"),
    (lambda: ad.cdist(ad.ones(2, 3), ad.ones(2, 4)), ValueError, "same M"),
    (lambda: ad.cdist(ad.ones(2, 3), ad.ones(2, 3), -1.0), ValueError, "non-negative"),
    (lambda: ad.block_diag(ad.ones(1, 1, 1)), ValueError, "at most 2"),
    (lambda: ad.hstack([]), ValueError, "at least one"),
])
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_cross_without_dim_warns_and_takes_the_first_size_3_dim():
    a, b = np.random.default_rng(0).standard_normal((2, 3, 3))
    with pytest.warns(UserWarning, match="dim"):
        c = ad.cross(ad.tensor(a), ad.tensor(b))
    np.testing.assert_allclose(c.numpy(), np.cross(a, b, axis=0), rtol=1e-6)


def test_unfold_of_a_zero_d_tensor():
    assert ad.tensor(2.0).unfold(0, 1, 1).tolist() == [2.0]
