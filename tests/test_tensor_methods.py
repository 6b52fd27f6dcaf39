"""The everyday Tensor methods that return no differentiable value or need more than the op table
checks (``autodiff/tensor_api.py``, ``autodiff/ops/blas.py``): sizes, layout, factories'
dtype/device/requires_grad, the in-place shape changes' version counter and leaf rule, ``to``'s
argument forms, ``beta=0`` ignoring NaN, and the errors. Values and gradients of the same
methods are in ``tests/api_cases_tensor_methods.py``."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad


def x64(values, requires_grad=True) -> ad.Tensor:
    return ad.tensor(values, dtype=ad.float64, requires_grad=requires_grad)


def test_sizes():
    x = ad.zeros(2, 3, 4)
    assert x.ndimension() == 3 and x.nelement() == 24
    assert x.element_size() == 4 and x.double().element_size() == 8
    assert ad.zeros(2, dtype=ad.int64).element_size() == 8 and ad.tensor([True]).element_size() == 1


def test_contiguity():
    x = ad.zeros(2, 3)
    assert x.is_contiguous() and x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and c.shape == (3, 2)
    with pytest.raises(NotImplementedError, match="channels_last"):
        x.contiguous(memory_format=ad.channels_last)
    with pytest.raises(NotImplementedError, match="channels_last"):
        x.clone(memory_format=ad.channels_last)


def test_clone_copies_and_keeps_the_graph():
    x = x64([1.0, 2.0])
    c = x.clone()
    assert c.grad_fn is not None
    (c * c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    d = ad.tensor([1, 2])
    e = d.clone(memory_format=ad.contiguous_format)
    e.array[0] = 9
    assert d.array[0] == 1 and e.dtype == d.dtype


@pytest.mark.parametrize("name, args", [("new_zeros", ((2, 3),)), ("new_ones", (2, 3)),
                                        ("new_empty", ((2, 3),)), ("new_full", ((2, 3), 7))])
def test_factories_take_dtype_and_device_of_self(name, args):
    x = ad.zeros(1, dtype=ad.float64)
    y = getattr(x, name)(*args)
    assert y.shape == (2, 3) and y.dtype == ad.float64 and y.device == x.device
    assert not y.requires_grad and y.is_leaf
    z = getattr(x, name)(*args, dtype=ad.int32, requires_grad=False)
    assert z.dtype == ad.int32
    w = getattr(x, name)(*args, dtype=ad.float32, device=ad.device("cpu"), requires_grad=True)
    assert w.dtype == ad.float32 and w.requires_grad and w.is_leaf


def test_new_tensor_copies_its_data():
    x = ad.zeros(1, dtype=ad.float64)
    src = np.array([1.0, 2.0])
    y = x.new_tensor(src)
    src[0] = 5.0
    assert y.dtype == ad.float64 and y.numpy()[0] == 1.0
    assert x.new_tensor([1, 2], dtype=ad.int64).dtype == ad.int64
    assert x.new_tensor([1.0], requires_grad=True).requires_grad


def test_in_place_shape_changes_keep_the_graph_and_bump_the_version():
    x = x64([[1.0, 2.0, 3.0]])
    y = x * 2
    v = y._version.v
    assert y.squeeze_() is y and y.shape == (3,) and y._version.v == v + 1
    y.unsqueeze_(1)
    assert y.shape == (3, 1)
    y.t_()
    y.transpose_(0, 1)
    assert y.shape == (3, 1)
    (y * ad.tensor([[1.0], [2.0], [3.0]], dtype=ad.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 4.0, 6.0]])


def test_in_place_shape_change_of_a_saved_tensor_is_caught():
    x = x64([1.0, 2.0])
    y = x * 1
    z = y * y                                      # saves y
    y.unsqueeze_(0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_in_place_shape_change_rules():
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x64([1.0]).unsqueeze_(0)
    leaf = x64([1.0, 2.0])
    with ad.no_grad():
        leaf.unsqueeze_(0)
    assert leaf.shape == (1, 2) and leaf.requires_grad and leaf.is_leaf
    plain = ad.tensor([[1.0, 2.0]])
    alias = plain.detach()
    plain.t_()
    assert plain.shape == (2, 1)
    plain.array[1, 0] = 9.0                        # still the same data
    assert alias.array[0, 1] == 9.0


def test_t_rules():
    assert ad.tensor(1.0).t().shape == () and ad.zeros(3).t().shape == (3,)
    with pytest.raises(RuntimeError, match="<= 2 dimensions.*3-D"):
        ad.zeros(2, 3, 4).t()


@pytest.mark.parametrize("fn, args, msg", [
    (ad.mm, ((2, 3), (4, 5)), r"cannot be multiplied"),
    (ad.mm, ((2, 3), (3,)), r"mat2 must be a 2-D"),
    (ad.bmm, ((2, 2, 3), (3, 3, 4)), r"cannot be multiplied"),
    (ad.bmm, ((2, 3), (3, 4)), r"input must be a 3-D"),
    (ad.mv, ((2, 3), (2,)), r"cannot be multiplied"),
    (ad.mv, ((2, 3), (3, 1)), r"vec must be a 1-D")])
def test_product_shape_errors(fn, args, msg):
    with pytest.raises(RuntimeError, match=msg):
        fn(*[ad.zeros(*s) for s in args])


def test_addmm_input_must_broadcast_to_the_product():
    with pytest.raises(RuntimeError, match=r"addmm: input of shape \(3, 4\) cannot be broadcast"):
        ad.addmm(ad.zeros(3, 4), ad.zeros(2, 3), ad.zeros(3, 4))


def test_beta_zero_ignores_nan_in_input_and_gives_it_zero_gradient():
    i = x64([[np.nan, np.inf]])
    a = x64([[1.0, 2.0]])
    b = x64([[3.0, 4.0], [5.0, 6.0]])
    out = ad.addmm(i, a, b, beta=0, alpha=2)
    np.testing.assert_array_equal(out.numpy(), [[26.0, 32.0]])     # 2 * [13, 16]
    out.sum().backward()
    np.testing.assert_array_equal(i.grad.numpy(), [[0.0, 0.0]])


def test_to_forms():
    x = ad.tensor([1.0, 2.0])
    y = ad.zeros(1, dtype=ad.float64)
    assert x.to(ad.float64).dtype == ad.float64
    assert x.to(y).dtype == ad.float64
    assert x.to("cpu") is x and x.to(device="cpu", dtype=ad.float32) is x
    assert x.to("cpu", ad.float64, non_blocking=True).dtype == ad.float64
    c = x.to("cpu", copy=True)
    assert c is not x and not np.shares_memory(c.array, x.array)
    assert x.cpu() is x
    g = x64([1.0, 2.0])
    (g.to(ad.float32) * 3).sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="expected one of cpu, cuda"):
        x.to("float64")
    with pytest.raises(TypeError, match="too many positional"):
        x.to("cpu", ad.float32, False, False, 3)


def test_retain_grad_rules():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ad.tensor([1.0]).retain_grad()
    x = x64([1.0])
    x.retain_grad()                                 # a leaf: nothing to do
    assert not x.retains_grad
    y = x * 2
    assert not y.retains_grad
    y.retain_grad()
    y.retain_grad()
    assert y.retains_grad
    (y * 3).sum().backward()
    assert y.grad.item() == 3.0


def test_methods_against_pytorch(torch):
    x = torch.zeros(2, 3)
    a = ad.zeros(2, 3)
    assert (a.ndimension(), a.nelement(), a.element_size(), a.is_contiguous(),
            a.t().is_contiguous()) == (x.ndimension(), x.nelement(), x.element_size(),
                                       x.is_contiguous(), x.t().is_contiguous())
    assert a.new_full((2,), 3.5).dtype.name == str(x.new_full((2,), 3.5).dtype).split(".")[1]
    assert a.long().new_full((2,), 3.7).tolist() == x.long().new_full((2,), 3.7).tolist()
