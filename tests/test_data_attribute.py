"""``Tensor.data`` is PyTorch's: a detached Tensor sharing storage whose writes autograd does not
see; ``Tensor.array`` is the raw backend array."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad


def test_data_is_a_detached_tensor_sharing_storage():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.data
    assert isinstance(d, ad.Tensor) and not d.requires_grad and d.grad_fn is None
    d[0] = 10.0
    np.testing.assert_array_equal(x.numpy(), [10.0, 2.0, 3.0])
    assert x.array is d.array


def test_writes_through_data_are_invisible_to_autograd():
    # PyTorch: y = x*x saves x; x.data.mul_(2) is not caught, so the gradient uses the new x
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.data.mul_(2.0)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])   # 2 * (new x)


def test_writes_through_detach_are_caught():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.detach().mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_published_idioms():
    # `_, preds = torch.max(outputs.data, 1)`, `(preds == labels.data).sum()`,
    # `p.data.add_(-lr * p.grad.data)`, `x.grad.data.zero_()`
    outputs = ad.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], requires_grad=True)
    labels = ad.tensor([1, 0, 0])
    _, preds = outputs.data.max(1)
    assert int((preds == labels.data).sum()) == 2
    p = ad.tensor([1.0, -1.0], requires_grad=True)
    (p * ad.tensor([3.0, 5.0])).sum().backward()
    p.data.add_(-0.1 * p.grad.data)
    np.testing.assert_allclose(p.numpy(), [0.7, -1.5])
    p.grad.data.zero_()
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])


def test_assigning_data_replaces_the_storage():
    p = ad.tensor([1.0, 2.0], requires_grad=True)
    p.data = ad.tensor([5.0, 6.0, 7.0])
    assert p.shape == (3,) and p.requires_grad
    np.testing.assert_array_equal(p.numpy(), [5.0, 6.0, 7.0])
    with pytest.raises(TypeError, match="Tensor.data: can only be set to a Tensor, got list"):
        p.data = [1.0]
