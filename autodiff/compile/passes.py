"""Clean-up passes over a traced program, run before fusion: constant folding, products by
ones dropped, and dead-code elimination.

*Folding*: an op whose operands are all constants of the program (Python scalars made Tensors
while tracing, a gradient seed of ones, a reshape or broadcast of those), or a raw op with no
operands (zeros of a given shape), computes the same array at every replay; its traced result becomes a constant and the op goes. Not folded: a
result the step returns or writes in place (the caller or an update could then change the
constant), and anything but pure ops (primitives and raw arithmetic; never updates or draws).

*Dead code*: a pure op none of whose results is read later, returned, or kept as an effect
(``.grad``, an array written back) is dropped; the sweep computes such values (the gradient of
an input that needs none, a statistic the rule of a frozen op would read).
"""
from __future__ import annotations

import numpy

from .program import SlotRef, reads, refresh_plan, written_in_place

__all__ = ["fold_constants", "drop_identities", "eliminate_dead_code"]

_PURE = ("prim", "raw", "refresh", "rule")


def _written(ops: list) -> set:
    """Slots some op writes in place."""
    return {s for op in ops for s in written_in_place(op)}


def fold_constants(prog, arrays: list) -> int:
    """Fold the ops whose operands are all constants (see the module docstring); returns how
    many went."""
    consts = {src[0] for src in prog.sources if src[1] == "const"}
    if not consts:
        return 0
    written = _written(prog.ops)
    kept, folded = [], 0
    for op in prog.ops:
        outs = [s for s in op.outs if s is not None]
        if op.kind in ("prim", "raw") and (op.ins or op.kind == "raw") and outs and \
                not op.dynamic and all(s in consts for s in op.ins) and \
                not any(s in prog.live_out or s in written or s in op.ins for s in outs):
            for s in outs:
                prog.sources.append((s, "const", arrays[s], None))
                consts.add(s)
            folded += 1
            continue
        kept.append(op)
    if folded:
        prog.ops = kept
        prog.reference_ops = kept
        refresh_plan(prog, arrays)
    return folded


def drop_identities(prog, arrays: list) -> int:
    """Drop ``x * 1`` where the 1 is a constant of ones (the gradient of a sum, folded, times
    a vector): the product is ``x`` bit for bit (NaN and infinities included), so its readers
    read ``x``. Not when the product is returned or kept (its own array is then needed), nor
    when ``x`` or the product is written in place (one write would then reach the other)."""
    consts = {src[0]: src[2] for src in prog.sources if src[1] == "const"}
    written = _written(prog.ops)       # x written in place later: its product is not x then
    alias: dict[int, int] = {}
    kept = []
    for op in prog.ops:
        if alias:
            op.ins = tuple(alias.get(s, s) for s in op.ins)
        out = op.outs[0] if len(op.outs) == 1 else None
        if op.kind == "prim" and op.fn.name == "mul" and not op.dynamic and out is not None \
                and out not in prog.live_out and out not in written:
            for x, one in (op.ins, op.ins[::-1]):
                c, a = consts.get(one), arrays[x]
                if c is not None and x not in written and getattr(c, "dtype", None) == a.dtype == arrays[out].dtype \
                        and numpy.shape(arrays[out]) == numpy.shape(a) and bool((c == 1).all()):
                    alias[out] = x
                    break
            if out in alias:
                continue
        kept.append(op)
    if not alias:
        return 0
    for op in kept:
        if op.dynamic:        # a SlotRef attribute naming a dropped product
            op.attrs = _renamed(op.attrs, alias)
    prog.ops = kept
    prog.reference_ops = kept
    refresh_plan(prog, arrays)
    return len(alias)


def _renamed(attrs, alias: dict):
    if attrs.__class__ is SlotRef:
        return SlotRef(alias.get(attrs.slot, attrs.slot), attrs.shape)
    if attrs.__class__ is tuple:
        return tuple(_renamed(a, alias) for a in attrs)
    return attrs


def eliminate_dead_code(prog, arrays: list) -> int:
    """Drop the pure ops whose results nothing reads (see the module docstring); returns how
    many went."""
    needed = set(prog.live_out)
    kept, dropped = [], 0
    for op in reversed(prog.ops):
        outs = [s for s in op.outs if s is not None]
        if op.kind in _PURE and outs and not any(s in needed for s in outs) and \
                not written_in_place(op):
            dropped += 1
            continue
        kept.append(op)
        needed.update(reads(op))
    if dropped:
        prog.ops = kept[::-1]
        prog.reference_ops = prog.ops
        refresh_plan(prog, arrays)
    return dropped
