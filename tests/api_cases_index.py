"""API cases for indexing (PyTorch's rule: integers first, then index tensors), index_put,
the scatter family, index_fill/add/copy, masked_fill/select, nonzero/argwhere, narrow, select
and take_along_dim. References: ``ref_indexing`` (the indexing rule element by element),
``ref_scatter`` (the scatter definitions as loops), NumPy otherwise."""
from __future__ import annotations

import numpy as np

import autodiff as ad
import ref_indexing as RI
import ref_scatter as RS
from api_table import Case, U

_D = np.array([0, 1])
_ALL = slice(None)
_ROW_IDX = np.array([[0, 2], [3, 1], [1, 0]])            # unique positions along dim 1 of (3, 4)
_REP_IDX = np.array([[0, 0, 2], [3, 1, 3], [1, 1, 1]])   # repeats along dim 1
_COL_IDX = np.array([[0, 2, 2, 1], [0, 0, 1, 1]])        # along dim 0 of (3, 4), repeats
_MASK = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])


def _t(a):
    return lambda torch: torch.tensor(a)


def _key(lib, key) -> tuple:
    """``key`` with its NumPy arrays as ``lib`` (ad or torch) tensors."""
    return tuple(lib.tensor(k) if isinstance(k, np.ndarray) else k for k in key)


def _getitem_case(tag: str, key, shape=(3, 4, 2, 3)) -> Case:
    """``x[key]`` with index arrays given as tensors."""
    return Case("Tensor.__getitem__", lambda x: x[_key(ad, key)], lambda x: RI.getitem(x, key),
                (U(*shape),), torch_fn=lambda torch, x: x[_key(torch, key)], tag=tag)


def _setitem(key, accumulate: bool = False):
    """``y = 2 x; y[key] = sin(v)`` (or ``+=``): the value and the tensor both differentiable;
    (fn, ref, torch_fn)."""
    def run(lib, x, v):
        y = x * 2
        if accumulate:
            y[_key(lib, key)] += lib.sin(v)
        else:
            y[_key(lib, key)] = lib.sin(v)
        return y

    def ref(x, v):
        return RI.put(2 * x, key, np.sin(v), accumulate)
    return (lambda x, v: run(ad, x, v)), ref, run


def _scatter_reduce_cases() -> list:
    cases = []
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            cases.append(Case(
                "scatter_reduce",
                lambda x, s, r=reduce, i=include_self: ad.scatter_reduce(
                    x, 1, ad.tensor(_REP_IDX), s, r, include_self=i),
                lambda x, s, r=reduce, i=include_self: RS.scatter_reduce(x, 1, _REP_IDX, s, r, i),
                (U(3, 4, low=0.5, high=1.5), U(3, 3, low=0.5, high=1.5, seed=1)),
                torch_fn=lambda torch, x, s, r=reduce, i=include_self: x.scatter_reduce(
                    1, torch.tensor(_REP_IDX), s, r, include_self=i),
                tag=f"{reduce}_{'self' if include_self else 'noself'}"))
    return cases


_SET_INT_T = _setitem((1, _ALL, _D))
_SET_SEP = _setitem((_D, 0, _ALL, np.array([2, 0])))
_ADD_INT_T = _setitem((_ALL, 2, _D), accumulate=True)

CASES = [
    # indexing: PyTorch's rule (the NumPy rule would move the broadcast dims first)
    _getitem_case("int_tensor", (1, _ALL, _D, _ALL)),
    _getitem_case("tensor_int", (_ALL, _D, _ALL, 1)),
    _getitem_case("int_int_tensor", (1, _ALL, 0, _D)),
    _getitem_case("separated", (_D, _ALL, 1, np.array([[2], [0]]))),
    _getitem_case("bool_scalar", (0, True, _ALL, _D)),
    _getitem_case("mask_after_int", (1, np.array([[True, False], [False, True],
                                                  [True, True], [False, False]]))),
    _getitem_case("none_ellipsis", (None, 2, Ellipsis, _D)),
    _getitem_case("0d_tensor_selects", (np.array(2), _D)),
    _getitem_case("negative", (-1, _ALL, np.array([-1, 0, -2]))),
    Case("Tensor.__setitem__", *_SET_INT_T[:2], (U(3, 4, 2), U(4, 2, seed=1)),
         torch_fn=_SET_INT_T[2], tag="int_tensor"),
    Case("Tensor.__setitem__", *_SET_SEP[:2], (U(3, 2, 4, 3), U(2, 4, seed=1)),
         torch_fn=_SET_SEP[2], tag="separated_broadcast_value"),
    Case("Tensor.__iadd__", *_ADD_INT_T[:2], (U(3, 4, 2), U(3, 2, seed=1)),
         torch_fn=_ADD_INT_T[2], tag="through_index"),
    Case("index_put", lambda x, v: ad.index_put(x, (ad.tensor([0, 2, 0]), ad.tensor([1, 1, 1])),
                                                v, accumulate=True),
         lambda x, v: RI.put(x, (np.array([0, 2, 0]), np.array([1, 1, 1])), v, True),
         (U(3, 4), U(3, seed=1)),
         torch_fn=lambda torch, x, v: torch.index_put(
             x, (torch.tensor([0, 2, 0]), torch.tensor([1, 1, 1])), v, accumulate=True),
         tag="accumulate"),
    Case("Tensor.index_put_", lambda x, v: (x * 1).index_put_((ad.tensor(_MASK),), v),
         lambda x, v: np.where(_MASK, v, x), (U(3, 4), U(1, seed=1)),
         torch_fn=lambda torch, x, v: (x * 1).index_put_((torch.tensor(_MASK),), v),
         tag="mask"),
    # along a dimension
    Case("gather", lambda x: ad.gather(x, 0, ad.tensor(_COL_IDX)),
         lambda x: np.take_along_axis(x, _COL_IDX, 0), (U(3, 4),),
         torch_fn=lambda torch, x: torch.gather(x, 0, torch.tensor(_COL_IDX))),
    Case("take_along_dim", lambda x: ad.take_along_dim(x, ad.tensor([[2], [0], [1]]), 1),
         lambda x: np.take_along_axis(x, np.array([[2], [0], [1]]), 1), (U(3, 4),),
         torch_fn=lambda torch, x: torch.take_along_dim(x, torch.tensor([[2], [0], [1]]), 1)),
    Case("take_along_dim", lambda x: ad.take_along_dim(x, ad.tensor([[1, 3]]), 1),
         lambda x: np.take_along_axis(x, np.array([[1, 3]] * 3), 1), (U(3, 4),),
         torch_fn=lambda torch, x: torch.take_along_dim(x, torch.tensor([[1, 3]]), 1),
         tag="broadcast"),
    Case("take_along_dim", lambda x: ad.take_along_dim(x, ad.tensor([[5, 0], [11, 5]])),
         lambda x: x.reshape(-1)[[5, 0, 11, 5]], (U(3, 4),),
         torch_fn=lambda torch, x: torch.take_along_dim(x, torch.tensor([[5, 0], [11, 5]])),
         tag="flat"),
    Case("Tensor.take_along_dim", lambda x: x.take_along_dim(ad.tensor([[1], [0]]), 0),
         lambda x: np.take_along_axis(x, np.array([[1] * 4, [0] * 4]), 0), (U(3, 4),),
         torch_fn=lambda torch, x: x.take_along_dim(torch.tensor([[1], [0]]), 0)),
    Case("narrow", lambda x: ad.narrow(x, 1, -3, 2), lambda x: x[:, 1:3], (U(3, 4),),
         torch_fn=lambda torch, x: torch.narrow(x, 1, -3, 2)),
    Case("Tensor.narrow", lambda x: x.narrow(0, ad.tensor(1), 2), lambda x: x[1:3], (U(3, 4),),
         torch_fn=lambda torch, x: x.narrow(0, torch.tensor(1), 2)),
    Case("select", lambda x: ad.select(x, 1, -1), lambda x: x[:, -1], (U(3, 4, 2),),
         torch_fn=lambda torch, x: torch.select(x, 1, -1)),
    Case("Tensor.select", lambda x: x.select(2, 0), lambda x: x[:, :, 0], (U(3, 4, 2),),
         torch_fn=lambda torch, x: x.select(2, 0)),
    # scatter family
    Case("scatter", lambda x, s: ad.scatter(x, 1, ad.tensor(_ROW_IDX), s),
         lambda x, s: RS.scatter(x, 1, _ROW_IDX, s), (U(3, 4), U(3, 2, seed=1)),
         torch_fn=lambda torch, x, s: torch.scatter(x, 1, torch.tensor(_ROW_IDX), s)),
    Case("scatter", lambda x, s: ad.scatter(x, 1, ad.tensor(_ROW_IDX), s),
         lambda x, s: RS.scatter(x, 1, _ROW_IDX, s), (U(3, 4), U(4, 3, seed=1)),
         tag="src_larger_than_index",
         note="no torch twin: PyTorch's backward fails when src is larger than the index"),
    Case("scatter_add", lambda x, s: ad.scatter_add(x, 1, ad.tensor(_REP_IDX), s),
         lambda x, s: RS.scatter_reduce(x, 1, _REP_IDX, s, "sum"), (U(3, 4), U(3, 4, seed=1)),
         tag="src_larger_than_index",
         note="no torch twin: PyTorch's backward fails when src is larger than the index"),
    Case("scatter", lambda x: ad.scatter(x, 1, ad.tensor(_REP_IDX), 0.25),
         lambda x: RS.scatter(x, 1, _REP_IDX, 0.25), (U(3, 4),),
         torch_fn=lambda torch, x: torch.scatter(x, 1, torch.tensor(_REP_IDX), 0.25),
         tag="value"),
    Case("scatter", lambda x, s: ad.scatter(x, 0, ad.tensor(_COL_IDX), s, reduce="add"),
         lambda x, s: RS.scatter_reduce(x, 0, _COL_IDX, s, "sum"), (U(3, 4), U(2, 4, seed=1)),
         torch_fn=lambda torch, x, s: torch.scatter_add(x, 0, torch.tensor(_COL_IDX), s),
         tag="reduce_add", note="torch has no derivative for reduce=: compared with scatter_add"),
    Case("scatter", lambda x, s: ad.scatter(x, 0, ad.tensor(_COL_IDX), s, reduce="multiply"),
         lambda x, s: RS.scatter_reduce(x, 0, _COL_IDX, s, "prod"), (U(3, 4), U(2, 4, seed=1)),
         torch_fn=lambda torch, x, s: torch.scatter_reduce(x, 0, torch.tensor(_COL_IDX), s,
                                                           "prod"),
         tag="reduce_multiply", note="compared with scatter_reduce(prod)"),
    Case("Tensor.scatter_", lambda x, s: (x * 1).scatter_(1, ad.tensor(_ROW_IDX), s),
         lambda x, s: RS.scatter(x, 1, _ROW_IDX, s), (U(3, 4), U(3, 2, seed=1)),
         torch_fn=lambda torch, x, s: (x * 1).scatter_(1, torch.tensor(_ROW_IDX), s)),
    Case("scatter_add", lambda x, s: ad.scatter_add(x, 1, ad.tensor(_REP_IDX), s),
         lambda x, s: RS.scatter_reduce(x, 1, _REP_IDX, s, "sum"), (U(3, 4), U(3, 3, seed=1)),
         torch_fn=lambda torch, x, s: torch.scatter_add(x, 1, torch.tensor(_REP_IDX), s)),
    Case("Tensor.scatter_add_", lambda x, s: (x * 1).scatter_add_(0, ad.tensor(_COL_IDX), s),
         lambda x, s: RS.scatter_reduce(x, 0, _COL_IDX, s, "sum"), (U(3, 4), U(2, 4, seed=1)),
         torch_fn=lambda torch, x, s: (x * 1).scatter_add_(0, torch.tensor(_COL_IDX), s)),
    *_scatter_reduce_cases(),
    Case("Tensor.scatter_reduce_",
         lambda x, s: (x * 1).scatter_reduce_(0, ad.tensor(_COL_IDX), s, "amax",
                                              include_self=False),
         lambda x, s: RS.scatter_reduce(x, 0, _COL_IDX, s, "amax", False),
         (U(3, 4), U(2, 4, seed=1)),
         torch_fn=lambda torch, x, s: (x * 1).scatter_reduce_(0, torch.tensor(_COL_IDX), s,
                                                              "amax", include_self=False)),
    # index_*
    Case("index_fill", lambda x: ad.index_fill(x, 1, ad.tensor([0, -1]), -2.0),
         lambda x: np.where(np.isin(np.arange(4), [0, 3]), -2.0, x), (U(3, 4),),
         torch_fn=lambda torch, x: torch.index_fill(x, 1, torch.tensor([0, -1]), -2.0)),
    Case("index_fill", lambda x, v: ad.index_fill(x, 0, ad.tensor(1), v),
         lambda x, v: np.where(np.arange(3)[:, None] == 1, v, x), (U(3, 4), U(seed=1)),
         torch_fn=lambda torch, x, v: torch.index_fill(x, 0, torch.tensor(1), v),
         tag="tensor_value"),
    Case("Tensor.index_fill_", lambda x: (x * 1).index_fill_(1, ad.tensor([2]), 0.5),
         lambda x: np.where(np.arange(4) == 2, 0.5, x), (U(3, 4),),
         torch_fn=lambda torch, x: (x * 1).index_fill_(1, torch.tensor([2]), 0.5)),
    Case("index_add", lambda x, s: ad.index_add(x, 1, ad.tensor([3, 0, 3]), s, alpha=-2),
         lambda x, s: x + np.stack([-2 * (s[:, 1]), 0 * s[:, 0], 0 * s[:, 0],
                                    -2 * (s[:, 0] + s[:, 2])], 1),
         (U(3, 4), U(3, 3, seed=1)),
         torch_fn=lambda torch, x, s: torch.index_add(x, 1, torch.tensor([3, 0, 3]), s,
                                                      alpha=-2)),
    Case("Tensor.index_add_", lambda x, s: (x * 1).index_add_(0, ad.tensor([2]), s),
         lambda x, s: x + np.concatenate([np.zeros((2, 4)), s]), (U(3, 4), U(1, 4, seed=1)),
         torch_fn=lambda torch, x, s: (x * 1).index_add_(0, torch.tensor([2]), s)),
    Case("index_copy", lambda x, s: ad.index_copy(x, 1, ad.tensor([3, 0]), s),
         lambda x, s: np.stack([s[:, 1], x[:, 1], x[:, 2], s[:, 0]], 1),
         (U(3, 4), U(3, 2, seed=1)),
         torch_fn=lambda torch, x, s: torch.index_copy(x, 1, torch.tensor([3, 0]), s)),
    Case("Tensor.index_copy_", lambda x, s: (x * 1).index_copy_(0, ad.tensor([1]), s),
         lambda x, s: np.concatenate([x[:1], s, x[2:]]), (U(3, 4), U(1, 4, seed=1)),
         torch_fn=lambda torch, x, s: (x * 1).index_copy_(0, torch.tensor([1]), s)),
    # masks
    Case("masked_fill", lambda x: ad.masked_fill(x, ad.tensor(_MASK[0]), 3.0),
         lambda x: np.where(_MASK[0], 3.0, x), (U(3, 4),),
         torch_fn=lambda torch, x: torch.masked_fill(x, torch.tensor(_MASK[0]), 3.0)),
    Case("masked_fill", lambda x, v: ad.masked_fill(x, ad.tensor(_MASK[:, :1]), v),
         lambda x, v: np.where(_MASK[:, :1], v, x), (U(4), U(seed=1)),
         torch_fn=lambda torch, x, v: torch.masked_fill(x, torch.tensor(_MASK[:, :1]), v),
         tag="broadcast_tensor_value"),
    Case("Tensor.masked_fill_", lambda x: (x * 1).masked_fill_(ad.tensor(_MASK), -1.0),
         lambda x: np.where(_MASK, -1.0, x), (U(3, 4),),
         torch_fn=lambda torch, x: (x * 1).masked_fill_(torch.tensor(_MASK), -1.0)),
    Case("masked_select", lambda x: ad.masked_select(x, ad.tensor(_MASK[:, :1])),
         lambda x: np.broadcast_to(x, (3, 4))[np.broadcast_to(_MASK[:, :1], (3, 4))], (U(4),),
         torch_fn=lambda torch, x: torch.masked_select(x, torch.tensor(_MASK[:, :1]))),
    Case("Tensor.masked_select", lambda x: x.masked_select(ad.tensor(_MASK)),
         lambda x: x[_MASK], (U(3, 4),),
         torch_fn=lambda torch, x: x.masked_select(torch.tensor(_MASK))),
    Case("nonzero", lambda x: ad.nonzero(x > 0), lambda x: np.argwhere(x > 0), (U(3, 4),),
         torch_fn=lambda torch, x: torch.nonzero(x > 0), grad=0),
    Case("nonzero", lambda x: ad.nonzero(x > 0, as_tuple=True), lambda x: np.nonzero(x > 0),
         (U(2, 3, 2),), torch_fn=lambda torch, x: torch.nonzero(x > 0, as_tuple=True),
         grad=0, tag="as_tuple"),
    Case("Tensor.nonzero", lambda x: x.nonzero(), lambda x: np.zeros((1, 0), np.int64),
         (np.array(2.0),), torch_fn=lambda torch, x: x.nonzero(), grad=0, tag="0d"),
    Case("argwhere", lambda x: ad.argwhere(x < 0), lambda x: np.argwhere(x < 0), (U(3, 4),),
         torch_fn=lambda torch, x: torch.argwhere(x < 0), grad=0),
    Case("Tensor.argwhere", lambda x: x.argwhere(), lambda x: np.argwhere(x),
         (np.array([[0.0, 1.5], [0.0, 0.0], [-2.0, 0.0]]),),
         torch_fn=lambda torch, x: x.argwhere(), grad=0),
]
