"""The fused kernels of ``backends.cuda_kernels``: the NumPy reference paths against independent
closed forms and the engine's own gradients; on a GPU, the CuPy kernels against the NumPy
reference within float32 tolerance (skipped cleanly without CuPy or a GPU)."""
from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import cuda_kernels as K
from autodiff.backends import cupy_backend

HAVE_GPU = cupy_backend.is_available()
gpu = pytest.mark.skipif(not HAVE_GPU, reason="CuPy or a CUDA GPU is not available")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _engine_grad(fn, x, g):
    """d(sum(fn(x) * g))/dx through the engine."""
    t = ad.tensor(x, requires_grad=True)
    (gx,) = ad.grad(ad.sum(ad.mul(fn(t), ad.tensor(g))), [t])
    return gx.numpy()


# ----------------------------------------------------------------------------- activations
def test_relu_backward_closed_form_and_engine():
    x = _rng().standard_normal((7, 5))
    x[0, :2] = 0.0
    g = _rng(1).standard_normal((7, 5))
    y = np.maximum(x, 0)
    got = K.relu_backward(y, g)
    np.testing.assert_array_equal(got, np.where(x > 0, g, 0.0))
    np.testing.assert_allclose(got, _engine_grad(ad.relu, x, g), rtol=0, atol=0)
    assert got.dtype == np.float64


def test_sigmoid_backward():
    x = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    y = np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v - math.log1p(math.exp(v)))
                  for v in x])
    g = _rng().standard_normal(x.shape)
    np.testing.assert_allclose(K.sigmoid_backward(y, g), g * y * (1 - y), rtol=1e-12,
                               atol=1e-300)
    xs = _rng(2).standard_normal((3, 4))
    gs = _rng(3).standard_normal((3, 4))
    np.testing.assert_allclose(K.sigmoid_backward(1 / (1 + np.exp(-xs)), gs),
                               _engine_grad(ad.sigmoid, xs, gs), rtol=1e-12)


def test_tanh_backward():
    x = _rng().standard_normal((5, 3))
    g = _rng(1).standard_normal((5, 3))
    got = K.tanh_backward(np.tanh(x), g)
    np.testing.assert_allclose(got, g / np.cosh(x) ** 2, rtol=1e-12)
    np.testing.assert_allclose(got, _engine_grad(ad.tanh, x, g), rtol=1e-12)


# ----------------------------------------------------------------------------- cross-entropy
def _ce_reference(x, labels, ignore_index=-100):
    loss, prob = [], []
    for row, t in zip(x, labels):
        m = max(row)
        s = sum(math.exp(v - m) for v in row)
        lse = m + math.log(s)
        prob.append([math.exp(v - lse) for v in row])
        loss.append(0.0 if t == ignore_index else lse - row[t])
    return np.array(loss), np.array(prob)


def test_softmax_cross_entropy_forward_closed_form():
    x = _rng().standard_normal((6, 5)) * 3
    x[2] += 500.0  # large logits: no overflow
    labels = np.array([0, 4, 2, -100, 1, 3])
    loss, prob = K.softmax_cross_entropy_forward(x, labels)
    ref_loss, ref_prob = _ce_reference(x, labels)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prob, ref_prob, rtol=1e-12, atol=1e-15)
    assert loss[3] == 0.0
    # an ignored row of -inf (padding) leaves the other rows finite, its own loss and grad 0
    x[3] = -np.inf
    loss2, prob2 = K.softmax_cross_entropy_forward(x, labels)
    np.testing.assert_allclose(loss2, ref_loss, rtol=1e-12, atol=1e-12)
    grad = K.softmax_cross_entropy_backward(prob2, labels, 1.0)
    np.testing.assert_array_equal(grad[3], 0.0)
    onehot = np.eye(5)[np.where(labels == -100, 0, labels)]
    keep = np.arange(6) != 3
    np.testing.assert_allclose(grad[keep], (ref_prob - onehot)[keep], rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_matches_engine_and_gradient():
    x = _rng(1).standard_normal((8, 7))
    labels = _rng(2).integers(0, 7, 8)
    labels[5] = -1   # used as ignore_index below
    valid = labels != -1
    g = _rng(3).standard_normal(8)
    loss, prob = K.softmax_cross_entropy_forward(x, labels, ignore_index=-1)
    t = ad.tensor(x, requires_grad=True)
    logp = ad.log_softmax(t, dim=1)
    picked = ad.gather(logp, 1, ad.tensor(np.where(valid, labels, 0)[:, None]))[:, 0]
    eng = ad.mul(ad.neg(picked), ad.tensor(valid.astype(np.float64)))
    np.testing.assert_allclose(loss, eng.numpy(), rtol=1e-12, atol=1e-12)
    (gx,) = ad.grad(ad.sum(ad.mul(eng, ad.tensor(g))), [t])
    got = K.softmax_cross_entropy_backward(prob, labels, g, ignore_index=-1)
    np.testing.assert_allclose(got, gx.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(got[5], 0.0)
    # a scalar upstream gradient (mean reduction) equals the per-row one filled with it
    np.testing.assert_allclose(
        K.softmax_cross_entropy_backward(prob, labels, 0.125, ignore_index=-1),
        K.softmax_cross_entropy_backward(prob, labels, np.full(8, 0.125), ignore_index=-1))


def test_softmax_cross_entropy_checks():
    x = np.zeros((3, 4))
    with pytest.raises(IndexError, match="out of range"):
        K.softmax_cross_entropy_forward(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        K.softmax_cross_entropy_forward(np.zeros(4), np.array([0]))
    with pytest.raises(TypeError, match="integers"):
        K.softmax_cross_entropy_forward(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"scalar or shape \(3,\)"):
        K.softmax_cross_entropy_backward(x, np.array([0, 1, 1]), np.ones(4))


# ----------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 6), (2, 4, 7)])
def test_batch_norm_forward_closed_form(shape):
    x = _rng().standard_normal(shape) * 2 + 5
    C = shape[1]
    gamma = _rng(1).standard_normal(C)
    beta = _rng(2).standard_normal(C)
    y, mean, invstd, var = K.batch_norm_forward(x, gamma, beta, 1e-5, return_var=True)
    xc = np.moveaxis(x, 1, 0).reshape(C, -1)    # independent: per-channel loops over values
    for c in range(C):
        vals = xc[c]
        mu = sum(vals) / len(vals)
        v = sum((a - mu) ** 2 for a in vals) / len(vals)
        assert mean[c] == pytest.approx(mu, rel=1e-12)
        assert var[c] == pytest.approx(v, rel=1e-10)
        assert invstd[c] == pytest.approx(1 / math.sqrt(v + 1e-5), rel=1e-10)
        yc = np.moveaxis(y, 1, 0).reshape(C, -1)[c]
        np.testing.assert_allclose(yc, (vals - mu) / math.sqrt(v + 1e-5) * gamma[c] + beta[c],
                                   rtol=1e-10, atol=1e-12)
    y2, _, _ = K.batch_norm_forward(x, None, None, 1e-5)
    np.testing.assert_allclose(np.moveaxis(y2, 1, 0).reshape(C, -1).mean(axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("shape", [(10, 3), (3, 2, 4, 5)])
def test_batch_norm_backward_matches_engine(shape):
    x = _rng().standard_normal(shape)
    C = shape[1]
    gamma = _rng(1).standard_normal(C)
    beta = _rng(2).standard_normal(C)
    g = _rng(3).standard_normal(shape)
    _, mean, invstd = K.batch_norm_forward(x, gamma, beta, 1e-5)
    dx, dgamma, dbeta = K.batch_norm_backward(x, g, gamma, mean, invstd)
    # the engine, composed from generic ops (not the fused nn.functional rule)
    tx, tg, tb = (ad.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, C) + (1,) * (x.ndim - 2)
    mu = ad.mean(tx, axes, True)
    var = ad.mean((tx - mu) * (tx - mu), axes, True)
    y = (tx - mu) / ad.sqrt(var + 1e-5) * ad.reshape(tg, bshape) + ad.reshape(tb, bshape)
    ex, eg, eb = ad.grad(ad.sum(y * ad.tensor(g)), [tx, tg, tb])
    np.testing.assert_allclose(dx, ex.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dgamma, eg.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, eb.numpy(), rtol=1e-10, atol=1e-12)
    none, dgamma2, dbeta2 = K.batch_norm_backward(x, g, gamma, mean, invstd, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dgamma2, dgamma)
    np.testing.assert_array_equal(dbeta2, dbeta)
    # without gamma: the gradient of the plain normalisation
    dx1, _, _ = K.batch_norm_backward(x, g, None, mean, invstd)
    tx1 = ad.tensor(x, requires_grad=True)
    mu1 = ad.mean(tx1, axes, True)
    y1 = (tx1 - mu1) / ad.sqrt(ad.mean((tx1 - mu1) * (tx1 - mu1), axes, True) + 1e-5)
    (e1,) = ad.grad(ad.sum(y1 * ad.tensor(g)), [tx1])
    np.testing.assert_allclose(dx1, e1.numpy(), rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("momentum,dampening,wd,nesterov,maximize",
                         [(0.0, 0.0, 0.0, False, False), (0.0, 0.0, 0.1, False, True),
                          (0.9, 0.0, 0.0, False, False), (0.9, 0.3, 0.01, False, False),
                          (0.8, 0.0, 0.05, True, False)])
def test_sgd_update_closed_form_and_optimizer(momentum, dampening, wd, nesterov, maximize):
    from autodiff.optim import SGD
    rng = _rng()
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    lr = 0.1
    # closed form, written out independently
    w, b = p0.copy(), None
    for g in grads:
        d = (-g if maximize else g) + wd * w
        if momentum:
            b = d.copy() if b is None else momentum * b + (1 - dampening) * d
            d = d + momentum * b if nesterov else b
        w = w - lr * d
    p, buf = p0.copy(), np.zeros_like(p0)
    for i, g in enumerate(grads):
        assert K.sgd_momentum_update(p, g, buf if momentum else None, lr, momentum, dampening,
                                     wd, nesterov, first_step=i == 0, maximize=maximize) is None
    np.testing.assert_allclose(p, w, rtol=1e-12, atol=1e-14)
    # the project's optimizer agrees
    t = ad.tensor(p0, requires_grad=True)
    opt = SGD([t], lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd,
              nesterov=nesterov, maximize=maximize)
    for g in grads:
        t.grad = ad.tensor(g)
        opt.step()
    np.testing.assert_allclose(p, t.numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_update_checks():
    p = np.zeros(3)
    with pytest.raises(ValueError, match="momentum buffer"):
        K.sgd_momentum_update(p, p, None, 0.1, 0.9)
    with pytest.raises(ValueError, match="shape"):
        K.sgd_momentum_update(p, np.zeros(4), None, 0.1)


@pytest.mark.parametrize("wd,decoupled,amsgrad,maximize",
                         [(0.0, False, False, False), (0.1, False, False, False),
                          (0.1, True, False, False), (0.05, False, True, True),
                          (0.02, True, True, False)])
def test_adam_update_closed_form_and_optimizer(wd, decoupled, amsgrad, maximize):
    from autodiff.optim import Adam
    rng = _rng(4)
    p0 = rng.standard_normal((5,))
    grads = [rng.standard_normal(5) for _ in range(4)]
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-8
    w, m, v, vmax = p0.copy(), np.zeros(5), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        mhat = m / (1 - b1 ** t)
        vhat = (vmax if amsgrad else v) / (1 - b2 ** t)
        w = w - lr * mhat / (np.sqrt(vhat) + eps)
    p, mm, vv = p0.copy(), np.zeros(5), np.zeros(5)
    mx = np.zeros(5) if amsgrad else None
    for t, g in enumerate(grads, start=1):
        K.adam_update(p, g, mm, vv, lr, b1, b2, eps, wd, t, amsgrad_max=mx, decoupled=decoupled,
                      maximize=maximize)
    np.testing.assert_allclose(p, w, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(mm, m, rtol=1e-12)
    tp = ad.tensor(p0, requires_grad=True)
    opt = Adam([tp], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad,
               maximize=maximize, decoupled_weight_decay=decoupled)
    for g in grads:
        tp.grad = ad.tensor(g)
        opt.step()
    np.testing.assert_allclose(p, tp.numpy(), rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="step"):
        K.adam_update(p, grads[0], mm, vv, lr, b1, b2, eps, wd, 0)


# ----------------------------------------------------------------------------- sum_to
SUM_CASES = [((1000, 2), (1, 2)), ((1000, 2), (2,)), ((50, 3), (50, 1)), ((6, 40), (6, 1)),
             ((8, 3, 4, 5), (1, 3, 1, 1)), ((8, 3, 4, 5), (3, 1, 1)), ((4, 5, 6), (4, 1, 6)),
             ((2, 3, 4), ()), ((2, 3, 4), (1, 1, 1)), ((3, 1, 4), (1, 4)),
             ((2, 3, 4, 5), (2, 1, 4, 1)), ((7,), (7,)), ((5, 100), (1, 100))]


def _sum_to_loops(x, shape):
    """Independent reference: accumulate every element into its target cell."""
    lead = x.ndim - len(shape)
    out = np.zeros(shape)
    for idx in np.ndindex(*x.shape):
        tgt = tuple(0 if s == 1 else i for i, s in zip(idx[lead:], shape))
        out[tgt] += x[idx]
    return out


@pytest.mark.parametrize("xshape,shape", SUM_CASES)
def test_sum_to_trailing_numpy(xshape, shape):
    x = _rng().standard_normal(xshape)
    got = K.sum_to_trailing(x, shape)
    assert got.shape == tuple(shape)
    np.testing.assert_allclose(got, _sum_to_loops(x, shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, ad.sum_to(ad.tensor(x), shape).numpy(), rtol=1e-12)


@pytest.mark.parametrize("xshape,shape", SUM_CASES)
def test_sum_to_fast_algorithm_on_numpy(xshape, shape):
    """The GPU decomposition (GEMV with a ones vector / explicit add loop), run with NumPy."""
    x = _rng(1).standard_normal(xshape)
    if tuple(xshape) == tuple(shape):
        return
    plan = K.sum_to_plan(xshape, shape)
    out = K._sum_fast(x, plan, np)
    if out is None:  # a pattern the fast path leaves to the plain sum
        assert [r for r, _ in plan] not in ([True], [True, False], [False, True],
                                            [True, False, True], [False, True, False])
        return
    np.testing.assert_allclose(np.reshape(out, shape), _sum_to_loops(x, shape), rtol=1e-12,
                               atol=1e-12)


def test_sum_to_plan_and_errors():
    assert K.sum_to_plan((8, 3, 4, 5), (1, 3, 1, 1)) == [(True, 8), (False, 3), (True, 20)]
    assert K.sum_to_plan((1000, 2), (2,)) == [(True, 1000), (False, 2)]
    assert K.sum_to_plan((4, 1, 6), (4, 1, 6)) == [(False, 24)]
    with pytest.raises(ValueError, match="cannot be reduced"):
        K.sum_to_trailing(np.zeros((3, 4)), (3, 5))


def test_unsupported_dtype_message():
    # GPU kernels name the dtype they refuse; the check itself runs without a GPU
    with pytest.raises(TypeError, match="float16"):
        K._dtype_name(np.float16, "relu_backward")


# ----------------------------------------------------------------------------- GPU vs NumPy
def _both(a):
    import cupy
    return a, cupy.asarray(a)


def _close(gpu_arr, ref, rtol=1e-5, atol=1e-6):
    import cupy
    np.testing.assert_allclose(cupy.asnumpy(gpu_arr), ref, rtol=rtol, atol=atol)


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_activations(dtype):
    rng = _rng()
    x, xg = _both(rng.standard_normal((33, 17)).astype(dtype))
    g, gg = _both(rng.standard_normal((33, 17)).astype(dtype))
    _close(K.relu_backward(xg, gg), K.relu_backward(x, g))
    _close(K.sigmoid_backward(xg, gg), K.sigmoid_backward(x, g))
    _close(K.tanh_backward(xg, gg), K.tanh_backward(x, g))


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [3, 10, 65, 1000])
def test_gpu_softmax_cross_entropy(dtype, C):
    import cupy
    rng = _rng()
    x, xg = _both((rng.standard_normal((130, C)) * 4).astype(dtype))
    lab = rng.integers(0, C, 130)
    lab[7] = -100
    for ldt in (np.int64, np.int32):
        l, lg = _both(lab.astype(ldt))
        loss, prob = K.softmax_cross_entropy_forward(x, l)
        lossg, probg = K.softmax_cross_entropy_forward(xg, lg)
        _close(lossg, loss)
        _close(probg, prob)
        g, gg = _both(rng.standard_normal(130).astype(dtype))
        _close(K.softmax_cross_entropy_backward(probg, lg, gg),
               K.softmax_cross_entropy_backward(prob, l, g))
        _close(K.softmax_cross_entropy_backward(probg, lg, 0.5),
               K.softmax_cross_entropy_backward(prob, l, 0.5))
    bad = cupy.asarray(np.array([0, C] + [0] * 128))
    lossb, _ = K.softmax_cross_entropy_forward(xg, bad)
    assert bool(cupy.isnan(lossb[1])) and not bool(cupy.isnan(lossb[0]))


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 100), (8, 16, 9, 9), (128, 16, 32, 32), (3, 5)])
def test_gpu_batch_norm(dtype, shape):
    rng = _rng()
    x, xg = _both((rng.standard_normal(shape) * 3 + 10).astype(dtype))
    C = shape[1]
    gm, gmg = _both(rng.standard_normal(C).astype(dtype))
    bt, btg = _both(rng.standard_normal(C).astype(dtype))
    ref = K.batch_norm_forward(x, gm, bt, 1e-5, return_var=True)
    out = K.batch_norm_forward(xg, gmg, btg, 1e-5, return_var=True)
    for a, b in zip(out, ref):
        _close(a, b, rtol=1e-4, atol=1e-4)
    g, gg = _both(rng.standard_normal(shape).astype(dtype))
    refb = K.batch_norm_backward(x, g, gm, ref[1], ref[2])
    outb = K.batch_norm_backward(xg, gg, gmg, out[1], out[2])
    for a, b in zip(outb, refb):
        _close(a, b, rtol=1e-3, atol=1e-3 * math.sqrt(x.size / C))
    none, dgamma, dbeta = K.batch_norm_backward(xg, gg, gmg, out[1], out[2], need_dx=False)
    assert none is None
    _close(dgamma, refb[1], rtol=1e-3, atol=1e-3 * math.sqrt(x.size / C))
    _close(dbeta, refb[2], rtol=1e-3, atol=1e-3 * math.sqrt(x.size / C))


@gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_optimizer_updates(dtype):
    import cupy
    rng = _rng()
    p = rng.standard_normal(1000).astype(dtype)
    g = rng.standard_normal(1000).astype(dtype)
    for mom, nest in ((0.0, False), (0.9, False), (0.9, True)):
        pc, bc = p.copy(), np.zeros_like(p)
        pg, bg = cupy.asarray(p), cupy.zeros(p.shape, dtype)
        for i in range(3):
            K.sgd_momentum_update(pc, g, bc if mom else None, 0.1, mom, 0.0, 0.01, nest,
                                  first_step=i == 0)
            K.sgd_momentum_update(pg, cupy.asarray(g), bg if mom else None, 0.1, mom, 0.0, 0.01,
                                  nest, first_step=i == 0)
        _close(pg, pc)
    for ams, dec in ((False, False), (True, True)):
        st = [p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p) if ams else None]
        sg = [cupy.asarray(a) if a is not None else None for a in st]
        for t in range(1, 4):
            K.adam_update(st[0], g, st[1], st[2], 1e-2, 0.9, 0.999, 1e-8, 0.01, t, st[3], dec)
            K.adam_update(sg[0], cupy.asarray(g), sg[1], sg[2], 1e-2, 0.9, 0.999, 1e-8, 0.01, t,
                          sg[3], dec)
        for a, b in zip(sg, st):
            if a is not None:
                _close(a, b)


@gpu
@pytest.mark.parametrize("xshape,shape", SUM_CASES + [((1_000_000, 2), (1, 2)),
                                                      ((1_000_000, 2), (1_000_000, 1))])
def test_gpu_sum_to_trailing(xshape, shape):
    x, xg = _both(_rng().standard_normal(xshape).astype(np.float32))
    out = K.sum_to_trailing(xg, shape)
    assert out.shape == tuple(shape) and out.dtype == np.float32
    _close(out, K.sum_to_trailing(x.astype(np.float64), shape), rtol=1e-4, atol=1e-3)


@gpu
def test_gpu_launch_counter_and_pool():
    import cupy
    stats = cupy_backend.pool_stats()
    assert stats["total"] >= stats["used"] >= 0
    x = cupy.ones(1000, cupy.float32)
    K.relu_backward(x, x)  # compile outside the counted block
    with cupy_backend.launch_counter() as c:
        K.relu_backward(x, x)
    assert c.count is None or c.count == 1, c


# ----------------------------------------------------------------------------- compile check
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) is not installed")
@pytest.mark.parametrize("source", ["_SCE_FWD", "_BN_STATS", "_BN_GRAD"])
@pytest.mark.parametrize("real,label", [("float", "long long"), ("double", "int")])
def test_raw_kernel_sources_compile_with_nvcc(tmp_path, source, real, label):
    """The raw CUDA kernels compile for both dtypes: machines without a GPU (CI) still catch a
    broken kernel source, not only the GPU runs."""
    src = getattr(K, source).replace("REAL", real).replace("LABEL", label)
    cu = tmp_path / "k.cu"
    cu.write_text(src)
    res = subprocess.run(["nvcc", "-c", "-o", str(tmp_path / "k.o"), str(cu)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
