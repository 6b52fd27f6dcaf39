"""Whole-engine operations on every backend (the ``backend`` fixture: numpy, and cupy where a GPU
is present): forward values and gradients against NumPy computed on the CPU, device moves,
device-mixing errors, seeding, and DLPack interop."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import cupy_backend

HAVE_GPU = cupy_backend.is_available()
gpu = pytest.mark.skipif(not HAVE_GPU, reason="CuPy or a CUDA GPU is not available")


def _np(t) -> np.ndarray:
    return np.asarray(t.numpy())


def _leaf(a, backend):
    """A leaf tensor on ``backend``'s device holding ``a`` (float32 by default)."""
    dev = "cuda" if backend == "cupy" else "cpu"
    return ad.tensor(a, device=dev, requires_grad=True)


def _device(backend):
    return "cuda" if backend == "cupy" else "cpu"


def test_elementwise_forward_and_grad(backend):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((1, 5)).astype(np.float32)  # broadcast: sum_to in backward
    x, y = _leaf(a, backend), _leaf(b, backend)
    assert x.device == _device(backend)
    out = ad.sum(ad.tanh(x) * ad.exp(y) + ad.sigmoid(x - y) / (1 + y * y))
    ex = np.tanh(a) * np.exp(b) + 1 / (1 + np.exp(-(a - b))) / (1 + b * b)
    np.testing.assert_allclose(float(out.item()), ex.sum(), rtol=1e-5)
    out.backward()
    s = 1 / (1 + np.exp(-(a - b)))
    gx = (1 - np.tanh(a) ** 2) * np.exp(b) + s * (1 - s) / (1 + b * b)
    gy = (np.tanh(a) * np.exp(b) - s * (1 - s) / (1 + b * b)
          - s * 2 * b / (1 + b * b) ** 2).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(_np(x.grad), gx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(y.grad), gy, rtol=1e-4, atol=1e-5)
    assert x.grad.device == _device(backend)


def test_reductions_and_softmax(backend):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 6)).astype(np.float32)
    x = _leaf(a, backend)
    w = rng.standard_normal((3, 6)).astype(np.float32)
    sm = ad.softmax(x, dim=1)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    ref = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(_np(sm), ref, rtol=1e-5, atol=1e-7)
    loss = ad.sum(sm * ad.tensor(w, device=_device(backend))) + ad.sum(ad.amax(x, axis=1)) + \
        ad.mean(ad.logsumexp(x, axis=1))
    loss.backward()
    g_sm = ref * (w - (w * ref).sum(axis=1, keepdims=True))
    g_max = (a == a.max(axis=1, keepdims=True)).astype(np.float32)
    g_lse = ref / 3
    np.testing.assert_allclose(_np(x.grad), g_sm + g_max + g_lse, rtol=1e-4, atol=1e-5)


def test_matmul_forward_and_grad(backend):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    x, y = _leaf(a, backend), _leaf(b, backend)
    out = x @ y
    np.testing.assert_allclose(_np(out), a @ b, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal((5, 3)).astype(np.float32)
    out.backward(ad.tensor(g, device=_device(backend)))
    np.testing.assert_allclose(_np(x.grad), g @ b.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(y.grad), a.T @ g, rtol=1e-5, atol=1e-6)


def test_indexing_scatter_add(backend):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    x = _leaf(a, backend)
    idx = np.array([0, 2, 2, 3, 0, 0])   # repeated rows must accumulate
    out = x[ad.tensor(idx, device=_device(backend))]
    np.testing.assert_allclose(_np(out), a[idx])
    g = np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32)
    out.backward(ad.tensor(g, device=_device(backend)))
    ref = np.zeros_like(a)
    for k, i in enumerate(idx):
        ref[i] += g[k]
    np.testing.assert_allclose(_np(x.grad), ref, rtol=1e-6, atol=1e-6)


def test_manual_seed_reproducible(backend):
    dev = _device(backend)
    ad.manual_seed(123)
    a = _np(ad.randn(3, 4, device=dev))
    b = _np(ad.rand(5, device=dev))
    ad.manual_seed(123)
    np.testing.assert_array_equal(_np(ad.randn(3, 4, device=dev)), a)
    np.testing.assert_array_equal(_np(ad.rand(5, device=dev)), b)
    ad.manual_seed(124)
    assert not np.array_equal(_np(ad.randn(3, 4, device=dev)), a)


def test_cpu_device_and_to_cpu_are_identity():
    x = ad.tensor([1.0, 2.0], device="cpu")        # (AUTODIFF_BACKEND=cupy: not the default)
    assert x.device == "cpu"
    assert x.to("cpu") is x and x.cpu() is x


def test_to_cuda_without_gpu_is_a_clear_error():
    if HAVE_GPU:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="cupy"):
        ad.tensor([1.0]).to("cuda")


@gpu
def test_to_cuda_and_back_is_differentiable():
    x = ad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda"
    z = ad.sum(y * y).cpu()
    assert z.device == "cpu"
    z.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(_np(x.grad), [2.0, -4.0, 6.0])


@gpu
def test_mixing_devices_names_both():
    a = ad.tensor([1.0, 2.0])
    b = ad.tensor([1.0, 2.0], device="cuda")
    for op in (lambda: a + b, lambda: b * a, lambda: ad.matmul(a, b)):
        with pytest.raises(TypeError) as e:
            op()
        assert "cpu" in str(e.value) and "cuda" in str(e.value)


@gpu
def test_gpu_results_match_numpy_backend():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((8, 6)).astype(np.float32)
    res = {}
    for dev in ("cpu", "cuda"):
        x = ad.tensor(a, device=dev, requires_grad=True)
        loss = ad.sum(ad.log_softmax(ad.relu(x) @ ad.tensor(a.T, device=dev), dim=1) ** 2)
        loss.backward()
        res[dev] = (float(loss.item()), _np(x.grad))
    assert res["cuda"][0] == pytest.approx(res["cpu"][0], rel=1e-4)
    np.testing.assert_allclose(res["cuda"][1], res["cpu"][1], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- DLPack
def test_dlpack_numpy_roundtrip_zero_copy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ad.from_dlpack(a)
    assert t.device == "cpu" and t.shape == (2, 3)
    a[0, 0] = 42.0                      # seen through the tensor
    assert float(t[0, 0].item()) == 42.0
    back = np.from_dlpack(t)            # Tensor.__dlpack__ / __dlpack_device__
    t.array[1, 2] = -7.0
    assert back[1, 2] == -7.0
    assert np.shares_memory(back, a)


def test_dlpack_torch_roundtrip_zero_copy(torch):
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    t = ad.from_dlpack(src)
    src[1, 1] = 99.0
    assert float(t[1, 1].item()) == 99.0
    back = torch.from_dlpack(t)
    t.array[0, 2] = -3.0
    assert back[0, 2].item() == -3.0
    assert back.data_ptr() == src.data_ptr()


@gpu
def test_dlpack_cupy_roundtrip_zero_copy():
    import cupy
    c = cupy.arange(4, dtype=cupy.float32)
    t = ad.from_dlpack(c)
    assert t.device == "cuda"
    c[0] = 5.0
    assert float(t[0].item()) == 5.0
    back = cupy.from_dlpack(t)
    assert back.data.ptr == c.data.ptr


@gpu
def test_dlpack_torch_cuda_zero_copy(torch):
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    src = torch.arange(4, dtype=torch.float32, device="cuda")
    t = ad.from_dlpack(src)
    assert t.device == "cuda"
    back = torch.from_dlpack(t)
    assert back.data_ptr() == src.data_ptr()


def test_benchmark_helpers_import_without_gpu():
    from benchmarks import gpu as bg
    if HAVE_GPU:
        assert bg.gpu_time(lambda: None, n_repeat=3, n_warmup=1).n_repeat == 3
        return
    for call in (lambda: bg.gpu_time(lambda: None), lambda: bg.count_launches(lambda: None),
                 lambda: bg.cublas_rate(64)):
        with pytest.raises(RuntimeError, match="GPU"):
            call()
