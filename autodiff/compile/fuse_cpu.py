"""CPU fusion of a traced program: runs of elementwise ops, the sums they feed and the
optimizer updates become one numba loop each.

A *cluster* is a set of ops of one dtype (float32 or float64) over one iteration *domain* (a
shape): elementwise ops (registered primitives with an expression in :data:`EXPRESSIONS`,
``where`` on a traced bool mask, the sweep's gradient arithmetic, the one-pass activation
backwards), broadcasts and reshapes that only add or drop 1-dims, sums (``sum``, ``sum_to``)
of domain-shaped values, and in-place updates whose kind has a fused form (``Update.fuse``:
SGD, Adam) on an array of the domain's shape. Every op's output either has the domain's shape
or broadcasts to it (a scalar op computed before the loop, a bias read at each row); a sum
accumulates over the loop and is ready after it. The kernel computes each value in a
register, rounded to the dtype as eager rounds it, and stores only the values that something
outside the cluster reads. Matmuls, convolutions and indexing stay as they were.

Clusters are found in one pass over the program, in order. A cluster runs where its last op
was: an op outside it that reads its values waits until after it, one independent of it runs
before it, and one that writes in place (or draws random numbers) ends it.

The elementwise arithmetic is eager's, op by op and in the same dtype; sums accumulate
sequentially (float32 sums in float64) where NumPy sums pairwise, and ``math`` functions may
round differently from NumPy's: fused results agree with eager to rounding, not bit for bit.
Each kernel is checked when it is made against a dry run of the unfused program (:func:`close`;
a sum relative to its terms' magnitude) and dropped if it disagrees. Loop bounds are arguments
and value names canonical, so clusters of one structure share a kernel, kept as a module under
``$AUTODIFF_CACHE/kernels`` with numba's cache (compiled once per machine).
``AUTODIFF_NUMBA=0`` (or numba missing) turns fusion off.
"""
from __future__ import annotations

import math
import os
import re
import sys

import numpy

from ..ops.elementwise import _zeros_of
from .program import Miss, Op, SlotRef, close, reads, refresh_plan, written_in_place

__all__ = ["available", "fuse", "close", "EXPRESSIONS", "RAW_EXPRESSIONS"]

#: primitive name -> scalar expression over its inputs ``{0}``, ``{1}``; ``_D`` is the dtype
EXPRESSIONS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "div": "({0} / {1})",
    "neg": "(-{0})", "exp": "math.exp({0})", "log": "math.log({0})", "tanh": "math.tanh({0})",
    "sqrt": "math.sqrt({0})", "abs": "abs({0})", "sin": "math.sin({0})",
    "cos": "math.cos({0})",
    "relu": "({0} if {0} >= _D(0) or {0} != {0} else _D(0))",
    "maximum": "({1} if {1} >= {0} or {1} != {1} else {0})",
    "minimum": "({1} if {1} <= {0} or {1} != {1} else {0})",
    "sigmoid": "_sigmoid({0})",
    "broadcast_to": "{0}", "reshape": "{0}",
}
#: a raw op's function (by ``__name__``) -> expression; the activation backwards as the
#: one-pass numba kernels of the NumPy backend write them (same literals, same rounding)
RAW_EXPRESSIONS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "neg": "(-{0})",
    "copy": "{0}", "array": "{0}",
    "tanh_backward": "({1} * (1 - {0} * {0}))",
    "sigmoid_backward": "({1} * {0} * (1 - {0}))",
    "relu_backward": "({1} if {0} > 0 else 0)",
}
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))
_KERNELS: dict = {}
_MIN_OPS = 2


def available() -> bool:
    """Whether fusion runs: numba importable and ``AUTODIFF_NUMBA`` not 0."""
    if os.environ.get("AUTODIFF_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- classifying
def _pad(shape: tuple, k: int) -> tuple:
    return (1,) * (k - len(shape)) + tuple(shape)


def _broadcast(a: tuple, b: tuple):
    """numpy's broadcast shape of ``a`` and ``b``, or None."""
    k = max(len(a), len(b))
    out = []
    for x, y in zip(_pad(a, k), _pad(b, k)):
        if x != y and x != 1 and y != 1:
            return None
        out.append(max(x, y))
    return tuple(out)


def _strip(shape: tuple) -> tuple:
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    return tuple(shape[i:])


def _classify(op: Op, arrays: list):
    """('ew', expression) for an elementwise op, ('sum', None) for a sum of one array,
    ('upd', plan) for an in-place update with a fused form, or None when the op does not
    fuse."""
    if op.kind == "update":
        return _update_plan(op, arrays)
    if op.kind == "raw":
        name = getattr(op.fn, "__name__", None)
        if name == "methodcaller" or op.fn.__class__.__name__ == "methodcaller":
            name = "copy" if repr(op.fn) == "operator.methodcaller('copy')" else None
        expr = RAW_EXPRESSIONS.get(name)
        if expr is None or len(op.outs) != 1 or op.outs[0] is None or op.outs[0] in op.ins:
            return None
        return ("ew", expr) if _typed(op, arrays) else None
    if op.kind != "prim" or len(op.outs) != 1 or not _typed(op, arrays):
        return None
    name = op.fn.name
    if op.dynamic:
        return _where(op, arrays) if name == "where" else None
    if name == "step" and op.attrs is _zeros_of:      # masked_grad's zeros on the graph
        return ("ew", "0")
    if name == "sum":
        axes, keep, dtype = op.attrs
        if dtype is not None and numpy.dtype(dtype) != arrays[op.ins[0]].dtype:
            return None
        return ("sum", None)
    if name == "sum_to":
        return ("sum", None)
    if name == "reshape" and _strip(arrays[op.ins[0]].shape) != _strip(arrays[op.outs[0]].shape):
        return None
    if name == "pow_scalar":
        c = op.attrs
        if c == 1:
            return ("ew", "{0}")
        if c == 2:
            return ("ew", "({0} * {0})")
        if c == 3:
            return ("ew", "({0} * {0} * {0})")
        if isinstance(c, (int, float)) and not isinstance(c, bool) and c != 0:
            return ("ew", "({0} ** _D(%r))" % float(c))
        return None
    if not (op.fn.elementwise or name in ("broadcast_to", "reshape")):
        return None
    expr = EXPRESSIONS.get(name)
    return None if expr is None else ("ew", expr)


def _where(op: Op, arrays: list):
    """('ew', expression, (condition slot,)) for ``where`` whose condition is a traced bool
    array (a mask made by an op of the step) broadcasting to the result, else None."""
    cond = op.attrs
    if cond.__class__ is not SlotRef or cond.shape is not None:
        return None
    c = arrays[cond.slot]
    if type(c) is not numpy.ndarray or c.dtype != numpy.bool_ or \
            _broadcast(c.shape, arrays[op.outs[0]].shape) != tuple(arrays[op.outs[0]].shape):
        return None
    return ("ew", "({0} if {2} else {1})", (cond.slot,))


def _update_plan(op: Op, arrays: list):
    """('upd', plan) for an update whose kind has a fused form here (``Update.fuse``): its
    arrays host arrays of one float dtype and one shape (the target's, no broadcasting)."""
    fuse = getattr(op.fn, "fuse", None)
    if fuse is None or op.dynamic or not op.ins:
        return None
    operands = [arrays[s] for s in op.ins]
    w = operands[0]
    if type(w) is not numpy.ndarray or w.dtype not in _FLOATS or \
            any(type(a) is not numpy.ndarray or a.dtype != w.dtype or a.shape != w.shape
                for a in operands):
        return None
    plan = fuse(*operands, *op.attrs)
    got = None if plan is None else plan.fetch(dry=True)
    if got is None or any(a.shape != w.shape or a.dtype != w.dtype for a in got[1]):
        return None
    return ("upd", plan)


def _typed(op: Op, arrays: list) -> bool:
    """All operands and the result: host arrays of one float dtype, the result a fresh array
    whose shape every operand broadcasts to (a sum: the operand's shape reduces to it)."""
    out = arrays[op.outs[0]]
    if type(out) is not numpy.ndarray and not isinstance(out, numpy.generic):
        return False
    dtype = out.dtype
    if dtype not in _FLOATS:
        return False
    for s in op.ins:
        a = arrays[s]
        if not isinstance(a, (numpy.ndarray, numpy.generic)) or a.dtype != dtype:
            return False
    return True


# ----------------------------------------------------------------------------- clusters
class _Cluster:
    __slots__ = ("members", "shape", "dtype", "pinned", "values", "sums")

    def __init__(self, dtype) -> None:
        self.members: list[int] = []
        self.shape: tuple = ()
        self.dtype = dtype
        self.pinned = False            # a sum fixes the domain
        self.values: set[int] = set()  # slots computed inside
        self.sums: set[int] = set()    # slots of sums (ready only after the loop)


def _join(c: _Cluster, op: Op, kind: str, arrays: list):
    """The cluster's domain with ``op`` in it, or None when ``op`` cannot join."""
    if kind == "upd":        # writes its target in place: the domain is the target's shape
        w = arrays[op.ins[0]]
        shape = _broadcast(c.shape, w.shape)
        if w.dtype != c.dtype or shape != tuple(w.shape) or (c.pinned and shape != c.shape) \
                or any(s in c.sums for s in op.ins) or op.ins[0] in c.values:
            return None
        return shape
    out = arrays[op.outs[0]]
    if out.dtype != c.dtype or any(s in c.sums for s in op.ins):
        return None
    if kind == "sum":
        src = arrays[op.ins[0]].shape
        shape = _broadcast(c.shape, src)
        if shape != tuple(src) or (c.pinned and shape != c.shape):
            return None
        if _broadcast(_pad(out.shape, len(shape)), shape) != shape:
            return None
        return shape
    shape = _broadcast(c.shape, out.shape)
    if shape is None or (c.pinned and shape != c.shape):
        return None
    for s in op.ins:
        if _broadcast(arrays[s].shape, out.shape) != tuple(out.shape):
            return None
    return shape


def _add(c: _Cluster, i: int, op: Op, kind: str, shape: tuple) -> None:
    c.members.append(i)
    c.shape = tuple(shape)
    if kind == "upd":       # a later reader of the target waits for the cluster
        c.values.add(op.ins[0])
        c.pinned = True
        return
    c.values.add(op.outs[0])
    if kind == "sum":
        c.pinned = True
        c.sums.add(op.outs[0])


def fuse(prog, arrays: list, args: list) -> int:
    """Replace the clusters of ``prog.ops`` by fused ops (in place); ``arrays`` are the
    trace's arrays by slot (their shapes and dtypes), ``args`` the flattened arguments of the
    call (a dry run of the program with them checks each kernel). Returns the number of
    clusters fused."""
    ops = prog.ops
    kinds = [_classify(op, arrays) for op in ops]
    readers: dict[int, set] = {}
    for i, op in enumerate(ops):
        for s in reads(op):
            readers.setdefault(s, set()).add(i)
    clusters: list[_Cluster] = []
    order: list[int] = []           # the program's ops, a cluster's members made adjacent
    cur, deferred, blocked = None, [], set()

    def end() -> None:              # the cluster, then the ops that waited for its values
        nonlocal cur, deferred, blocked
        if cur is not None:
            order.extend(cur.members)
            clusters.append(cur)
        order.extend(deferred)
        cur, deferred, blocked = None, [], set()
    for i, op in enumerate(ops):
        kind = kinds[i]
        used = set(reads(op))
        if cur is not None:
            if kind is not None and not used & blocked:
                shape = _join(cur, op, kind[0], arrays)
                if shape is not None:
                    _add(cur, i, op, kind[0], shape)
                    continue
            pure = op.kind != "draw" and not written_in_place(op)
            if kind is None and pure:
                if used & (cur.values | blocked):     # waits for the cluster: after it
                    deferred.append(i)
                    blocked.update(s for s in op.outs if s is not None)
                else:                                 # independent of it: before it
                    order.append(i)
                continue
            end()
        if kind is None:
            order.append(i)
            continue
        cur = _Cluster(arrays[op.ins[0] if kind[0] == "upd" else op.outs[0]].dtype)
        shape = _join(cur, op, kind[0], arrays)
        if shape is None:
            cur = None
            order.append(i)
            continue
        _add(cur, i, op, kind[0], shape)
    end()
    pos = {i: k for k, i in enumerate(order)}
    consts = {src[0] for src in prog.sources if src[1] == "const"}
    candidates: dict[int, tuple] = {}
    for c in clusters:
        if len(c.members) < _MIN_OPS and kinds[c.members[0]][0] != "upd":
            continue
        new = _fused_op(ops, kinds, c, arrays, readers, prog.live_out, consts)
        if new is not None:
            candidates[pos[c.members[-1]]] = (new, c.members)
    replaced: dict[int, Op] = {}
    dropped: set[int] = set()

    def check(last: int):
        def run(bufs: list) -> None:     # the kernel on the values its ops saw, vs theirs
            new, members = candidates[last]
            written = new.fn.written       # the updates' targets: written into copies here
            operands = [bufs[s].copy() if s in written else bufs[s] for s in new.ins]
            try:
                got = new.fn(*operands, dry=True)
            except Exception:       # noqa: BLE001  (a cached kernel that does not load: again
                try:                # compiled here; one numba cannot type: keep the ops)
                    new.fn.kernel = _KERNELS[(new.fn.source, new.fn.dtype.str)] = \
                        _compiled(new.fn.source, new.fn.dtype)
                    got = new.fn(*operands, dry=True)
                except Exception:   # noqa: BLE001
                    return
            if all(close(g, bufs[s], _scale(ops, producer[s], bufs))
                   for g, s in zip(got, new.outs)):
                replaced[last] = new
                dropped.update(members)
        return run
    producer = {op.outs[0]: i for i, op in enumerate(ops)
                if kinds[i] is not None and kinds[i][0] != "upd"}
    reordered = [ops[i] for i in order]
    if candidates:
        prog.reference_ops = reordered
        prog.dry_run(args, {last: check(last) for last in candidates})
    if not replaced:
        prog.reference_ops = ops
        return 0
    prog.ops = [replaced.get(k, ops[i]) for k, i in enumerate(order)
                if k in replaced or i not in dropped]
    refresh_plan(prog, arrays)
    return len(replaced)


def _scale(ops: list, i: int, bufs: list) -> float | None:
    """The magnitude a sum's rounding is relative to: its terms' (None: not a sum)."""
    op = ops[i]
    if op.kind != "prim" or op.fn.name not in ("sum", "sum_to"):
        return None
    src, out = bufs[op.ins[0]], bufs[op.outs[0]]
    n = max(numpy.size(src) // max(numpy.size(out), 1), 1)
    return float(numpy.abs(src).max()) * n if numpy.size(src) else 0.0


# ----------------------------------------------------------------------------- kernels
def _literal(v: float) -> str:
    if v != v:
        return "math.nan"
    if v in (math.inf, -math.inf):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def _fused_op(ops: list, kinds: list, c: _Cluster, arrays: list, readers: dict,
              live_out: set, consts: set) -> Op | None:
    """One op running cluster ``c`` as a generated kernel (compiled on its first call)."""
    members = set(c.members)
    k = max(len(c.shape), 1)
    dom = _pad(c.shape, k)
    ins: list[int] = []
    pre: list[str] = []                 # before the loop (loop-invariant values)
    body: list[str] = []
    post: list[str] = []
    outs: list[int] = []
    out_kind: list[str] = []            # 'ew' | 'sum' | 'acc' (a full sum in a register)
    local: dict[int, str] = {}
    invariant: set[int] = set()
    idx = [f"i{d}" for d in range(k)]

    def index(shape) -> str:
        p = _pad(shape, k)
        return ", ".join(idx[d] if p[d] != 1 else "0" for d in range(k))

    def load(s: int) -> str:
        if s in local:
            return local[s]
        a = arrays[s]
        if s in consts and a.size == 1 and a.dtype.kind == "f":   # a literal of the kernel
            local[s] = f"_D({_literal(float(numpy.asarray(a).reshape(-1)[0]))})"
            invariant.add(s)
            return local[s]
        name = f"a{len(ins)}"
        ins.append(s)
        local[("array", s)] = name
        if all(n == 1 for n in _pad(a.shape, k)):
            local[("index", s)] = index(())
            pre.append(f"x{s} = {name}[{index(())}]")
            invariant.add(s)
        else:
            local[("index", s)] = index(a.shape)
            body.append(f"x{s} = {name}[{index(a.shape)}]")
        local[s] = f"x{s}"
        return local[s]

    extras: list[str] = []              # per update: its scalars and state arrays
    updates: list = []
    written: set = set()
    for i in c.members:
        op = ops[i]
        kind, expr = kinds[i][:2]
        if kind == "upd":
            _update_lines(op, expr, len(updates), load, local,
                          pre if all(n == 1 for n in dom) else body, extras)
            w = arrays[op.ins[0]]
            updates.append((expr, ins.index(op.ins[0]),
                            None if w.ndim == k else (None,) * (k - w.ndim)))
            written.add(op.ins[0])
            continue
        s = op.outs[0]
        shape = arrays[s].shape
        stored = s in live_out or bool(readers.get(s, set()) - members) or kind == "sum"
        if kind == "sum":
            src = load(op.ins[0])
            name = f"o{len(outs)}"
            outs.append(s)
            if all(n == 1 for n in _pad(shape, k)):
                out_kind.append("acc")
                pre.append(f"r{s} = 0.0")
                body.append(f"r{s} += {src}")
                post.append(f"{name}[{index(())}] = _D(r{s})")
            else:
                out_kind.append("sum")
                body.append(f"{name}[{index(shape)}] += {src}")
            continue
        operands = list(op.ins) + list(kinds[i][2] if len(kinds[i]) > 2 else ())
        args = [load(t) for t in operands]
        line = f"v{s} = _D({expr.format(*args)})"
        hoist = all(t in invariant for t in operands) and all(n == 1 for n in _pad(shape, k))
        (pre if hoist else body).append(line)
        if hoist:
            invariant.add(s)
        local[s] = f"v{s}"
        if stored:
            name = f"o{len(outs)}"
            outs.append(s)
            out_kind.append("ew")
            (pre if hoist else body).append(f"{name}[{index(shape)}] = v{s}")
    # the loop's bounds are arguments: clusters of one structure share a compiled kernel
    names = [f"a{j}" for j in range(len(ins))] + [f"o{j}" for j in range(len(outs))] + \
        extras + [f"n{d}" for d in range(k)]
    lines = [f"def kernel({', '.join(names)}):"] + [f"    {t}" for t in pre]
    depth = 1
    for d in range(k):
        lines.append("    " * depth + f"for i{d} in range(n{d}):")
        depth += 1
    lines += ["    " * depth + t for t in body] or ["    " * depth + "pass"]
    lines += [f"    {t}" for t in post]
    src = _canonical("\n".join(lines) + "\n")
    label = "fused[" + ",".join(ops[i].name for i in c.members) + "]"
    fn = _Fused(_kernel(src, c.dtype), [arrays[s] for s in ins], [arrays[s] for s in outs],
                out_kind, dom, c.dtype, label, src, updates, written)
    return Op("raw", fn, ins, tuple(outs), None, False, True)


def _update_lines(op: Op, plan, j: int, load, local: dict, lines: list, extras: list) -> None:
    """The kernel lines of update ``j`` (``plan``: an ``inplace.FusedUpdate``): its state
    arrays read, each assignment computed and stored in order, the target written last and
    read as its new value by the ops after it."""
    w = op.ins[0]
    operands = [load(s) for s in op.ins]
    names: dict = {}
    array, at = local[("array", w)], local[("index", w)]
    scalars, state = plan.fetch(dry=True)
    for n in range(len(scalars)):
        extras.append(f"u{j}s{n}")
        names[f"s{n}"] = f"u{j}s{n}"
    for n in range(len(state)):
        extras.append(f"u{j}m{n}")
        lines.append(f"u{j}v{n} = u{j}m{n}[{at}]")
        names[f"m{n}"] = f"u{j}v{n}"
    for target, expr in plan.assign:
        value = expr.format(*operands, **names)
        if target == "w":
            lines += [f"u{j}w = _D({value})", f"{array}[{at}] = u{j}w"]
            local[w] = f"u{j}w"
        else:
            n = int(target[1:])
            lines += [f"u{j}v{n} = _D({value})", f"u{j}m{n}[{at}] = u{j}v{n}"]
            names[target] = f"u{j}v{n}"


def _canonical(src: str) -> str:
    """``src`` with its value names (``x``, ``v``, ``r`` + a slot number) renumbered in order
    of appearance: clusters of one structure get one text, so one compiled kernel."""
    names: dict[str, str] = {}

    def rename(m) -> str:
        return names.setdefault(m.group(0), f"{m.group(1)}{len(names)}")
    return re.sub(r"\b([xvr])(\d+)\b", rename, src)


def _kernel(src: str, dtype):
    """The compiled kernel of ``src`` for ``dtype``: from this process's table, else from the
    disk cache (:func:`_cached`), else compiled here."""
    key = (src, dtype.str)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = _cached(src, dtype) or _compiled(src, dtype)
    return kernel


_HEADER = '''"""A loop generated by autodiff.compile (autodiff/compile/fuse_cpu.py); numba keeps its
machine code beside this file, so a later process loads it instead of compiling it again."""
import math

import numba
import numpy

_D = numpy.{dtype}


@numba.njit(cache=True)
def _sigmoid(x):        # as ops.elementwise._np_sigmoid: split by sign
    e = math.exp(-abs(x))
    return _D(1) / (_D(1) + e) if x >= _D(0) else e / (_D(1) + e)


'''


def _cached(src: str, dtype):
    """The kernel as a module of the cache directory (``$AUTODIFF_CACHE/kernels``, see
    ``autodiff.data.default_cache_dir``) compiled with numba's ``cache=True``; None when the
    directory cannot be written or the module not loaded (the caller compiles in memory)."""
    import hashlib
    import importlib.util
    from ..data.download import default_cache_dir
    text = _HEADER.format(dtype=dtype.name) + src + \
        '\n\nkernel = numba.njit(cache=True, error_model="numpy")(kernel)\n'
    name = "k_" + hashlib.sha256(text.encode()).hexdigest()[:24]
    try:
        folder = default_cache_dir() / "kernels"
        path = folder / f"{name}.py"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(text)
            os.replace(tmp, path)          # whole, even with another process writing it
        module = sys.modules.get(f"_autodiff_{name}")
        if module is None:
            spec = importlib.util.spec_from_file_location(f"_autodiff_{name}", path)
            module = importlib.util.module_from_spec(spec)
            # importable by name: numba's cache rebuilds the kernel's globals by importing it
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        return module.kernel
    except Exception:       # noqa: BLE001  (an unwritable cache, a damaged file: compile here)
        return None


def _compiled(src: str, dtype):
    """The kernel compiled in this process only."""
    import numba
    D = dtype.type
    one = D(1)

    @numba.njit(cache=False)
    def _sigmoid(x):        # as ops.elementwise._np_sigmoid: split by sign
        e = math.exp(-abs(x))
        return one / (one + e) if x >= D(0) else e / (one + e)
    env = {"math": math, "_D": D, "_sigmoid": _sigmoid}
    exec(src, env)          # noqa: S102  (source generated from the tables above)
    return numba.njit(error_model="numpy")(env["kernel"])


class _Fused:
    """A fused cluster as a raw op: ``fn(*arrays)`` -> the tuple of its stored values (fresh
    arrays each call; sums start from zeros). Operands are given the loop's rank by leading
    new axes (``a[None, ...]``: always a view, so an update's target is written where it
    lives). ``updates``: (plan, position of the target among the operands) per fused update;
    their scalars and state arrays are fetched per call (``extras``)."""

    __slots__ = ("kernel", "in_pads", "out_shapes", "out_kind", "dtype", "__name__",
                 "source", "domain", "updates", "written")

    def __init__(self, kernel, ins: list, outs: list, out_kind: list, domain: tuple, dtype,
                 name: str, source: str, updates: list, written: set) -> None:
        k = len(domain)
        self.kernel, self.out_kind, self.dtype, self.domain = kernel, out_kind, dtype, domain
        self.in_pads = [None if a.ndim == k else (None,) * (k - a.ndim) for a in ins]
        self.out_shapes = [(tuple(a.shape), _pad(a.shape, k)) for a in outs]
        self.__name__ = name
        self.source = source
        self.updates = updates
        self.written = written

    def extras(self, dry: bool = False) -> list:
        """The updates' scalars and state arrays as the kernel takes them (``dry``: copies of
        the state, which a check must not change); raises ``Miss`` when an optimizer's
        configuration no longer has the fused form."""
        out = []
        for plan, _, pad in self.updates:
            got = plan.fetch(dry)
            if got is None:
                raise Miss(f"{self.__name__}: an optimizer's configuration changed")
            scalars, state = got
            out += [float(v) for v in scalars]
            out += [(m.copy() if dry else m)[pad] if pad else (m.copy() if dry else m)
                    for m in state]
        return out

    def __call__(self, *arrays, dry: bool = False):
        flat = [a if p is None else a[p] for a, p in zip(arrays, self.in_pads)]
        res, padded = [], []
        for (shape, p), kind in zip(self.out_shapes, self.out_kind):
            o = numpy.zeros(shape, self.dtype) if kind == "sum" else numpy.empty(shape,
                                                                                 self.dtype)
            res.append(o)
            padded.append(o.reshape(p))
        self.kernel(*flat, *padded, *self.extras(dry), *self.domain)
        return tuple(res)

    def __repr__(self) -> str:
        return self.__name__
