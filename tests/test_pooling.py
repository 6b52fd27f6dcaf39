"""max/avg/adaptive pooling and F.pad: values and gradients against direct definitions,
central differences (first and second order) and PyTorch when installed."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad

# every test on each backend (the cupy run skips without a GPU)
pytestmark = pytest.mark.usefixtures("backend")
from autodiff.nn import functional as F


def _t(a, grad=False):
    return ad.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _out_size(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    if not ceil:
        return span // s + 1
    o = -(-span // s) + 1
    return o - 1 if (o - 1) * s >= n + p else o


def pool_direct(x, k, s, p, d=1, ceil=False, kind="max", count_include_pad=True):
    """Window by window: max (value and first argmax) or average with PyTorch's divisors."""
    N, C, H, W = x.shape
    OH, OW = _out_size(H, k, s, p, d, ceil), _out_size(W, k, s, p, d, ceil)
    out = np.zeros((N, C, OH, OW))
    grad_map = np.zeros((N, C, OH, OW, H, W))     # d out / d x
    for n in range(N):
        for c in range(C):
            for a in range(OH):
                for b in range(OW):
                    cells = [(a * s + i * d - p, b * s + j * d - p) for i in range(k)
                             for j in range(k)]
                    inside = [(h, w) for h, w in cells if 0 <= h < H and 0 <= w < W]
                    if kind == "max":
                        vals = [x[n, c, h, w] for h, w in inside]
                        m = int(np.argmax(vals))               # first maximum
                        out[n, c, a, b] = vals[m]
                        grad_map[n, c, a, b][inside[m]] = 1.0
                    else:
                        if count_include_pad:   # cells inside the padded input (not ceil's)
                            cnt = sum(1 for h, w in cells if h < H + p and w < W + p)
                        else:
                            cnt = len(inside)
                        for h, w in inside:
                            out[n, c, a, b] += x[n, c, h, w] / cnt
                            grad_map[n, c, a, b, h, w] += 1.0 / cnt
    return out, grad_map


def adaptive_avg_direct(x, oh, ow):
    """PyTorch's adaptive windows: output cell a covers rows floor(a H / oh) to
    ceil((a + 1) H / oh) (likewise columns); the value and d out / d x."""
    N, C, H, W = x.shape
    out, grad_map = np.zeros((N, C, oh, ow)), np.zeros((N, C, oh, ow, H, W))
    for a in range(oh):
        h0, h1 = (a * H) // oh, -(-((a + 1) * H) // oh)
        for b in range(ow):
            w0, w1 = (b * W) // ow, -(-((b + 1) * W) // ow)
            out[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
            grad_map[:, :, a, b, h0:h1, w0:w1] = 1.0 / ((h1 - h0) * (w1 - w0))
    return out, grad_map


def _vjp(g, grad_map):
    return np.einsum("ncab,ncabhw->nchw", g, grad_map)


# (2, 2, 1, 1, True) on 7 rows: ceil mode's last window would start in the bottom padding
# (row 8 of the padded 9) and is dropped
MAX_CASES = [(2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 1, False),
             (2, 2, 1, 2, False), (3, 3, 1, 1, True), (2, 2, 1, 1, True)]


@pytest.mark.parametrize("k,s,p,d,ceil", MAX_CASES)
def test_max_pool2d_values_and_gradient(k, s, p, d, ceil):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 7, 6))
    X = _t(x, True)
    y = F.max_pool2d(X, k, s, p, d, ceil_mode=ceil)
    ref, gmap = pool_direct(x, k, s, p, d, ceil, "max")
    np.testing.assert_array_equal(y.numpy(), ref)
    g = rng.standard_normal(ref.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), _vjp(g, gmap))


def test_max_pool2d_ties_go_to_first_and_indices():
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 0.5, 2.0], [2.0, 2.0, 2.0]]]])
    X = _t(x, True)
    y, idx = F.max_pool2d(X, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[1.0, 2.0], [2.0, 2.0]])
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 5], [6, 5]])
    y.sum().backward()
    np.testing.assert_array_equal(X.grad.numpy()[0, 0], [[1, 0, 0], [0, 0, 2], [1, 0, 0]])


def test_max_pool2d_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(1)
    x = _t(rng.permutation(32).reshape(1, 2, 4, 4) * 0.1, True)   # distinct values: no ties
    assert ad.gradcheck(lambda a: F.max_pool2d(a, 2, 1, 1), (x,))
    assert ad.gradgradcheck(lambda a: F.max_pool2d(a * a, 3, 2, 1), (x,))


AVG_CASES = [(2, 2, 0, False, True), (3, 2, 1, False, True), (3, 2, 1, False, False),
             (3, 2, 1, True, True), (3, 2, 1, True, False), (3, 1, 1, False, True),
             (2, 2, 1, True, True), (2, 2, 1, True, False)]


@pytest.mark.parametrize("k,s,p,ceil,cip", AVG_CASES)
def test_avg_pool2d_values_and_gradient(k, s, p, ceil, cip):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 7, 6))
    X = _t(x, True)
    y = F.avg_pool2d(X, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    ref, gmap = pool_direct(x, k, s, p, 1, ceil, "avg", cip)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    g = rng.standard_normal(ref.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), _vjp(g, gmap),
                               atol=1e-12)


def test_avg_pool2d_divisor_override_and_gradgradcheck():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 4, 4))
    y = F.avg_pool2d(_t(x), 2, divisor_override=3)
    np.testing.assert_allclose(y.numpy(), x.reshape(1, 1, 2, 2, 2, 2).sum((3, 5)) / 3)
    X = _t(x, True)
    assert ad.gradgradcheck(lambda a: F.avg_pool2d(a * a, 3, 2, 1), (X,))


@pytest.mark.parametrize("size", [1, (1, 1), (2, 3), (3, None), 5, (7, 1)])
def test_adaptive_avg_pool2d_windows(size):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 6))
    y = F.adaptive_avg_pool2d(_t(x), size)
    oh, ow = (size, size) if isinstance(size, int) else size
    ref, _ = adaptive_avg_direct(x, oh or 7, ow or 6)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    X = _t(rng.standard_normal((1, 2, 5, 4)), True)
    assert ad.gradcheck(lambda t: F.adaptive_avg_pool2d(t, size if size != 5 else 3), (X,))


def test_adaptive_max_pool2d_global():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 4))
    np.testing.assert_array_equal(F.adaptive_max_pool2d(_t(x), 1).numpy()[..., 0, 0],
                                  x.max(axis=(2, 3)))


def test_pool1d():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9))
    y = F.max_pool1d(_t(x), 3, 2, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)), constant_values=-np.inf)
    np.testing.assert_array_equal(y.numpy(), np.stack([xp[..., 2 * i:2 * i + 3].max(-1)
                                                       for i in range(5)], -1))
    z = F.avg_pool1d(_t(x), 3, 3)
    np.testing.assert_allclose(z.numpy(), x.reshape(2, 3, 3, 3).mean(-1))


# ----------------------------------------------------------------------------- pad
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pads", [(1, 2), (2, 0, 1, 3), (0, 1, 1, 0, 1, 1)])
def test_pad_modes_match_numpy(mode, pads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5))
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
               "circular": "wrap"}[mode]
    widths = [(0, 0)] * 4
    for k in range(len(pads) // 2):
        widths[3 - k] = (pads[2 * k], pads[2 * k + 1])
    X = _t(x, True)
    kwargs = {"value": 0.5} if mode == "constant" else {}
    y = F.pad(X, pads, mode, **kwargs)
    ref = np.pad(x, widths, mode=np_mode, **({"constant_values": 0.5}
                                             if mode == "constant" else {}))
    np.testing.assert_array_equal(y.numpy(), ref)
    assert ad.gradcheck(lambda a: F.pad(a, pads, mode), (_t(x[:1, :2, :, :4], True),))


def test_pad_negative_crops_and_errors():
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    y = F.pad(_t(x), (-1, 2, 1, -2))
    ref = np.pad(x[:, :, :2, 1:], ((0, 0), (0, 0), (1, 0), (0, 2)))
    np.testing.assert_array_equal(y.numpy(), ref)
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(_t(x), (5, 0), "reflect")
    with pytest.raises(ValueError, match="even length"):
        F.pad(_t(x), (1, 2, 3))
    with pytest.raises(ValueError, match="mode"):
        F.pad(_t(x), (1, 1), "mirror")


# ----------------------------------------------------------------------------- oracle cases
POOL_ORACLE = [  # (name, keyword arguments): the cases compared with PyTorch
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ("adaptive_avg_pool2d", dict(output_size=(4, 3))),
    # on 9 rows the ceil-mode window that would start in the bottom padding is dropped
    ("max_pool2d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
]
PAD_ORACLE = (1, 2, 3, 0)


def _pool_direct_kw(x, name, kw):
    """The direct definition for one POOL_ORACLE case: (value, d out / d x)."""
    if name == "adaptive_avg_pool2d":
        return adaptive_avg_direct(x, *kw["output_size"])
    kind = "max" if name == "max_pool2d" else "avg"
    return pool_direct(x, kw["kernel_size"], kw["stride"], kw["padding"], kw.get("dilation", 1),
                       kw["ceil_mode"], kind, kw.get("count_include_pad", True))


@pytest.mark.parametrize("name,kw", POOL_ORACLE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(POOL_ORACLE)])
def test_pooling_oracle_cases_against_definition(name, kw):
    """The PyTorch comparison's inputs and arguments, against the window-by-window definition
    (values and gradient) and finite differences."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 9, 8))
    X = _t(x, True)
    y = getattr(F, name)(X, **kw)
    ref, gmap = _pool_direct_kw(x, name, kw)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    g = rng.standard_normal(ref.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(X.grad.numpy(), _vjp(g, gmap), atol=1e-12)
    small = _t(rng.permutation(2 * 9 * 8).reshape(1, 2, 9, 8) * 0.01, True)  # no ties
    assert ad.gradcheck(lambda a: getattr(F, name)(a, **kw), (small,))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_oracle_case_against_numpy(mode):
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 8))
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    ref = np.pad(x, ((0, 0), (0, 0), PAD_ORACLE[2:], PAD_ORACLE[:2]), mode=np_mode)
    np.testing.assert_array_equal(F.pad(_t(x), PAD_ORACLE, mode).numpy(), ref)


# ----------------------------------------------------------------------------- PyTorch oracle
def test_pooling_against_torch(torch):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 9, 8))
    tf = torch.nn.functional
    for name, kw in POOL_ORACLE:
        X = _t(x, True)
        tx = torch.tensor(x, requires_grad=True)
        y, ty = getattr(F, name)(X, **kw), getattr(tf, name)(tx, **kw)
        g = rng.standard_normal(tuple(ty.shape))
        y.backward(_t(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    for mode in ("reflect", "replicate", "circular"):
        np.testing.assert_array_equal(F.pad(_t(x), PAD_ORACLE, mode).numpy(),
                                      tf.pad(torch.tensor(x), PAD_ORACLE, mode).numpy())
