"""How tensors print: ``set_printoptions`` (PyTorch's arguments and profiles) and the array text
``Tensor.__repr__`` shows.

Until ``set_printoptions`` is called, tensors print with NumPy's defaults (8 digits, as this
package always has); ``set_printoptions(profile="default")`` gives PyTorch's (4 digits).
"""
from __future__ import annotations

import math
import sys

import numpy

__all__ = ["set_printoptions", "array_text"]

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": sys.maxsize, "edgeitems": 3, "linewidth": 80},
}

#: the options set so far (none: NumPy's defaults)
OPTIONS: dict = {}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Digits after the point (``precision``), the element count above which a tensor is
    summarised (``threshold``) with ``edgeitems`` per end, the line width, a ``profile``
    ('default', 'short', 'full') setting those four first, and ``sci_mode`` (True: always
    scientific notation, False: never, None: automatic; as in PyTorch, each call sets it)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of "
                             f"{', '.join(_PROFILES)}, got {profile!r}")
        OPTIONS.update(_PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems,
             "linewidth": linewidth}
    for name, value in given.items():
        if value is not None:
            OPTIONS[name] = sys.maxsize if value == math.inf else int(value)
    OPTIONS["sci_mode"] = sci_mode


def array_text(a: numpy.ndarray, prefix: str) -> str:
    """``a`` as the body of a tensor's repr, under the options set."""
    kw = {k: OPTIONS[k] for k in ("precision", "threshold", "edgeitems") if k in OPTIONS}
    if "precision" in kw and a.dtype.kind == "f":
        # PyTorch's digits: ``precision`` of them unless every value is a whole number
        finite = a[numpy.isfinite(a)]
        whole = finite.size == 0 or bool((finite == numpy.round(finite)).all())
        kw["floatmode"] = "maxprec_equal" if whole else "fixed"
    if "linewidth" in OPTIONS:
        kw["max_line_width"] = OPTIONS["linewidth"]
    sci = OPTIONS.get("sci_mode")
    if sci and a.dtype.kind == "f":
        digits = OPTIONS.get("precision", 8)
        kw["formatter"] = {"float_kind": lambda v: numpy.format_float_scientific(
            v, precision=digits, unique=False)}
    elif sci is False:
        kw["suppress_small"] = True
    return numpy.array2string(a, separator=", ", prefix=prefix, **kw)
