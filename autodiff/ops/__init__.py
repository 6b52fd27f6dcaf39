"""Primitive operations, each registered beside its VJP rule (``registry.py``); composites are
built from primitives.

Loading the package hands the tape the differentiable arithmetic of its backward sweep
(``sum_to``, ``astype``, ``add``): the tape sits below the ops and imports none of them.
"""
from .. import tape as _tape
from . import conv, linear, loss, norm, pool, recurrent  # noqa: F401  (register their primitives)
from .elementwise import add as _add
from .registry import PRIMITIVES, Primitive, primitive
from .shape import astype as _astype, sum_to as _sum_to

_tape.use_gradient_arithmetic(_sum_to, _astype, _add)

__all__ = ["PRIMITIVES", "Primitive", "primitive"]
