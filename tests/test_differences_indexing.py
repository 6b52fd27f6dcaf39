"""Silent difference 2 of the issue "Port PyTorch code unchanged": PyTorch applies integer
indices as basic indexing before the index tensors, where NumPy counts an integer as one more
index array. ``x[1, :, d, :]`` of ``x = zeros(3, 4, 5, 6)`` and ``d = tensor([0, 1])`` is
(4, 2, 6) in PyTorch (NumPy: (2, 4, 6)); ``x[1, :, :, d]`` is (4, 5, 2); ``x[:, d, :, 1]`` is
(3, 2, 5).

Checked: PyTorch's documented shapes as constants (and by PyTorch itself when installed);
random indices (ints, slices, None, Ellipsis, index tensors of several int dtypes, bool masks,
Python bools, lists, 0-d tensors, negative values) for getitem, setitem, ``+=`` through an
index and ``index_put(accumulate=True)``, values and gradients, against the element-by-element
reference of the rule in ``ref_indexing`` and against PyTorch; the errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import autodiff as ad
import cupy_standin
import ref_indexing as RI

# (index, PyTorch's shape) on x = zeros(3, 4, 5, 6), d = tensor([0, 1]): the three and
# more of the same rule (PyTorch 2.x documented behaviour, kept as constants)
_D = "d"
DOCUMENTED = [
    ((1, slice(None), _D, slice(None)), (4, 2, 6)),
    ((1, slice(None), slice(None), _D), (4, 5, 2)),
    ((slice(None), _D, slice(None), 1), (3, 2, 5)),
    ((_D, 1, _D), (2, 6)),                       # the int goes: the two become adjacent
    ((_D, slice(None), 1, _D), (2, 4)),          # separated by a slice: broadcast dims first
    ((1, _D, 1, _D), (2,)),
    ((Ellipsis, _D, 1), (3, 4, 2)),
    ((1, None, _D), (1, 2, 5, 6)),
    ((True,), (1, 3, 4, 5, 6)),
    ((0, True), (1, 4, 5, 6)),
    ((_D, True), (2, 4, 5, 6)),
]


def _key(key, d):
    return tuple(d if k is _D else k for k in key)


@pytest.mark.parametrize("key,shape", DOCUMENTED, ids=[repr(k) for k, _ in DOCUMENTED])
def test_documented_shapes(key, shape):
    x = ad.zeros(3, 4, 5, 6)
    assert tuple(x[_key(key, ad.tensor([0, 1]))].shape) == shape
    assert RI.positions((3, 4, 5, 6), _key(key, np.array([0, 1])))[0] == shape
    # setitem takes a value of that shape, and its gradient has it too
    v = ad.ones(shape, dtype=ad.float64, requires_grad=True)
    y = ad.zeros(3, 4, 5, 6, dtype=ad.float64) * 1
    y[_key(key, ad.tensor([0, 1]))] = v * 2
    (y * y).sum().backward()
    assert tuple(v.grad.shape) == shape
    np.testing.assert_array_equal(v.grad.numpy(), np.full(shape, 8.0))


@pytest.mark.parametrize("key,shape", DOCUMENTED, ids=[repr(k) for k, _ in DOCUMENTED])
def test_documented_shapes_are_pytorchs(key, shape, torch):
    assert tuple(torch.zeros(3, 4, 5, 6)[_key(key, torch.tensor([0, 1]))].shape) == shape


def test_value_of_the_wrong_shape_raises():
    x = ad.zeros(3, 4, 5, 6)
    with pytest.raises(ValueError, match=r"setitem.*\(2, 4, 6\)"):
        x[1, :, ad.tensor([0, 1]), :] = np.ones((2, 4, 6))       # NumPy's shape


# ----------------------------------------------------------------------------- random indices
def _int_array(draw, n: int, shape: tuple):
    vals = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(shape)),
                                  max_size=int(np.prod(shape))))).reshape(shape)
    return vals.astype(draw(st.sampled_from([np.int64, np.int32, np.int16, np.int8])))


@st.composite
def indexed(draw):
    """(array, index as NumPy parts): an index of every kind PyTorch takes."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    block = draw(st.sampled_from([(2,), (1,), (3,), (2, 1), (1, 3), (2, 3)]))
    parts, dim, ellipsis = [], 0, False
    while dim < len(shape) and len(parts) < 6:
        kind = draw(st.sampled_from(["int", "slice", "none", "array", "array", "mask",
                                     "bool", "ellipsis", "stop"]))
        n = shape[dim]
        if kind == "stop":
            break
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            b = st.one_of(st.none(), st.integers(-n - 1, n + 1))
            parts.append(slice(draw(b), draw(b), draw(st.sampled_from([None, 1, 2, 3]))))
        elif kind == "none":
            parts.append(None)
            continue
        elif kind == "bool":
            parts.append(draw(st.booleans()))
            continue
        elif kind == "array":
            sub = block[draw(st.integers(0, len(block))):]       # a suffix broadcasts
            sub = tuple(1 if draw(st.booleans()) else s for s in sub)
            parts.append(_int_array(draw, n, sub or (1,)))
        elif kind == "mask":
            k = draw(st.integers(1, min(2, len(shape) - dim)))
            m = np.array(draw(st.lists(st.booleans(), min_size=int(np.prod(shape[dim:dim + k])),
                                       max_size=int(np.prod(shape[dim:dim + k])))))
            parts.append(m.reshape(shape[dim:dim + k]))
            dim += k
            continue
        elif kind == "ellipsis" and not ellipsis:
            ellipsis = True
            parts.append(Ellipsis)
            dim += draw(st.integers(0, len(shape) - dim))
            continue
        else:
            continue
        dim += 1
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7.0 - 1.0
    return x, tuple(parts)


def _as(parts, lib, draw_kind: list):
    """The NumPy parts as ``lib`` (ad or torch) index components: arrays as tensors, lists or
    NumPy arrays, ints sometimes as 0-d tensors (choices fixed by ``draw_kind``); a single
    int or tensor component sometimes passed bare (not in a tuple)."""
    out = []
    for i, p in enumerate(parts):
        how = draw_kind[i % len(draw_kind)]
        if isinstance(p, np.ndarray):
            if lib is not ad and p.dtype.kind == "i" and p.dtype != np.int32:
                p = p.astype(np.int64)           # torch takes int64/int32 index tensors
            out.append(p.tolist() if how == 0 and p.dtype != bool else lib.tensor(p))
        elif isinstance(p, int) and not isinstance(p, bool) and how == 1:
            out.append(lib.tensor(p))
        else:
            out.append(p)
    if len(out) == 1 and draw_kind[0] == 2 and not isinstance(out[0], (list, bool)) and \
            isinstance(parts[0], (int, np.ndarray)):
        return out[0]
    return tuple(out)


SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _reference(x, parts):
    try:
        return RI.positions(x.shape, parts)
    except (ValueError, IndexError):
        return None                     # the index arrays do not broadcast: an error


@SETTINGS
@given(case=indexed(), kinds=st.lists(st.integers(0, 2), min_size=1, max_size=4),
       seed=st.integers(0, 2 ** 16))
def test_random_indices_against_the_rule(case, kinds, seed):
    x, parts = case
    key = _as(parts, ad, kinds)
    ref = _reference(x, parts)
    t = ad.tensor(x, requires_grad=True)
    if ref is None:
        with pytest.raises(IndexError):
            t[key]
        return
    shape, pos = ref
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = t[key]
        np.testing.assert_array_equal(out.numpy(), RI.getitem(x, parts))
        g = rng.standard_normal(shape)
        out.backward(ad.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), RI.getitem_grad(x.shape, parts, g))
        # setitem: duplicates receive the same value (so which write wins does not matter)
        v0 = 10.0 + np.ravel_multi_index(tuple(np.moveaxis(pos, -1, 0)), x.shape) \
            if shape else np.asarray(10.0)
        v = ad.tensor(np.asarray(v0, np.float64), requires_grad=True)
        xx = ad.tensor(x, requires_grad=True)
        y = xx * 1
        y[key] = v
        np.testing.assert_array_equal(y.numpy(), RI.put(x, parts, v0))
        w = rng.standard_normal(x.shape)
        (y * ad.tensor(w)).sum().backward()
        written = RI.written_mask(x.shape, parts)
        np.testing.assert_array_equal(xx.grad.numpy(), np.where(written, 0.0, w))
        np.testing.assert_array_equal(v.grad.numpy(), RI.getitem(w, parts))
        # index_put(accumulate=True): every write adds
        acc = ad.index_put(ad.tensor(x), key if isinstance(key, tuple) else (key,),
                           ad.tensor(np.asarray(v0, np.float64)), accumulate=True)
        np.testing.assert_allclose(acc.numpy(), RI.put(x, parts, v0, accumulate=True))
        # += through the index, where no position repeats
        if len(np.unique(v0)) == np.size(v0):
            z = ad.tensor(x, requires_grad=True)
            y = z * 1
            y[key] += v
            np.testing.assert_allclose(y.numpy(), RI.put(x, parts, v0, accumulate=True))


@SETTINGS
@given(case=indexed(), kinds=st.lists(st.integers(0, 2), min_size=1, max_size=4),
       seed=st.integers(0, 2 ** 16))
def test_random_indices_against_pytorch(case, kinds, seed, torch):
    x, parts = case
    rng = np.random.default_rng(seed)
    key, tkey = _as(parts, ad, kinds), _as(parts, torch, kinds)
    t, tt = ad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = tt[tkey]
        except (IndexError, RuntimeError):
            with pytest.raises(IndexError):
                t[key]
            return
        out = t[key]
        assert tuple(out.shape) == tuple(want.shape)
        np.testing.assert_array_equal(out.numpy(), want.detach().numpy())
        g = rng.standard_normal(tuple(want.shape))
        out.backward(ad.tensor(g))
        want.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy())
        # x[key] += v on a non-leaf, gradients of both (repeats included: PyTorch's rule)
        v = rng.standard_normal(tuple(want.shape))
        a, av = ad.tensor(x, requires_grad=True), ad.tensor(v, requires_grad=True)
        b, bv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
        ya, yb = a * 1, b * 1
        ya[key] += av * 2
        yb[tkey] += bv * 2
        if len(np.unique(RI.positions(x.shape, parts)[1].reshape(-1, x.ndim), axis=0)) == \
                int(np.prod(want.shape)):           # no repeats: the values are defined
            np.testing.assert_allclose(ya.numpy(), yb.detach().numpy())
        w = rng.standard_normal(x.shape)
        (ya * ad.tensor(w)).sum().backward()
        (yb * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
        np.testing.assert_allclose(av.grad.numpy(), bv.grad.numpy())


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("key,match", [
    ((5,), r"index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), -5), r"index -5 is out of bounds for dimension 1 with size 4"),
    ((1, slice(None), np.array([0, 7])), r"index 7 is out of bounds for dimension 2 with size 5"),
    ((1, 2, 3, 4, 5), r"too many indices for a tensor of dimension 4"),
    ((0, np.ones((4, 4), bool)), r"mask \(4, 4\) does not match the shape \(4, 5\)"),
    ((Ellipsis, 0, Ellipsis), r"single ellipsis"),
    ((np.array([0.5]),), r"must be integer or bool"),
    ((1.5,), r"only integers, slices"),
    ((np.array([0, 1]), np.array([0, 1, 2])), r"shape mismatch"),
])
def test_bad_indices_name_the_problem(key, match):
    x = ad.zeros(3, 4, 5, 6)
    with pytest.raises(IndexError, match=match):
        x[key]
    with pytest.raises(IndexError, match=match):
        x[key] = 1.0


def test_deprecated_forms_warn_as_pytorch():
    x = ad.tensor(np.arange(12.0).reshape(3, 4))
    with pytest.warns(UserWarning, match="uint8"):
        out = x[np.array([1, 0, 1], np.uint8)]          # a mask, as in PyTorch
    np.testing.assert_array_equal(out.numpy(), np.arange(12.0).reshape(3, 4)[[0, 2]])
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        out = x[[[0, 2], [1, 3]]]                        # read as x[[0, 2], [1, 3]]
    np.testing.assert_array_equal(out.numpy(), [1.0, 11.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(x[[2, 0]].numpy(), [[8, 9, 10, 11], [0, 1, 2, 3]])


def test_setitem_and_iadd_gradients_follow_the_rule():
    """``y[1, :, d] = v`` and ``y[:, d, 2] += v``: values and both gradients by hand."""
    x = ad.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    v = ad.tensor(np.full((3, 2), 5.0), requires_grad=True)      # PyTorch's shape (3, 2)
    y = x * 1
    y[1, :, ad.tensor([3, 0])] = v * v
    want = np.arange(24.0).reshape(2, 3, 4)
    want[1, :, 3] = want[1, :, 0] = 25.0
    np.testing.assert_array_equal(y.numpy(), want)
    y.sum().backward()
    gx = np.ones((2, 3, 4))
    gx[1, :, [0, 3]] = 0.0
    np.testing.assert_array_equal(x.grad.numpy(), gx)
    np.testing.assert_array_equal(v.grad.numpy(), np.full((3, 2), 10.0))
    x.grad = None
    u = ad.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)   # (2, 2): [:, d]
    y = x * 1
    y[:, ad.tensor([0, 2]), 2] += u * 3
    want = np.arange(24.0).reshape(2, 3, 4)
    want[:, [0, 2], 2] += 3 * np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(y.numpy(), want)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * want)
    np.testing.assert_allclose(u.grad.numpy(), 6 * want[:, [0, 2], 2])


def test_gradcheck_through_split_keys():
    d = np.array([2, 0, 2])
    x = ad.tensor(np.random.default_rng(0).standard_normal((3, 4, 3)), requires_grad=True)
    v = ad.tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)

    def f(x, v):
        y = x * x
        y[1, :, d] = v * y[0, :, d]
        return y[:, 1:, 0] * y[2, 3, d]
    assert ad.gradcheck(f, (x, v))
    assert ad.gradgradcheck(f, (x, v))


def test_device_index_out_of_range_is_caught_with_one_sync():
    """On the GPU (the CuPy stand-in wraps out-of-range indices, as CuPy does) the checks of
    a split index still run, with one host synchronisation for all its index arrays."""
    with cupy_standin.activated():
        x = ad.zeros(3, 4, 5).to("cuda")
        d, e = ad.tensor([0, 4]).to("cuda"), ad.tensor([0, 3]).to("cuda")
        with cupy_standin.counting_syncs() as syncs:
            assert tuple(x[1, e, ad.tensor([0])].shape) == (2,)
        assert len(syncs) == 1, syncs
        with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 2"):
            x[1, :, ad.tensor([0, 7]).to("cuda")]
        with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1"):
            x[0, d, 1]


def _init_idioms(lib, no_grad):
    """PyTorch's initialisation idioms writing through basic-indexing views."""
    w = lib.zeros(3, 4, requires_grad=True)
    w.data[0].fill_(1.0)
    w.data[:, 3].copy_(lib.tensor([7.0, 8.0, 9.0]))
    with no_grad():
        w[1, 1:3].fill_(2.0)
        w.narrow(1, 0, 1).add_(5.0)
        w.select(0, 2)[1:].mul_(3.0)
    return w


def test_basic_indexing_writes_through_where_no_graph_is_recorded():
    w = _init_idioms(ad, ad.no_grad)
    np.testing.assert_array_equal(w.detach().numpy(), [[6, 1, 1, 7], [5, 2, 2, 8],
                                                       [5, 0, 0, 27]])
    buf = ad.zeros(2, 3)
    row, v0 = buf[1], buf._version.v
    buf.add_(1.0)
    np.testing.assert_array_equal(row.numpy(), [1, 1, 1])        # a view sees the write
    buf[0, 2].fill_(4.0)
    assert buf._version.v == v0 + 2 and row._version is buf._version
    np.testing.assert_array_equal(buf.numpy(), [[1, 1, 4], [1, 1, 1]])
    # a view saved for backward and then written through its base: caught, as in PyTorch
    a = ad.ones(3, requires_grad=True)
    y = a * row
    buf.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|in place"):
        y.sum().backward()


def test_basic_indexing_views_against_pytorch(torch):
    np.testing.assert_array_equal(_init_idioms(ad, ad.no_grad).detach().numpy(),
                                  _init_idioms(torch, torch.no_grad).detach().numpy())
