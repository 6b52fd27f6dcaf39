"""The ``Optimizer`` base class: parameter groups, per-parameter state and (de)serialisation.

The structure follows ``torch.optim.Optimizer`` so code written for PyTorch carries over:

* ``param_groups`` is a list of dicts. Each holds ``'params'`` (a list of leaf Tensors) and the
  group's hyper-parameters (``'lr'``, ``'momentum'``, ``'betas'``, ...). They are read afresh at
  every ``step()``, so schedulers and the LR finder change them by assignment.
* ``state`` maps a parameter (the Tensor object) to a dict of its buffers. Buffers are raw
  backend arrays (NumPy or CuPy, the parameter's own array module) and step counters are ints.
* ``state_dict()`` returns ``{'state': {index: {...}}, 'param_groups': [{..., 'params':
  [index, ...]}]}`` with parameters numbered in group order, as PyTorch does. Unlike PyTorch the
  arrays are copied, so the snapshot does not change with later steps.

Updates run under :class:`autodiff.no_grad` directly on ``p.array`` with in-place array operations
and then call ``autodiff.increment_version(p)`` so saved-tensor checks notice the change.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import autodiff as ad
from autodiff.backends import get_array_module
from autodiff.ops.inplace import fill_
from autodiff.tensor import Tensor

__all__ = ["Optimizer", "ParamsT"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "copy") \
        and not isinstance(x, Tensor)


def _copy_value(v: Any) -> Any:
    """A deep copy of a state value: arrays are copied, containers copied recursively."""
    if isinstance(v, Tensor):
        return v.array.copy()
    if _is_array(v):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_value(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_copy_value(x) for x in v)
    return copy.deepcopy(v)


def _cast_like(v: Any, p: Tensor) -> Any:
    """A loaded state value moved to ``p``'s array module; floating arrays take ``p``'s dtype."""
    if isinstance(v, Tensor):
        v = v.array
    if _is_array(v):
        kind = getattr(v.dtype, "kind", "")
        dtype = p.dtype if kind in "fc" and v.ndim > 0 else None
        # as_tensor moves a CuPy array to the host (numpy.array would refuse it) or back
        return ad.as_tensor(v, dtype=dtype, device=p.device).array.copy()
    if isinstance(v, dict):
        return {k: _cast_like(x, p) for k, x in v.items()}
    if isinstance(v, list):
        return [_cast_like(x, p) for x in v]
    if isinstance(v, tuple):
        return tuple(_cast_like(x, p) for x in v)
    return copy.deepcopy(v)


def check_hparam(opt: str, name: str, value: Any, ok: bool, rule: str) -> None:
    """Raise ``ValueError`` naming the optimizer, the hyper-parameter and its value."""
    if not ok:
        raise ValueError(f"{opt}: invalid {name}={value!r} ({rule})")


class Optimizer:
    """Base class of all optimizers.

    Subclasses pass their ``defaults`` (the hyper-parameters a group takes when it does not set
    them) and implement :meth:`_update_group`, which applies one update to every parameter of a
    group that has a gradient. ``step(closure)`` evaluates the closure (with grad enabled) first
    when one is given and returns its loss.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, but got a Tensor")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ---------------------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones from
        ``defaults``), e.g. to unfreeze layers during fine-tuning."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: optimizer parameters need to be organized in ordered "
                            f"collections, but the ordering of tensors in sets changes between "
                            f"runs; use a list instead")
        elif params is None:
            raise ValueError(f"{name}: a param group needs a 'params' entry")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group contains duplicate parameters")
        group["params"] = params
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self._validate_group(group)
        self.param_groups.append(group)
        self._init_group_state(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyper-parameters; overridden by optimizers with constraints."""

    def _init_group_state(self, group: dict[str, Any]) -> None:
        """Create state eagerly when a group is added (Adagrad); lazily by default."""

    # ---------------------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: drop them (default, as PyTorch) or zero them in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif _writable(g.array):
                    fill_(g, 0)
                else:  # a read-only (broadcast) gradient array: replace it
                    p.grad = Tensor(get_array_module(g.array).zeros(g.shape, g.dtype))

    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with ad.enable_grad():
                loss = closure()
        with ad.no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _params_with_grads(self, group: dict[str, Any], new_state: Callable[[Any], dict],
                           fold_weight_decay: bool = True):
        """Yield ``(p, w, g, st)`` for each parameter of ``group`` that has a gradient: ``w``
        its array, ``g`` its gradient array (negated for ``maximize``; plus the L2 term
        ``weight_decay * w`` when ``fold_weight_decay``), ``st`` its state, made by
        ``new_state(w)`` on first use. The prelude every update rule shares."""
        maximize = group.get("maximize", False)
        wd = group.get("weight_decay", 0) if fold_weight_decay else 0
        state = self.state
        for p in group["params"]:
            if p.grad is None:
                continue
            w = p.array
            g = p.grad.array
            if maximize:
                g = -g
            if wd:
                g = with_weight_decay(g, w, wd)
            st = state.get(p)
            if st is None:
                st = state[p] = new_state(w)
            yield p, w, g, st

    def _update_group(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------------------- (de)serialise
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: buffers}, 'param_groups': [hyper-parameters + 'params': indices]}``
        with parameters numbered across groups in order (PyTorch's layout); arrays are copied."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: _copy_value(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and buffers saved by :meth:`state_dict` (possibly from an
        optimizer over other, identically shaped parameters). Arrays are copied and moved to
        each parameter's device and floating dtype."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has "
                                 f"{len(s['params'])} parameters in the loaded state dict but "
                                 f"{len(g['params'])} in the optimizer")
        id_map: dict[int, Tensor] = {}
        for g, s in zip(self.param_groups, saved_groups):
            for idx, p in zip(s["params"], g["params"]):
                id_map[int(idx)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, v in state_dict["state"].items():
            p = id_map.get(int(k))
            if p is None:
                continue
            new_state[p] = {sk: _cast_like(sv, p) for sk, sv in v.items()}
        self.state = new_state
        new_groups = []
        for g, s in zip(self.param_groups, saved_groups):
            ng = {k: copy.deepcopy(v) for k, v in s.items() if k != "params"}
            if isinstance(ng.get("betas"), list):
                ng["betas"] = tuple(ng["betas"])
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.param_groups = new_groups

    # ---------------------------------------------------------------------------- misc
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _writable(a) -> bool:
    """Whether ``a`` may be written in place: writeable and not a broadcast (0-stride) view."""
    flags = getattr(a, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        return False
    return all(s != 0 or n <= 1 for s, n in zip(a.strides, a.shape))


def grad_array(p: Tensor, maximize: bool = False):
    """``p``'s gradient as a raw array (negated for ``maximize``), or None when it has none."""
    g = p.grad
    if g is None:
        return None
    g = g.array
    return -g if maximize else g


def with_weight_decay(g, w, weight_decay: float):
    """``g + weight_decay * w`` as a new array (L2 penalty folded into the gradient)."""
    if not weight_decay:
        return g
    out = w * weight_decay
    out += g
    return out


def group_if_same(opt, gi: int, pi: int, p) -> dict | None:
    """Group ``gi`` of ``opt`` if its parameter ``pi`` is still ``p``, else None: a fused
    update (``Update.fuse``) checks at each replay that it still updates what it traced."""
    try:
        group = opt.param_groups[gi]
        return group if group["params"][pi] is p else None
    except (IndexError, KeyError):
        return None
