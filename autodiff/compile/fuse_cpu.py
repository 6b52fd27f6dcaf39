"""CPU fusion of a traced program: groups of elementwise ops become one numba kernel each.

A *group* is a tree of elementwise ops (registered primitives with ``elementwise`` set, and the
sweep's gradient sums, ``raw`` add/sub/mul/neg) whose intermediates are read by nothing but the
next op of the group: each intermediate is computed in a register of one loop and never
stored. The group's operands must all have the shape of its result or be 0-d (the scalars a
step multiplies by); broadcasting operands end a group. The kernel's source is generated from
:data:`EXPRESSIONS` (primitive name -> scalar expression) and compiled once per source and
dtypes (:data:`_KERNELS`).

A fused kernel must give the numbers eager gives. The elementwise arithmetic is done in the same
order and dtype (constants are cast to the dtype), so it usually is bit-identical; the library
functions (exp, tanh, ...) may round differently from NumPy's. So a group is kept only if its
kernel, run on the trace's own operands, reproduces the traced result bit for bit; otherwise
its ops stay as they were. ``AUTODIFF_NUMBA=0`` (or numba missing) turns fusion off.
"""
from __future__ import annotations

import operator
import os

import numpy

from .program import Op, _assign_buffers, _liveness, BufferPool

__all__ = ["available", "fuse", "EXPRESSIONS"]

#: primitive (or raw function) name -> scalar expression over ``{0}``, ``{1}``, attributes
#: ``{a}``; ``_D`` is the dtype of the group (constants are cast to it, as NumPy keeps them).
EXPRESSIONS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
    "neg": "(-{0})", "exp": "math.exp({0})", "log": "math.log({0})", "tanh": "math.tanh({0})",
    "sqrt": "math.sqrt({0})", "abs": "abs({0})",
    "relu": "({0} if {0} >= _D(0) or {0} != {0} else _D(0))",
    "maximum": "({1} if {1} >= {0} or {1} != {1} else {0})",
    "minimum": "({1} if {1} <= {0} or {1} != {1} else {0})",
    "sigmoid": "_sigmoid({0})",
}
_RAW = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.neg: "neg"}
_KERNELS: dict = {}


def available() -> bool:
    """Whether fusion runs: numba importable and ``AUTODIFF_NUMBA`` not 0."""
    if os.environ.get("AUTODIFF_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _expr(op: Op):
    """The scalar expression template of an op, or None when it is not fusable."""
    if op.kind == "raw":
        name = _RAW.get(op.fn)
        return None if name is None else EXPRESSIONS[name]
    if op.kind != "prim" or not op.fn.elementwise or op.dynamic or len(op.outs) != 1:
        return None
    name = op.fn.name
    if name == "pow_scalar":
        c = op.attrs
        if c == 2:
            return "({0} * {0})"
        if c == 3:
            return "({0} * {0} * {0})"
        if isinstance(c, (int, float)) and c not in (0, 1):
            return "({0} ** _D(%r))" % float(c)
        return None
    return EXPRESSIONS.get(name)


def fuse(prog, arrays: list) -> int:
    """Replace the fusable groups of ``prog.ops`` by fused ops (in place); ``arrays`` are the
    trace's arrays by slot. Returns the number of groups fused."""
    ops = prog.ops
    live_out = prog.live_out
    uses: dict[int, int] = {}
    for op in ops:
        for s in op.ins:
            uses[s] = uses.get(s, 0) + 1
        if op.dynamic:
            for s in _ref_slots(op.attrs):
                uses[s] = uses.get(s, 0) + 2
    producer: dict[int, int] = {}
    groups: dict[int, list[int]] = {}          # root op index -> member op indices, in order
    exprs = [_expr(op) for op in ops]
    for i, op in enumerate(ops):
        if exprs[i] is None or not _shape_ok(op, arrays) or op.outs[0] in op.ins:
            continue
        members = []
        for s in op.ins:
            j = producer.get(s)
            if j is not None and uses.get(s) == 1 and s not in live_out and j in groups \
                    and _same_dtype(ops[j], op, arrays) and not _written_between(ops, groups[j],
                                                                                 i, arrays):
                members += groups.pop(j)
        groups[i] = sorted(members) + [i]
        producer[op.outs[0]] = i
    fused = {}
    for root, members in groups.items():
        if len(members) < 2:
            continue
        new = _fused_op(ops, members, arrays)
        if new is not None:
            fused[root] = (new, set(members))
    if not fused:
        return 0
    drop = set().union(*(m for _, m in fused.values()))
    prog.ops = [fused[i][0] if i in fused else op for i, op in enumerate(ops)
                if i in fused or i not in drop]
    prog.dead_after = _liveness(prog.ops, live_out, prog.nslots)
    prog.out_buffer, metas = _assign_buffers(prog.ops, prog.dead_after, arrays, live_out)
    prog.pool = BufferPool(metas)
    return len(fused)


def _ref_slots(attrs):
    from .program import _refs
    return [r.slot for r in _refs(attrs)]


def _shape_ok(op: Op, arrays: list) -> bool:
    out = arrays[op.outs[0]]
    if not isinstance(out, numpy.ndarray) or out.dtype.kind != "f":
        return False
    for s in op.ins:
        a = arrays[s]
        if not isinstance(a, numpy.ndarray) or a.dtype != out.dtype or \
                (a.shape != out.shape and a.ndim != 0):
            return False
    return True


def _same_dtype(a: Op, b: Op, arrays: list) -> bool:
    return arrays[a.outs[0]].dtype == arrays[b.outs[0]].dtype


def _written_between(ops: list, members: list, end: int, arrays: list) -> bool:
    """Whether an in-place op between the group's first op and ``end`` writes a slot the group
    reads (moving the group's reads to ``end`` would then read the new values)."""
    reads = {s for j in members for s in ops[j].ins}
    for k in range(members[0] + 1, end):
        op = ops[k]
        if op.kind == "update" and op.ins and op.ins[0] in reads:
            return True
        if any(s in reads for s in op.outs if s is not None) and k not in members:
            return True
    return False


def _fused_op(ops: list, members: list, arrays: list) -> Op | None:
    """One op computing the group ``members`` (op indices) with a generated kernel, if the
    kernel reproduces the traced result bit for bit."""
    local: dict[int, str] = {}      # slot -> expression text
    ins: list[int] = []
    scalar: list[bool] = []
    for j in members:
        op = ops[j]
        args = []
        for s in op.ins:
            if s not in local:
                local[s] = f"a{len(ins)}[{'0' if arrays[s].ndim == 0 else 'i'}]"
                ins.append(s)
                scalar.append(arrays[s].ndim == 0)
            args.append(local[s])
        local[op.outs[0]] = _expr(op).format(*args)
    root = ops[members[-1]]
    out = arrays[root.outs[0]]
    body = local[root.outs[0]]
    names = ", ".join(f"a{k}" for k in range(len(ins)))
    src = (f"def kernel({names}, out):\n"
           f"    for i in range(out.size):\n"
           f"        out[i] = {body}\n")
    kernel = _kernel(src, out.dtype)
    fn = _Fused(kernel, out.shape, out.dtype, tuple(scalar),
                "fused[" + ",".join(ops[j].name for j in members) + "]")
    try:
        got = fn(*[arrays[s] for s in ins])
    except Exception:       # noqa: BLE001  (numba could not type it: leave the ops as they are)
        return None
    if got.dtype != out.dtype or not _same_bits(got, out):
        return None
    return Op("raw", fn, ins, (root.outs[0],), None, False)


def _same_bits(a, b) -> bool:
    return bool(numpy.array_equal(a.view(numpy.uint8), numpy.ascontiguousarray(b).view(
        numpy.uint8)))


def _kernel(src: str, dtype):
    key = (src, dtype.str)
    k = _KERNELS.get(key)
    if k is None:
        import math
        import numba
        D = dtype.type
        one = D(1)

        @numba.njit(cache=False)
        def _sigmoid(x):        # as ops.elementwise._np_sigmoid: split by sign
            e = math.exp(-abs(x))
            return one / (one + e) if x >= D(0) else e / (one + e)
        env = {"math": math, "_D": D, "_sigmoid": _sigmoid}
        exec(src, env)          # noqa: S102  (source generated from EXPRESSIONS above)
        k = _KERNELS[key] = numba.njit(env["kernel"])
    return k


class _Fused:
    """A fused group as a raw op: ``fn(*arrays)`` -> the result array (flattened operands,
    0-d operands passed as 1-element arrays)."""

    __slots__ = ("kernel", "shape", "dtype", "scalar", "__name__")

    def __init__(self, kernel, shape, dtype, scalar, name) -> None:
        self.kernel, self.shape, self.dtype, self.scalar = kernel, shape, dtype, scalar
        self.__name__ = name

    def __call__(self, *arrays):
        out = numpy.empty(self.shape, self.dtype)
        flat = [a.reshape(1) if s else numpy.ascontiguousarray(a).reshape(-1)
                for a, s in zip(arrays, self.scalar)]
        self.kernel(*flat, out.reshape(-1))
        return out

    def __repr__(self) -> str:
        return self.__name__
