"""API cases: conv1d/conv3d, conv_transpose1d/2d/3d, max/avg pooling in 1-D and 3-D, adaptive
pooling, max-unpooling (F. and nn.); references are the definitions written out as loops in
``tests/ref_conv.py``."""
from __future__ import annotations

import numpy as np

from api_table import Case, U
from autodiff import nn
from autodiff.nn import functional as F
from ref_conv import (adaptive_pool_direct, avg_pool_direct, conv_nd_direct,
                      conv_transpose_nd_direct, max_pool_direct, max_unpool_direct)


def _tF(torch):
    return torch.nn.functional


def _same(ks, dilation):
    """'same' padding as PyTorch documents it: d*(k-1) in total, the odd one at the end."""
    d = (dilation,) * len(ks) if isinstance(dilation, int) else dilation
    return tuple((dd * (k - 1) // 2, dd * (k - 1) - dd * (k - 1) // 2) for k, dd in zip(ks, d))


# (name, x shape, weight shape, bias, keyword arguments, tag)
_CONV = [
    ("conv1d", (2, 4, 7), (6, 2, 3), True, dict(stride=2, padding=1, groups=2), "grouped"),
    ("conv1d", (3, 6), (2, 3, 2), False, dict(padding="same", dilation=3), "unbatched_same"),
    ("conv3d", (1, 2, 4, 3, 5), (4, 1, 2, 2, 3), True,
     dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2), "grouped"),
    ("conv3d", (2, 2, 3, 3, 3), (2, 2, 2, 3, 1), False, dict(padding="same"), "same"),
    ("conv3d", (2, 3, 3, 3), (2, 2, 1, 2, 2), True, dict(padding="valid"), "unbatched"),
    ("conv_transpose1d", (2, 4, 4), (4, 3, 3), True,
     dict(stride=2, padding=1, output_padding=1, groups=2), "grouped"),
    ("conv_transpose1d", (2, 5), (2, 2, 2), False, dict(dilation=3, output_padding=2),
     "unbatched_dilated"),
    ("conv_transpose2d", (2, 2, 3, 3), (2, 3, 2, 3), True,
     dict(stride=(2, 1), padding=(0, 1), output_padding=(1, 0)), ""),
    ("conv_transpose2d", (1, 4, 3, 2), (4, 1, 3, 2), False,
     dict(stride=3, padding=(0, 1), output_padding=2, groups=2, dilation=(1, 2)),
     "output_padding_beyond_padding"),
    ("conv_transpose3d", (1, 2, 2, 3, 2), (2, 2, 2, 2, 2), True,
     dict(stride=(2, 1, 2), padding=(1, 0, 0), output_padding=(1, 0, 1)), ""),
    ("conv_transpose3d", (1, 4, 2, 2, 2), (4, 1, 3, 1, 2), False,
     dict(stride=(3, 1, 1), output_padding=(2, 0, 0), groups=2, dilation=(1, 1, 2)),
     "grouped"),
]


def _conv_ref(name, kw):
    fn = conv_transpose_nd_direct if name.startswith("conv_transpose") else conv_nd_direct
    k = dict(kw)
    if k.get("padding") == "valid":
        k["padding"] = 0

    def ref(x, w, b=None):
        unbatched = x.ndim == w.ndim - 1
        x = x[None] if unbatched else x
        if kw.get("padding") == "same":
            k["padding"] = _same(w.shape[2:], kw.get("dilation", 1))
        out = fn(x, w, b, **k)
        return out[0] if unbatched else out
    return ref


def _conv_case(name, xs, ws, bias, kw, tag):
    f = getattr(F, name)
    out_channels = ws[1] * kw.get("groups", 1) if name.startswith("conv_transpose") else ws[0]
    inputs = (U(*xs, seed=1), U(*ws, seed=2)) + ((U(out_channels, seed=3),) if bias else ())
    return Case(f"F.{name}", lambda *a: f(*a, **kw), _conv_ref(name, kw), inputs,
                torch_fn=lambda torch, *a: getattr(_tF(torch), name)(*a, **kw), tag=tag)


CASES = [_conv_case(*c) for c in _CONV]

# ----------------------------------------------------------------------------- pooling
_X1 = U(2, 3, 8, seed=4)
_X3 = U(1, 2, 4, 5, 3, seed=5)


def _max_case(n, x, kw, tag):
    name = f"max_pool{n}d"
    f, kw_i = getattr(F, name), dict(kw, return_indices=True)
    spatial_kw = dict(k=kw["kernel_size"], s=kw.get("stride"), p=kw.get("padding", 0),
                      d=kw.get("dilation", 1), ceil=kw.get("ceil_mode", False))
    return Case(f"F.{name}", lambda a: f(a, **kw_i), lambda a: max_pool_direct(a, **spatial_kw),
                (x,), torch_fn=lambda torch, a: getattr(_tF(torch), name)(a, **kw_i), tag=tag)


def _avg_case(n, x, kw, tag):
    name = f"avg_pool{n}d"
    f = getattr(F, name)
    ref_kw = dict(k=kw["kernel_size"], s=kw.get("stride"), p=kw.get("padding", 0),
                  ceil=kw.get("ceil_mode", False),
                  count_include_pad=kw.get("count_include_pad", True),
                  divisor_override=kw.get("divisor_override"))
    return Case(f"F.{name}", lambda a: f(a, **kw), lambda a: avg_pool_direct(a, **ref_kw), (x,),
                torch_fn=lambda torch, a: getattr(_tF(torch), name)(a, **kw), tag=tag)


CASES += [
    _max_case(1, _X1, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "ceil"),
    _max_case(1, _X1, dict(kernel_size=2, dilation=3), "dilated"),
    _max_case(3, _X3, dict(kernel_size=(2, 2, 1), stride=(1, 2, 1), padding=(1, 0, 0)),
              "padded"),
    _max_case(3, _X3, dict(kernel_size=2, stride=2, padding=1, dilation=(1, 2, 1),
                           ceil_mode=True), "ceil_dilated"),
    _avg_case(1, _X1, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                           count_include_pad=False), "ceil_no_pad_count"),
    _avg_case(1, _X1, dict(kernel_size=2, padding=1), "padded"),
    _avg_case(3, _X3, dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0),
                           ceil_mode=True), "ceil"),
    _avg_case(3, _X3, dict(kernel_size=2, padding=1, count_include_pad=False), "no_pad_count"),
    _avg_case(3, _X3, dict(kernel_size=(1, 2, 3), stride=1, divisor_override=4), "divisor"),
    Case("nn.MaxPool3d", lambda a: nn.MaxPool3d(2, 1, 1)(a),
         lambda a: max_pool_direct(a, 2, 1, 1)[0], (_X3,),
         torch_fn=lambda torch, a: torch.nn.MaxPool3d(2, 1, 1)(a)),
    Case("nn.AvgPool3d", lambda a: nn.AvgPool3d((2, 1, 2), ceil_mode=True)(a),
         lambda a: avg_pool_direct(a, (2, 1, 2), ceil=True), (_X3,),
         torch_fn=lambda torch, a: torch.nn.AvgPool3d((2, 1, 2), ceil_mode=True)(a)),
    Case("nn.MaxPool1d", lambda a: nn.MaxPool1d(3, 2, 1, 1, True)(a)[0],
         lambda a: max_pool_direct(a, 3, 2, 1)[0], (_X1,),
         torch_fn=lambda torch, a: torch.nn.MaxPool1d(3, 2, 1, 1, True)(a)[0],
         tag="positional_return_indices"),
]

# ----------------------------------------------------------------------------- adaptive
_ADAPTIVE = [  # (name, input, output_size, tag)
    ("adaptive_avg_pool1d", U(2, 3, 7, seed=6), 3, ""),
    ("adaptive_avg_pool2d", U(1, 2, 5, 7, seed=7), (2, 3), "uneven_windows"),
    ("adaptive_avg_pool3d", U(1, 2, 3, 4, 5, seed=8), (2, None, 3), ""),
    ("adaptive_max_pool1d", U(2, 3, 7, seed=6), 3, ""),
    ("adaptive_max_pool2d", U(1, 2, 5, 7, seed=7), (2, 3), "uneven_windows"),
    ("adaptive_max_pool2d", U(2, 4, 6, seed=9), (3, 2), "unbatched_uniform"),
    ("adaptive_max_pool3d", U(1, 2, 3, 4, 5, seed=8), (2, 3, 3), ""),
]


def _adaptive_case(name, x, out, tag):
    f, is_max = getattr(F, name), "max" in name
    kw = dict(return_indices=True) if is_max else {}

    n = int(name[-2])

    def ref(a):
        unbatched = a.ndim == n + 1
        a = a[None] if unbatched else a
        size = tuple(a.shape[2 + i] if o is None else o
                     for i, o in enumerate(out if isinstance(out, tuple) else (out,) * n))
        r = adaptive_pool_direct(a, size, "max" if is_max else "avg")
        return tuple(v[0] for v in r) if unbatched else r

    return Case(f"F.{name}", lambda a: f(a, out, **kw), ref, (x,),
                torch_fn=lambda torch, a: getattr(_tF(torch), name)(a, out, **kw), tag=tag)


CASES += [_adaptive_case(*c) for c in _ADAPTIVE] + [
    Case("nn.AdaptiveAvgPool1d", lambda a: nn.AdaptiveAvgPool1d(4)(a),
         lambda a: adaptive_pool_direct(a, (4,), "avg"), (U(2, 3, 6, seed=10),),
         torch_fn=lambda torch, a: torch.nn.AdaptiveAvgPool1d(4)(a)),
    Case("nn.AdaptiveMaxPool3d", lambda a: nn.AdaptiveMaxPool3d((1, 2, 2))(a),
         lambda a: adaptive_pool_direct(a, (1, 2, 2), "max")[0], (U(1, 2, 3, 3, 5, seed=11),),
         torch_fn=lambda torch, a: torch.nn.AdaptiveMaxPool3d((1, 2, 2))(a)),
]

# ----------------------------------------------------------------------------- unpooling
# (n, input to pool, kernel, stride, padding, output_size): the pooled values and their
# indices (distinct: no two windows share a maximum) are the unpooling's inputs
_UNPOOL = [
    (1, U(2, 2, 7, seed=12), 2, 2, 0, None, ""),
    (2, U(1, 2, 5, 4, seed=13), 2, 2, 0, (5, 4), "output_size"),
    (2, U(2, 3, 4, seed=14), (2, 1), (2, 1), 0, None, "unbatched"),
    (2, U(1, 1, 5, 5, seed=15), 3, 3, 1, (1, 1, 5, 5), "padded_output_size_nchw"),
    (3, U(1, 2, 4, 2, 4, seed=16), 2, 2, 0, None, ""),
]


def _unpool_case(n, x, k, s, p, size, tag):
    vals, idx = max_pool_direct(x if x.ndim == n + 2 else x[None], k, s, p)
    if x.ndim == n + 1:
        vals, idx = vals[0], idx[0]
    # no two windows share a maximum: assignment and scatter-add agree (gradcheck holds)
    planes = idx.reshape(-1, int(np.prod(idx.shape[-n:])))
    assert all(len(set(r)) == len(r) for r in planes), tag
    name = f"max_unpool{n}d"
    f = getattr(F, name)
    unb = x.ndim == n + 1
    if size is None:
        per = (lambda v: v if isinstance(v, tuple) else (v,) * n)
        spatial = tuple((m - 1) * ss + kk - 2 * pp for m, kk, ss, pp in
                        zip(vals.shape[-n:], per(k), per(s), per(p)))
    else:
        spatial = tuple(size[-n:])

    def ref(v, i):
        out = max_unpool_direct(v[None] if unb else v, i[None] if unb else i, spatial)
        return out[0] if unb else out

    return Case(f"F.{name}", lambda v, i: f(v, i, k, s, p, size), ref, (vals, idx),
                torch_fn=lambda torch, v, i: getattr(_tF(torch), name)(v, i, k, s, p, size),
                tag=tag)


CASES += [_unpool_case(*c) for c in _UNPOOL]
_V, _I = max_pool_direct(U(1, 2, 4, 6, seed=17), 2, 2)
CASES += [
    Case("nn.MaxUnpool2d", lambda v, i: nn.MaxUnpool2d(2)(v, i, output_size=(5, 7)),
         lambda v, i: max_unpool_direct(v, i, (5, 7)), (_V, _I),
         torch_fn=lambda torch, v, i: torch.nn.MaxUnpool2d(2)(v, i, output_size=(5, 7))),
]
# the indices of max_pool2d(return_indices=True) feed max_unpool2d: the round trip
CASES += [
    Case("F.max_unpool2d", lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
         lambda x: _round_trip(x), (U(1, 2, 4, 6, seed=18),),
         torch_fn=lambda torch, x: _tF(torch).max_unpool2d(
             *_tF(torch).max_pool2d(x, 2, return_indices=True), 2), tag="round_trip"),
]


def _round_trip(x):
    vals, idx = max_pool_direct(x, 2, 2)
    return max_unpool_direct(vals, idx, x.shape[2:])
