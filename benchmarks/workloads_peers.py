"""The overhead-bound workloads of issue 14 with two more peers beside PyTorch eager: the step
wrapped in ``autodiff.compile`` (the ``compiled`` column) and JAX (``jax.jit``, optional: the
column says "not installed" without it). Same shapes and initial values as the autodiff and
PyTorch steps (weights copied through NumPy).

Registers the 200-op elementwise chain and attaches the peers to the MLP SGD steps, the MLP HVP,
the Legendre fit and the tanh char-RNN step of ``workloads_nn``."""
from __future__ import annotations

import math

import numpy as np

import autodiff as ad

from . import workloads_nn  # noqa: F401  (registers the workloads the peers attach to)
from .workloads import REGISTRY, Workload, _mlp_batch, _rng

__all__ = ["chain"]


def _attach(name: str, jax_build=None, compiled_build=None) -> None:
    for w in REGISTRY:
        if w.name == name:
            w.build_jax = jax_build or w.build_jax
            w.build_compiled = compiled_build or w.build_compiled
            return
    raise KeyError(f"benchmarks: no workload named {name!r}")


def _compile_eager_step(w: Workload):
    """The workload's own eager step, wrapped whole in ``autodiff.compile``."""
    return lambda device: ad.compile(w.build(device))


def _block(jax, out):
    jax.block_until_ready(out)
    return out


# ----------------------------------------------------------------------------- 200-op chain
CHAIN_CYCLES = 50          # 4 ops each: mul, add, tanh, mul by a Python scalar


def chain(y, w, b, tanh):
    """The elementwise chain: ``CHAIN_CYCLES`` x (y * w + b -> tanh -> * 1.5), 200 ops."""
    for _ in range(CHAIN_CYCLES):
        y = tanh(y * w + b) * 1.5
    return y


def _chain_init():
    r = _rng(5)
    return (r.standard_normal(16).astype(np.float32), np.full(16, 0.9, np.float32),
            (0.1 * r.standard_normal(16)).astype(np.float32))


def _per_chain_op(step):
    step.per = 4 * CHAIN_CYCLES
    return step


def _chain_build(device):
    """The eager step; it returns the gradients, as the JAX step does (a compiled step that
    dropped them would be dead code: nothing would run)."""
    x, w, b = (ad.tensor(a, device=device, requires_grad=True) for a in _chain_init())

    def step():
        chain(x, w, b, ad.tanh).sum().backward()
        grads = (x.grad, w.grad, b.grad)
        x.grad = w.grad = b.grad = None
        return grads
    return _per_chain_op(step)


def _chain_build_torch(torch, device):
    x, w, b = (torch.tensor(a, device=device, requires_grad=True) for a in _chain_init())

    def step():
        chain(x, w, b, torch.tanh).sum().backward()
        x.grad = w.grad = b.grad = None
    return _per_chain_op(step)


def _chain_build_jax(jax, device):
    jnp = jax.numpy
    args = [jnp.asarray(a) for a in _chain_init()]
    grads = jax.jit(jax.grad(lambda x, w, b: chain(x, w, b, jnp.tanh).sum(), argnums=(0, 1, 2)))

    def step():
        return _block(jax, grads(*args))
    return _per_chain_op(step)


def _chain_build_compiled(device):
    return _per_chain_op(ad.compile(_chain_build(device)))


REGISTRY.append(Workload("elementwise chain fwd+bwd (per op, 200-op chain, 16 elems)",
                         "chain", _chain_build, _chain_build_torch,
                         note="mul, add, tanh, mul by a scalar, x50; time per op",
                         build_jax=_chain_build_jax, build_compiled=_chain_build_compiled))


# ----------------------------------------------------------------------------- MLP (JAX)
def _jax_mlp_params(jax):
    from autodiff.nn import models
    ad.manual_seed(0)           # the initial weights of workloads_nn's MLP steps
    sd = models.mnist_mlp().state_dict()
    return [jax.numpy.asarray(sd[k].numpy()) for k in ("0.weight", "0.bias", "2.weight",
                                                        "2.bias")]


def _jax_mlp_loss(jax):
    jnp = jax.numpy

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        h = jax.nn.relu(x @ w1.T + b1)
        logp = jax.nn.log_softmax(h @ w2.T + b2, axis=1)
        return -logp[jnp.arange(y.shape[0]), y].mean()
    return loss


def _jax_mlp_step(batch: int, lr: float = 0.01):
    def build(jax, device):
        loss = _jax_mlp_loss(jax)
        xb, yb = _mlp_batch(batch)
        x, y = jax.numpy.asarray(xb), jax.numpy.asarray(yb)

        @jax.jit
        def update(params, x, y):
            g = jax.grad(loss)(params, x, y)
            return [p - lr * gi for p, gi in zip(params, g)]
        state = [_jax_mlp_params(jax)]

        def step():
            state[0] = _block(jax, update(state[0], x, y))
        return step
    return build


def _jax_hvp_build(jax, device):
    loss = _jax_mlp_loss(jax)
    xb, yb = _mlp_batch(64)
    x, y = jax.numpy.asarray(xb), jax.numpy.asarray(yb)
    params = _jax_mlp_params(jax)
    ad.manual_seed(0)
    from autodiff.nn import models
    shapes = [p.shape for p in models.mnist_mlp().parameters()]
    vs = [jax.numpy.asarray(ad.randn(*s).numpy()) for s in shapes]   # workloads_nn's vectors

    def dot(params):            # reverse over reverse, as the autodiff and PyTorch steps
        gs = jax.grad(loss)(params, x, y)
        return sum((g * v).sum() for g, v in zip(gs, vs))
    hvp = jax.jit(jax.grad(dot))

    def step():
        return _block(jax, hvp(params))
    return step


for _b in (64, 1024):
    _name = f"MLP 784-100-10 train step (SGD), batch {_b}"
    _attach(_name, _jax_mlp_step(_b),
            _compile_eager_step(next(w for w in REGISTRY if w.name == _name)))
for _name in ("small MNIST CNN train step, batch 64", "ResNet-20 CIFAR train step, batch 128"):
    _attach(_name, None, _compile_eager_step(next(w for w in REGISTRY if w.name == _name)))
_attach("HVP of the MLP loss (all params), batch 64", _jax_hvp_build,
        _compile_eager_step(next(w for w in REGISTRY if w.name.startswith("HVP of the MLP"))))


# ----------------------------------------------------------------------------- Legendre
LEGENDRE_STEPS = 2000
LEGENDRE_INIT = (0.0, -1.0, 0.0, 0.3)
LEGENDRE_LR = 5e-6


def _legendre_build_compiled(device, steps: int = LEGENDRE_STEPS):
    """The whole run of ``steps`` GD steps, each a replay of one compiled step (the parameters
    restart from the same values every run, as in the eager workload). The step is optim.SGD's
    ``p - lr * grad`` (the eager run's ``p -= 5e-6 * p.grad`` computes the same numbers) and
    writes ``c + d x`` once (the eager run computes it twice, with equal values)."""
    from autodiff import optim
    x = ad.linspace(-math.pi, math.pi, 2000, device=device)
    y = ad.sin(x)
    ps = [ad.tensor(v, device=device, requires_grad=True) for v in LEGENDRE_INIT]
    opt = optim.SGD(ps, lr=LEGENDRE_LR)
    a, b, c, d = ps

    @ad.compile
    def gd():
        opt.zero_grad()
        z = c + d * x
        loss = ((a + b * (0.5 * (5 * z ** 3 - 3 * z)) - y) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    def run():
        with ad.no_grad():
            for p, v in zip(ps, LEGENDRE_INIT):
                p.fill_(v)
        for _ in range(steps):
            loss = gd()
        return loss
    run.compiled = gd
    run.steps = steps          # replays per call (benchmarks/compile_profile.py)
    return run


def _legendre_build_jax(jax, device, steps: int = LEGENDRE_STEPS):
    jnp = jax.numpy
    x = jnp.linspace(-math.pi, math.pi, 2000, dtype=jnp.float32)
    y = jnp.sin(x)

    def loss(ps):
        a, b, c, d = ps
        p3 = 0.5 * (5 * (c + d * x) ** 3 - 3 * (c + d * x))
        return ((a + b * p3 - y) ** 2).sum()

    @jax.jit
    def gd(ps):
        value, g = jax.value_and_grad(loss)(ps)
        return [p - LEGENDRE_LR * gi for p, gi in zip(ps, g)], value

    def run():
        ps = [jnp.float32(v) for v in LEGENDRE_INIT]
        for _ in range(steps):     # one dispatch per step, as the eager runs
            ps, value = gd(ps)
        return _block(jax, value)
    return run


_attach("Legendre fit, 2000 steps (whole run)", _legendre_build_jax, _legendre_build_compiled)


# ----------------------------------------------------------------------------- tanh char-RNN
_RNN_NAME = "rnn char-LM train step, embedding 64, hidden 128, seq 32, batch 32"
_attach(_RNN_NAME, None,
        _compile_eager_step(next(w for w in REGISTRY if w.name == _RNN_NAME)))
