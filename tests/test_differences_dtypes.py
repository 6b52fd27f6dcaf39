"""Silent differences 1, 6, 7, 10 and 11 of issue 13 ("Port PyTorch code unchanged"): bitwise
operators, integer linspace/arange, type promotion, tensors of strings, and matrix products of
mixed dtypes.

Each case is one expression written once against the API both libraries share (``M`` is
``autodiff`` or ``torch``), with PyTorch's result (dtype and values) written out as constants:
the expression runs on autodiff against the constants and, when PyTorch is installed, on
PyTorch against the same constants (which checks the constants themselves).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest

import autodiff as ad


class Expect(NamedTuple):
    id: str
    expr: Callable        # M -> tensor
    dtype: str            # PyTorch's result dtype, without "torch."
    values: object = None  # PyTorch's values (None: only the dtype is documented here)


def _i(M, values, dtype="int64"):
    return M.tensor(values, dtype=getattr(M, dtype))


# ----------------------------------------------------------------------------- 1: bitwise
T = [5, 3, -2, 12]
BITWISE = [
    Expect("and", lambda M: _i(M, T) & 6, "int64", [4, 2, 6, 4]),
    Expect("or", lambda M: _i(M, T) | 6, "int64", [7, 7, -2, 14]),
    Expect("xor", lambda M: _i(M, T) ^ 6, "int64", [3, 5, -8, 10]),
    Expect("not", lambda M: ~_i(M, T), "int64", [-6, -4, 1, -13]),
    Expect("t&t==t", lambda M: _i(M, T) & _i(M, T), "int64", T),
    Expect("lshift", lambda M: _i(M, T) << 2, "int64", [20, 12, -8, 48]),
    Expect("rshift", lambda M: _i(M, T) >> 1, "int64", [2, 1, -1, 6]),
    Expect("rlshift", lambda M: 1 << _i(M, [0, 3, 62]), "int64", [1, 8, 2 ** 62]),
    Expect("rand", lambda M: 6 & _i(M, T), "int64", [4, 2, 6, 4]),
    Expect("shift out of range", lambda M: _i(M, [1, -8, 5]) << 64, "int64", [0, 0, 0]),
    Expect("rshift out of range", lambda M: _i(M, [1, -8, 5]) >> 64, "int64", [0, -1, 0]),
    Expect("int8 shifts", lambda M: _i(M, [1, -100], "int8") << 7, "int8", [-128, 0]),
    Expect("uint8 not", lambda M: ~_i(M, [0, 255, 1], "uint8"), "uint8", [255, 0, 254]),
    Expect("int32 & int64", lambda M: _i(M, [6], "int32") & _i(M, [3]), "int64", [2]),
    Expect("int32 & 5", lambda M: _i(M, [6], "int32") & 5, "int32", [4]),
    Expect("uint8 | int8", lambda M: _i(M, [6], "uint8") | _i(M, [-8], "int8"), "int16",
           [-2]),
    Expect("bool & bool", lambda M: M.tensor([True, False, True]) & M.tensor([True, True,
                                                                             False]),
           "bool", [True, False, False]),
    Expect("bool | bool", lambda M: M.tensor([True, False]) | M.tensor([False, False]),
           "bool", [True, False]),
    Expect("~bool", lambda M: ~M.tensor([True, False]), "bool", [False, True]),
    Expect("bool & 3", lambda M: M.tensor([True, False]) & 3, "int64", [1, 0]),
    Expect("bool << 1", lambda M: M.tensor([True, False]) << 1, "int64", [2, 0]),
    Expect("bitwise_xor", lambda M: M.bitwise_xor(_i(M, T), _i(M, [1, 1, 1, 1])), "int64",
           [4, 2, -1, 13]),
    Expect("bitwise_not", lambda M: M.bitwise_not(_i(M, [0, -1], "int16")), "int16", [-1, 0]),
    Expect("bitwise_left_shift", lambda M: M.bitwise_left_shift(_i(M, [3]), _i(M, [4])),
           "int64", [48]),
    Expect("method", lambda M: _i(M, T).bitwise_and(_i(M, [1, 1, 1, 1])), "int64",
           [1, 1, 0, 0]),
    Expect("logical_and stays logical", lambda M: M.logical_and(_i(M, [5, 0, 2]),
                                                                _i(M, [2, 2, 0])),
           "bool", [True, False, False]),
    Expect("logical_xor", lambda M: M.logical_xor(_i(M, [5, 0]), _i(M, [2, 2])), "bool",
           [False, True]),
]

# ----------------------------------------------------------------------------- 6: linspace
CREATION = [
    Expect("linspace int32 toward zero", lambda M: M.linspace(5, -5, 20, dtype=M.int32),
           "int32", [5, 4, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, -1, -1, -2, -2, -3, -3, -4, -5]),
    Expect("linspace int64 ends truncated first",
           lambda M: M.linspace(-3.7, 2.2, 5, dtype=M.int64), "int64", [-3, -1, 0, 0, 2]),
    Expect("linspace uint8 wraps -1", lambda M: M.linspace(-1, 5, 4, dtype=M.uint8), "uint8",
           [255, 171, 88, 5]),
    Expect("linspace one step", lambda M: M.linspace(3, 1, 1), "float32", [3.0]),
    Expect("linspace float", lambda M: M.linspace(0, 1, 5), "float32",
           [0.0, 0.25, 0.5, 0.75, 1.0]),
    Expect("arange int64 truncates", lambda M: M.arange(0, 5, 1.5, dtype=M.int64), "int64",
           [0, 1, 2, 3, 4]),
    Expect("arange int64 negative start", lambda M: M.arange(-2.5, 2, 1, dtype=M.int64),
           "int64", [-2, -1, 0, 1]),
    Expect("arange int64 negative step", lambda M: M.arange(5, -5, -1.5, dtype=M.int64),
           "int64", [5, 4, 3, 2, 1, 0, -1, -2, -3, -4]),
    Expect("arange int32 counts in doubles", lambda M: M.arange(0, 5, 1.5, dtype=M.int32),
           "int32", [0, 1, 2, 3]),
    # values start + i * step in float64, then rounded: NumPy's float32 arange gives 0.90000004
    Expect("arange float32 rounds once", lambda M: M.arange(0, 1, 0.1), "float32",
           np.float32(np.arange(10) * 0.1).tolist()),
    Expect("arange default int64", lambda M: M.arange(3), "int64", [0, 1, 2]),
    Expect("arange numpy int", lambda M: M.arange(np.int64(3)), "int64", [0, 1, 2]),
]


# ----------------------------------------------------------------------------- 7: promotion
def _dim(M, dtype, values=(1, 0, 1)):
    return M.tensor(list(values), dtype=getattr(M, dtype))


def _zero(M, dtype, value=1):
    return M.tensor(value, dtype=getattr(M, dtype))


PROMOTION = [
    Expect("maximum(int32, tensor(1.2))", lambda M: M.maximum(_dim(M, "int32"), M.tensor(1.2)),
           "float32", [1.2, 1.2, 1.2]),
    Expect("int32 + float64 0-d", lambda M: _dim(M, "int32") + _zero(M, "float64", 0.5),
           "float64", [1.5, 0.5, 1.5]),
    # NumPy 2 (NEP 50) gives float64 here; PyTorch computes in float32: 1 + 1e-8 rounds to 1
    Expect("float32 + float64 0-d", lambda M: _dim(M, "float32") + _zero(M, "float64", 1e-8),
           "float32", [1.0, 1e-8, 1.0]),
    Expect("float16 + float64 0-d", lambda M: _dim(M, "float16") + _zero(M, "float64"),
           "float16", [2, 1, 2]),
    Expect("float16 + int64", lambda M: _dim(M, "float16") + _dim(M, "int64"), "float16",
           [2, 0, 2]),
    Expect("float32 + float64", lambda M: _dim(M, "float32") + _dim(M, "float64"), "float64",
           [2, 0, 2]),
    Expect("int8 + uint8", lambda M: _dim(M, "int8") + _dim(M, "uint8"), "int16", [2, 0, 2]),
    Expect("bool + 5", lambda M: _dim(M, "bool") + 5, "int64", [6, 5, 6]),
    Expect("bool + 5.0", lambda M: _dim(M, "bool") + 5.0, "float32", [6, 5, 6]),
    Expect("bool + True", lambda M: _dim(M, "bool") + True, "bool", [True, True, True]),
    Expect("int32 + 5", lambda M: _dim(M, "int32") + 5, "int32", [6, 5, 6]),
    Expect("int32 + 2.5", lambda M: _dim(M, "int32") + 2.5, "float32", [3.5, 2.5, 3.5]),
    Expect("int32 + int64 0-d", lambda M: _dim(M, "int32") + M.tensor(5), "int32", [6, 5, 6]),
    Expect("0-d int32 + 0-d int64", lambda M: _zero(M, "int32") + M.tensor(5), "int64", 6),
    Expect("0-d int32 + 2.5", lambda M: _zero(M, "int32") + 2.5, "float32", 3.5),
    Expect("0-d float64 + int32", lambda M: _zero(M, "float64") + _dim(M, "int32"), "float64",
           [2, 1, 2]),
    Expect("int32 * numpy float64", lambda M: _dim(M, "int32") * np.float64(2.5), "float32",
           [2.5, 0, 2.5]),
    Expect("float32 * numpy float64", lambda M: _dim(M, "float32") * np.float64(2.5),
           "float32", [2.5, 0, 2.5]),
    Expect("int32 / int32", lambda M: _dim(M, "int32", (1, 2, 3)) / _dim(M, "int32", (2,) * 3),
           "float32", [0.5, 1.0, 1.5]),
    Expect("int32 ** 2", lambda M: _dim(M, "int32", (1, 2, 3)) ** 2, "int32", [1, 4, 9]),
    Expect("int32 ** 2.0", lambda M: _dim(M, "int32", (1, 2, 3)) ** 2.0, "float32", [1, 4, 9]),
    Expect("bool ** 3", lambda M: _dim(M, "bool") ** 3, "int64", [1, 0, 1]),
    Expect("2 ** int32", lambda M: 2 ** _dim(M, "int32", (1, 2, 3)), "int32", [2, 4, 8]),
    Expect("2.0 ** int32", lambda M: 2.0 ** _dim(M, "int32", (1, 2, 3)), "float32", [2, 4, 8]),
    Expect("int32 < 2.5", lambda M: _dim(M, "int32", (2, 3, 1)) < 2.5, "bool",
           [True, False, True]),
    Expect("where(mask, int32, 2.5)",
           lambda M: M.where(M.tensor([True, False, True]), _dim(M, "int32"), 2.5), "float32",
           [1, 2.5, 1]),
    Expect("where(mask, int32, float64 0-d)",
           lambda M: M.where(M.tensor([True, False, True]), _dim(M, "int32"),
                             _zero(M, "float64", 0.5)), "float64", [1, 0.5, 1]),
    Expect("minimum(int64, float16)", lambda M: M.minimum(_dim(M, "int64"), _dim(M, "float16")),
           "float16", [1, 0, 1]),
    Expect("maximum(uint8, int8)", lambda M: M.maximum(_dim(M, "uint8"), _dim(M, "int8")),
           "int16", [1, 0, 1]),
    Expect("float64 0-d * float32 0-d", lambda M: _zero(M, "float64") * _zero(M, "float32"),
           "float64", 1.0),
]


@pytest.mark.parametrize("case", BITWISE + CREATION + PROMOTION, ids=lambda c: c.id)
def test_autodiff_gives_pytorchs_result(case):
    out = case.expr(ad)
    assert str(out.dtype) == case.dtype, f"{case.id}: dtype {out.dtype}, PyTorch {case.dtype}"
    _assert_values(out.numpy(), case)


@pytest.mark.parametrize("case", BITWISE + CREATION + PROMOTION, ids=lambda c: c.id)
def test_the_constants_are_pytorchs(case, torch):
    out = case.expr(torch)
    assert str(out.dtype).replace("torch.", "") == case.dtype
    _assert_values(out.numpy(), case)


def _assert_values(got, case):
    want = np.asarray(case.values, dtype=got.dtype if got.dtype.kind in "biu" else None)
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=case.id)
    else:
        tol = {"float16": 1e-3, "float32": 1e-7}.get(str(got.dtype), 1e-15)
        np.testing.assert_allclose(got, want, rtol=tol, atol=0, err_msg=case.id)


def test_default_dtype_decides_int_and_python_float():
    ad.set_default_dtype(ad.float64)
    try:
        assert (ad.tensor([1, 2], dtype=ad.int32) + 2.5).dtype == ad.float64
        assert ad.maximum(ad.tensor([1], dtype=ad.int32), ad.tensor(1.2)).dtype == ad.float64
        assert ad.result_type(ad.tensor([1]), 1j) == ad.complex128
    finally:
        ad.set_default_dtype(ad.float32)


def test_promote_types_result_type_can_cast():
    assert ad.promote_types(ad.float16, ad.int64) == ad.float16     # NumPy: float64
    assert ad.promote_types(ad.uint8, ad.int8) == ad.int16
    assert ad.promote_types(ad.bool, ad.bool) == ad.bool
    assert ad.promote_types(ad.float64, ad.complex64) == ad.complex128
    with pytest.raises(TypeError, match="uint64.*int64"):
        ad.promote_types(ad.uint64, ad.int64)
    i32 = ad.tensor([1], dtype=ad.int32)
    assert ad.result_type(i32, 2.5) == ad.float32
    assert ad.result_type(i32, ad.tensor(2.5, dtype=ad.float64)) == ad.float64
    assert ad.result_type(ad.ones(2), ad.tensor(1.0, dtype=ad.float64)) == ad.float32
    assert ad.result_type(ad.tensor([1.0]), 1j) == ad.complex64
    assert [ad.can_cast(a, b) for a, b in [(ad.float64, ad.int32), (ad.int32, ad.float16),
                                           (ad.int64, ad.bool), (ad.uint8, ad.int8),
                                           (ad.bool, ad.uint8), (ad.complex64, ad.float64)]] \
        == [False, True, False, True, True, False]


def test_promotion_tables_match_torch(torch):
    names = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
             "float64"]
    for a in names:
        for b in names:
            assert ad.promote_types(getattr(ad, a), getattr(ad, b)) == \
                np.dtype(str(torch.promote_types(getattr(torch, a), getattr(torch, b)))[6:])
            for x, y in [((1,), ()), ((), (1,)), ((), ())]:
                got = ad.result_type(ad.ones(x, dtype=getattr(ad, a)),
                                     ad.ones(y, dtype=getattr(ad, b)))
                want = torch.result_type(torch.ones(x, dtype=getattr(torch, a)),
                                         torch.ones(y, dtype=getattr(torch, b)))
                assert str(got) == str(want)[6:], (a, x, b, y)
        for s in (True, 3, 2.5):
            got = ad.result_type(ad.ones(2, dtype=getattr(ad, a)), s)
            assert str(got) == str(torch.result_type(torch.ones(2, dtype=getattr(torch, a)),
                                                     s))[6:], (a, s)


def test_gradients_come_back_in_each_inputs_dtype():
    x = ad.tensor([1.0, 2.0, 3.0], dtype=ad.float32, requires_grad=True)
    c = ad.tensor(0.5, dtype=ad.float64, requires_grad=True)
    y = x * c + x                        # float32 (PyTorch's promotion), c cast in the graph
    assert y.dtype == ad.float32
    (y * y).sum().backward()
    assert x.grad.dtype == ad.float32 and c.grad.dtype == ad.float64
    # d/dx sum((1.5 x)^2) = 2 * 1.5^2 x; d/dc sum(((c + 1) x)^2) = 2 (c + 1) sum(x^2)
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2.25 * np.array([1, 2, 3]), rtol=1e-6)
    np.testing.assert_allclose(c.grad.numpy(), 2 * 1.5 * 14, rtol=1e-6)
    i = ad.tensor([1, 2, 3], dtype=ad.int32)
    w = ad.tensor(2.0, dtype=ad.float64, requires_grad=True)
    z = ad.maximum(i, w)                 # float64: the 0-d float tensor's own dtype
    z.sum().backward()
    assert z.dtype == ad.float64 and w.grad.dtype == ad.float64
    # w wins against 1, ties with 2 (half the gradient, as PyTorch), loses to 3
    np.testing.assert_allclose(w.grad.numpy(), 1 + 0.5 + 0)


def test_mixed_precision_gradients_against_finite_differences():
    a = ad.tensor(np.linspace(-1, 1, 4), requires_grad=True)          # float64, dimensioned
    b = ad.tensor(0.3, dtype=ad.float64, requires_grad=True)
    k = ad.tensor([1, 2, 3, 4], dtype=ad.int16)
    assert ad.gradcheck(lambda a, b: (a * k + b ** 2) / (k + b), (a, b))
    assert ad.gradgradcheck(lambda a, b: ad.maximum(a * k, b) * 2.5, (a, b))


def test_casts_differentiate_into_floats_only():
    x = ad.tensor([1.5, -2.25], dtype=ad.float64, requires_grad=True)
    h = x.float() * 2
    assert h.dtype == ad.float32 and h.requires_grad
    h.sum().backward()
    assert x.grad.dtype == ad.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    for cast, dtype, values in [("int", ad.int32, [1, -2]), ("long", ad.int64, [1, -2]),
                                ("short", ad.int16, [1, -2]), ("char", ad.int8, [1, -2]),
                                ("byte", ad.uint8, [1, 254]), ("bool", ad.bool, [True, True]),
                                ("half", ad.float16, [1.5, -2.25]),
                                ("double", ad.float64, [1.5, -2.25])]:
        y = getattr(x, cast)()
        assert y.dtype == dtype, cast
        assert y.requires_grad == (dtype.kind == "f"), cast
        np.testing.assert_array_equal(y.numpy(), values, err_msg=cast)
    assert x.double() is x                               # no cast: the tensor itself


def test_type_and_view_dtype():
    x = ad.tensor([1.0, -2.0], requires_grad=True)
    assert x.type() == "torch.FloatTensor"
    assert ad.tensor([1]).type() == "torch.LongTensor"
    assert ad.tensor([True]).type() == "torch.BoolTensor"
    assert x.type(ad.float64).dtype == ad.float64 and x.type(ad.float32) is x
    assert x.type("torch.DoubleTensor").dtype == ad.float64
    assert x.type("torch.IntTensor").tolist() == [1, -2]
    with pytest.raises(ValueError, match="invalid type 'float64'"):
        x.type("float64")
    bits = x.view(ad.int32)                      # IEEE 754: 1.0 = 0x3F800000, -2.0 = 0xC0000000
    assert bits.dtype == ad.int32 and not bits.requires_grad
    assert bits.tolist() == [0x3F800000, 0xC0000000 - 2 ** 32]
    assert ad.tensor([1.0], dtype=ad.float64).view(ad.int16).shape == (4,)
    assert ad.zeros(2, 4, dtype=ad.int8).view(ad.float32).shape == (2, 1)
    assert x.view(2, 1).shape == (2, 1) and x.view(-1).shape == (2,) and x.view((1, 2)).shape \
        == (1, 2)
    with pytest.raises(RuntimeError, match="0-d"):
        ad.tensor(1.0).view(ad.float64)
    with pytest.raises(RuntimeError, match="contiguous"):
        ad.zeros(4, 2).T.view(ad.float16)
    assert x.is_floating_point() and ad.is_floating_point(x)
    assert not ad.tensor([1]).is_floating_point() and not ad.is_floating_point(ad.tensor([1]))
    with pytest.raises(NotImplementedError, match="bfloat16"):
        x.bfloat16()


def test_dtype_names():
    assert (ad.int, ad.bool, ad.half, ad.short, ad.float, ad.double, ad.long) == (
        np.dtype("int32"), np.dtype("bool"), np.dtype("float16"), np.dtype("int16"),
        np.dtype("float32"), np.dtype("float64"), np.dtype("int64"))
    assert (ad.int8, ad.uint8, ad.int16, ad.float16) == tuple(
        np.dtype(n) for n in ("int8", "uint8", "int16", "float16"))
    assert ad.ones(2).dtype == ad.float32 and ad.ones(2).dtype is ad.float32


def test_bitwise_refuses_floats_and_records_nothing():
    with pytest.raises(TypeError, match=r"bitwise_and.*float32"):
        ad.ones(2) & ad.ones(2)
    with pytest.raises(TypeError, match=r"bitwise_not.*float32"):
        ~ad.ones(2)
    with pytest.raises(TypeError, match=r"bitwise_left_shift.*float32"):
        ad.tensor([1]) << 1.5
    with pytest.raises(TypeError, match="bool"):
        ad.tensor([True]) << ad.tensor([True])
    out = ad.tensor([3, 5]) & 1
    assert out.grad_fn is None and not out.requires_grad


def test_sub_with_bool_raises_as_pytorch():
    with pytest.raises(TypeError, match=r"sub.*bool.*~"):
        ad.ones(2) - ad.tensor([True, False])


# ----------------------------------------------------------------------------- 10: strings
@pytest.mark.parametrize("data, name", [
    (["a", "b"], "str"), ([1, None], "NoneType"), ([1.0, "a"], "str"), ([[1, 2], [3, None]],
                                                                         "NoneType"),
    (object(), "object"), ({"a": 1}, "dict"), ("abc", "str"), (None, "NoneType"),
    (np.array(["a"]), "str"), (np.array([1, None], dtype=object), "NoneType")])
def test_tensor_of_non_numbers_raises_naming_the_element(data, name):
    with pytest.raises(TypeError, match=rf"tensor: invalid data type '{name}'"):
        ad.tensor(data)


def test_tensor_refuses_non_numbers_everywhere():
    with pytest.raises(TypeError, match=r"data\[1\]"):
        ad.tensor([1, "a"])
    with pytest.raises(TypeError, match="str"):
        ad.as_tensor(["a"])
    with pytest.raises(TypeError, match="from_numpy.*<U1"):
        ad.from_numpy(np.array(["a"]))
    with pytest.raises(TypeError, match="not supported"):
        ad.zeros(2, dtype=str)
    with pytest.raises(TypeError, match="str"):
        ad.Tensor(["x"])
    with pytest.raises(ValueError, match="rectangular"):
        ad.tensor([[1, 2], [3]])
    assert ad.tensor([1j]).dtype == ad.complex64      # complex numbers are numbers


def test_torch_refuses_the_same_data(torch):
    for data in (["a", "b"], [1, None], [1.0, "a"], object(), np.array(["a"])):
        with pytest.raises((TypeError, RuntimeError, ValueError)):
            torch.tensor(data)


# ----------------------------------------------------------------------------- 11: GEMMs
def _f64(M, *shape):
    return M.ones(*shape, dtype=M.float64)


MIXED_GEMMS = [
    ("matmul", lambda M: _f64(M, 2, 3) @ M.ones(3, 2)),
    ("matmul", lambda M: M.matmul(M.ones(3), _f64(M, 3))),
    ("matmul", lambda M: _f64(M, 2, 2, 3) @ M.ones(2, 3, 2)),
    ("dot", lambda M: M.dot(M.ones(3), _f64(M, 3))),
    ("linear", lambda M: M.nn.functional.linear(_f64(M, 2, 3), M.ones(4, 3))),
    ("linear", lambda M: M.nn.functional.linear(M.ones(2, 3), M.ones(4, 3), _f64(M, 4))),
    ("linear", lambda M: M.nn.Linear(3, 4)(_f64(M, 2, 3))),
    ("conv2d", lambda M: M.nn.functional.conv2d(_f64(M, 1, 1, 3, 3), M.ones(1, 1, 2, 2))),
    ("conv2d", lambda M: M.nn.Conv2d(1, 2, 2)(_f64(M, 1, 1, 3, 3))),
    ("einsum", lambda M: M.einsum("ij,jk->ik", _f64(M, 2, 3), M.ones(3, 2))),
]


@pytest.mark.parametrize("op, expr", MIXED_GEMMS, ids=[f"{o}{i}" for i, (o, _) in
                                                       enumerate(MIXED_GEMMS)])
def test_matrix_products_refuse_mixed_dtypes(op, expr):
    with pytest.raises(RuntimeError) as e:
        expr(ad)
    msg = str(e.value)
    assert msg.startswith(f"{op}:") and "float64" in msg and "float32" in msg, msg
    assert "same" in msg and ".to(" in msg, msg           # the rule and the fix


@pytest.mark.parametrize("op, expr", MIXED_GEMMS, ids=[f"{o}{i}" for i, (o, _) in
                                                       enumerate(MIXED_GEMMS)])
def test_torch_refuses_the_same_products(op, expr, torch):
    with pytest.raises(RuntimeError):
        expr(torch)


def test_same_dtype_products_and_elementwise_ops_still_run():
    x = ad.ones(2, 3, dtype=ad.float64)
    assert (x @ ad.ones(3, 2, dtype=ad.float64)).dtype == ad.float64
    assert (ad.tensor([[1, 2]]) @ ad.tensor([[3], [4]])).tolist() == [[11]]    # int64 GEMM
    assert (x + ad.ones(3)).dtype == ad.float64                 # elementwise ops promote
    assert ad.outer(ad.ones(2), ad.ones(2, dtype=ad.float64)).dtype == ad.float64
    model = ad.nn.Linear(3, 1)
    assert model(x.float()).dtype == ad.float32                # the fix the message names
    assert model.double()(x).dtype == ad.float64


def test_backward_casts_the_given_gradient_to_the_outputs_dtype():
    # PyTorch casts grad_outputs to each output's dtype, so a float64 seed reaches the float32
    # GEMMs of a model as float32 (they would refuse mixed dtypes)
    m = ad.nn.Linear(2, 3)
    x = ad.tensor([[1.0, 2.0], [-1.0, 0.5]], requires_grad=True)
    g = np.array([[1.0, 0.0, -2.0], [0.5, 1.0, 3.0]])
    m(x).backward(ad.tensor(g))                        # float64 gradient, float32 output
    w = m.weight.numpy()
    assert x.grad.dtype == ad.float32 and m.weight.grad.dtype == ad.float32
    np.testing.assert_allclose(x.grad.numpy(), g @ w, rtol=1e-6)              # dL/dx = g W
    np.testing.assert_allclose(m.weight.grad.numpy(), g.T @ x.numpy(), rtol=1e-6)
