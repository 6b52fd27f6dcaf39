"""Higher-level derivatives, as ``torch.autograd.functional``: vjp, jvp, hvp, vhp, jacobian,
hessian. Each accepts a tensor or a tuple of tensors (e.g. all parameters of a model).

``jvp`` uses the double-vjp trick: with u a dummy cotangent, g(u) = J^T u is linear in u, so
J v = d<g(u), v>/du. It costs two reverse sweeps and needs no forward-mode machinery.
``hvp``/``vhp`` differentiate <grad f(x), v> once more (the Hessian is symmetric for twice
continuously differentiable f, so both return H v).
"""
from __future__ import annotations

from .grad_mode import enable_grad
from .tape import grad
from .tensor import Tensor, make


def _as_tuple(x):
    if isinstance(x, Tensor):
        return (x,), True
    return tuple(x), False


def _prep(inputs, create_graph):
    """Fresh leaves (or graph-connected copies when ``create_graph``) that require grad."""
    from .ops.elementwise import mul
    out = []
    for t in inputs:
        if create_graph and t._requires_grad:
            out.append(mul(t, 1.0))  # stays connected to the caller's graph
        else:
            d = make(t.data)
            d.requires_grad = True
            out.append(d)
    return tuple(out)


def _grads(outputs, inputs, grad_outputs, create_graph):
    gs = grad(outputs, inputs, grad_outputs, retain_graph=True, create_graph=create_graph,
              allow_unused=True)
    return tuple(make(t.xp.zeros_like(t.data)) if g is None else g for g, t in zip(gs, inputs))


def _out(t, create_graph):
    return t if create_graph else t.detach()


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J)."""
    inputs, single_in = _as_tuple(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outputs = func(*xs)
        outs, single_out = _as_tuple(outputs)
        vs = (v,) if isinstance(v, Tensor) else v
        res = _grads(outs, xs, vs, create_graph)
    outputs = outs[0] if single_out else tuple(outs)
    outputs = _detach_all(outputs, create_graph)
    return outputs, (res[0] if single_in else res)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v), by the double-vjp trick (see module docstring). Outputs that do
    not depend on the inputs get zeros."""
    from .creation import zeros_like
    inputs, single_in = _as_tuple(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outputs = func(*xs)
        outs, single_out = _as_tuple(outputs)
        vs = (v,) if isinstance(v, Tensor) else (v if v is not None else
                                                  tuple(make(x.xp.ones_like(x.data)) for x in xs))
        res = [make(o.xp.zeros_like(o.data)) for o in outs]
        diff = [i for i, o in enumerate(outs) if o._requires_grad]
        if diff:
            us = [zeros_like(outs[i], requires_grad=True) for i in diff]
            gs = grad([outs[i] for i in diff], xs, us, create_graph=True, allow_unused=True)
            pairs = [(g, vv) for g, vv in zip(gs, vs) if g is not None and g._requires_grad]
            if pairs:
                jv = _grads([g for g, _ in pairs], us, [vv for _, vv in pairs], create_graph)
                for i, r in zip(diff, jv):
                    res[i] = r
        res = tuple(_out(r, create_graph) for r in res)
    outputs = _detach_all(outs[0] if single_out else tuple(outs), create_graph)
    return outputs, (res[0] if single_out else res)


def vhp(func, inputs, v, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H)."""
    inputs, single_in = _as_tuple(inputs)
    vs, _ = _as_tuple(v)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        out = func(*xs)
        if out.data.size != 1:
            raise ValueError(f"vhp: func must return a single-element tensor, got shape "
                             f"{out.shape}")
        gs = grad(out, xs, create_graph=True, allow_unused=True)
        from .ops.elementwise import mul
        from .ops.reduce import sum as _sum
        dot = None
        for g, vv in zip(gs, vs):
            if g is None:
                continue
            if tuple(vv.shape) != tuple(g.shape):
                raise ValueError(f"vhp: v has shape {vv.shape} but the input has shape {g.shape}")
            term = _sum(mul(g, vv))
            dot = term if dot is None else dot + term
        if dot is None or not dot._requires_grad:
            res = tuple(make(x.xp.zeros_like(x.data)) for x in xs)
        else:
            res = _grads([dot], xs, None, create_graph)
    return _detach_all(out, create_graph), (res[0] if single_in else res)


def hvp(func, inputs, v, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar ``func`` (H symmetric, so this equals ``vhp``)."""
    return vhp(func, inputs, v, create_graph, strict)


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False):
    """J[i][j] = d out_i / d in_j with shape out_i.shape + in_j.shape, nested like PyTorch's."""
    from .ops.shape import reshape, stack
    inputs, single_in = _as_tuple(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outputs = func(*xs)
        outs, single_out = _as_tuple(outputs)
        table = []
        for o in outs:
            rows = [[] for _ in xs]
            flat_size = o.data.size if o._requires_grad else 0  # constant output: zeros
            for k in range(flat_size):
                e = o.xp.zeros(flat_size, o.dtype)
                e[k] = 1
                gs = _grads([o], xs, [make(e.reshape(o.shape))], create_graph)
                for j, g in enumerate(gs):
                    rows[j].append(reshape(g, (-1,)))
            blocks = []
            for j, x in enumerate(xs):
                if rows[j]:
                    block = reshape(stack(rows[j]), o.shape + x.shape)
                else:
                    block = make(x.xp.zeros(o.shape + x.shape, x.dtype))
                blocks.append(_out(block, create_graph))
            table.append(blocks[0] if single_in else tuple(blocks))
    return table[0] if single_out else tuple(table)


def hessian(func, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False):
    """The Hessian of a scalar ``func``: shape in.shape + in.shape (nested for tuples)."""
    inputs, single_in = _as_tuple(inputs)

    def gradient(*xs):
        out = func(*xs)
        if out.data.size != 1:
            raise ValueError(f"hessian: func must return a single-element tensor, got shape "
                             f"{out.shape}")
        gs = grad(out, xs, create_graph=True, allow_unused=True)
        return tuple(make(x.xp.zeros_like(x.data)) if g is None else g for g, x in zip(gs, xs))

    res = jacobian(gradient, inputs, create_graph=create_graph)  # tuple (grads) of tuples
    return res[0][0] if single_in else res


def _detach_all(x, create_graph):
    if create_graph:
        return x
    if isinstance(x, Tensor):
        return x.detach()
    return tuple(t.detach() for t in x)
