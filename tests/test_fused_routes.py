"""The fused-kernel routes of nn and optim (``autodiff.backends.kernels_for``): cross-entropy with
class labels, training-mode batch norm, SGD and Adam/AdamW steps.

Each test runs on NumPy under ``reference_kernels()`` (the calls the GPU makes, through the NumPy
twins of ``cuda_kernels``) and, on a GPU, through the CUDA kernels. The kernel calls are counted,
so a test fails when the route is not taken (or is taken where it must not be, as under
``create_graph``); values, gradients and optimizer state are compared with formulas written out
in NumPy and with float64 finite differences."""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import fields
from types import SimpleNamespace

import numpy as np
import pytest

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import optim
from autodiff.backends import cupy_backend, kernels_for, reference_kernels
from autodiff.backends import kernels
from autodiff.backends.kernels import Kernels

import ref_optim

HAVE_GPU = cupy_backend.is_available()
ROUTES = [f.name for f in fields(Kernels)
          if f.name != "name" and f.name not in kernels.NUMPY_ONLY_ROUTES]


def _counted(fn, name, calls, args):
    def spy(*a, **kw):
        calls[name] += 1
        args[name] = (a, kw)
        return fn(*a, **kw)
    return spy


@pytest.fixture(params=["numpy", "cupy"])
def fused(request, monkeypatch):
    """The namespace the test's arrays take, its calls counted in ``calls`` (the last call's
    arguments in ``args``): NumPy under ``reference_kernels()``, CuPy's CUDA kernels on a GPU."""
    if request.param == "cupy":
        if not HAVE_GPU:
            pytest.skip("CuPy or a CUDA GPU is not available")
        import cupy
        ctx = contextlib.nullcontext(kernels_for(cupy.zeros(1, cupy.float64)))
    else:
        ctx = reference_kernels()
    with ctx as ns:
        calls, args = Counter(), {}
        for name in ROUTES:
            monkeypatch.setattr(ns, name, _counted(getattr(ns, name), name, calls, args))
        yield SimpleNamespace(device="cuda" if request.param == "cupy" else "cpu", calls=calls,
                              args=args)


def _t(a, fused, grad=False):
    return ad.tensor(a, device=fused.device, requires_grad=grad)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _host(a) -> np.ndarray:
    """An optimizer state array (NumPy or CuPy) on the host."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


# ----------------------------------------------------------------------------- routing
def test_kernels_for_numpy_routes():
    """NumPy by default: the fused cross-entropy and the numba batch norm (both faster than the
    generic composites), the optimizers' own updates; every route under reference_kernels()."""
    x = np.zeros((2, 3))
    k = kernels_for(x, np.zeros(2, np.int64))
    assert k.name == "numpy"
    assert k.softmax_cross_entropy_forward is not None and k.batch_norm_forward is not None
    assert k.sgd_momentum_update is None and k.adam_update is None
    with reference_kernels() as ref:
        assert kernels_for(x) is ref and all(getattr(ref, r) is not None for r in ROUTES)
    assert kernels_for(x) is k


@pytest.mark.skipif(not HAVE_GPU, reason="CuPy or a CUDA GPU is not available")
def test_kernels_for_cupy_dtypes():
    import cupy
    k = kernels_for(cupy.zeros(3, cupy.float32), cupy.zeros(3, cupy.int64))
    assert k.name == "cuda" and all(getattr(k, r) is not None for r in ROUTES)
    half = kernels_for(cupy.zeros(3, cupy.float16))
    assert half.batch_norm_forward is not None and half.adam_update is None
    assert half.softmax_cross_entropy_forward is None


# ----------------------------------------------------------------------------- cross-entropy
def _ce_reference(x, t, ignore_index, reduction, gout):
    """Loss and d(loss . gout)/dx from the definition: per sample log sum_j exp(x_j) - x_t, 0
    where ignored; 'mean' divides by the number of kept samples."""
    cls_last = np.moveaxis(x, 1, -1) if x.ndim > 1 else x[None]
    C = cls_last.shape[-1]
    x2 = cls_last.reshape(-1, C)
    tf = np.reshape(t, -1)
    keep = tf != ignore_index
    safe = np.where(keep, tf, 0)
    rows = np.log(np.exp(x2).sum(axis=1)) - x2[np.arange(len(tf)), safe]
    rows = np.where(keep, rows, 0.0)
    if reduction == "none":
        loss, coef = rows.reshape(np.shape(t)), np.reshape(gout, -1) * keep
    elif reduction == "sum":
        loss, coef = rows.sum(), gout * keep
    else:
        loss, coef = rows.sum() / keep.sum(), gout * keep / keep.sum()
    soft = np.exp(x2) / np.exp(x2).sum(axis=1, keepdims=True)
    g2 = (soft - np.eye(C)[safe]) * coef[:, None]
    g = g2.reshape(cls_last.shape)
    return loss, (np.moveaxis(g, -1, 1) if x.ndim > 1 else g[0])


CE_CASES = [((7, 5), "mean"), ((7, 5), "sum"), ((7, 5), "none"), ((3, 4, 2), "mean"),
            ((2, 3, 2, 2), "none"), ((4,), "sum")]


@pytest.mark.parametrize("shape,reduction", CE_CASES)
def test_cross_entropy_route(fused, shape, reduction):
    rng = _rng()
    x = rng.standard_normal(shape) * 2
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, C, tshape)
    if t.ndim:
        t.reshape(-1)[1] = -1            # ignored below
    xt = _t(x, fused, True)
    loss = F.cross_entropy(xt, _t(t, fused), ignore_index=-1, reduction=reduction)
    assert loss.grad_fn.name == "cross_entropy"
    assert fused.calls["softmax_cross_entropy_forward"] == 1
    gout = rng.standard_normal(loss.shape)
    ref_loss, ref_grad = _ce_reference(x, t, -1, reduction, gout)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-12, atol=1e-12)
    loss.backward(_t(gout, fused))
    assert fused.calls["softmax_cross_entropy_backward"] == 1
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, rtol=1e-12, atol=1e-12)
    if fused.device == "cpu":            # float64 central differences, first and second order
        def f(z):
            return F.cross_entropy(z, _t(t, fused), ignore_index=-1, reduction=reduction)
        assert ad.gradcheck(f, (_t(x, fused, True),))
        n = fused.calls["softmax_cross_entropy_backward"]
        assert ad.gradgradcheck(f, (_t(x, fused, True),))
        # create_graph: the Tensor-op rule, never the kernel
        assert fused.calls["softmax_cross_entropy_backward"] == n


def test_cross_entropy_create_graph_values(fused):
    """The create_graph rule gives the same first derivative as the kernel, and a Hessian-vector
    product matching the closed form H = diag(p) - p p^T per sample (mean over kept rows)."""
    rng = _rng(1)
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, -100, 1, 2])
    v = rng.standard_normal((5, 4))
    xt = _t(x, fused, True)
    (g,) = ad.grad(F.cross_entropy(xt, _t(t, fused)), [xt], create_graph=True)
    assert fused.calls["softmax_cross_entropy_backward"] == 0
    _, ref = _ce_reference(x, t, -100, "mean", 1.0)
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-12, atol=1e-12)
    (hv,) = ad.grad((g * _t(v, fused)).sum(), [xt])
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    keep = (t != -100)[:, None]
    ref_hv = (p * v - p * (p * v).sum(axis=1, keepdims=True)) * keep / keep.sum()
    np.testing.assert_allclose(hv.numpy(), ref_hv, rtol=1e-10, atol=1e-12)


def test_cross_entropy_generic_forms_skip_the_kernel(fused):
    """Class weights, label smoothing and probability targets keep the composite path."""
    x = _t(_rng().standard_normal((4, 3)), fused, True)
    t = _t(np.array([0, 2, 1, 2]), fused)
    w = _t(np.array([1.0, 2.0, 0.5]), fused)
    for loss in (F.cross_entropy(x, t, weight=w), F.cross_entropy(x, t, label_smoothing=0.1),
                 F.cross_entropy(x, _t(np.full((4, 3), 1 / 3), fused))):
        assert loss.grad_fn.name != "cross_entropy"
        loss.backward()
    assert fused.calls["softmax_cross_entropy_forward"] == 0


def test_cross_entropy_numpy_default_is_fused():
    """Without the switch NumPy takes the fused primitive too (it is the faster one there)."""
    x = ad.tensor(_rng().standard_normal((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, ad.tensor(np.array([1, 0, 3])))
    assert loss.grad_fn.name == "cross_entropy"
    loss.backward()
    _, ref = _ce_reference(x.numpy(), np.array([1, 0, 3]), -100, "mean", 1.0)
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- batch norm
def _bn_reference(x, w, b, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(shp)) ** 2).mean(axis=axes)
    xhat = (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps)
    y = xhat * (1 if w is None else w.reshape(shp)) + (0 if b is None else b.reshape(shp))
    return y, mean, var, xhat, axes, shp


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_route(fused, shape, affine):
    rng = _rng(2)
    C, eps, mom = shape[1], 1e-5, 0.2
    x = rng.standard_normal(shape) * 3 + 1
    w = rng.standard_normal(C) if affine else None
    b = rng.standard_normal(C) if affine else None
    rm0, rv0 = rng.standard_normal(C), rng.random(C) + 0.5
    xt = _t(x, fused, True)
    wt = _t(w, fused, True) if affine else None
    bt = _t(b, fused, True) if affine else None
    rm, rv = _t(rm0, fused), _t(rv0, fused)
    y = F.batch_norm(xt, rm, rv, wt, bt, training=True, momentum=mom, eps=eps)
    assert fused.calls["batch_norm_forward"] == 1
    ref, mean, var, xhat, axes, shp = _bn_reference(x, w, b, eps)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-12)
    n = x.size // C
    np.testing.assert_allclose(rm.numpy(), (1 - mom) * rm0 + mom * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), (1 - mom) * rv0 + mom * var * n / (n - 1), rtol=1e-12)
    g = rng.standard_normal(shape)
    y.backward(_t(g, fused))
    assert fused.calls["batch_norm_backward"] == 1
    # Ioffe & Szegedy's gradients, written out
    gx_hat = g * (1 if w is None else w.reshape(shp))
    gx = (gx_hat - gx_hat.mean(axis=axes, keepdims=True)
          - xhat * (gx_hat * xhat).mean(axis=axes, keepdims=True)) / np.sqrt(
        var.reshape(shp) + eps)
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-9, atol=1e-11)
    if affine:
        np.testing.assert_allclose(wt.grad.numpy(), (g * xhat).sum(axis=axes), rtol=1e-10)
        np.testing.assert_allclose(bt.grad.numpy(), g.sum(axis=axes), rtol=1e-10)


def test_batch_norm_input_without_grad(fused):
    """Only the affine parameters need gradients: the kernel is asked for no input gradient."""
    rng = _rng(3)
    x, w, b = rng.standard_normal((6, 2, 3)), rng.standard_normal(2), rng.standard_normal(2)
    wt, bt = _t(w, fused, True), _t(b, fused, True)
    y = F.batch_norm(_t(x, fused), None, None, wt, bt, training=True)
    g = rng.standard_normal(x.shape)
    y.backward(_t(g, fused))
    a, kw = fused.args["batch_norm_backward"]
    assert kw.get("need_dx", a[5] if len(a) > 5 else True) is False
    _, _, _, xhat, axes, _ = _bn_reference(x, w, b, 1e-5)
    np.testing.assert_allclose(wt.grad.numpy(), (g * xhat).sum(axis=axes), rtol=1e-10)
    np.testing.assert_allclose(bt.grad.numpy(), g.sum(axis=axes), rtol=1e-10)


def test_batch_norm_double_backward_skips_the_kernel():
    with reference_kernels() as ref:
        rng = _rng(4)
        x, w, b = rng.standard_normal((5, 2, 2)), rng.standard_normal(2), rng.standard_normal(2)
        inputs = tuple(ad.tensor(a, requires_grad=True) for a in (x, w, b))

        def f(xx, ww, bb):
            return F.batch_norm(xx, None, None, ww, bb, training=True)
        assert ad.gradcheck(f, inputs)
        calls = Counter()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ref, "batch_norm_backward",
                       _counted(ref.batch_norm_backward, "batch_norm_backward", calls, {}))
            assert ad.gradgradcheck(f, inputs)
        assert calls["batch_norm_backward"] == 0


# ----------------------------------------------------------------------------- optimizers
SGD_CASES = [{}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01},
             {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
             {"weight_decay": 0.1, "maximize": True}]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(kw) or "plain")
def test_sgd_route(fused, kw):
    rng = _rng(5)
    p0 = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(a.shape) for a in p0] for _ in range(3)]
    ps = [_t(a, fused, True) for a in p0]
    opt = optim.SGD(ps, lr=0.1, **kw)
    for step in grads:
        for p, g in zip(ps, step):
            p.grad = _t(g, fused)
        v0 = [p._version.v for p in ps]
        opt.step()
        assert all(p._version.v > v for p, v in zip(ps, v0))
    assert fused.calls["sgd_momentum_update"] == 3 * len(ps)
    want, states = ref_optim.run_rule("SGD", dict(lr=0.1, **kw), p0,
                                      lambda t, i, w: grads[t - 1][i], len(grads))
    for p, w, st in zip(ps, want, states):
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-12, atol=1e-14)
        if kw.get("momentum"):
            np.testing.assert_allclose(_host(opt.state[p]["momentum_buffer"]),
                                       st["momentum_buffer"], rtol=1e-12, atol=1e-14)
        else:
            assert p not in opt.state


def test_noisy_sgd_keeps_the_generic_update(fused):
    p = _t(np.ones(3), fused, True)
    opt = optim.NoisySGD([p], lr=0.1, noise_std=0.0, momentum=0.5)
    p.grad = _t(np.array([1.0, 2.0, 3.0]), fused)
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, 0.8, 0.7], rtol=1e-12)
    assert fused.calls["sgd_momentum_update"] == 0


ADAM_CASES = [(0.0, False, False, False), (0.1, False, False, False), (0.1, True, False, False),
              (0.05, False, True, True), (0.02, True, True, False)]


@pytest.mark.parametrize("wd,decoupled,amsgrad,maximize", ADAM_CASES)
def test_adam_route(fused, wd, decoupled, amsgrad, maximize):
    rng = _rng(6)
    p0 = rng.standard_normal((2, 3))
    grads = [rng.standard_normal((2, 3)) for _ in range(4)]
    lr, betas, eps = 0.01, (0.9, 0.99), 1e-8
    p = _t(p0, fused, True)
    kw = dict(lr=lr, betas=betas, eps=eps, weight_decay=wd, amsgrad=amsgrad, maximize=maximize)
    opt = optim.AdamW([p], **kw) if decoupled else optim.Adam([p], **kw)
    for g in grads:
        p.grad = _t(g, fused)
        opt.step()
    assert fused.calls["adam_update"] == len(grads)
    want, (ref,) = ref_optim.run_rule("Adam", dict(kw, decoupled_weight_decay=decoupled), [p0],
                                      lambda t, i, w: grads[t - 1], len(grads))
    np.testing.assert_allclose(p.numpy(), want[0], rtol=1e-10, atol=1e-13)
    st = opt.state[p]
    assert st["step"] == ref["step"] == len(grads)
    for name in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        np.testing.assert_allclose(_host(st[name]), ref[name], rtol=1e-12)
