"""A reference for PyTorch's indexing rule, written out element by element in NumPy (no NumPy
advanced indexing, so it does not share NumPy's rule): :func:`positions` maps every entry of
``x[idx]`` to the coordinates in ``x`` it reads, from which getitem, setitem, index_put with
accumulate and the gradients of both follow.

The rule (PyTorch's ``applySlicing`` then ``aten::index``):
1. integers (and 0-d integer arrays) select, as basic indexing, and leave no dimension;
2. None adds a dimension of length 1; a Python bool (or 0-d bool array) adds one and indexes
   it with [0] (True) or [] (False), as an index array;
3. a k-d bool mask stands for the k integer arrays of its nonzero();
4. the index arrays broadcast together; if they are adjacent once the integers are gone their
   dimensions replace theirs in place, else they come first;
5. slices keep a dimension each, with Python's ``slice.indices`` meaning.
"""
from __future__ import annotations

import numpy as np


def _components(idx, ndim: int) -> list:
    """(kind, value) per component: 'int', 'slice', 'new', 'array' (int arrays, one per
    consumed dim), 'newarray' (a bool scalar: a new dim read by an array)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    comps = []
    for i in idx:
        if isinstance(i, (bool, np.bool_)) or (isinstance(i, np.ndarray) and i.ndim == 0
                                                and i.dtype == bool):
            comps.append(("newarray", np.zeros(int(bool(i)), np.int64)))
        elif isinstance(i, (int, np.integer)) or (isinstance(i, np.ndarray) and i.ndim == 0):
            comps.append(("int", int(i)))
        elif i is None:
            comps.append(("new", None))
        elif i is Ellipsis:
            comps.append(("ellipsis", None))
        elif isinstance(i, slice):
            comps.append(("slice", i))
        else:
            a = np.asarray(i)
            if a.dtype == bool:
                comps += [("array", c) for c in np.nonzero(a)]
            else:
                comps.append(("array", a.astype(np.int64)))
    used = sum(k in ("int", "slice", "array") for k, _ in comps)
    out = []
    for k, v in comps:
        if k == "ellipsis":
            out += [("slice", slice(None))] * (ndim - used)
        else:
            out.append((k, v))
    out += [("slice", slice(None))] * (ndim - sum(k in ("int", "slice", "array")
                                                 for k, _ in out))
    return out


def positions(shape: tuple, idx) -> tuple[tuple, np.ndarray]:
    """(shape of ``x[idx]``, int array of that shape + (len(shape),)): the coordinates in
    ``x`` that each entry of ``x[idx]`` reads."""
    comps = _components(idx, len(shape))
    dims, d = [], 0                   # the dim of x each component reads (None: a new one)
    for k, _ in comps:
        if k in ("new", "newarray"):
            dims.append(None)
        else:
            dims.append(d)
            d += 1
    kept = [(c, dm) for c, dm in zip(comps, dims) if c[0] != "int"]
    adv = [j for j, ((k, _), _) in enumerate(kept) if k in ("array", "newarray")]
    arrays = [kept[j][0][1] for j in adv]
    bshape = np.broadcast_shapes(*[a.shape for a in arrays]) if arrays else ()
    arrays = [np.broadcast_to(a, bshape) for a in arrays]
    # output axes: ('slice', j) for kept component j, or ('adv',) for the broadcast block
    axes = [("slice", j) for j, ((k, _), _) in enumerate(kept) if k in ("slice", "new")]
    if adv:
        at = 0
        if adv == list(range(adv[0], adv[-1] + 1)):           # adjacent: in place
            at = sum(1 for kind, j in axes if j < adv[0])
        axes.insert(at, ("adv",))
    out_shape = []
    for ax in axes:
        if ax[0] == "adv":
            out_shape += list(bshape)
        else:
            (k, v), dm = kept[ax[1]]
            out_shape.append(1 if k == "new" else len(range(*v.indices(shape[dm]))))
    out_shape = tuple(out_shape)
    pos = np.zeros(out_shape + (len(shape),), np.int64)
    for c, dm in zip(comps, dims):
        if c[0] == "int":
            n = shape[dm]
            if not -n <= c[1] < n:
                raise IndexError(f"index {c[1]} is out of bounds for dimension {dm}")
            pos[..., dm] = c[1] % n
    for o in np.ndindex(*out_shape):
        p, r = 0, 0
        for ax in axes:
            if ax[0] == "adv":
                b = o[p:p + len(bshape)]
                for j, a in zip(adv, arrays):
                    dm = kept[j][1]
                    if dm is not None:
                        v = int(a[b])
                        if not -shape[dm] <= v < shape[dm]:
                            raise IndexError(f"index {v} is out of bounds for dimension {dm}")
                        pos[o + (dm,)] = v % shape[dm]
                p += len(bshape)
            else:
                (k, v), dm = kept[ax[1]]
                if k == "slice":
                    pos[o + (dm,)] = range(*v.indices(shape[dm]))[o[p]]
                p += 1
    return out_shape, pos


def getitem(a: np.ndarray, idx) -> np.ndarray:
    shape, pos = positions(a.shape, idx)
    out = np.empty(shape, a.dtype)
    for o in np.ndindex(*shape):
        out[o] = a[tuple(pos[o])]
    return out


def put(a: np.ndarray, idx, value, accumulate: bool = False) -> np.ndarray:
    """A copy of ``a`` with ``value`` (broadcast to ``a[idx]``'s shape) written or added."""
    shape, pos = positions(a.shape, idx)
    value = np.broadcast_to(value, shape)
    out = a.copy()
    for o in np.ndindex(*shape):
        if accumulate:
            out[tuple(pos[o])] += value[o]
        else:
            out[tuple(pos[o])] = value[o]
    return out


def getitem_grad(shape: tuple, idx, g: np.ndarray) -> np.ndarray:
    """d(sum(g * x[idx]))/dx: g added at every position read (repeats add up)."""
    out_shape, pos = positions(shape, idx)
    out = np.zeros(shape)
    for o in np.ndindex(*out_shape):
        out[tuple(pos[o])] += g[o]
    return out


def written_mask(shape: tuple, idx) -> np.ndarray:
    """True where ``x[idx] = v`` writes."""
    out_shape, pos = positions(shape, idx)
    m = np.zeros(shape, bool)
    for o in np.ndindex(*out_shape):
        m[tuple(pos[o])] = True
    return m
