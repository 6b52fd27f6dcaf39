"""A program's replay as one generated Python function: straight-line code over the slots.

:meth:`Program.interpret <autodiff.compile.program.Program.interpret>` walks the ops one by one
(a dispatch on the op's kind, a list of operands, attributes resolved); this module writes the
same replay once as source, one line per op, with the sources' guards, the calls and the
effects spelled out, so a replay (:meth:`Program.replay`) pays one Python call per op and
nothing else. The generated function does what the interpreter does, in the same order: bind
and check the sources (a mismatch raises :class:`~autodiff.compile.program.Miss`), fetch the
fused optimizer updates' scalars and state (a changed configuration is a Miss before anything
is written), run the ops with grad mode off (a primitive's forward with its attributes as
constants, a fused kernel with its operands given the loop's rank, a pooled ``out=`` buffer,
any other kind through the interpreter's ``_run``), drop each slot after its last reader, then
apply the effects and build the outputs. ``program.source`` holds the text.
"""
from __future__ import annotations

import numpy

from ..grad_mode import STATE
from ..tensor import make
from .program import Miss, _OUT_FORMS, _build, _run

__all__ = ["generate"]


def generate(prog) -> tuple:
    """(the replay function ``fn(args)`` of ``prog``, its source)."""
    env = {"Miss": Miss, "STATE": STATE, "make": make, "_run": _run, "_build": _build,
           "_empty": numpy.empty, "_zeros": numpy.zeros, "_pool": prog.pool.get}
    lines = ["def replay(args):", "    bufs = [None] * %d" % prog.nslots]
    for slot, kind, target, meta in prog.sources:
        lines += _bind(env, slot, kind, target, meta)
    for i, op in enumerate(prog.ops):   # optimizer scalars and state: a Miss before any write
        if op.kind == "raw" and getattr(op.fn, "updates", None):
            env[f"XF{i}"] = op.fn.extras
            lines.append(f"    X{i} = XF{i}()")
    lines += ["    prev = STATE.enabled", "    STATE.enabled = False", "    try:"]
    for i, (op, dead, b) in enumerate(zip(prog.ops, prog.dead_after, prog.out_buffer)):
        lines += ["        " + t for t in _op(env, i, op, b)]
        if dead:
            lines.append("        " + " = ".join(f"bufs[{s}]" for s in dead) + " = None")
    lines += ["        pass", "    finally:", "        STATE.enabled = prev"]
    for j, (kind, target, value) in enumerate(prog.effects):
        t = _target_expr(env, target, f"E{j}")
        if kind == "grad":
            lines.append(f"    {t}.grad = " + ("None" if value is None
                                                else f"make(bufs[{value}])"))
        elif kind == "array":
            lines.append(f"    {t}.array = bufs[{value}]")
        else:
            lines.append(f"    {t}._version.v += {value}")
    env["SPEC"] = prog.out_spec
    lines.append("    return _build(SPEC, bufs)")
    src = "\n".join(lines) + "\n"
    exec(compile(src, "<autodiff.compile replay>", "exec"), env)   # noqa: S102
    return env["replay"], src


def _target_expr(env: dict, target, name: str) -> str:
    if target[0] == "arg":
        return f"args[{target[1]}]"
    env[name] = target[1]
    return name


def _bind(env: dict, slot: int, kind: str, target, meta) -> list:
    if kind == "const":
        env[f"C{slot}"] = target
        return [f"    bufs[{slot}] = C{slot}"]
    t = _target_expr(env, target, f"T{slot}")
    shape, dtype, rg = meta
    env[f"S{slot}"], env[f"D{slot}"] = shape, dtype
    lines = [f"    t = {t}"]
    if kind == "grad":
        lines += ["    t = t.grad", "    if t is None:",
                  "        raise Miss('a .grad read by the step is None')"]
    lines.append(f"    a = bufs[{slot}] = t.array")
    cond = f"a.shape != S{slot} or (a.dtype is not D{slot} and a.dtype != D{slot})"
    if rg is not None:
        cond += f" or t._requires_grad is not {bool(rg)}"
    lines += [f"    if {cond}:",
              f"        raise Miss('a tensor read by the step changed: {shape} {dtype}')"]
    return lines


def _op(env: dict, i: int, op, b: int) -> list:
    ins = ", ".join(f"bufs[{s}]" for s in op.ins)
    if b.__class__ is tuple:
        return _fused(env, i, op, b)
    if b >= 0:      # into a pooled buffer
        fn = op.fn if op.kind == "raw" else op.fn.forward
        env[f"F{i}"] = _OUT_FORMS[fn]
        return [f"bufs[{op.outs[0]}] = F{i}({ins}, out=_pool({b}))"]
    if op.kind == "prim" and not op.dynamic and not op.fn.variadic:
        env[f"F{i}"] = op.fn.forward
        args = [f"bufs[{s}]" for s in op.ins]
        for k, v in enumerate(op.fn.attr_values(op.attrs)):
            env[f"A{i}_{k}"] = v
            args.append(f"A{i}_{k}")
        call = f"F{i}({', '.join(args)})"
        if op.fn.outputs == 1 and len(op.outs) == 1:
            return [f"bufs[{op.outs[0]}] = {call}"]
        return _unpack(op.outs, call)
    if op.kind == "raw":
        env[f"F{i}"] = op.fn
        if op.meta:
            return _unpack(op.outs, f"F{i}({ins})")
        return [f"bufs[{op.outs[0]}] = F{i}({ins})" if op.outs[0] is not None
                else f"F{i}({ins})"]
    env[f"OP{i}"] = op
    return [f"_run(OP{i}, bufs)"]


def _unpack(outs, call: str) -> list:
    """A tuple result's items into their slots (None: an output nothing reads)."""
    return [f"r = {call}"] + [f"bufs[{s}] = r[{k}]" for k, s in enumerate(outs)
                              if s is not None]


def _fused(env: dict, i: int, op, pooled: tuple) -> list:
    """A fused kernel's call: operands reshaped to the loop's rank, results in their pooled
    buffers (``pooled``: one per result, -1 where a result outlives the replay: made here)."""
    f = op.fn
    env[f"K{i}"] = f.kernel
    env[f"DT{i}"] = f.dtype
    args, lines, rets = [], [], []
    for k, (s, p) in enumerate(zip(op.ins, f.in_pads)):
        if p is None:
            args.append(f"bufs[{s}]")
        else:                      # leading new axes: a view, also of an update's target
            env[f"P{i}_{k}"] = p
            args.append(f"bufs[{s}][P{i}_{k}]")
    for k, (s, (shape, p), kind, b) in enumerate(zip(op.outs, f.out_shapes, f.out_kind,
                                                     pooled)):
        env[f"Q{i}_{k}"] = p
        same = tuple(shape) == tuple(p)
        if b >= 0:
            lines.append(f"n{k} = _pool({b})")
            if kind == "sum":
                lines.append(f"n{k}.fill(0)")
            lines.append(f"o{k} = n{k}" if same else f"o{k} = n{k}.reshape(Q{i}_{k})")
            rets.append(f"bufs[{s}] = n{k}")
        else:
            make_ = "_zeros" if kind == "sum" else "_empty"
            lines.append(f"o{k} = {make_}(Q{i}_{k}, DT{i})")
            env[f"R{i}_{k}"] = shape
            rets.append(f"bufs[{s}] = o{k}" if same else f"bufs[{s}] = o{k}.reshape(R{i}_{k})")
        args.append(f"o{k}")
    if f.updates:                  # fetched before the replay wrote anything (_prologue)
        args.append(f"*X{i}")
    args += [str(n) for n in f.domain]           # the loop's bounds
    lines.append(f"K{i}({', '.join(args)})")
    return lines + rets
