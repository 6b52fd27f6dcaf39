"""The registry of differentiable primitives: every operation the tape records, defined once.

A primitive is one node kind. Its row, a :class:`Primitive` made by :func:`primitive` beside
the op's code (as HIPS autograd's ``defvjp`` and tinygrad's ``pm_gradient`` keep each rule by
its op), holds:

- ``name``: the node name (``grad_fn.name``), unique;
- ``forward(*arrays, *attrs)``: the output array(s) from the input arrays (NumPy or CuPy) and
  the attribute values; a variadic primitive gets its arrays as one list;
- ``backward(ctx, *grads)``: the VJP rule, in Tensor ops (so it differentiates again);
- ``inputs``: the names of the tensor inputs (``("*tensors",)`` for a list of any length);
- ``attrs``: the names of the non-tensor arguments, in the order of ``ctx.attrs`` (``()``:
  ``ctx.attrs`` is None; one name: ``ctx.attrs`` is that value; several: a tuple). They are
  constants of the call (Python values, or arrays such as an index or a condition);
- ``saves``: the inputs the rule reads back, by name; ``save_output``: it reads its output;
- ``elementwise``: output element i depends only on input elements i (after broadcasting);
- ``infer(in_meta, *attrs)``: the ((shape, dtype), ...) of the outputs from the inputs' and
  the attributes, without running the op (:data:`SAME`, :data:`BROADCAST` or a function).

Ops call ``record(PRIM, out, inputs, saved, save_output, attrs)`` with the module-level
constant, so a row costs nothing per call. ``tests/test_registry.py`` holds one row of sample
inputs per primitive and checks, for each, that the op records exactly its row (forward,
saved inputs, attributes and ``infer`` agree with what ran) and its first and second
derivatives against finite differences.
"""
from __future__ import annotations

from typing import Callable

import numpy

from ..tape import Rule

__all__ = ["Primitive", "PRIMITIVES", "primitive", "SAME", "BROADCAST", "REDUCED", "SHAPE_ATTR",
           "reduced_shape"]

Meta = tuple  # (shape, dtype)


class Primitive(Rule):
    """One registered primitive (see the module docstring); the tape reads ``name``,
    ``backward`` and ``materialize_grads`` (from :class:`autodiff.tape.Rule`)."""

    __slots__ = ("forward", "inputs", "attrs", "saves", "save_output", "elementwise", "infer",
                 "outputs", "module")

    def __init__(self, name: str, backward: Callable, forward: Callable, inputs: tuple,
                 attrs: tuple, saves: tuple, save_output: bool, elementwise: bool,
                 infer: Callable, outputs: int, module: str) -> None:
        super().__init__(name, backward)
        self.forward = forward
        self.inputs = inputs
        self.attrs = attrs
        self.saves = saves
        self.save_output = save_output
        self.elementwise = elementwise
        self.infer = infer
        self.outputs = outputs
        self.module = module

    @property
    def variadic(self) -> bool:
        return self.inputs[0].startswith("*")

    def attr_values(self, attrs) -> tuple:
        """``ctx.attrs`` as the tuple of values named by ``self.attrs``."""
        if not self.attrs:
            return ()
        return (attrs,) if len(self.attrs) == 1 else tuple(attrs)

    def run(self, arrays, attrs=None):
        """The forward on raw arrays, with ``attrs`` as a node holds them."""
        if self.variadic:
            return self.forward(list(arrays), *self.attr_values(attrs))
        return self.forward(*arrays, *self.attr_values(attrs))

    def out_meta(self, in_meta, attrs=None) -> tuple:
        """((shape, dtype), ...) of the outputs, from the inputs' (shape, dtype) and attrs."""
        return tuple((tuple(s), numpy.dtype(d))
                     for s, d in self.infer(list(in_meta), *self.attr_values(attrs)))

    def saved_positions(self, n_inputs: int) -> tuple:
        """The positions among the inputs of the tensors the rule saves, in order."""
        if self.saves and self.saves[0].startswith("*"):
            return tuple(range(n_inputs))
        return tuple(self.inputs.index(s) for s in self.saves)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


def primitive(name: str, backward: Callable, *, forward: Callable, inputs: tuple,
              infer: Callable, attrs: tuple | str = (), saves: tuple = (),
              save_output: bool = False, elementwise: bool = False,
              outputs: int = 1) -> Primitive:
    """Register a primitive (see the module docstring) and return its row, to be passed to
    ``record``. Called at import time, once per primitive."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive: {name!r} is already registered (by "
                         f"{PRIMITIVES[name].module})")
    inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)
    saves = (saves,) if isinstance(saves, str) else tuple(saves)
    if not inputs:
        raise ValueError(f"primitive {name!r}: needs at least one tensor input")
    for s in saves:
        if s not in inputs:
            raise ValueError(f"primitive {name!r}: saves {s!r}, which is not one of its "
                             f"inputs {inputs}")
    for what, fn in (("backward", backward), ("forward", forward), ("infer", infer)):
        if not callable(fn):
            raise TypeError(f"primitive {name!r}: {what} must be callable, got "
                            f"{type(fn).__name__}")
    module = getattr(backward, "__module__", "?")
    prim = Primitive(name, backward, forward, inputs, attrs, saves, bool(save_output),
                     bool(elementwise), infer, int(outputs), module)
    PRIMITIVES[name] = prim
    return prim


# ----------------------------------------------------------------------------- infer rules
def SAME(in_meta: list, *attrs) -> tuple:
    """The output is shaped and typed as the first input."""
    return (in_meta[0],)


def BROADCAST(in_meta: list, *attrs) -> tuple:
    """The broadcast shape of the inputs, in their promoted dtype."""
    return ((numpy.broadcast_shapes(*[s for s, _ in in_meta]),
             numpy.result_type(*[d for _, d in in_meta])),)


def reduced_shape(shape: tuple, axes: tuple, keep: bool) -> tuple:
    """``shape`` reduced over ``axes`` (kept as 1 when ``keep``)."""
    if keep:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def REDUCED(in_meta: list, axes: tuple, keep: bool, *rest) -> tuple:
    """Reduced over ``axes`` (the first two attributes), dtype kept."""
    shape, dtype = in_meta[0]
    return ((reduced_shape(shape, axes, keep), dtype),)


def SHAPE_ATTR(in_meta: list, shape: tuple, *rest) -> tuple:
    """Shaped by the first attribute, typed as the input."""
    return ((tuple(shape), in_meta[0][1]),)
