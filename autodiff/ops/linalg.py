"""Matrix products: matmul (1-D, 2-D, batched, broadcasting), dot, outer, einsum; the
primitives (matmul on >= 2-D operands, einsum, einsum's diagonal) registered beside their
rules."""
from __future__ import annotations

import operator

import numpy

from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor, make
from ._util import gemm_pair, pair, same_dtype
from .einsum_spec import einsum_operands
from .elementwise import mul
from .registry import primitive
from .shape import broadcast_to, reshape, squeeze, swapaxes, unsqueeze


def matmul(a, b) -> Tensor:
    """NumPy/PyTorch ``matmul``: 1-D operands are promoted and the added dim removed; the
    operands must have one dtype (as in PyTorch)."""
    a, b = gemm_pair(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    if a.ndim == 1 or b.ndim == 1:
        a2 = unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = unsqueeze(b, -1) if b.ndim == 1 else b
        try:
            out = _matmul(a2, b2)
        except ValueError:  # report the caller's shapes, not the promoted ones
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned (inner "
                             f"dimensions {a.shape[-1]} and {b.shape[0 if b.ndim == 1 else -2]}"
                             f", or batch dims do not broadcast)") from None
        if a.ndim == 1:
            out = squeeze(out, -2)
        if b.ndim == 1:
            out = squeeze(out, -1)
        return out
    return _matmul(a, b)


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    try:
        out = a.array @ b.array
    except ValueError:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned (inner "
                         f"dimensions {a.shape[-1]} and {b.shape[-2]}, or batch dims do not "
                         f"broadcast)") from None
    return record(MATMUL, out, (a, b), (a, b))


def _matmul_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = _matmul(g, swapaxes(b, -1, -2)) if na else None
    gb = _matmul(swapaxes(a, -1, -2), g) if nb else None
    return ga, gb


def _matmul_infer(in_meta):
    (sa, da), (sb, db) = in_meta
    batch = numpy.broadcast_shapes(sa[:-2], sb[:-2])
    return ((batch + (sa[-2], sb[-1]), numpy.result_type(da, db)),)


# the forward is `a.array @ b.array`, inline in _matmul; operands have >= 2 dims (matmul
# promotes 1-D ones around it)
MATMUL = primitive("matmul", _matmul_bw, forward=operator.matmul, inputs=("a", "b"),
                   saves=("a", "b"), infer=_matmul_infer)


def dot(a, b) -> Tensor:
    a, b = gemm_pair(a, b, "dot", ("input", "tensor"))
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expects two 1-D tensors of equal length, got shapes {a.shape} "
                         f"and {b.shape}")
    return matmul(a, b)


def outer(a, b) -> Tensor:
    """The outer product of two 1-d tensors: out[i, j] = a[i] * b[j]."""
    a, b = pair(a, b, "outer")
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-d tensors, got shapes {a.shape} and {b.shape}")
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation; the VJP of each operand is another einsum (then broadcast over any
    index that only that operand carries). An index repeated within one operand (``'ii->i'``,
    ``'ii'``, ``'bii,bi->b'``) takes that operand's diagonal first (:func:`_einsum_diagonal`).
    PyTorch's forms: operands as one list, the sublist form, the broadcast ellipsis ``...``
    (:func:`einsum_spec.einsum_operands`)."""
    subscripts = equation  # PyTorch's parameter names
    spec, operands = einsum_operands(subscripts, operands)
    same_dtype("einsum", *[(f"operand {i}", o) for i, o in enumerate(operands)])
    subscripts = spec
    if "->" in spec:
        ins, out = spec.split("->")
    else:
        ins = spec
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    in_specs = ins.split(",")
    if len(in_specs) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(in_specs)} operands, got "
                         f"{len(operands)}")
    for s, o in zip(in_specs, operands):
        if len(s) != o.ndim:
            raise ValueError(f"einsum: subscripts {s!r} do not match operand of shape {o.shape}")
    if len(set(out)) != len(out):
        raise ValueError(f"einsum: output subscripts {out!r} repeat an index")
    for k, (s, o) in enumerate(zip(in_specs, operands)):
        if len(set(s)) != len(s):
            for c in set(s):
                sizes = {o.shape[m] for m, d in enumerate(s) if d == c}
                if len(sizes) > 1:
                    raise ValueError(f"einsum: index {c!r} is repeated in {s!r} with different "
                                     f"sizes {sorted(sizes)} (operand shape {o.shape})")
            operands[k], in_specs[k] = _einsum_diagonal(o, s)
    try:
        res = _einsum_fw([o.array for o in operands], in_specs, out)
    except ValueError as e:
        raise ValueError(f"einsum: {subscripts!r} with shapes {[o.shape for o in operands]}: "
                         f"{e}") from None
    return record(EINSUM, res, tuple(operands), tuple(operands), attrs=(in_specs, out))


def _einsum_fw(arrays, in_specs, out):
    xp = get_array_module(*arrays)
    return xp.asarray(xp.einsum(f"{','.join(in_specs)}->{out}", *arrays))


def _einsum_infer(in_meta, in_specs, out):
    sizes = {c: n for spec, (shape, _) in zip(in_specs, in_meta) for c, n in zip(spec, shape)}
    return ((tuple(sizes[c] for c in out), numpy.result_type(*[d for _, d in in_meta])),)


def _einsum_diagonal(x: Tensor, spec: str) -> tuple[Tensor, str]:
    """The diagonal over every index repeated in ``spec`` (first occurrences kept, in order):
    ``x[i, i, j] -> d[i, j]`` for ``'iij'``. Its VJP puts the gradient back on that diagonal of
    zeros: an einsum with one identity matrix per extra occurrence, so it differentiates
    again."""
    uniq = "".join(dict.fromkeys(spec))
    return record(EINSUM_DIAGONAL, _einsum_diagonal_fw(x.array, spec, uniq), (x,),
                  attrs=(spec, uniq)), uniq


def _einsum_diagonal_fw(x, spec, uniq):
    xp = get_array_module(x)
    return xp.array(xp.einsum(f"{spec}->{uniq}", x))


def _einsum_diagonal_bw(ctx, g):
    spec, uniq = ctx.attrs
    shape = ctx.in_meta[0][0]
    xp = g.xp
    free = [chr(c) for c in range(ord("A"), ord("Z") + 1) if chr(c) not in spec]
    renamed, eyes, seen = [], [], set()
    for c, n in zip(spec, shape):
        if c in seen:                       # a later occurrence: a fresh letter tied by eye
            f = free.pop()
            renamed.append(f)
            eyes.append((c + f, make(xp.eye(n, dtype=g.dtype))))
        else:
            seen.add(c)
            renamed.append(c)
    terms = ",".join([uniq] + [e for e, _ in eyes])
    return (einsum(f"{terms}->{''.join(renamed)}", g, *[t for _, t in eyes]),)


def _einsum_diagonal_infer(in_meta, spec, uniq):
    (shape, dtype), = in_meta
    sizes = dict(zip(spec, shape))
    return ((tuple(sizes[c] for c in uniq), dtype),)


EINSUM_DIAGONAL = primitive("einsum_diagonal", _einsum_diagonal_bw, forward=_einsum_diagonal_fw,
                            inputs="x", attrs=("spec", "diagonal"), infer=_einsum_diagonal_infer)


def _einsum_bw(ctx, g):
    in_specs, out = ctx.attrs
    ops = ctx.saved_tensors
    grads = []
    for i, need in enumerate(ctx.needs_input_grad):
        if not need:
            grads.append(None)
            continue
        others = [(s, o) for j, (s, o) in enumerate(zip(in_specs, ops)) if j != i]
        present = set(out).union(*[set(s) for s, _ in others])
        target = in_specs[i]
        kept = "".join(c for c in target if c in present)
        gi = einsum(",".join([out] + [s for s, _ in others]) + "->" + kept, g,
                    *[o for _, o in others])
        if kept != target:
            shape = tuple(ops[i].shape[target.index(c)] if c in kept else 1 for c in target)
            gi = broadcast_to(reshape(gi, shape), ops[i].shape)
        grads.append(gi)
    return tuple(grads)


EINSUM = primitive("einsum", _einsum_bw, forward=_einsum_fw, inputs="*operands",
                   attrs=("in_specs", "out"), saves="*operands", infer=_einsum_infer)
