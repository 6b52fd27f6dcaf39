"""Matrix products: matmul (1-D, 2-D, batched, broadcasting), dot, outer, einsum."""
from __future__ import annotations

from ..tape import record
from ..tensor import Tensor
from ._util import as_t, pair
from .shape import reshape, swapaxes, unsqueeze, squeeze


def matmul(a, b) -> Tensor:
    """NumPy/PyTorch ``matmul``: 1-D operands are promoted and the added dim removed."""
    a, b = pair(a, b, "matmul")
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
        out = a.data @ b.data
    except ValueError:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned (inner "
                         f"dimensions {a.shape[-1]} and {b.shape[-2]}, or batch dims do not "
                         f"broadcast)") from None
    return record("matmul", _matmul_bw, out, (a, b), (a, b))


def _matmul_bw(ctx, g):
    a, b = ctx.saved_tensors
    na, nb = ctx.needs_input_grad
    ga = _matmul(g, swapaxes(b, -1, -2)) if na else None
    gb = _matmul(swapaxes(a, -1, -2), g) if nb else None
    return ga, gb


def dot(a, b) -> Tensor:
    a, b = pair(a, b, "dot")
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expects two 1-D tensors of equal length, got shapes {a.shape} "
                         f"and {b.shape}")
    return matmul(a, b)


def outer(a, b) -> Tensor:
    from .elementwise import mul
    a, b = pair(a, b, "outer")
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def einsum(subscripts: str, *operands) -> Tensor:
    """Einstein summation; the VJP of each operand is another einsum (then broadcast over any
    index that only that operand carries). Repeated indices within one operand are refused."""
    operands = [as_t(o) for o in operands]
    spec = subscripts.replace(" ", "")
    if "..." in spec:
        raise ValueError("einsum: ellipsis '...' is not supported; name the dimensions")
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
        if len(set(s)) != len(s):
            raise ValueError(f"einsum: repeated index in {s!r} (diagonals) is not supported")
    xp = operands[0].xp
    try:
        res = xp.einsum(f"{','.join(in_specs)}->{out}", *[o.data for o in operands])
    except ValueError as e:
        raise ValueError(f"einsum: {subscripts!r} with shapes {[o.shape for o in operands]}: "
                         f"{e}") from None
    return record("einsum", _einsum_bw, xp.asarray(res), tuple(operands), tuple(operands),
                  attrs=(in_specs, out))


def _einsum_bw(ctx, g):
    from .shape import broadcast_to
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
