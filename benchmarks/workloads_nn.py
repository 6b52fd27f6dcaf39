"""Workloads built on nn/optim: training steps of the documents' networks, side by side with
the same network in PyTorch. Weights are copied through NumPy (state-dict keys match)."""
from __future__ import annotations

import numpy as np

import autodiff as ad
import autodiff.nn.functional as F
from autodiff import nn, optim
from autodiff.nn import models

from .workloads import REGISTRY, Workload, _mlp_batch, _rng


def _copy_to_torch(torch, model, tmodel, device):
    sd = {k: torch.tensor(np.asarray(v.numpy())) for k, v in model.state_dict().items()}
    tmodel.load_state_dict(sd)
    return tmodel.to(device)


def _train_step(model, opt, x, y, loss_fn=F.cross_entropy):
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def _torch_train_step(torch, tmodel, topt, x, y):
    def step():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tmodel(x), y)
        loss.backward()
        topt.step()
    return step


# ----------------------------------------------------------------------------- MLP step
def _torch_mlp(torch):
    return torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
                               torch.nn.Linear(100, 10))


def _mlp_step(batch: int, hidden=None):
    def build(device):
        ad.manual_seed(0)
        model = models.mnist_mlp().to(device) if device != "cpu" else models.mnist_mlp()
        xb, yb = _mlp_batch(batch)
        x, y = ad.tensor(xb, device=device), ad.tensor(yb, device=device)
        return _train_step(model, optim.SGD(model.parameters(), lr=0.01), x, y)

    def build_torch(torch, device):
        ad.manual_seed(0)
        model = models.mnist_mlp()
        tmodel = _copy_to_torch(torch, model, _torch_mlp(torch), device)
        xb, yb = _mlp_batch(batch)
        x, y = torch.tensor(xb, device=device), torch.tensor(yb, device=device)
        return _torch_train_step(torch, tmodel, torch.optim.SGD(tmodel.parameters(), lr=0.01),
                                 x, y)
    return build, build_torch


for _b in (64, 1024, 4096):
    _b1, _b2 = _mlp_step(_b)
    REGISTRY.append(Workload(f"MLP 784-100-10 train step (SGD), batch {_b}", "mlp-train", _b1,
                             _b2, 3 * 2 * _b * (784 * 100 + 100 * 10)))


# ----------------------------------------------------------------------------- wide MLP
def _wide(width: int = 4096, batch: int = 4096, depth: int = 2):
    layers = []
    for i in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _wide_build(device, width, batch):
    ad.manual_seed(0)
    model = _wide(width, batch)
    if device != "cpu":
        model = model.to(device)
    x = ad.randn(batch, width, device=device)
    opt = optim.SGD(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = model(x)
        (out * out).mean().backward()
        opt.step()
    return step


def _wide_build_torch(torch, device, width, batch):
    ad.manual_seed(0)
    model = _wide(width, batch)
    tl = []
    for m in model:
        tl.append(torch.nn.Linear(width, width) if isinstance(m, nn.Linear) else torch.nn.ReLU())
    tmodel = _copy_to_torch(torch, model, torch.nn.Sequential(*tl), device)
    x = torch.randn(batch, width, device=device)
    opt = torch.optim.SGD(tmodel.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = tmodel(x)
        (out * out).mean().backward()
        opt.step()
    return step


def _register_wide(width, batch, group):
    REGISTRY.append(Workload(
        f"wide MLP {width}x{width} x2, batch {batch}, train step", group,
        lambda d: _wide_build(d, width, batch),
        lambda t, d: _wide_build_torch(t, d, width, batch),
        3 * 2 * batch * width * width * 2))


_register_wide(1024, 1024, "wide-cpu")      # CPU-sized
_register_wide(4096, 4096, "wide-gpu")      # the matrix-bound GPU workload


# ----------------------------------------------------------------------------- CNN / ResNet
def _conv_step(name, make_model, make_torch, batch, shape, group):
    def build(device):
        ad.manual_seed(0)
        model = make_model()
        if device != "cpu":
            model = model.to(device)
        r = _rng(3)
        x = ad.tensor(r.standard_normal((batch,) + shape).astype(np.float32), device=device)
        y = ad.tensor(r.integers(0, 10, batch), device=device)
        return _train_step(model, optim.SGD(model.parameters(), lr=0.01, momentum=0.9), x, y)

    def build_torch(torch, device):
        ad.manual_seed(0)
        tmodel = _copy_to_torch(torch, make_model(), make_torch(torch), device)
        r = _rng(3)
        x = torch.tensor(r.standard_normal((batch,) + shape).astype(np.float32), device=device)
        y = torch.tensor(r.integers(0, 10, batch), device=device)
        return _torch_train_step(torch, tmodel, torch.optim.SGD(tmodel.parameters(), lr=0.01,
                                                                momentum=0.9), x, y)
    REGISTRY.append(Workload(name, group, build, build_torch))


def _torch_mnist_cnn(torch):
    from .torch_models import mnist_cnn
    return mnist_cnn(torch)


def _torch_resnet(depth):
    def make(torch):
        from .torch_models import resnet_cifar
        return resnet_cifar(torch, depth)
    return make


_conv_step("small MNIST CNN train step, batch 64", models.mnist_cnn, _torch_mnist_cnn, 64,
           (1, 28, 28), "cnn")
_conv_step("ResNet-20 CIFAR train step, batch 128", lambda: models.resnet_cifar(depth=20),
           _torch_resnet(20), 128, (3, 32, 32), "resnet")
_conv_step("ResNet-56 CIFAR train step, batch 128", lambda: models.resnet_cifar(depth=56),
           _torch_resnet(56), 128, (3, 32, 32), "resnet56")


# ----------------------------------------------------------------------------- RNN / LSTM
#: Both sides look the characters up in an embedding table (nn.Embedding is PyTorch's natural
#: char-LM input; autodiff's one-hot input is a row gather that PyTorch's RNN modules cannot do,
#: and a one-hot matmul on the PyTorch side would time a different computation).
EMBEDDING = 64


def _lm_step(cell: str, hidden: int, seq: int, batch: int = 32, vocab: int = 65):
    def build(device):
        ad.manual_seed(0)
        model = models.char_rnn(vocab, hidden_size=hidden, cell=cell, embedding_dim=EMBEDDING)
        if device != "cpu":
            model = model.to(device)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        r = _rng(4)
        x = ad.tensor(r.integers(0, vocab, (seq, batch)), device=device)
        y = ad.tensor(r.integers(0, vocab, (seq, batch)), device=device)

        def step():
            opt.zero_grad()
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            loss.backward()
            opt.step()
        return step

    def build_torch(torch, device):
        from .torch_models import char_rnn
        ad.manual_seed(0)
        model = models.char_rnn(vocab, hidden_size=hidden, cell=cell, embedding_dim=EMBEDDING)
        tmodel = _copy_to_torch(torch, model, char_rnn(torch, vocab, hidden, cell, EMBEDDING),
                                device)
        opt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)
        r = _rng(4)
        x = torch.tensor(r.integers(0, vocab, (seq, batch)), device=device)
        y = torch.tensor(r.integers(0, vocab, (seq, batch)), device=device)

        def step():
            opt.zero_grad()
            logits, _ = tmodel(x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            loss.backward()
            opt.step()
        return step
    REGISTRY.append(Workload(f"{cell} char-LM train step, embedding {EMBEDDING}, hidden {hidden}, "
                             f"seq {seq}, batch {batch}", "rnn", build, build_torch))


for _cell in ("rnn", "lstm"):
    _lm_step(_cell, 128, 32)
    _lm_step(_cell, 256, 64)


# ----------------------------------------------------------------------------- HVP, Legendre
def _hvp_build(device):
    ad.manual_seed(0)
    model = models.mnist_mlp()
    if device != "cpu":
        model = model.to(device)
    xb, yb = _mlp_batch(64)
    x, y = ad.tensor(xb, device=device), ad.tensor(yb, device=device)
    params = list(model.parameters())
    vs = [ad.randn(*p.shape, device=device) for p in params]

    def step():
        loss = F.cross_entropy(model(x), y)
        gs = ad.grad(loss, params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(gs, vs))
        return ad.grad(dot, params)
    return step


def _hvp_build_torch(torch, device):
    ad.manual_seed(0)
    tmodel = _copy_to_torch(torch, models.mnist_mlp(), _torch_mlp(torch), device)
    xb, yb = _mlp_batch(64)
    x, y = torch.tensor(xb, device=device), torch.tensor(yb, device=device)
    params = list(tmodel.parameters())
    vs = [torch.randn(p.shape, device=device) for p in params]

    def step():
        loss = torch.nn.functional.cross_entropy(tmodel(x), y)
        gs = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(gs, vs))
        return torch.autograd.grad(dot, params)
    return step


REGISTRY.append(Workload("HVP of the MLP loss (all params), batch 64", "hvp", _hvp_build,
                         _hvp_build_torch))


def _legendre_build(device, steps=2000):
    import math
    x = ad.linspace(-math.pi, math.pi, 2000, device=device)
    y = ad.sin(x)

    def step():
        a, b, c, d = (ad.tensor(v, device=device, requires_grad=True)
                      for v in (0.0, -1.0, 0.0, 0.3))
        for _ in range(steps):
            p3 = 0.5 * (5 * (c + d * x) ** 3 - 3 * (c + d * x))
            loss = ((a + b * p3 - y) ** 2).sum()
            loss.backward()
            with ad.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
        return loss
    return step


def _legendre_build_torch(torch, device, steps=2000):
    import math
    x = torch.linspace(-math.pi, math.pi, 2000, device=device)
    y = torch.sin(x)

    def step():
        a, b, c, d = (torch.tensor(v, device=device, requires_grad=True)
                      for v in (0.0, -1.0, 0.0, 0.3))
        for _ in range(steps):
            p3 = 0.5 * (5 * (c + d * x) ** 3 - 3 * (c + d * x))
            loss = ((a + b * p3 - y) ** 2).sum()
            loss.backward()
            with torch.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
        return loss
    return step


REGISTRY.append(Workload("Legendre fit, 2000 steps (whole run)", "legendre", _legendre_build,
                         _legendre_build_torch))
