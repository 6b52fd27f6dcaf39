"""conv1d/conv3d, the transposed convolutions, pooling in 1-3 dims, adaptive pooling and
max-unpooling: values against the loop definitions of ``tests/ref_conv.py``, the adjoint
identity between a convolution and its transpose, derivatives by central differences (first
and second order), the nn modules (PyTorch's parameter shapes, init bounds, reprs, state
dicts, ``output_size``), the errors, and PyTorch as a second oracle."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from ref_conv import (adaptive_pool_direct, avg_pool_direct, conv_nd_direct,
                      conv_transpose_nd_direct, max_pool_direct, max_unpool_direct)

pytestmark = pytest.mark.usefixtures("backend")


def _t(a, grad=False, dtype=np.float64):
    return ad.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- convolution
# (spatial, C, O, kernel, stride, padding, dilation, groups, output_padding)
CONV = [
    ((7,), 2, 4, (3,), (1,), (0,), (1,), 1, (0,)),
    ((8,), 4, 6, (2,), (3,), (1,), (2,), 2, (2,)),
    ((4, 5), 3, 2, (2, 3), (2, 1), (1, 0), (1, 2), 1, (1, 0)),
    ((3, 4, 5), 2, 4, (2, 2, 3), (1, 2, 1), (1, 0, 1), (2, 1, 1), 2, (0, 1, 0)),
    ((4, 3, 3), 3, 3, (3, 1, 2), (2, 1, 2), (0, 0, 1), (1, 1, 1), 3, (1, 0, 1)),
    ((2, 2, 2), 1, 2, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1, (0, 0, 0)),
]


def _fn(nd, transposed=False):
    return getattr(F, f"conv{'_transpose' if transposed else ''}{nd}d")


@pytest.mark.parametrize("case", CONV, ids=lambda c: f"{len(c[0])}d-{c[1:]}")
def test_conv_matches_definition(case):
    spatial, C, O, k, s, p, d, g, _ = case
    r = _rng(1)
    x, w, b = r.standard_normal((2, C) + spatial), r.standard_normal((O, C // g) + k), \
        r.standard_normal(O)
    y = _fn(len(spatial))(_t(x), _t(w), _t(b), s, p, d, g)
    np.testing.assert_allclose(y.numpy(), conv_nd_direct(x, w, b, s, p, d, g), atol=1e-12)


@pytest.mark.parametrize("case", CONV, ids=lambda c: f"{len(c[0])}d-{c[1:]}")
def test_conv_transpose_matches_definition_and_is_the_adjoint(case):
    """conv_transpose against its scatter definition, and <conv_transpose(x, w), y> =
    <x, conv(y, w)>: the transposed convolution is the adjoint of the convolution (with the
    weight read as (in, out/groups, k)) for every output_padding."""
    spatial, C, O, k, s, p, d, g, op = case
    r = _rng(2)
    x, w, b = r.standard_normal((2, C) + spatial), r.standard_normal((C, O // g) + k), \
        r.standard_normal(O)
    y = _fn(len(spatial), True)(_t(x), _t(w), _t(b), s, p, op, g, d)
    np.testing.assert_allclose(y.numpy(), conv_transpose_nd_direct(x, w, b, s, p, op, d, g),
                               atol=1e-12)
    z = r.standard_normal(y.shape)
    no_bias = y.numpy() - b.reshape((1, -1) + (1,) * len(spatial))
    back = conv_nd_direct(z, w, None, s, p, d, g)          # conv of the output-shaped z
    np.testing.assert_allclose((no_bias * z).sum(), (x * back).sum(), rtol=1e-10)


# (spatial, C, O, kernel, stride, padding, dilation, groups, output_padding): tiny, strided
SECOND_ORDER = [((3,), 2, 4, (2,), (2,), (1,), (1,), 2, (1,)),
                ((3, 2), 2, 2, (2, 2), (2, 1), (0, 1), (1, 1), 1, (1, 0)),
                ((2, 2, 2), 2, 2, (2, 1, 2), (2, 1, 1), (1, 0, 0), (1, 1, 1), 2, (1, 0, 0))]


@pytest.mark.parametrize("case", SECOND_ORDER, ids=lambda c: f"{len(c[0])}d")
@pytest.mark.parametrize("transposed", [False, True])
def test_first_and_second_derivatives(case, transposed):
    """Through tanh, so the second derivative in (x, w) is not zero."""
    spatial, C, O, k, s, p, d, g, op = case
    r = _rng(3)
    x = _t(r.standard_normal((1, C) + spatial) * 0.5, True)
    w = _t(r.standard_normal(((C, O // g) if transposed else (O, C // g)) + k) * 0.5, True)
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    if transposed:
        kw["output_padding"] = op
    f = _fn(len(spatial), transposed)
    assert ad.gradcheck(lambda a, b: ad.tanh(f(a, b, **kw)), (x, w))
    assert ad.gradgradcheck(lambda a, b: ad.tanh(f(a, b, **kw)), (x, w))


def test_hessian_vector_product_through_conv_transpose():
    """H v of L(w) = sum(conv_transpose2d(x, w)^2) / 2 (quadratic in w): H v = A^T A v, where
    A v = conv_transpose2d(x, v), and A^T is the weight-gradient of the convolution."""
    r = _rng(4)
    x = _t(r.standard_normal((1, 2, 3, 3)))
    w0, v = r.standard_normal((2, 3, 2, 2)), r.standard_normal((2, 3, 2, 2))
    kw = dict(stride=2, padding=1, output_padding=1)
    _, hv = ad.functional.hvp(lambda w: (F.conv_transpose2d(x, w, **kw) ** 2).sum() / 2,
                              _t(w0), _t(v))
    av = F.conv_transpose2d(x, _t(v), **kw).numpy()
    # A^T u: component i is <A e_i, u>, A e_i by the definition (linear in the weight)
    want = np.zeros_like(v)
    for idx in itertools.product(*[range(m) for m in v.shape]):
        e = np.zeros_like(v)
        e[idx] = 1.0
        want[idx] = (conv_transpose_nd_direct(x.numpy(), e, None, 2, 1, 1) * av).sum()
    np.testing.assert_allclose(hv.numpy(), want, rtol=1e-10)


def test_conv_float32_and_unbatched():
    r = _rng(5)
    x, w = r.standard_normal((2, 3, 4, 5)), r.standard_normal((2, 1, 2, 2, 3))
    y = F.conv3d(_t(x, dtype=np.float32), _t(w, dtype=np.float32), padding=(1, 0, 1), groups=2)
    assert y.dtype == np.float32 and y.shape == (2, 4, 3, 5)
    np.testing.assert_allclose(y.numpy(), conv_nd_direct(x[None], w, None, 1, (1, 0, 1), 1,
                                                         2)[0], rtol=1e-4, atol=1e-5)
    wt = r.standard_normal((2, 3, 3))
    y = F.conv_transpose1d(_t(x[:, 0, 0], dtype=np.float32), _t(wt, dtype=np.float32),
                           stride=2)
    assert y.dtype == np.float32 and y.shape == (3, 11)
    np.testing.assert_allclose(y.numpy(), conv_transpose_nd_direct(x[None, :, 0, 0], wt, None,
                                                                   2)[0], rtol=1e-4, atol=1e-5)


def test_conv_errors_name_the_op_and_shapes():
    x3 = ad.zeros((1, 2, 4, 4, 4))
    with pytest.raises(ValueError, match=r"conv3d: weight must be 5-D"):
        F.conv3d(x3, ad.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv3d: input of shape \(1, 2, 4, 4, 4\) has 2 "
                                         r"channels.*expects 3"):
        F.conv3d(x3, ad.zeros((2, 3, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"conv1d: expected a 2-D \(C, L\) or 3-D"):
        F.conv1d(x3, ad.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding \(2, 0\) must be "
                                         r"smaller than either the stride \(2, 2\)"):
        F.conv_transpose2d(ad.zeros((1, 2, 3, 3)), ad.zeros((2, 2, 3, 3)), stride=2,
                           output_padding=(2, 0))
    with pytest.raises(TypeError, match="conv_transpose1d: padding must be an int"):
        F.conv_transpose1d(ad.zeros((1, 2, 3)), ad.zeros((2, 2, 3)), padding="same")
    with pytest.raises(ValueError, match="conv_transpose3d: groups=2 must divide"):
        F.conv_transpose3d(ad.zeros((1, 3, 2, 2, 2)), ad.zeros((3, 1, 1, 1, 1)), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias must have shape \(6,\)"):
        F.conv_transpose2d(ad.zeros((1, 2, 3, 3)), ad.zeros((2, 3, 1, 1)), ad.zeros(3),
                           groups=2)
    with pytest.raises(RuntimeError, match="conv3d: input float32, weight float64"):
        F.conv3d(ad.zeros((1, 2, 2, 2, 2), dtype=ad.float32),
                 ad.zeros((1, 2, 1, 1, 1), dtype=ad.float64))
    with pytest.raises(ValueError, match=r"conv3d: padding='same' is not supported for strided"):
        F.conv3d(x3, ad.zeros((2, 2, 3, 3, 3)), stride=(1, 2, 1), padding="same")
    with pytest.raises(ValueError, match=r"conv_transpose1d: the output size \(-1,\)"):
        F.conv_transpose1d(ad.zeros((1, 2, 1)), ad.zeros((2, 2, 1)), padding=1)


# ----------------------------------------------------------------------------- modules
MODULES = [  # (class, args, kwargs, input shape)
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 9)),
    ("Conv3d", (2, 4, (2, 3, 1)), dict(padding="same", dilation=(2, 1, 1)), (1, 2, 4, 5, 3)),
    ("Conv3d", (2, 2, 3), dict(padding=1, padding_mode="replicate", bias=False),
     (1, 2, 3, 4, 3)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5)),
    ("ConvTranspose2d", (3, 2, (2, 3)), dict(stride=(2, 3), padding=(0, 1), dilation=2),
     (2, 3, 3, 4)),
    ("ConvTranspose3d", (2, 4, 2), dict(stride=2, output_padding=(1, 0, 1), bias=False),
     (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_parameters_init_and_forward(name, args, kwargs, shape):
    """PyTorch's parameter shapes and init bound 1/sqrt(fan_in) (fan_in = weight.shape[1] *
    prod(kernel)), and forward = the functional form (the definition) with those weights."""
    ad.manual_seed(0)
    m = getattr(nn, name)(*args, **kwargs, dtype=ad.float64)
    transposed = "Transpose" in name
    cin, cout, k = args[0], args[1], m.kernel_size
    g = kwargs.get("groups", 1)
    want = ((cin, cout // g) if transposed else (cout, cin // g)) + k
    assert m.weight.shape == want
    bound = 1 / math.sqrt(want[1] * math.prod(k))
    w = m.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
    assert (m.bias is None) == (kwargs.get("bias", True) is False)
    if m.bias is not None:
        assert m.bias.shape == (cout,) and np.abs(m.bias.numpy()).max() <= bound
    x = _rng(6).standard_normal(shape)
    b = None if m.bias is None else m.bias.numpy()
    y = m(_t(x)).numpy()
    if transposed:
        ref = conv_transpose_nd_direct(x, w, b, m.stride, m.padding, m.output_padding,
                                       m.dilation, g)
    else:
        xin, pad = x, m.padding
        if m.padding_mode == "replicate":
            xin = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in m.padding), mode="edge")
            pad = 0
        if pad == "same":
            pad = tuple((dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2)
                        for kk, dd in zip(k, m.dilation))
        ref = conv_nd_direct(xin, w, b, m.stride, pad, m.dilation, g)
    np.testing.assert_allclose(y, ref, atol=1e-12)


@pytest.mark.parametrize("name,args,kwargs,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_loads_torch_state_dict(name, args, kwargs, shape, torch):
    tm = getattr(torch.nn, name)(*args, **kwargs).double()
    m = getattr(nn, name)(*args, **kwargs, dtype=ad.float64)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert sorted(sd) == sorted(k for k, _ in m.named_parameters())
    m.load_state_dict({k: ad.tensor(v) for k, v in sd.items()})
    x = _rng(7).standard_normal(shape)
    X, TX = _t(x, True), torch.tensor(x, requires_grad=True)
    y, ty = m(X), tm(TX)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
    g = _rng(8).standard_normal(y.shape)
    y.backward(_t(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), atol=1e-11)


def test_conv_transpose_output_size():
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=ad.float64)
    x = ad.randn(1, 2, 4, 4, dtype=ad.float64)
    assert m(x).shape == (1, 3, 9, 9)
    y = m(x, output_size=[10, 9])
    assert y.shape == (1, 3, 10, 9)
    ref = conv_transpose_nd_direct(x.numpy(), m.weight.numpy(), m.bias.numpy(), 2, 0, (1, 0))
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    assert m(x, output_size=(1, 3, 10, 10)).shape == (1, 3, 10, 10)
    assert m(x[0], output_size=(3, 9, 10)).shape == (3, 9, 10)            # unbatched
    with pytest.raises(ValueError, match=r"requested an output size of \[11, 11\], but valid "
                                         r"sizes range from \[9, 9\] to \[10, 10\]"):
        m(x, output_size=[11, 11])
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        m(x, output_size=[1, 10, 10])


def test_module_argument_errors():
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         'ConvTranspose2d'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="ConvTranspose1d: padding must be an int, a tuple"):
        nn.ConvTranspose1d(2, 2, 3, padding="same")
    with pytest.raises(ValueError, match="Conv3d: groups=2 must be positive and divide"):
        nn.Conv3d(3, 4, 1, groups=2)
    with pytest.raises(ValueError, match=r"Conv3d: kernel_size must be an int or a 3-tuple"):
        nn.Conv3d(3, 4, (1, 2))


REPRS = [  # PyTorch 2.x's text for each
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1),
     "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
     "output_padding=(1, 1))"),
    ("ConvTranspose1d", (4, 6, 3), {}, "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(1,))"),
    ("ConvTranspose3d", (2, 4, (1, 2, 3)), dict(groups=2, bias=False, dilation=2),
     "ConvTranspose3d(2, 4, kernel_size=(1, 2, 3), stride=(1, 1, 1), dilation=(2, 2, 2), "
     "groups=2, bias=False)"),
    ("Conv3d", (2, 4, 3), dict(padding="same"),
     "Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=same)"),
    ("Conv1d", (2, 4, 3), dict(padding_mode="reflect", padding=1),
     "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(1,), padding_mode=reflect)"),
    ("MaxPool3d", ((1, 2, 2),), dict(stride=(1, 2, 1), return_indices=True),
     "MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 1), padding=0, dilation=1, "
     "ceil_mode=False)"),
    ("AvgPool3d", (2,), {}, "AvgPool3d(kernel_size=2, stride=2, padding=0)"),
    ("AvgPool1d", (3, 2, 1, True, False), {}, "AvgPool1d(kernel_size=(3,), stride=(2,), "
                                             "padding=(1,))"),
    ("MaxUnpool2d", (2,), {}, "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"),
    ("MaxUnpool1d", (2,), dict(stride=1), "MaxUnpool1d(kernel_size=(2,), stride=(1,), "
                                          "padding=(0,))"),
    ("MaxUnpool3d", ((2, 1, 1),), dict(padding=1),
     "MaxUnpool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1), padding=(1, 1, 1))"),
    ("AdaptiveAvgPool1d", (3,), {}, "AdaptiveAvgPool1d(output_size=3)"),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, "AdaptiveAvgPool3d(output_size=(2, None, 3))"),
    ("AdaptiveMaxPool2d", (3,), dict(return_indices=True), "AdaptiveMaxPool2d(output_size=3)"),
    ("MaxPool1d", (3, 2, 1), dict(return_indices=True),
     "MaxPool1d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"),
]


@pytest.mark.parametrize("name,args,kwargs,text", REPRS, ids=[r[3] for r in REPRS])
def test_module_repr_is_pytorchs_text(name, args, kwargs, text):
    assert repr(getattr(nn, name)(*args, **kwargs)) == text


# ----------------------------------------------------------------------------- pooling
def _to_maxima(g, idx, shape):
    """Each window's gradient g added at its maximum's flat index: the max-pool VJP."""
    want = np.zeros(shape[:2] + (math.prod(shape[2:]),))
    for n, c in itertools.product(range(shape[0]), range(shape[1])):
        np.add.at(want[n, c], idx[n, c].reshape(-1), g[n, c].reshape(-1))
    return want.reshape(shape)


POOLS = [  # (spatial, kernel, stride, padding, dilation, ceil_mode)
    ((9,), 3, 2, 1, 1, True), ((8,), 2, None, 0, 3, False), ((7,), 3, 3, 1, 1, True),
    ((4, 5, 6), 2, 2, 1, 1, True), ((5, 4, 3), (3, 2, 1), (2, 1, 1), (1, 1, 0), (1, 2, 1), False),
    ((3, 3, 4), (2, 3, 2), 1, (1, 1, 1), 1, False), ((5, 5, 5), 3, 2, 0, 1, True),
]


@pytest.mark.parametrize("case", POOLS, ids=str)
def test_max_pool_values_indices_and_gradient(case):
    spatial, k, s, p, d, ceil = case
    nd = len(spatial)
    r = _rng(9)
    x = r.permutation(2 * 2 * math.prod(spatial)).reshape((2, 2) + spatial) * 0.01   # no ties
    X = _t(x, True)
    y, idx = getattr(F, f"max_pool{nd}d")(X, k, s, p, d, ceil, return_indices=True)
    val, ref_idx = max_pool_direct(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y.numpy(), val)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    g = r.standard_normal(val.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), _to_maxima(g, ref_idx, x.shape), atol=1e-12)


@pytest.mark.parametrize("case", POOLS, ids=str)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_pool_values_and_derivatives(case, cip):
    spatial, k, s, p, d, ceil = case
    nd = len(spatial)
    if d != 1:
        pytest.skip("average pooling has no dilation")
    r = _rng(10)
    x = r.standard_normal((1, 2) + spatial)
    f = getattr(F, f"avg_pool{nd}d")
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
    np.testing.assert_allclose(f(_t(x), **kw).numpy(),
                               avg_pool_direct(x, k, s, p, ceil, cip), atol=1e-12)
    if nd == 3:
        np.testing.assert_allclose(f(_t(x), **kw, divisor_override=3).numpy(),
                                   avg_pool_direct(x, k, s, p, ceil, cip, 3), atol=1e-12)
    small = _t(x[:, :1], True)
    assert ad.gradcheck(lambda a: f(a, **kw) ** 2, (small,))
    assert ad.gradgradcheck(lambda a: f(a, **kw) ** 2, (small,))


@pytest.mark.parametrize("spatial,out", [((7,), (3,)), ((5, 7), (3, 2)), ((6, 5), (4, 5)),
                                         ((3, 4, 5), (2, 3, 4)), ((4, 4, 2), (2, 2, 1))])
def test_adaptive_pools_match_windows(spatial, out):
    nd = len(spatial)
    r = _rng(11)
    x = r.permutation(2 * 2 * math.prod(spatial)).reshape((2, 2) + spatial) * 0.01
    avg = getattr(F, f"adaptive_avg_pool{nd}d")(_t(x), out)
    np.testing.assert_allclose(avg.numpy(), adaptive_pool_direct(x, out, "avg"), atol=1e-12)
    X = _t(x, True)
    y, idx = getattr(F, f"adaptive_max_pool{nd}d")(X, out, return_indices=True)
    val, ref_idx = adaptive_pool_direct(x, out, "max")
    np.testing.assert_array_equal(y.numpy(), val)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    g = r.standard_normal(val.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), _to_maxima(g, ref_idx, x.shape), atol=1e-12)
    # unbatched input, None keeps a size, and empty outputs stay on the graph (PyTorch)
    assert getattr(F, f"adaptive_avg_pool{nd}d")(_t(x[0]), (None,) * nd).shape == x[0].shape
    z = getattr(F, f"adaptive_max_pool{nd}d")(X, (0,) + out[1:])
    assert z.shape == (2, 2, 0) + out[1:] and z.requires_grad


def test_max_pool_ties_go_to_the_first_in_window_order():
    x = np.zeros((1, 1, 2, 2, 2))
    y, idx = F.max_pool3d(_t(x), 2, return_indices=True)
    assert idx.numpy().item() == 0
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]], [[3.0, 1.0], [0.0, 0.0]]]])[None]
    X = _t(x, True)
    y, idx = F.max_pool3d(X, 2, return_indices=True)
    assert idx.numpy().item() == 1                # (d, h, w) = (0, 0, 1): the first 3
    y.sum().backward()
    assert X.grad.numpy().reshape(-1).tolist() == [0, 1, 0, 0, 0, 0, 0, 0]


# ----------------------------------------------------------------------------- unpooling
@pytest.mark.parametrize("spatial,k,s,p", [((8,), 2, 2, 0), ((5, 6), 2, 2, 0),
                                           ((5, 5), 3, 2, 1), ((4, 2, 6), 2, 2, 0),
                                           ((3, 4, 4), (1, 2, 2), (1, 2, 2), 0)])
def test_max_unpool_inverts_max_pool(spatial, k, s, p):
    nd = len(spatial)
    r = _rng(12)
    x = r.permutation(2 * 3 * math.prod(spatial)).reshape((2, 3) + spatial) * 0.1
    y, idx = getattr(F, f"max_pool{nd}d")(_t(x), k, s, p, return_indices=True)
    V = _t(y.numpy(), True)
    u = getattr(F, f"max_unpool{nd}d")(V, idx, k, s, p, output_size=spatial)
    want = max_unpool_direct(y.numpy(), idx.numpy(), spatial)
    np.testing.assert_array_equal(u.numpy(), want)
    kept = want != 0                                # the maxima, in place; zeros elsewhere
    np.testing.assert_array_equal(want[kept], x[kept])
    g = r.standard_normal(u.shape)
    u.backward(_t(g))                              # the gradient reads g at the indices
    np.testing.assert_array_equal(
        V.grad.numpy(), np.take_along_axis(g.reshape(2, 3, -1), idx.numpy().reshape(2, 3, -1),
                                           axis=2).reshape(y.shape))


def test_max_unpool_repeated_indices_assign_once_and_gradients_read_back():
    """Overlapping windows can share a maximum: the value is written (not added) once, and
    each input reads the output's gradient at its index (PyTorch's max_unpool2d)."""
    x = np.array([[[[1.0, 9.0, 2.0], [0.0, 3.0, 1.0], [4.0, 2.0, 5.0]]]])
    y, idx = F.max_pool2d(_t(x), 2, 1, return_indices=True)
    assert idx.numpy().reshape(-1).tolist() == [1, 1, 6, 8]
    V = _t(y.numpy(), True)
    u = F.max_unpool2d(V, idx, 2, 1)
    np.testing.assert_array_equal(u.numpy(), [[[[0, 9, 0], [0, 0, 0], [4, 0, 5]]]])
    u.backward(_t(np.arange(9.0).reshape(1, 1, 3, 3)))
    np.testing.assert_array_equal(V.grad.numpy().reshape(-1), [1, 1, 6, 8])


def test_max_unpool_errors(backend):
    v, i = F.max_pool2d(ad.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(7, 4\) \(dim 0 "
                                         r"must be between 2 and 6\)"):
        F.max_unpool2d(v, i, 2, output_size=(7, 4))
    with pytest.raises(ValueError, match="output_size should be a sequence containing 2 or 4"):
        F.max_unpool2d(v, i, 2, output_size=(4,))
    bad = ad.tensor(np.full((1, 1, 2, 2), 16))
    with pytest.raises(RuntimeError, match="max_unpool2d: found an invalid max index 16"):
        with ad.detect_anomaly():                 # where a GPU checks (a host sync) too
            F.max_unpool2d(v, bad, 2)
    if backend == "numpy":                         # the host always checks
        with pytest.raises(RuntimeError, match="max_unpool2d: found an invalid max index 16"):
            F.max_unpool2d(v, bad, 2)
    else:                                          # a GPU drops the bad indices, no sync
        assert not F.max_unpool2d(v, bad, 2).numpy().any()
    with pytest.raises(ValueError, match="indices must be an integer tensor shaped as"):
        F.max_unpool2d(v, i.float(), 2)


# ----------------------------------------------------------------------------- PyTorch
TORCH_CONV = [  # (nd, transposed, kwargs)
    (1, False, dict(stride=2, padding=1, groups=2)), (3, False, dict(padding="same", groups=2)),
    (1, True, dict(stride=3, padding=1, output_padding=2, dilation=2)),
    (2, True, dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2)),
    (3, True, dict(stride=2, padding=(0, 1, 1), output_padding=1, dilation=(1, 1, 2))),
]


@pytest.mark.parametrize("nd,transposed,kw", TORCH_CONV, ids=str)
def test_against_torch(nd, transposed, kw, torch):
    r = _rng(13)
    x = r.standard_normal((2, 4) + (5, 4, 3)[:nd])
    w = r.standard_normal((4, 3) + (3, 2, 2)[:nd]) if transposed else \
        r.standard_normal((6, 2) + (3, 2, 2)[:nd])
    b = r.standard_normal(3 * kw.get("groups", 1) if transposed else 6)
    name = f"conv{'_transpose' if transposed else ''}{nd}d"
    ours = [_t(a, True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = getattr(F, name)(*ours, **kw)
    ty = getattr(torch.nn.functional, name)(*theirs, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
    g = r.standard_normal(y.shape)
    for a, ta in zip(ad.grad(y, ours, _t(g)), torch.autograd.grad(ty, theirs, torch.tensor(g))):
        np.testing.assert_allclose(a.numpy(), ta.numpy(), atol=1e-11)
