"""Workloads: each builds an autodiff step and the same step in PyTorch, from identical initial
weights (drawn once with NumPy), so the two can be timed side by side."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import autodiff as ad


@dataclass
class Workload:
    name: str
    group: str
    build: Callable[[str], Callable[[], object]]           # autodiff, on a device
    build_torch: Callable[[object, str], Callable[[], object]] | None = None
    flops: float | None = None                             # per step, for throughput
    note: str = ""
    build_jax: Callable[[object, str], Callable[[], object]] | None = None     # (jax, device)
    build_compiled: Callable[[str], Callable[[], object]] | None = None  # autodiff.compile


REGISTRY: list[Workload] = []


def workload(name: str, group: str, flops: float | None = None, note: str = ""):
    def deco(fn):
        REGISTRY.append(Workload(name, group, fn, None, flops, note))
        return fn
    return deco


def torch_version(name: str):
    """Attach the PyTorch twin of a workload."""
    def deco(fn):
        for w in REGISTRY:
            if w.name == name:
                w.build_torch = fn
        return fn
    return deco


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- per-op overhead
CHAIN = 100


@workload("op overhead: mul fwd+bwd (per op, 100-op chain, 4 elems)", "overhead",
          note="time per recorded op; forward + its share of backward")
def _overhead(device):
    x = ad.tensor(_rng().standard_normal(4).astype(np.float32), device=device, requires_grad=True)
    w = ad.tensor(np.full(4, 1.0001, np.float32), device=device, requires_grad=True)

    def step():
        y = x
        for _ in range(CHAIN):
            y = y * w
        y.sum().backward()
        x.grad = w.grad = None
    return _per_op(step)


@torch_version("op overhead: mul fwd+bwd (per op, 100-op chain, 4 elems)")
def _overhead_torch(torch, device):
    x = torch.tensor(_rng().standard_normal(4).astype(np.float32), device=device,
                     requires_grad=True)
    w = torch.full((4,), 1.0001, device=device, requires_grad=True)

    def step():
        y = x
        for _ in range(CHAIN):
            y = y * w
        y.sum().backward()
        x.grad = w.grad = None
    return _per_op(step)


def _per_op(step):
    step.per = CHAIN
    return step


# ----------------------------------------------------------------------------- MLP 784-100-10
def _mlp_init(seed: int = 0):
    r = _rng(seed)
    w1 = (r.standard_normal((100, 784)) * np.sqrt(2 / 784)).astype(np.float32)
    w2 = (r.standard_normal((10, 100)) * np.sqrt(2 / 100)).astype(np.float32)
    return w1, np.zeros(100, np.float32), w2, np.zeros(10, np.float32)


def _mlp_batch(n: int, seed: int = 1):
    r = _rng(seed)
    return r.random((n, 784), dtype=np.float32), r.integers(0, 10, n)


def _ad_mlp_params(device):
    return [ad.tensor(a, device=device, requires_grad=True) for a in _mlp_init()]


def _torch_mlp_params(torch, device):
    return [torch.tensor(a, device=device, requires_grad=True) for a in _mlp_init()]


def _ad_mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = ad.relu(x @ w1.T + b1)
    logp = ad.log_softmax(h @ w2.T + b2, dim=1)
    return -logp[ad.arange(len(y), device=y.device), y].mean()


def _mlp_fwd_bwd(batch):
    def build(device):
        params = _ad_mlp_params(device)
        xb, yb = _mlp_batch(batch)
        x, y = ad.tensor(xb, device=device), ad.tensor(yb, device=device)

        def step():
            loss = _ad_mlp_loss(params, x, y)
            loss.backward()
            for p in params:
                p.grad = None
        return step

    def build_torch(torch, device):
        params = _torch_mlp_params(torch, device)
        xb, yb = _mlp_batch(batch)
        x, y = torch.tensor(xb, device=device), torch.tensor(yb, device=device)
        F = torch.nn.functional

        def step():
            w1, b1, w2, b2 = params
            h = F.relu(x @ w1.T + b1)
            logp = F.log_softmax(h @ w2.T + b2, dim=1)
            loss = -logp[torch.arange(len(y), device=device), y].mean()
            loss.backward()
            for p in params:
                p.grad = None
        return step
    return build, build_torch


def _mlp_flops(batch: int) -> float:
    return 3 * 2 * batch * (784 * 100 + 100 * 10)


for _b in (64, 1024):
    _build, _build_t = _mlp_fwd_bwd(_b)
    REGISTRY.append(Workload(f"MLP 784-100-10 fwd+bwd, batch {_b}", "mlp", _build, _build_t,
                             _mlp_flops(_b)))
