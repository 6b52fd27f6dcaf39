"""Bad input: each error case raises the documented exception type with a message that names
the operation and the shapes involved (issue section "Bad input")."""
from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import cupy_backend
from autodiff.tensor import make


@pytest.mark.parametrize("op,name", [(ad.add, "add"), (ad.sub, "sub"), (ad.mul, "mul"),
                                     (ad.div, "div"), (ad.pow, "pow"), (ad.maximum, "maximum"),
                                     (ad.minimum, "minimum"), (ad.lt, "less"),
                                     (lambda a, b: a + b, "add"), (lambda a, b: a * b, "mul")])
def test_broadcast_mismatch(op, name):
    a, b = ad.ones(2, 3), ad.ones(4)
    with pytest.raises(ValueError, match=name) as e:
        op(a, b)
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)


def test_where_broadcast_mismatch():
    with pytest.raises(ValueError, match=r"where.*\(2, 3\).*\(4,\)|where.*\(4,\).*\(2, 3\)"):
        ad.where(np.ones((2, 3), bool), ad.ones(2, 3), ad.ones(4))


def test_matmul_mismatch():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        ad.ones(2, 3) @ ad.ones(2, 3)


def test_cat_mismatch():
    with pytest.raises(ValueError, match=r"cat.*\(2, 3\).*\(2, 4\)"):
        ad.cat([ad.ones(2, 3), ad.ones(2, 4)], dim=0)
    with pytest.raises(ValueError, match="cat"):
        ad.cat([ad.ones(2, 3), ad.ones(2)], dim=0)
    with pytest.raises(ValueError, match="cat"):
        ad.cat([])
    with pytest.raises(ValueError, match=r"stack.*\(2,\).*\(3,\)"):
        ad.stack([ad.ones(2), ad.ones(3)])


def test_reshape_mismatch():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        ad.ones(2, 3).reshape(4, 2)


def test_other_shape_errors():
    with pytest.raises(ValueError, match=r"broadcast_to.*\(2, 3\).*\(3, 3\)"):
        ad.broadcast_to(ad.ones(2, 3), (3, 3))
    with pytest.raises(ValueError, match="permute"):
        ad.ones(2, 3).permute(0, 0)
    with pytest.raises(IndexError, match=r"sum: Dimension out of range .*\[-2, 1\], but got 2"):
        ad.ones(2, 3).sum(axis=2)
    with pytest.raises(ValueError, match="split"):
        ad.split(ad.ones(5), [2, 2])


def test_backward_non_scalar_without_gradient():
    x = ad.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape():
    x = ad.ones(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(ad.ones(3))


def test_backward_of_tensor_not_requiring_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (ad.ones(2) * 2).sum().backward()
    x = ad.ones(2, requires_grad=True)
    with ad.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_requires_grad_on_integer_tensor():
    with pytest.raises(RuntimeError, match="int64"):
        ad.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating"):
        ad.arange(3).requires_grad_()
    t = ad.tensor([True, False])
    with pytest.raises(RuntimeError, match="bool"):
        t.requires_grad = True
    with pytest.raises(RuntimeError):
        ad.zeros(2, dtype=ad.int64, requires_grad=True)


def test_item_on_multi_element_tensor():
    with pytest.raises(ValueError, match=r"item.*\(2, 2\)"):
        ad.ones(2, 2).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(ad.ones(3))
    assert ad.ones(1, 1).item() == 1.0


def test_requires_grad_off_on_non_leaf():
    x = ad.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False


class _FakeCupyArray:
    """Poses as a CuPy array (its module says cupy) to simulate a tensor on the other backend
    without a GPU: like a real CuPy array, it refuses arithmetic with NumPy arrays."""

    __array_ufunc__ = None  # NumPy defers to us, and we implement nothing: TypeError

    def __init__(self, a: np.ndarray) -> None:
        self.shape, self.dtype, self.ndim, self.size = a.shape, a.dtype, a.ndim, a.size


_FakeCupyArray.__module__ = "cupy._core.core"


def test_mixing_backends_simulated():
    a = ad.ones(3)
    b = make(_FakeCupyArray(np.ones(3)))
    assert b.device == "cuda"
    ops = (ad.add, ad.sub, ad.mul, ad.div, ad.matmul, ad.maximum, lambda p, q: p - q,
           lambda p, q: p * q, lambda p, q: q + p)
    for op in ops:
        with pytest.raises(TypeError, match=r"different devices.*(cpu.*cuda|cuda.*cpu)"):
            op(a, b)


@pytest.mark.skipif(not cupy_backend.is_available(), reason="needs CuPy and a GPU")
def test_mixing_backends_real():
    a = ad.ones(3)
    b = ad.ones(3, device="cuda")
    with pytest.raises(TypeError, match="different devices"):
        a + b


def test_detect_anomaly_names_forward_op():
    x = ad.tensor([-1.0, 1.0], requires_grad=True)
    with ad.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"\blog\b"):
            ad.log(x)
        with pytest.raises(FloatingPointError, match="div"):
            x / ad.tensor([0.0, 1.0])
    y = ad.log(x)  # outside: NaN propagates silently, as in NumPy
    assert np.isnan(y.numpy()[0])


def test_detect_anomaly_in_backward_names_op():
    x = ad.tensor([0.0, 4.0], dtype=ad.float64, requires_grad=True)
    with ad.detect_anomaly():
        y = ad.sqrt(x).sum()  # finite forward, infinite gradient at 0
        with pytest.raises(FloatingPointError, match="sqrt"):
            y.backward()


def test_detect_anomaly_decorator_and_restore():
    @ad.detect_anomaly()
    def f(t):
        return ad.log(t)
    with pytest.raises(FloatingPointError, match="log"):
        f(ad.tensor([-1.0]))
    ad.log(ad.tensor([-1.0]))  # off again


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match=r"tensorflow.*numpy.*cupy"):
        ad.set_backend("tensorflow")
    assert ad.get_backend().name == "numpy"


@pytest.mark.skipif(cupy_backend.is_available(), reason="CuPy and a GPU are present")
def test_cupy_backend_without_cupy_is_clear():
    with pytest.raises(RuntimeError, match="(?i)cupy.*(not installed|no cuda gpu)"):
        ad.set_backend("cupy")
    assert ad.get_backend().name == "numpy"
    with pytest.raises(RuntimeError, match="(?i)cupy"):
        ad.zeros(2, device="cuda")


def test_grad_errors():
    x = ad.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="grad_outputs"):
        ad.grad([(x * 2).sum()], [x], grad_outputs=[None, None])
    with pytest.raises(RuntimeError, match="input 0"):
        ad.grad((x * 2).sum(), [ad.ones(2)])


def test_gradcheck_refuses_float32_and_reports_mismatch():
    with pytest.raises(ValueError, match="float64"):
        ad.gradcheck(lambda t: t * 2, (ad.ones(2, requires_grad=True),))

    class Wrong(ad.Function):
        @staticmethod
        def forward(ctx, t):
            return t * t

        @staticmethod
        def backward(ctx, g):
            return g * 3.0
    x = ad.tensor([1.0, 2.0], dtype=ad.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        ad.gradcheck(Wrong.apply, (x,))
    assert ad.gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_index_errors():
    with pytest.raises(IndexError, match=r"\(3,\)"):
        ad.ones(3)[3]
    with pytest.raises(ValueError, match="dimension"):
        ad.ones(2, 3).unsqueeze(5)


def test_tensor_from_bad_data():
    with pytest.raises(TypeError):
        ad.tensor(object())
    with pytest.raises(TypeError, match="0-d"):
        len(ad.tensor(1.0))
