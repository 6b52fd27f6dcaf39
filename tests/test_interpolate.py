"""F.interpolate and nn.Upsample: values and vector-Jacobian products against the per-axis
interpolation matrices of ``tests/ref_resample.py`` (built from the definitions), derivatives
of first and second order by central differences, the argument errors, the modules' reprs,
and PyTorch (float64 and float32) as a second oracle."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from ref_resample import apply, matrix, vjp

pytestmark = pytest.mark.usefixtures("backend")

_REF_MODE = {"nearest": "nearest", "nearest-exact": "nearest-exact", "linear": "linear",
             "bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}
_NDIM = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def _t(a, grad=False, dtype=np.float64):
    return ad.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


def _cases():
    """(mode, input spatial, output sizes, align_corners, scale factors or None)."""
    out = []
    for mode in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"):
        for nd in ([_NDIM[mode]] if mode in _NDIM else [1, 2, 3]):
            spatial = (4, 3, 5)[:nd]
            for sizes in ((7, 2, 5)[:nd], (1, 6, 10)[:nd], (8, 6, 2)[:nd]):
                for ac in ((False, True) if mode in _NDIM else (None,)):
                    out.append((mode, spatial, sizes, ac, None))
            # scale factors whose reciprocals are exact in float32 (no rounding question)
            for sf in (2.0, 0.5, 2.5):
                sizes = tuple(int(n * sf) for n in spatial)
                if min(sizes) > 0:
                    out.append((mode, spatial, sizes, False if mode in _NDIM else None,
                                (sf,) * nd))
    return out


@pytest.mark.parametrize("mode,spatial,sizes,ac,sf", _cases(), ids=str)
def test_values_and_vjp_against_interpolation_matrices(mode, spatial, sizes, ac, sf):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3) + spatial)
    mats = [matrix(_REF_MODE[mode], n, o, bool(ac), None if sf is None else s)
            for n, o, s in zip(spatial, sizes, sf or (None,) * len(spatial))]
    X = _t(x, True)
    kw = dict(size=sizes) if sf is None else dict(scale_factor=sf)
    y = F.interpolate(X, mode=mode, align_corners=ac, **kw)
    np.testing.assert_allclose(y.numpy(), apply(x, mats), atol=1e-12)
    g = r.standard_normal(y.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), vjp(g, mats), atol=1e-12)


@pytest.mark.parametrize("mode,kw", [
    ("nearest", dict(size=(5, 3))), ("bilinear", dict(scale_factor=1.5)),
    ("bicubic", dict(size=(4, 2), align_corners=True)), ("trilinear", dict(size=(3, 2, 3))),
    ("area", dict(size=(2, 3)))])
def test_first_and_second_derivatives(mode, kw):
    """Through a square, so the second derivative (2 M^T diag(g) M) is not zero."""
    nd = 3 if mode == "trilinear" else 2
    x = _t(np.random.default_rng(1).standard_normal((1, 2) + (3, 4, 2)[:nd]), True)
    f = lambda a: F.interpolate(a, mode=mode, **kw) ** 2  # noqa: E731
    assert ad.gradcheck(f, (x,))
    assert ad.gradgradcheck(f, (x,))


def test_recompute_scale_factor_and_special_nearest_sizes():
    x = np.random.default_rng(2).standard_normal((1, 1, 3))
    # with the scale factor 1/2.5 is the step; recomputed, in/out = 3/7
    a = F.interpolate(_t(x), scale_factor=2.5, mode="linear").numpy()
    b = F.interpolate(_t(x), scale_factor=2.5, mode="linear", recompute_scale_factor=True)
    np.testing.assert_allclose(a, apply(x, [matrix("linear", 3, 7, False, 2.5)]), atol=1e-12)
    np.testing.assert_allclose(b.numpy(), apply(x, [matrix("linear", 3, 7)]), atol=1e-12)
    assert not np.allclose(a, b.numpy())
    # nearest keeps the size exactly and doubles by repeating
    np.testing.assert_array_equal(F.interpolate(_t(x), size=3).numpy(), x)
    np.testing.assert_array_equal(F.interpolate(_t(x), size=6).numpy(), np.repeat(x, 2, -1))


def test_dtype_preserved_and_integer_input_in_nearest_modes():
    x = _t(np.random.default_rng(3).standard_normal((1, 2, 3, 3)), dtype=np.float32)
    for mode in ("nearest", "bilinear", "bicubic", "area"):
        y = F.interpolate(x, size=(5, 4), mode=mode)
        assert y.dtype == np.float32 and y.shape == (1, 2, 5, 4)
    img = np.arange(6, dtype=np.uint8).reshape(1, 1, 2, 3)          # an image, as PyTorch
    y = F.interpolate(ad.tensor(img), scale_factor=2)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y.numpy(), img.repeat(2, 2).repeat(2, 3))
    with pytest.raises(NotImplementedError, match="mode 'bilinear' on input of dtype uint8"):
        F.interpolate(ad.tensor(img), scale_factor=2, mode="bilinear")


def test_argument_errors():
    x = ad.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="align_corners option can only be set with the "
                                         "interpolating modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(NotImplementedError, match="got 4-D input, but linear mode needs 3-D"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(NotImplementedError, match="got 3-D input, but trilinear mode needs 5-D"):
        F.interpolate(ad.zeros((1, 2, 4)), size=3, mode="trilinear")
    with pytest.raises(NotImplementedError, match="mode 'lanczos' is not implemented"):
        F.interpolate(x, size=3, mode="lanczos")
    with pytest.raises(NotImplementedError, match="antialias=True is not implemented"):
        F.interpolate(x, size=3, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="sizes should be greater than 0"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(NotImplementedError, match="only 3-D, 4-D and 5-D input"):
        F.interpolate(ad.zeros((2, 3)), size=3)


def test_upsample_modules_reprs_and_attributes():
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(3, 4), mode="bilinear", align_corners=True)) == \
        "Upsample(size=(3, 4), mode='bilinear')"
    assert repr(nn.Upsample(scale_factor=(2, 3.5), mode="bicubic")) == \
        "Upsample(scale_factor=(2.0, 3.5), mode='bicubic')"
    assert repr(nn.UpsamplingNearest2d(scale_factor=2)) == \
        "UpsamplingNearest2d(scale_factor=2.0, mode='nearest')"
    m = nn.UpsamplingBilinear2d(size=5)
    assert repr(m) == "UpsamplingBilinear2d(size=5, mode='bilinear')" and m.align_corners
    x = np.random.default_rng(4).standard_normal((1, 1, 2, 3))
    np.testing.assert_allclose(m(_t(x)).numpy(), apply(x, [matrix("linear", 2, 5, True),
                                                           matrix("linear", 3, 5, True)]),
                               atol=1e-12)


# ----------------------------------------------------------------------------- PyTorch
def _torch_cases():
    out = []
    for mode, nd in [("nearest", 1), ("nearest", 2), ("nearest-exact", 2), ("linear", 1),
                     ("bilinear", 2), ("bicubic", 2), ("trilinear", 3), ("area", 2)]:
        for n_in, (kind, v) in itertools.product((3, 7), [("size", 5), ("size", 12),
                                                         ("scale_factor", 1.7),
                                                         ("scale_factor", 0.6)]):
            for ac in ((False, True) if mode in _NDIM else (None,)):
                kw = {kind: v, "mode": mode, "align_corners": ac}
                out.append(((2, 2) + (n_in, n_in + 1, 2)[:nd], kw))
    return out


def test_against_torch(torch):
    """Values in float64 and float32 (float32 arithmetic of PyTorch's index formulas) and
    gradients in float64, over every mode with sizes and scale factors."""
    r = np.random.default_rng(5)
    for shape, kw in _torch_cases():
        x = r.standard_normal(shape)
        X, TX = _t(x, True), torch.tensor(x, requires_grad=True)
        y, ty = F.interpolate(X, **kw), torch.nn.functional.interpolate(TX, **kw)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12, err_msg=str(kw))
        g = r.standard_normal(y.shape)
        y.backward(_t(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), atol=1e-12, err_msg=str(kw))
        y32 = F.interpolate(_t(x, dtype=np.float32), **kw)
        ty32 = torch.nn.functional.interpolate(torch.tensor(x, dtype=torch.float32), **kw)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32.numpy(), ty32.numpy(), atol=1e-5, err_msg=str(kw))
