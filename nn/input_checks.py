"""Array arguments of nn functions (labels, indices, class weights) and their range checks, with
no host round trip on a GPU.

:func:`array_like` puts a target, index or weight given as a Tensor, a NumPy/CuPy array or a
list on the device of the input it goes with (``numpy.asarray`` would refuse a CuPy array).

Range checks (:func:`deferred_check`): on NumPy the data is on the host and a check is free,
so an out-of-range label or index raises at once, naming the operation and the value. On a GPU
reading the verdict back (``bool(bad.any())``) would stall the stream every step, so there the
check runs only under ``autodiff.detect_anomaly()`` (one synchronisation, the same error);
otherwise the mask of bad entries is returned and the caller poisons what they produce with NaN
(:func:`poison`), as the fused cross-entropy kernel does: a bad label shows as a NaN loss, which
``detect_anomaly`` then traces to its cause.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy

import autodiff as ad
from autodiff.backends import get_array_module, on_host
from autodiff.ops.derived import derived
from autodiff.tensor import Tensor

__all__ = ["array_like", "checks_now", "deferred_check", "poison", "row_ids"]


def array_like(value, like: Tensor, dtype=None):
    """``value`` (Tensor, NumPy/CuPy array, list, scalar) as an array on ``like``'s device
    (moved if it lives elsewhere), in ``dtype`` when given."""
    data = value.array if isinstance(value, Tensor) else value
    return ad.as_tensor(data, dtype=dtype, device=like.device).array


def checks_now(array) -> bool:
    """Whether a data-dependent check of ``array`` runs now: always on the host, on a GPU only
    in anomaly mode (it costs a synchronisation there)."""
    return on_host(array) or ad.is_anomaly_enabled()


def deferred_check(values, bad, error: Callable[[int], Exception]):
    """Check that no entry of ``values`` is flagged in the boolean mask ``bad``.

    Where the check runs now (:func:`checks_now`) it raises ``error(first flagged value)`` or
    returns None; on a GPU outside anomaly mode it returns ``bad`` for :func:`poison`."""
    if not checks_now(values):
        return bad
    if bad.size and bool(bad.any()):
        raise error(int(values[bad].reshape(-1)[0]))
    return None


def poison(out, bad):
    """``out`` with NaN wherever ``bad`` (a mask over its leading dims) is set; ``out`` itself
    when ``bad`` is None."""
    if bad is None:
        return out
    xp = get_array_module(out)
    mask = bad.reshape(bad.shape + (1,) * (out.ndim - bad.ndim))
    return xp.where(mask, xp.asarray(numpy.nan, dtype=out.dtype), out)


def row_ids(name: str, ids, like: Tensor, n: int, negative: bool = False):
    """Integer ``ids`` (Tensor, array, list) as row numbers of a table of ``n`` rows, on
    ``like``'s device: in [0, n), or [-n, n) counting from the end when ``negative``, checked
    as :func:`deferred_check` does. Returns (rows in [0, n), the mask of bad ids or None); a
    bad id reads row 0, for the caller to :func:`poison`."""
    idx = array_like(ids, like)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: indices must be integers, got dtype {idx.dtype}")
    # one op of the tape's array arithmetic: a compiled step remakes (and checks) them per replay
    return derived(functools.partial(_rows, name=name, n=n, negative=negative), idx)


def _rows(idx, *, name: str, n: int, negative: bool):
    bad = deferred_check(idx, (idx < (-n if negative else 0)) | (idx >= n), lambda v: IndexError(
        f"{name}: index {v} is out of range for {n} rows"))
    xp = get_array_module(idx)
    if bad is not None:
        idx = xp.where(bad, 0, idx)
    if negative and n:
        idx = idx % n
    return idx, bad
