"""Creation functions and the Tensor data model: values against NumPy, default dtype float32,
float64 throughout, integer/bool tensors for labels and masks, ``manual_seed``
reproducibility, and the PyTorch-style attributes (shape, size, T, repr, NumPy interop...)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import autodiff as ad


@pytest.mark.parametrize("fn,ref", [(ad.zeros, np.zeros), (ad.ones, np.ones)])
def test_zeros_ones(fn, ref):
    for args in [(2, 3), ((2, 3),), ([4],), ()]:
        t = fn(*args)
        shape = args[0] if len(args) == 1 else args
        np.testing.assert_array_equal(t.numpy(), ref(tuple(shape)))
        assert t.dtype == np.float32 and not t.requires_grad and t.is_leaf
    assert fn(2, dtype=ad.float64).dtype == np.float64
    assert fn(2, dtype=ad.int64).dtype == np.int64
    assert fn(2, requires_grad=True).requires_grad


def test_full_empty_eye():
    np.testing.assert_array_equal(ad.full((2, 2), 1.5).numpy(), np.full((2, 2), 1.5))
    assert ad.full((2,), 1.5).dtype == np.float32
    assert ad.full((2,), 3).dtype == np.int64
    assert ad.full(2, True).dtype == np.bool_
    assert ad.full((2,), 3, dtype=ad.float64).dtype == np.float64
    e = ad.empty(3, 2)
    assert e.shape == (3, 2) and e.dtype == np.float32
    np.testing.assert_array_equal(ad.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(ad.eye(2, 3, dtype=ad.float64).numpy(), np.eye(2, 3))


def test_arange_linspace():
    a = ad.arange(5)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a.numpy(), np.arange(5))
    np.testing.assert_array_equal(ad.arange(2, 9, 3).numpy(), [2, 5, 8])
    f = ad.arange(0, 1, 0.25)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.numpy(), [0, 0.25, 0.5, 0.75])
    assert ad.arange(3, dtype=ad.float64).dtype == np.float64
    l = ad.linspace(-1, 1, 5)
    assert l.dtype == np.float32
    np.testing.assert_allclose(l.numpy(), np.linspace(-1, 1, 5))
    np.testing.assert_allclose(ad.linspace(0, 1, 3, dtype=ad.float64).numpy(), [0, 0.5, 1])


def test_like_functions():
    x = ad.ones(2, 3, dtype=ad.float64)
    for fn, want in [(ad.zeros_like, 0.0), (ad.ones_like, 1.0)]:
        y = fn(x)
        assert y.shape == (2, 3) and y.dtype == np.float64
        np.testing.assert_array_equal(y.numpy(), np.full((2, 3), want))
    np.testing.assert_array_equal(ad.full_like(x, 7).numpy(), np.full((2, 3), 7.0))
    assert ad.full_like(x, 7).dtype == np.float64
    assert ad.empty_like(x).shape == (2, 3)
    assert ad.zeros_like(x, dtype=ad.float32).dtype == np.float32
    r = ad.randn_like(x)
    assert r.shape == (2, 3) and r.dtype == np.float64
    u = ad.rand_like(ad.ones(100))
    assert u.dtype == np.float32 and 0 <= u.numpy().min() and u.numpy().max() < 1
    assert ad.zeros_like(x, requires_grad=True).requires_grad


def test_random_distributions():
    ad.manual_seed(0)
    n = ad.randn(4000)
    assert n.dtype == np.float32
    assert abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    u = ad.rand(4000, dtype=ad.float64)
    assert u.dtype == np.float64 and 0 <= u.numpy().min() and u.numpy().max() < 1
    assert abs(u.numpy().mean() - 0.5) < 0.05
    i = ad.randint(0, 5, (1000,))
    assert i.dtype == np.int64 and set(np.unique(i.numpy())) == {0, 1, 2, 3, 4}
    assert ad.randint(3, size=(2, 2)).shape == (2, 2)
    p = ad.randperm(7)
    np.testing.assert_array_equal(np.sort(p.numpy()), np.arange(7))
    assert ad.randn(2, 3, requires_grad=True).requires_grad


def _draw():
    return (ad.randn(5).numpy().copy(), ad.rand(3).numpy().copy(),
            ad.randint(0, 100, (4,)).numpy().copy(), ad.randperm(6).numpy().copy())


def test_manual_seed_reproducible():
    ad.manual_seed(123)
    first = _draw()
    ad.manual_seed(123)
    second = _draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    ad.manual_seed(124)
    assert not np.array_equal(_draw()[0], first[0])
    assert ad.initial_seed() == 124
    state = ad.get_rng_state()
    a = ad.randn(3).numpy().copy()
    ad.set_rng_state(state)
    np.testing.assert_array_equal(ad.randn(3).numpy(), a)


def test_manual_seed_reproducible_across_processes():
    code = "import autodiff as ad; ad.manual_seed(7); print(ad.randn(3).tolist())"
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120).stdout for _ in range(2)]
    assert outs[0] == outs[1] and outs[0].strip()
    ad.manual_seed(7)
    assert str(ad.randn(3).tolist()) == outs[0].strip()


def test_tensor_dtypes():
    assert ad.tensor(1.0).dtype == np.float32
    assert ad.tensor([1.0, 2.0]).dtype == np.float32
    assert ad.tensor(3).dtype == np.int64
    assert ad.tensor([True, False]).dtype == np.bool_
    assert ad.tensor(np.ones(2)).dtype == np.float64  # arrays keep their dtype
    assert ad.tensor([1, 2], dtype=ad.float64).dtype == np.float64
    assert ad.tensor(np.ones(2, np.float32), dtype=ad.float64).dtype == np.float64


def test_default_dtype_switch():
    assert ad.get_default_dtype() == np.float32
    ad.set_default_dtype(ad.float64)
    try:
        assert ad.tensor(1.0).dtype == np.float64
        assert ad.randn(2).dtype == np.float64 and ad.zeros(1).dtype == np.float64
    finally:
        ad.set_default_dtype(ad.float32)
    with pytest.raises(TypeError):
        ad.set_default_dtype(ad.int64)


def test_tensor_copies_but_as_tensor_shares():
    a = np.ones(3)
    t = ad.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1.0
    s = ad.as_tensor(a)
    f = ad.from_numpy(a)
    a[1] = 7
    assert s.numpy()[1] == 7 and f.numpy()[1] == 7
    c = ad.tensor(t)
    assert c.array is not t.array


def test_int_tensors_for_labels_and_masks():
    labels = ad.tensor([2, 0, 1])
    logits = ad.tensor(np.arange(9.0).reshape(3, 3), dtype=ad.float64, requires_grad=True)
    picked = logits[ad.arange(3), labels]
    np.testing.assert_array_equal(picked.numpy(), [2.0, 3.0, 7.0])
    picked.sum().backward()
    assert labels.grad is None and not labels.requires_grad
    mask = logits > 4
    assert mask.dtype == np.bool_
    (ad.where(mask, logits, 0.0).sum()).backward()
    assert (labels == 2).dtype == np.bool_
    assert ad.gather(logits, 1, labels.reshape(3, 1)).shape == (3, 1)


def test_tensor_attributes():
    a = np.arange(6.0).reshape(2, 3)
    t = ad.tensor(a, requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2
    assert t.size() == (2, 3) and t.size(1) == 3 and t.numel() == 6 and len(t) == 2
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    assert t.is_leaf and t.grad_fn is None and t.grad is None
    assert t.tolist() == a.tolist()
    assert ad.tensor([[2.5]]).item() == 2.5 and isinstance(ad.tensor(2).item(), int)
    np.testing.assert_array_equal(np.asarray(t), a)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert t.astype(ad.float32).dtype == np.float32
    d = t.detach()
    assert not d.requires_grad and d.array is t.array
    assert float(ad.tensor(1.5)) == 1.5 and int(ad.tensor(3)) == 3
    r = repr(t)
    assert r.startswith("tensor(") and "requires_grad=True" in r and "float64" in r
    assert "grad_fn=<mul>" in repr(t * 2)
    assert repr(ad.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert t.device == "cpu"
    assert [1, 2, 3][ad.tensor(1)] == 2  # __index__ for integer scalars


def test_numpy_interop_ufunc_defers_to_tensor():
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    out = np.array([1.0, 1.0]) * t
    assert isinstance(out, ad.Tensor) and out.requires_grad
