"""conv2d / conv1d / unfold / fold and the im2col kernels: values against a direct nested-loop
definition in float64, first and second derivatives by central differences, PyTorch as oracle."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff.backends import im2col as K
from autodiff.nn import functional as F
from ref_conv import conv2d_direct, conv2d_direct_vjp, conv2d_shifted, fold_direct, unfold_direct


def _t(a, grad=False):
    return ad.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


CASES = [  # (N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias)
    (2, 3, 5, 6, 4, 3, 3, 1, 0, 1, 1, True),
    (2, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, False),
    (1, 2, 7, 7, 3, 3, 3, 2, 1, 1, 1, True),
    (2, 4, 6, 5, 6, 2, 3, (2, 1), (1, 0), 1, 2, True),
    (1, 4, 8, 8, 4, 3, 3, 1, 2, 2, 4, False),          # depthwise, dilated
    (2, 6, 7, 6, 3, 3, 2, (1, 2), (0, 1), (2, 1), 3, True),
    (1, 2, 5, 5, 2, 1, 1, 1, 0, 1, 1, True),          # 1x1
    (1, 3, 6, 6, 2, 5, 5, 1, 2, 1, 1, False),         # MNIST-like 5x5 'same'
    (2, 2, 5, 7, 4, 3, 3, 3, 1, 1, 2, True),
    (1, 1, 4, 4, 1, 4, 4, 1, 0, 1, 1, True),          # kernel = image
]


def _norm(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_direct_definition(case):
    N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // groups, kh, kw))
    b = rng.standard_normal(O) if bias else None
    got = F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding, dilation, groups)
    ph, pw = _norm(padding)
    ref = conv2d_direct(x, w, b, _norm(stride), ((ph, ph), (pw, pw)), _norm(dilation), groups)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kh,kw,dilation", [(3, 3, 1), (2, 2, 1), (4, 3, 1), (2, 3, 2)])
def test_conv2d_same_and_valid_padding(kh, kw, dilation):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((3, 2, kh, kw))
    got = F.conv2d(_t(x), _t(w), padding="same", dilation=dilation)
    assert got.shape == (1, 3, 6, 5)
    pads = []
    for k in (kh, kw):
        total = dilation * (k - 1)
        pads.append((total // 2, total - total // 2))   # extra at the bottom/right (PyTorch)
    ref = conv2d_direct(x, w, None, (1, 1), tuple(pads), (dilation, dilation))
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-12)
    valid = F.conv2d(_t(x), _t(w), padding="valid", dilation=dilation)
    np.testing.assert_allclose(valid.numpy(), conv2d_direct(x, w, dilation=(dilation,) * 2),
                               atol=1e-12)


@pytest.mark.parametrize("case", CASES[:6] + [CASES[8]])
def test_conv2d_gradcheck(case):
    N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(3)
    x = _t(rng.standard_normal((1, C, min(H, 5), min(W, 5))), True)
    w = _t(rng.standard_normal((O, C // groups, kh, kw)), True)
    b = _t(rng.standard_normal(O), True)
    assert ad.gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_ if bias else None, stride,
                                                    padding, dilation, groups), (x, w, b))


@pytest.mark.parametrize("case", [c for c in CASES if c[10] == 1])
def test_conv2d_blocked_route_with_ragged_chunks(case, monkeypatch, backend):
    """The cache-blocked route (batch cut into chunks of 2 images, the last one short) against
    the definition (values) and finite differences (gradients of input, weight and bias)."""
    if backend != "numpy":
        pytest.skip("the blocked route is the CPU's")
    from autodiff.backends import conv_blocked as CB
    if not CB.HAVE_NUMBA:
        pytest.skip("the blocked route needs numba")
    _, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias = case
    N = 5
    (sh, sw), (ph, pw), (dh, dw) = _norm(stride), _norm(padding), _norm(dilation)
    L = (K.conv_output_size(H, kh, sh, ph, ph, dh) * K.conv_output_size(W, kw, sw, pw, pw, dw))
    monkeypatch.setattr(CB, "CHUNK_BYTES", 2 * C * kh * kw * L * 8)
    assert CB.chunk_images(C * kh * kw, L, 8) == 2
    calls = []
    for name in ("conv_forward", "conv_backward"):
        fn = getattr(CB, name)
        monkeypatch.setattr(CB, name,
                            lambda *a, _f=fn, _n=name, **k: calls.append(_n) or _f(*a, **k))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, kh, kw))
    b = rng.standard_normal(O) if bias else None
    got = F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride, padding, dilation)
    ref = conv2d_direct(x, w, b, (sh, sw), ((ph, ph), (pw, pw)), (dh, dw))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    xs = _t(x, True)
    ws, bs = _t(w, True), _t(rng.standard_normal(O), True)
    assert ad.gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_ if bias else None, stride,
                                                    padding, dilation), (xs, ws, bs))
    assert "conv_forward" in calls and "conv_backward" in calls


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 1, 1, 2),
                                                            (1, 0, 2, 1)])
def test_conv2d_gradgradcheck(stride, padding, dilation, groups):
    rng = np.random.default_rng(4)
    x = _t(rng.standard_normal((1, 2, 4, 4)), True)
    w = _t(rng.standard_normal((2, 2 // groups, 2, 2)), True)
    b = _t(rng.standard_normal(2), True)
    assert ad.gradgradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation,
                                                        groups), (x, w, b))


def test_conv2d_hessian_vector_product_through_relu_net():
    """Double backward through conv -> tanh -> conv (the input/weight cross terms)."""
    rng = np.random.default_rng(5)
    x = _t(rng.standard_normal((1, 1, 4, 4)), True)
    w1 = _t(rng.standard_normal((2, 1, 2, 2)), True)
    w2 = _t(rng.standard_normal((1, 2, 2, 2)), True)
    assert ad.gradgradcheck(lambda a, b, c: F.conv2d(ad.tanh(F.conv2d(a, b, padding=1)), c),
                            (x, w1, w2))


def test_conv2d_unbatched_and_float32():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    y = F.conv2d(ad.tensor(x), ad.tensor(w), padding=1)
    assert y.shape == (3, 5, 5) and y.dtype == np.float32
    ref = conv2d_direct(x[None].astype(np.float64), w.astype(np.float64),
                        padding=((1, 1), (1, 1)))[0]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_conv2d_errors_name_the_shapes():
    x = ad.zeros((2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"conv2d.*\(2, 3, 8, 8\).*3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(x, ad.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: groups=2 .*input channels \(3"):
        F.conv2d(x, ad.zeros((4, 1, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="conv2d: bias"):
        F.conv2d(x, ad.zeros((4, 3, 3, 3)), ad.zeros(5))
    with pytest.raises(ValueError, match="conv2d.*'same'"):
        F.conv2d(x, ad.zeros((4, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match="conv2d: kernel"):
        F.conv2d(ad.zeros((1, 3, 2, 2)), ad.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="conv2d: weight must be 4-D"):
        F.conv2d(x, ad.zeros((4, 3, 3)))


def test_conv1d_matches_conv2d_definition():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((6, 2, 3))
    b = rng.standard_normal(6)
    got = F.conv1d(_t(x), _t(w), _t(b), stride=2, padding=1, dilation=1, groups=2)
    ref = conv2d_direct(x[:, :, None], w[:, :, None], b, (1, 2), ((0, 0), (1, 1)), (1, 1), 2)
    np.testing.assert_allclose(got.numpy(), ref[:, :, 0], atol=1e-12)


# ----------------------------------------------------------------------------- kernels
GEOMS = [(3, 3, 1, 1, 1), (3, 2, 2, (1, 0), (2, 1)), (2, 3, (2, 1), ((1, 2), (0, 1)), 1),
         (1, 1, 1, 0, 1), (5, 5, 1, 2, 1)]


@pytest.mark.parametrize("geom", GEOMS)
def test_im2col_definition_and_col2im_adjoint(geom):
    kh, kw, s, p, d = geom
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 6))
    cols = K.im2col_numpy(x, kh, kw, s, p, d)
    sh, sw = (s, s) if isinstance(s, int) else s
    dh, dw = (d, d) if isinstance(d, int) else d
    pt, pb, pl, pr = K.normalize_padding(p)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    OH = K.conv_output_size(7, kh, sh, pt, pb, dh)
    OW = K.conv_output_size(6, kw, sw, pl, pr, dw)
    assert cols.shape == (2, 3 * kh * kw, OH * OW)
    for c, i, j in itertools.product(range(3), range(kh), range(kw)):
        row = xp[:, c, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]
        np.testing.assert_array_equal(cols[:, (c * kh + i) * kw + j], row.reshape(2, -1))
    g = rng.standard_normal(cols.shape)
    back = K.col2im_numpy(g, x.shape, kh, kw, s, p, d)
    np.testing.assert_allclose((cols * g).sum(), (x * back).sum(), rtol=1e-12)


@pytest.mark.skipif(not K.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_kernels_match_numpy(geom, dtype):
    kh, kw, s, p, d = geom
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    a = K.im2col_numpy(x, kh, kw, s, p, d, pad_value=-np.inf)
    b = K.im2col_numba(x, kh, kw, s, p, d, pad_value=-np.inf)
    np.testing.assert_array_equal(a, b)
    g = rng.standard_normal(a.shape).astype(dtype)
    np.testing.assert_allclose(K.col2im_numba(g, x.shape, kh, kw, s, p, d),
                               K.col2im_numpy(g, x.shape, kh, kw, s, p, d), rtol=1e-5, atol=1e-5)


def test_unfold_fold_gradcheck():
    rng = np.random.default_rng(10)
    x = _t(rng.standard_normal((1, 2, 4, 4)), True)
    assert ad.gradgradcheck(lambda a: F.unfold(a, (2, 3), dilation=1, padding=1, stride=(2, 1)),
                            (x,))
    c = _t(rng.standard_normal((1, 8, 9)), True)
    assert ad.gradgradcheck(lambda a: F.fold(a, (4, 4), 2, padding=1, stride=2), (c,))


# ----------------------------------------------------------------------------- oracle cases
def _oracle_inputs(case):
    """The inputs of the PyTorch comparison: x, w, b and the upstream gradient g."""
    N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // groups, kh, kw))
    b = rng.standard_normal(O)
    (sh, sw), (ph, pw), (dh, dw) = _norm(stride), _norm(padding), _norm(dilation)
    OH = K.conv_output_size(H, kh, sh, ph, ph, dh)
    OW = K.conv_output_size(W, kw, sw, pw, pw, dw)
    return x, w, b, rng.standard_normal((N, O, OH, OW))


def _engine_conv(case, x, w, b, g):
    """Output and gradients of (x, w, b) for the upstream gradient g."""
    stride, padding, dilation, groups, bias = case[7:]
    X, Wt, B = _t(x, True), _t(w, True), _t(b, True)
    y = F.conv2d(X, Wt, B if bias else None, stride, padding, dilation, groups)
    (y * _t(g)).sum().backward()
    return y.numpy(), X.grad.numpy(), Wt.grad.numpy(), B.grad.numpy() if bias else None


@pytest.mark.parametrize("case", CASES[:6])
def test_conv2d_values_and_vjp_against_definition(case):
    """The PyTorch comparison's cases and inputs, against the loop definition and its
    vector-Jacobian product (ref_conv)."""
    stride, padding, dilation, groups, bias = case[7:]
    x, w, b, g = _oracle_inputs(case)
    y, gx, gw, gb = _engine_conv(case, x, w, b, g)
    ph, pw = _norm(padding)
    geom = (_norm(stride), ((ph, ph), (pw, pw)), _norm(dilation), groups)
    np.testing.assert_allclose(y, conv2d_direct(x, w, b if bias else None, *geom), atol=1e-10)
    rx, rw, rb = conv2d_direct_vjp(x, w, g, *geom)
    np.testing.assert_allclose(gx, rx, atol=1e-10)
    np.testing.assert_allclose(gw, rw, atol=1e-10)
    if bias:
        np.testing.assert_allclose(gb, rb, atol=1e-10)
    # the vectorised reference (used for whole networks) is the same function
    np.testing.assert_allclose(conv2d_shifted(x, w, b, *geom), conv2d_direct(x, w, b, *geom),
                               atol=1e-12)


UNFOLD_ORACLE = dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 1), stride=(2, 1))


def test_unfold_fold_against_definition():
    """unfold/fold with the PyTorch comparison's geometry against the loop definitions in
    PyTorch's column layout; each one's gradient is the other's definition (adjoints);
    finite differences."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 6, 5))
    X = _t(x, True)
    u = F.unfold(X, **UNFOLD_ORACLE)
    np.testing.assert_array_equal(u.numpy(), unfold_direct(x, **UNFOLD_ORACLE))
    c = rng.standard_normal(tuple(u.shape))
    C = _t(c, True)
    f = F.fold(C, (6, 5), **UNFOLD_ORACLE)
    np.testing.assert_allclose(f.numpy(), fold_direct(c, (6, 5), **UNFOLD_ORACLE), atol=1e-12)
    u.backward(_t(c))
    np.testing.assert_allclose(X.grad.numpy(), fold_direct(c, (6, 5), **UNFOLD_ORACLE),
                               atol=1e-12)
    f.backward(_t(x))
    np.testing.assert_array_equal(C.grad.numpy(), unfold_direct(x, **UNFOLD_ORACLE))
    small = _t(x[:1, :2], True)
    assert ad.gradcheck(lambda a: F.unfold(a, **UNFOLD_ORACLE), (small,))
    assert ad.gradcheck(lambda a: F.fold(a, (6, 5), **UNFOLD_ORACLE), (_t(c[:1, :12], True),))


# ----------------------------------------------------------------------------- PyTorch oracle
@pytest.mark.parametrize("case", CASES[:6])
def test_conv2d_against_torch(case, torch):
    stride, padding, dilation, groups, bias = case[7:]
    x, w, b, g = _oracle_inputs(case)
    y, gx, gw, gb = _engine_conv(case, x, w, b, g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb if bias else None, stride, padding, dilation,
                                    groups)
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(gx, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(gw, tw.grad.numpy(), atol=1e-10)
    if bias:
        np.testing.assert_allclose(gb, tb.grad.numpy(), atol=1e-10)


def test_unfold_fold_against_torch(torch):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 6, 5))
    u = F.unfold(_t(x), **UNFOLD_ORACLE)
    tu = torch.nn.functional.unfold(torch.tensor(x), **UNFOLD_ORACLE)
    np.testing.assert_allclose(u.numpy(), tu.numpy())
    c = rng.standard_normal(tuple(tu.shape))
    f = F.fold(_t(c), (6, 5), **UNFOLD_ORACLE)
    tf = torch.nn.functional.fold(torch.tensor(c), (6, 5), **UNFOLD_ORACLE)
    np.testing.assert_allclose(f.numpy(), tf.numpy(), atol=1e-12)
