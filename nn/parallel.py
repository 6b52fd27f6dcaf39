"""``nn.parallel.DistributedDataParallel``: average gradients over ranks during the backward.

Each rank runs the same model on its own share of the batch. At construction DDP checks that
every rank has the same parameters (names, shapes, dtypes; a mismatch is an error naming them),
then copies rank 0's parameters and buffers to all ranks. The parameters are grouped into
buckets of about ``bucket_cap_mb`` (25 MB; the first one 1 MB, so that communication starts
early) in the order their gradients become ready, the reverse of their use in the forward
(registration order reversed at first, then the order seen in the first backward, rank 0's,
from the second iteration on). A post-accumulate-grad hook on each parameter copies its
gradient into its bucket; when a bucket is full it is all-reduced with a non-blocking
collective (buckets are launched in index order, the same on every rank) while the backward
goes on, and when the last bucket is launched the averaged gradients are written back to
``.grad``. ``no_sync()`` skips all of this to accumulate gradients locally.

With ``broadcast_buffers`` (default) rank 0's buffers (batch-norm running statistics) are
copied to all ranks before each forward; ``nn.SyncBatchNorm`` computes the batch statistics
over all ranks instead.
"""
from __future__ import annotations

import contextlib
import weakref

import autodiff as ad
import autodiff.distributed as dist
from autodiff.backends import get_array_module
from autodiff.distributed.group import resolve
from autodiff.tensor import make

from .module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class _Bucket:
    """Consecutive parameters (same dtype and device) whose gradients are reduced together."""

    __slots__ = ("params", "offsets", "flat", "pending", "ready", "work")

    def __init__(self, params: list) -> None:
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.array.size
        self.flat = get_array_module(params[0].array).empty(n, params[0].array.dtype)
        self.work = None
        self.reset()

    def reset(self) -> None:
        self.pending = len(self.params)
        self.ready = [False] * len(self.params)

    def view(self, i: int):
        p = self.params[i]
        return self.flat[self.offsets[i]:self.offsets[i] + p.array.size].reshape(p.array.shape)


def _bucketize(params: list, first_cap: int, cap: int) -> list[_Bucket]:
    buckets, cur, size = [], [], 0
    for p in params:
        limit = first_cap if not buckets else cap
        if cur and (size + p.array.nbytes > limit or _kind(p) != _kind(cur[0])):
            buckets.append(_Bucket(cur))
            cur, size = [], 0
        cur.append(p)
        size += p.array.nbytes
    if cur:
        buckets.append(_Bucket(cur))
    return buckets


def _kind(t) -> tuple:
    return (t.array.dtype, t.device)


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks of ``process_group`` (PyTorch's
    DDP). Call it like the module; ``.module`` is the wrapped model."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None) -> None:
        super().__init__()
        for name, value in (("find_unused_parameters", find_unused_parameters),
                            ("static_graph", static_graph),
                            ("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce),
                            ("mixed_precision", mixed_precision), ("device_mesh", device_mesh)):
            if value:
                why = (" (every parameter must receive a gradient in every backward)"
                       if name == "find_unused_parameters" else "")
                raise NotImplementedError(f"DistributedDataParallel: {name} is not "
                                          f"supported{why}")
        if device_ids is not None and len(device_ids) != 1:
            raise ValueError(f"DistributedDataParallel: device_ids can only be None or contain "
                             f"a single element (one device per process), got {device_ids}")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        group = resolve(process_group, "DistributedDataParallel")
        if group is dist.GroupMember.NON_GROUP_MEMBER:
            raise ValueError("DistributedDataParallel: this rank is not in process_group")
        self.module = module
        self.process_group = group
        self.broadcast_buffers = bool(broadcast_buffers)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 2 ** 20)
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient")
        self._verify_same_parameters(module, named)
        self._params = [p for _, p in named]
        self._names = {id(p): n for n, p in named}
        self._module_buffers = [b for b in module.buffers() if b is not None]
        self._broadcast_coalesced(self._params + self._module_buffers)
        self._set_buckets(list(reversed(self._params)))
        hook = _weak_hook(weakref.ref(self))
        self._hooks = [p.register_post_accumulate_grad_hook(hook) for p in self._params]
        self._armed = False
        self._ready_order: list | None = []  # the first synced backward's order, for the
        self._order_complete = False          # rebuild of the buckets before the next forward

    # ----------------------------------------------------------------------------- setup
    def _verify_same_parameters(self, module: Module, named: list) -> None:
        g = self.process_group
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        every = [None] * g.size
        dist.all_gather_object(every, mine, group=g)
        problems = [_difference(g.ranks[r], sig, g.ranks[0], every[0])
                    for r, sig in enumerate(every) if sig != every[0]]
        if problems:
            raise RuntimeError("DistributedDataParallel: the ranks' models do not have the same "
                               "parameters, so their gradients cannot be averaged: "
                               + "; ".join(problems))

    def _broadcast_coalesced(self, tensors: list) -> None:
        """Copy the group's rank 0's values of ``tensors`` to every rank, one broadcast per
        dtype and device."""
        if self.process_group.size == 1:
            return
        src = self.process_group.ranks[0]
        by_kind: dict = {}
        for t in tensors:
            by_kind.setdefault(_kind(t), []).append(t)
        with ad.no_grad():
            for group in by_kind.values():
                xp = get_array_module(group[0].array)
                flat = make(xp.concatenate([t.array.reshape(-1) for t in group]))
                dist.broadcast(flat, src=src, group=self.process_group)
                o = 0
                for t in group:
                    t.array[...] = flat.array[o:o + t.array.size].reshape(t.array.shape)
                    ad.increment_version(t)
                    o += t.array.size

    def _set_buckets(self, order: list) -> None:
        self._buckets = _bucketize(order, min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap),
                                   self.bucket_bytes_cap)
        self._slot = {id(p): (b, i) for b in self._buckets for i, p in enumerate(b.params)}
        self._next = 0  # the next bucket to launch
        self._oldest = 0  # the oldest launched bucket not yet seen complete

    def _rebuild_buckets(self) -> None:
        """Order the buckets as the first backward made the gradients ready (rank 0's order,
        so that every rank launches the same buckets in the same order)."""
        index = {id(p): i for i, p in enumerate(self._params)}
        order = [[index[k] for k in self._ready_order]]
        self._ready_order = None
        dist.broadcast_object_list(order, src=self.process_group.ranks[0],
                                   group=self.process_group)
        seen = set(order[0])
        rest = [i for i in reversed(range(len(self._params))) if i not in seen]
        self._set_buckets([self._params[i] for i in order[0] + rest])

    # ----------------------------------------------------------------------------- forward
    def forward(self, *inputs, **kwargs):
        if self._armed and any(b.pending < len(b.params) for b in self._buckets):
            self._unfinished_reduction()
        if self._order_complete and self._ready_order is not None:
            self._rebuild_buckets()
        sync = ad.is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers and self._module_buffers:
            self._broadcast_coalesced(self._module_buffers)
        self._armed = sync
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward/backward accumulate gradients locally; the first synced backward
        after it averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    # ----------------------------------------------------------------------------- backward
    def _grad_ready(self, p) -> None:
        if not self._armed:
            return
        bucket, i = self._slot[id(p)]
        if not self._order_complete:
            self._ready_order.append(id(p))
        view = bucket.view(i)
        view[...] = p.grad.array
        bucket.ready[i] = True
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch_ready()
        else:
            self._progress()

    def _launch_ready(self) -> None:
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            b = buckets[self._next]
            b.work = dist.all_reduce(make(b.flat), dist.ReduceOp.AVG, self.process_group,
                                     async_op=True)
            self._next += 1
        if self._next == len(buckets):
            self._finish_reduction()
        else:
            self._progress()

    def _progress(self) -> None:
        """Let the launched reductions advance (MPI progresses only inside MPI calls)."""
        while self._oldest < self._next and self._buckets[self._oldest].work.is_completed():
            self._oldest += 1

    def _finish_reduction(self) -> None:
        for b in self._buckets:
            b.work.wait()
            for i, p in enumerate(b.params):
                self._write_grad(p, b.view(i))
            b.work = None
            b.reset()
        self._next = self._oldest = 0
        self._order_complete = True

    def _write_grad(self, p, avg) -> None:
        g = p.grad
        if self.gradient_as_bucket_view:
            p.grad = make(avg)
        elif g.grad_fn is None and getattr(g.array.flags, "writeable", True):
            g.array[...] = avg
            ad.increment_version(g)
        else:
            p.grad = make(avg.copy())

    def _unfinished_reduction(self) -> None:
        missing = [self._names[id(p)] for b in self._buckets for p, r in zip(b.params, b.ready)
                   if not r]
        raise RuntimeError(
            f"DistributedDataParallel: the previous backward gave no gradient to "
            f"{len(missing)} parameter(s) ({', '.join(missing[:10])}"
            f"{', ...' if len(missing) > 10 else ''}), so their gradients were never averaged "
            f"across ranks. Every parameter must take part in the loss on every rank "
            f"(find_unused_parameters=True is not supported); freeze unused ones with "
            f"requires_grad_(False) before wrapping the model.")

    def extra_repr(self) -> str:
        return (f"world_size={self.process_group.size}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_bytes_cap / 2 ** 20:g}")


def _weak_hook(ref):
    """The parameters' hook; it refers to the DDP weakly, so a dropped DDP stops syncing."""
    def hook(p) -> None:
        ddp = ref()
        if ddp is not None:
            ddp._grad_ready(p)
    return hook


def _difference(rank: int, sig: list, ref_rank: int, ref: list) -> str:
    mine = {n: (s, d) for n, s, d in sig}
    theirs = {n: (s, d) for n, s, d in ref}
    out = []
    only = [n for n in mine if n not in theirs]
    if only:
        out.append(f"{', '.join(only)} only on rank {rank}")
    absent = [n for n in theirs if n not in mine]
    if absent:
        out.append(f"{', '.join(absent)} missing on rank {rank}")
    for n in mine:
        if n in theirs and mine[n] != theirs[n]:
            out.append(f"'{n}' is {mine[n][1]} {mine[n][0]} on rank {rank} but {theirs[n][1]} "
                       f"{theirs[n][0]} on rank {ref_rank}")
    if not out:
        out.append(f"rank {rank} registers the same parameters in a different order")
    return f"rank {rank} vs rank {ref_rank}: " + "; ".join(out)
