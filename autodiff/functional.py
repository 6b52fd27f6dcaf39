"""Higher-level derivatives, as ``torch.autograd.functional``: vjp, jvp, hvp, vhp, jacobian,
hessian. Each accepts a tensor or a tuple of tensors (e.g. all parameters of a model).

``jvp`` uses the double-vjp trick: with u a dummy cotangent, g(u) = J^T u is linear in u, so
J v = d<g(u), v>/du. It costs two reverse sweeps and needs no forward-mode machinery.
``hvp``/``vhp`` differentiate <grad f(x), v> once more (the Hessian is symmetric for twice
continuously differentiable f, so both return H v): :func:`gradient_graph` records the gradient
once and each :func:`gradient_vjp` is one more sweep through it. ``autodiff.hessian`` (closures
over a model's parameters, Lanczos, traces) builds its Hessian-vector products on these two.

``strict=True`` raises, as PyTorch does, where an input has no path to the outputs (a gradient
PyTorch would report as None, i.e. identically zero), where an output does not require grad,
and, with ``create_graph=True``, where a derivative is found independent of the inputs (so
differentiating it again would silently give zeros). Without ``strict`` such blocks are zeros.
"""
from __future__ import annotations

from .grad_mode import enable_grad
from .tape import grad
from .tensor import Tensor, make

_STRATEGIES = ("reverse-mode", "forward-mode")

# What strict mode says when a gradient is None (no path), per stage, as PyTorch's messages.
_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is "
            "not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
                  "grad_outputs when using the double backward trick to compute forward mode "
                  "gradients. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode.",
    "jacobian": "Output {o} of the user-provided function is independent of input {i}. This is "
                "not allowed in strict mode.",
}
# ... and when, under create_graph, a gradient does not require grad (a constant derivative).
_CONSTANT = {
    "back": "The jacobian of the user-provided function is independent of input {i}. This is "
            "not allowed in strict mode when create_graph=True.",
    "double_back": "The hessian of the user-provided function is independent of input {i}. "
                   "This is not allowed in strict mode when create_graph=True.",
}
_CONSTANT["back_trick"] = _CONSTANT["jacobian"] = _CONSTANT["back"]

# What strict mode says when a tensor does not require grad, per kind of tensor.
_NO_GRAD = {
    "outputs": "Output {i} of the user-provided function does not require gradients. The "
               "outputs must be computed in a differentiable manner from the input when "
               "running in strict mode.",
    "grad_inputs": "The gradient with respect to input {i} is independent of the inputs of the "
                   "user-provided function. This is not allowed in strict mode.",
    "jacobian": "While computing the hessian, found that the jacobian of the user-provided "
                "function with respect to input {i} is independent of the input. This is not "
                "allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example).",
}


def _as_tuple(x, what: str, fn: str):
    """(tuple of Tensors, whether ``x`` was a sequence); TypeError naming ``fn`` otherwise."""
    single = isinstance(x, Tensor)
    xs = (x,) if single else tuple(x) if isinstance(x, (tuple, list)) else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            where = "" if len(xs) == 1 and not isinstance(x, (tuple, list)) else f" at index {i}"
            raise TypeError(f"{fn}: the {what} must be a Tensor or a tuple of Tensors, but the "
                            f"value{where} has type {type(t).__name__}")
    return xs, not single


def _prep(inputs, create_graph):
    """Fresh leaves (or graph-connected copies when ``create_graph``) that require grad."""
    from .ops.elementwise import mul
    out = []
    for t in inputs:
        if create_graph and t._requires_grad:
            out.append(mul(t, 1.0))  # stays connected to the caller's graph
        else:
            d = make(t.array)
            d.requires_grad = True
            out.append(d)
    return tuple(out)


def _validate_v(vs, refs, fn: str) -> None:
    if len(vs) != len(refs):
        raise ValueError(f"{fn}: v has {len(vs)} tensors but there are {len(refs)} to match")
    for i, (v, r) in enumerate(zip(vs, refs)):
        if tuple(v.shape) != tuple(r.shape):
            raise ValueError(f"{fn}: v[{i}] has shape {tuple(v.shape)} but it must match the "
                             f"shape {tuple(r.shape)}")


def _default_v(refs, fn: str):
    """v = 1 where it may be omitted: a single tensor of a single element (as PyTorch)."""
    if len(refs) != 1 or refs[0].array.size != 1:
        raise ValueError(f"{fn}: v can only be omitted when it would be a single Tensor of a "
                         f"single element; got {len(refs)} tensors of shapes "
                         f"{[tuple(r.shape) for r in refs]}")
    return (make(refs[0].xp.ones_like(refs[0].array)),)


def _check_requires_grad(tensors, kind: str, strict: bool) -> None:
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(_INDEPENDENT["back"].format(i=i))
        if not t._requires_grad:
            raise RuntimeError(_NO_GRAD[kind].format(i=i))


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph: bool = False) -> tuple:
    """Gradients of the outputs that require grad (None per input none of them reaches)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o._requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], inputs, [g for _, g in pairs], retain_graph=True,
                create_graph=create_graph, allow_unused=True)


def _fill(grads, refs, strict: bool, create_graph: bool, stage: str, out_idx: int = 0) -> tuple:
    """Zeros (shaped like ``refs``) for None gradients; in strict mode raise instead, and also
    for constant gradients under ``create_graph``."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i, o=out_idx))
            g = make(refs[i].xp.zeros_like(refs[i].array))
        elif strict and create_graph and not g._requires_grad:
            raise RuntimeError(_CONSTANT[stage].format(i=i))
        res.append(g)
    return tuple(res)


def _post(ts, create_graph: bool, is_tuple: bool):
    """Detach (unless ``create_graph``) and unpack a 1-tuple when the caller gave one tensor."""
    ts = tuple(ts if create_graph else (t.detach() for t in ts))
    return ts if is_tuple else ts[0]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J). ``v`` may be omitted when func returns a single element."""
    inputs, tuple_in = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outs, tuple_out = _as_tuple(func(*xs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outs, "outputs", strict)
        if v is None:
            vs = _default_v(outs, "vjp")
        else:
            vs, _ = _as_tuple(v, "v", "vjp")
            _validate_v(vs, outs, "vjp")
        res = _fill(_autograd_grad(outs, xs, vs, create_graph), xs, strict, create_graph, "back")
    return _post(outs, create_graph, tuple_out), _post(res, create_graph, tuple_in)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v), by the double-vjp trick (see module docstring). ``v`` defaults to
    ones (PyTorch allows omitting it only for a single one-element input). Outputs that do
    not depend on the inputs get zeros."""
    from .creation import zeros_like
    inputs, tuple_in = _as_tuple(inputs, "inputs", "jvp")
    with enable_grad():
        xs = _prep(inputs, create_graph)
        if v is None:
            vs = tuple(make(x.xp.ones_like(x.array)) for x in xs)
        else:
            vs, _ = _as_tuple(v, "v", "jvp")
            _validate_v(vs, xs, "jvp")
        outs, tuple_out = _as_tuple(func(*xs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outs, "outputs", strict)
        diff = [i for i, o in enumerate(outs) if o._requires_grad]
        us = [zeros_like(outs[i], requires_grad=True) for i in diff]
        grad_inputs = _autograd_grad([outs[i] for i in diff], xs, us, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
        grads = [None] * len(outs)
        if us:
            for i, g in zip(diff, _autograd_grad(grad_inputs, us, vs, create_graph)):
                grads[i] = g
        res = _fill(grads, outs, strict, create_graph, "back_trick")
    return _post(outs, create_graph, tuple_out), _post(res, create_graph, tuple_out)


def gradient_graph(outputs, inputs, strict: bool = False) -> tuple:
    """The gradient of the single-element ``outputs[0]`` with respect to ``inputs``, recorded
    (``create_graph``) so that it can be differentiated again, its graph retained: the first
    sweep of every Hessian-vector product. None for an input the output does not use; in
    strict mode a gradient that does not depend on the inputs raises."""
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return jac


def gradient_vjp(gradient, inputs, v, create_graph: bool = False) -> tuple:
    """v^T H = H v (H symmetric): the vector-Jacobian product of a :func:`gradient_graph` with
    cotangents ``v`` (one per input), one reverse sweep that leaves the gradient's graph in
    place for the next. None where the gradient does not depend on an input."""
    return _autograd_grad(gradient, inputs, v, create_graph)


def _vhp(fn: str, func, inputs, v, create_graph: bool, strict: bool):
    inputs, tuple_in = _as_tuple(inputs, "inputs", fn)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        if v is None:
            vs = _default_v(xs, fn)
        else:
            vs, _ = _as_tuple(v, "v", fn)
            _validate_v(vs, xs, fn)
        outs, tuple_out = _as_tuple(func(*xs), "outputs of the user-provided function", fn)
        _check_requires_grad(outs, "outputs", strict)
        if tuple_out or outs[0].array.size != 1:
            raise ValueError(f"{fn}: func must return a single-element tensor, got "
                             f"{'a tuple' if tuple_out else f'shape {tuple(outs[0].shape)}'}")
        jac = gradient_graph(outs, xs, strict)
        res = _fill(gradient_vjp(jac, xs, vs, create_graph), xs, strict, create_graph,
                    "double_back")
    return _post(outs, create_graph, False), _post(res, create_graph, tuple_in)


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar ``func``."""
    return _vhp("vhp", func, inputs, v, create_graph, strict)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar ``func``. H is symmetric, so this is computed as
    ``vhp`` (one double backward; PyTorch's hvp adds a third sweep, the double-backward trick,
    for the same value), and its strict-mode checks are vhp's."""
    return _vhp("hvp", func, inputs, v, create_graph, strict)


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """J[i][j] = d out_i / d in_j with shape out_i.shape + in_j.shape, nested like PyTorch's.

    ``strategy="reverse-mode"`` computes one row per output element (a vjp with a basis
    vector); ``"forward-mode"`` one column per input element (a jvp by the double-vjp trick),
    cheaper when the outputs outnumber the inputs; the result has the outputs' dtype there.
    ``vectorize`` is accepted for PyTorch compatibility but there is no vmap here: both values
    run the same loop and give identical results (as in PyTorch, ``strict`` and ``vectorize``
    together raise in reverse mode)."""
    if strategy not in _STRATEGIES:
        raise ValueError(f"jacobian: strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if strategy == "forward-mode":
        return _jacobian_forward(func, inputs, create_graph, strict)
    from .ops.shape import reshape, stack
    inputs, tuple_in = _as_tuple(inputs, "inputs", "jacobian")
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outs, tuple_out = _as_tuple(func(*xs), "outputs of the user-provided function",
                                    "jacobian")
        _check_requires_grad(outs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError("jacobian: `strict=True` and `vectorize=True` are not supported "
                               "together (as in PyTorch). Please either set `strict=False` or "
                               "`vectorize=False`.")
        table = []
        for i, o in enumerate(outs):
            rows = [[] for _ in xs]
            flat_size = o.array.size if o._requires_grad else 0  # constant output: zeros
            for k in range(flat_size):
                e = o.xp.zeros(flat_size, o.dtype)
                e[k] = 1
                vj = _autograd_grad([o], xs, [make(e.reshape(o.shape))], create_graph)
                for j, g in enumerate(_fill(vj, xs, strict, create_graph, "jacobian", i)):
                    rows[j].append(reshape(g, (-1,)))
            blocks = tuple(reshape(stack(rows[j]), o.shape + x.shape) if rows[j] else
                           make(x.xp.zeros(o.shape + x.shape, x.dtype)) for j, x in enumerate(xs))
            table.append(_post(blocks, create_graph, tuple_in))
    return tuple(table) if tuple_out else table[0]


def _jacobian_forward(func, inputs, create_graph: bool, strict: bool):
    """The Jacobian column by column: J e_k for each basis vector e_k of the inputs."""
    from .ops.shape import reshape, stack
    inputs, tuple_in = _as_tuple(inputs, "inputs", "jacobian")
    zeros = [make(x.xp.zeros_like(x.array)) for x in inputs]
    cols = None  # cols[i][j]: columns of block (output i, input j)
    for j, x in enumerate(inputs):
        for k in range(x.array.size):
            e = x.xp.zeros(x.array.size, x.dtype)
            e[k] = 1
            tangent = zeros[:j] + [make(e.reshape(x.shape))] + zeros[j + 1:]
            outs, jv = jvp(func, tuple(inputs), tuple(tangent), create_graph, strict)
            outs, tuple_out = _as_tuple(outs, "outputs of the user-provided function",
                                        "jacobian")
            jv, _ = _as_tuple(jv, "jvp", "jacobian")
            if cols is None:
                cols = [[[] for _ in inputs] for _ in outs]
            for i, c in enumerate(jv):
                cols[i][j].append(reshape(c, (-1,)))
    if cols is None:  # the inputs have no elements: only the output shapes are needed
        with enable_grad():
            outs, tuple_out = _as_tuple(func(*inputs), "outputs of the user-provided function",
                                        "jacobian")
        cols = [[[] for _ in inputs] for _ in outs]
    table = []
    for i, o in enumerate(outs):
        blocks = tuple(reshape(stack(cols[i][j], 1), o.shape + x.shape) if cols[i][j] else
                       make(o.xp.zeros(o.shape + x.shape, o.dtype))
                       for j, x in enumerate(inputs))
        table.append(_post(blocks, create_graph, tuple_in))
    return tuple(table) if tuple_out else table[0]


def hessian(func, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func``: shape in.shape + in.shape (nested for tuples): the
    Jacobian (with ``outer_jacobian_strategy``) of the gradient. ``vectorize`` as in
    :func:`jacobian` (the same loop)."""
    inputs, tuple_in = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        outs, tuple_out = _as_tuple(func(*xs), "outputs of the user-provided function",
                                    "hessian")
        _check_requires_grad(outs, "outputs", strict)
        if tuple_out or outs[0].array.size != 1:
            raise ValueError(f"hessian: func must return a single-element tensor, got "
                             f"{'a tuple' if tuple_out else f'shape {tuple(outs[0].shape)}'}")
        jac = _fill(_autograd_grad(outs, xs, create_graph=True), xs, False, True, "back")
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(gradient, inputs, create_graph, strict, vectorize, outer_jacobian_strategy)
    return res if tuple_in else res[0][0]
