"""API cases: interpolate in every mode (and nn.Upsample, F.upsample*); references are the
per-axis interpolation matrices of ``tests/ref_resample.py``, built from the definitions."""
from __future__ import annotations

import numpy as np

from api_table import Case, U
from autodiff import nn
from autodiff.nn import functional as F
from ref_resample import apply, matrix

# (input shape, keyword arguments, per-axis (ref mode, size, align_corners, scale factor), tag)
_X3, _X4, _X5 = (2, 2, 5), (1, 2, 3, 4), (1, 1, 2, 3, 2)
_INTERP = [
    (_X3, dict(size=8), [("nearest", 8, False, None)], "nearest_size"),
    (_X4, dict(scale_factor=(2, 0.5)), [("nearest", 6, False, 2), ("nearest", 2, False, 0.5)],
     "nearest_scale"),
    (_X5, dict(size=(3, 2, 5)), [("nearest", 3, False, None), ("nearest", 2, False, None),
                                 ("nearest", 5, False, None)], "nearest_3d"),
    (_X4, dict(size=(5, 3), mode="nearest-exact"),
     [("nearest-exact", 5, False, None), ("nearest-exact", 3, False, None)], "nearest_exact"),
    (_X3, dict(size=7, mode="linear"), [("linear", 7, False, None)], "linear"),
    (_X3, dict(scale_factor=1.5, mode="linear", align_corners=True),
     [("linear", 7, True, None)], "linear_align_corners"),
    (_X4, dict(size=(5, 3), mode="bilinear"), [("linear", 5, False, None),
                                               ("linear", 3, False, None)], "bilinear"),
    (_X4, dict(scale_factor=2.5, mode="bilinear"),
     [("linear", 7, False, 2.5), ("linear", 10, False, 2.5)], "bilinear_scale"),
    (_X4, dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True),
     [("linear", 7, False, None), ("linear", 10, False, None)], "bilinear_recompute"),
    (_X4, dict(size=(6, 7), mode="bilinear", align_corners=True),
     [("linear", 6, True, None), ("linear", 7, True, None)], "bilinear_align_corners"),
    (_X4, dict(size=(5, 2), mode="bicubic"), [("cubic", 5, False, None),
                                              ("cubic", 2, False, None)], "bicubic"),
    (_X4, dict(size=(4, 6), mode="bicubic", align_corners=True),
     [("cubic", 4, True, None), ("cubic", 6, True, None)], "bicubic_align_corners"),
    (_X5, dict(size=(3, 5, 2), mode="trilinear"),
     [("linear", 3, False, None), ("linear", 5, False, None), ("linear", 2, False, None)],
     "trilinear"),
]


def _interp_case(shape, kw, axes, tag):
    mats = [matrix(mode, n, out, ac, sf) for n, (mode, out, ac, sf) in zip(shape[2:], axes)]
    return Case("F.interpolate", lambda x: F.interpolate(x, **kw), lambda x: apply(x, mats),
                (U(*shape, seed=len(tag)),),
                torch_fn=lambda torch, x: torch.nn.functional.interpolate(x, **kw), tag=tag)


def _area(x):
    # area on (1, 2, 3, 4) -> (2, 3): adaptive windows rows [0, 2), [1, 3); columns [0, 2),
    # [1, 3), [2, 4): averaging matrices
    rows = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    cols = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]])
    return apply(x, [rows, cols])


CASES = [_interp_case(*c) for c in _INTERP] + [
    Case("F.interpolate", lambda x: F.interpolate(x, size=(2, 3), mode="area"), _area,
         (U(*_X4, seed=3),),
         torch_fn=lambda torch, x: torch.nn.functional.interpolate(x, size=(2, 3), mode="area"),
         tag="area"),
    Case("nn.Upsample", lambda x: nn.Upsample(scale_factor=2, mode="bilinear")(x),
         lambda x: apply(x, [matrix("linear", 3, 6, False, 2), matrix("linear", 4, 8, False, 2)]),
         (U(*_X4, seed=4),),
         torch_fn=lambda torch, x: torch.nn.Upsample(scale_factor=2, mode="bilinear")(x)),
    Case("nn.UpsamplingNearest2d", lambda x: nn.UpsamplingNearest2d(size=(5, 6))(x),
         lambda x: apply(x, [matrix("nearest", 3, 5), matrix("nearest", 4, 6)]),
         (U(*_X4, seed=5),),
         torch_fn=lambda torch, x: torch.nn.UpsamplingNearest2d(size=(5, 6))(x)),
    Case("nn.UpsamplingBilinear2d", lambda x: nn.UpsamplingBilinear2d(scale_factor=2)(x),
         lambda x: apply(x, [matrix("linear", 3, 6, True), matrix("linear", 4, 8, True)]),
         (U(*_X4, seed=6),),
         torch_fn=lambda torch, x: torch.nn.UpsamplingBilinear2d(scale_factor=2)(x)),
    Case("F.upsample_bilinear", lambda x: F.upsample_bilinear(x, size=(4, 5)),
         lambda x: apply(x, [matrix("linear", 3, 4, True), matrix("linear", 4, 5, True)]),
         (U(*_X4, seed=7),),
         torch_fn=lambda torch, x: torch.nn.functional.interpolate(
             x, size=(4, 5), mode="bilinear", align_corners=True)),
    Case("F.upsample_nearest", lambda x: F.upsample_nearest(x, scale_factor=3),
         lambda x: apply(x, [matrix("nearest", 5, 15, False, 3)]), (U(*_X3, seed=8),),
         torch_fn=lambda torch, x: torch.nn.functional.interpolate(x, scale_factor=3)),
    Case("F.upsample", lambda x: F.upsample(x, size=6, mode="linear"),
         lambda x: apply(x, [matrix("linear", 5, 6)]), (U(*_X3, seed=9),),
         torch_fn=lambda torch, x: torch.nn.functional.interpolate(x, size=6, mode="linear")),
]
