"""Clean-up passes over a traced program, run before fusion: constant folding and dead-code
elimination.

*Folding*: an op whose operands are all constants of the program (Python scalars made Tensors
while tracing, a gradient seed of ones, a reshape or broadcast of those) computes the same
array at every replay; its traced result becomes a constant and the op goes. Not folded: a
result the step returns or writes in place (the caller or an update could then change the
constant), and anything but pure ops (primitives and raw arithmetic; never updates or draws).

*Dead code*: a pure op none of whose results is read later, returned, or kept as an effect
(``.grad``, an array written back) is dropped; the sweep computes such values (the gradient of
an input that needs none, a statistic the rule of a frozen op would read).
"""
from __future__ import annotations

from .program import refresh_plan, _refs

__all__ = ["fold_constants", "eliminate_dead_code"]

_PURE = ("prim", "raw", "refresh", "rule")


def _written(ops: list) -> set:
    """Slots some op writes in place (an update's target, a raw op returning its operand)."""
    out = set()
    for op in ops:
        if op.kind == "update" and op.ins:
            out.add(op.ins[0])
        elif op.kind == "raw":
            out.update(s for s in op.outs if s is not None and s in op.ins)
    return out


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
        if op.kind in ("prim", "raw") and op.ins and outs and not op.dynamic and \
                all(s in consts for s in op.ins) and \
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


def eliminate_dead_code(prog, arrays: list) -> int:
    """Drop the pure ops whose results nothing reads (see the module docstring); returns how
    many went."""
    needed = set(prog.live_out)
    kept, dropped = [], 0
    for op in reversed(prog.ops):
        outs = [s for s in op.outs if s is not None]
        if op.kind in _PURE and outs and not any(s in needed for s in outs) and \
                not any(s in op.ins for s in outs):
            dropped += 1
            continue
        kept.append(op)
        needed.update(op.ins)
        if op.dynamic:
            needed.update(r.slot for r in _refs(op.attrs))
    if dropped:
        prog.ops = kept[::-1]
        prog.reference_ops = prog.ops
        refresh_plan(prog, arrays)
    return dropped
