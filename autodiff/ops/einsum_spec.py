"""Normalises what ``einsum`` accepts into one explicit subscript string of letters and a list
of Tensors whose shapes agree label by label: operands passed one by one or as one list
(``einsum("ij,jk", [a, b])``), the sublist form (``einsum(a, [0, 1], b, [1, 2], [0, 2])``),
the broadcast ellipsis ``...`` (each operand's ellipsis dims right-aligned and broadcast, as
in PyTorch), size-1 dims broadcast against their label's size, and the implicit output
(ellipsis dims first, then the labels seen once, in alphabetical order)."""
from __future__ import annotations

import string

from ..tensor import Tensor
from ._util import as_t
from .shape import broadcast_to

_LETTERS = string.ascii_uppercase + string.ascii_lowercase   # PyTorch's sublist numbering


def einsum_operands(subscripts, operands) -> tuple[str, list[Tensor]]:
    """(``'in1,in2->out'`` naming every dim with a letter, the operands broadcast to match)."""
    if not isinstance(subscripts, str):
        subscripts, operands = _from_sublists((subscripts,) + tuple(operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    operands = [as_t(o) for o in operands]
    spec = subscripts.replace(" ", "")
    ins, arrow, out = spec.partition("->")
    in_specs = ins.split(",")
    if len(in_specs) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(in_specs)} operands, got "
                         f"{len(operands)}")
    labels = set(spec.replace("...", "")) - set(",->")
    if not labels <= set(_LETTERS):
        raise ValueError(f"einsum: subscripts {subscripts!r} may use only letters, '...', ',' "
                         f"and '->'")
    free = [c for c in _LETTERS if c not in labels]
    counts = [_ellipsis_dims(s, o, subscripts) for s, o in zip(in_specs, operands)]
    ell = "".join(free[:max([k for k in counts if k is not None], default=0)])
    in_specs = [s if k is None else s.replace("...", ell[len(ell) - k:])
                for s, k in zip(in_specs, counts)]
    if arrow:
        out = out.replace("...", ell)
    else:
        joined = "".join(in_specs)
        out = ell + "".join(sorted(c for c in set(joined) - set(ell) if joined.count(c) == 1))
    return ",".join(in_specs) + "->" + out, _broadcast_labels(in_specs, operands)


def _ellipsis_dims(spec: str, x: Tensor, subscripts: str) -> int | None:
    """How many dims the ellipsis of ``spec`` stands for (None: no ellipsis)."""
    if "..." not in spec:
        if len(spec) != x.ndim:
            raise ValueError(f"einsum: subscripts {spec!r} do not match an operand of shape "
                             f"{x.shape} (in {subscripts!r})")
        return None
    if spec.count("...") > 1 or "." in spec.replace("...", ""):
        raise ValueError(f"einsum: {spec!r} may hold one ellipsis '...' (in {subscripts!r})")
    k = x.ndim - (len(spec) - 3)
    if k < 0:
        raise ValueError(f"einsum: subscripts {spec!r} name more dims than an operand of shape "
                         f"{x.shape} has (in {subscripts!r})")
    return k


def _broadcast_labels(in_specs: list[str], operands: list[Tensor]) -> list[Tensor]:
    """Each operand's size-1 dims broadcast to their label's size elsewhere (conflicts are left
    for einsum itself to report)."""
    size: dict[str, int] = {}
    for s, o in zip(in_specs, operands):
        for c, n in zip(s, o.shape):
            if n != 1:
                size.setdefault(c, n)
    out = []
    for s, o in zip(in_specs, operands):
        shape = tuple(size.get(c, 1) if n == 1 else n for c, n in zip(s, o.shape))
        out.append(broadcast_to(o, shape) if shape != o.shape else o)
    return out


def _from_sublists(args: tuple) -> tuple[str, list]:
    """``(op0, sub0, op1, sub1, ..., [out])`` -> (subscripts, operands)."""
    def letters(sub) -> str:
        try:
            return "".join("..." if i is Ellipsis else _LETTERS[i] for i in sub)
        except (IndexError, TypeError):
            raise ValueError(f"einsum: sublist {sub!r} must hold ints in [0, 52) or "
                             f"Ellipsis") from None
    operands, specs = list(args[0:len(args) - len(args) % 2:2]), \
        [letters(s) for s in args[1:len(args) - len(args) % 2:2]]
    spec = ",".join(specs)
    if len(args) % 2:
        spec += "->" + letters(args[-1])
    return spec, operands
