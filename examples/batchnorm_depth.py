"""Experiment 6: a 20-layer ReLU network with and without batch normalisation.

100 units per layer, input dimension 1000, one batch of 100 standard-normal inputs with random
labels and a cross-entropy loss on a 10-way head. Weights are the documents' "small random
numbers" N(0, 0.01^2) with zero biases (``--init-std 0`` uses PyTorch's default Linear init,
where the activations shrink ~10x and then stall at the level the biases set, while the
gradients still vanish). For every hidden layer we report the standard
deviation of its ReLU activations (forward signal) and of the loss gradient with respect to them
(backward signal). Without batch norm the signal shrinks by a constant factor per layer and
vanishes; with batch norm (batch statistics, gamma = 1, beta = 0 at initialisation) every layer
keeps std(relu(N(0, 1))) = sqrt(1/2 - 1/(2 pi)) ~ 0.58.

    python examples/batchnorm_depth.py [--depth 20 --width 100 --input-dim 1000 --batch 100]
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import autodiff as ad
from autodiff import nn
from autodiff.nn import functional as F
from autodiff.nn.models import deep_relu_net

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

HEALTHY_STD = math.sqrt(0.5 - 1 / (2 * math.pi))  # std of max(0, z), z ~ N(0, 1)


def layer_statistics(model: nn.Sequential, x: ad.Tensor, y: ad.Tensor):
    """(activation stds, activation-gradient stds), one entry per ReLU of ``model``."""
    acts = []
    h = x
    for m in model:
        h = m(h)
        if isinstance(m, nn.ReLU):
            acts.append(h)
    loss = F.cross_entropy(h, y)
    grads = ad.grad(loss, acts)
    return ([float(a.numpy().std()) for a in acts], [float(g.numpy().std()) for g in grads])


def run(depth: int, width: int, input_dim: int, batch: int, batch_norm: bool, seed: int,
        init_std: float | None):
    ad.manual_seed(seed)
    model = deep_relu_net(depth, width, input_dim, batch_norm=batch_norm, num_classes=10,
                          init_std=init_std)
    model.train()
    g = np.random.default_rng(seed)
    x = ad.tensor(g.standard_normal((batch, input_dim)).astype(np.float32))
    y = ad.tensor(g.integers(0, 10, batch))
    return layer_statistics(model, x, y)


def main(argv=None) -> dict:
    ap = C.parser(__doc__)
    ap.add_argument("--depth", type=int, default=20, help="hidden ReLU layers")
    ap.add_argument("--width", type=int, default=100, help="units per hidden layer")
    ap.add_argument("--input-dim", type=int, default=1000, help="input dimension")
    ap.add_argument("--batch", type=int, default=100, help="standard-normal inputs in the batch")
    ap.add_argument("--init-std", type=float, default=0.01,
                    help="N(0, s^2) weights, zero biases; 0 for PyTorch's default Linear init")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    a = ap.parse_args(argv)
    res = {}
    for bn in (False, True):
        res[bn] = run(a.depth, a.width, a.input_dim, a.batch, bn, a.seed, a.init_std or None)
    init = f"N(0, {a.init_std}^2) weights" if a.init_std else "PyTorch's default init"
    print(f"{a.depth} ReLU layers of {a.width} units, input {a.input_dim}, batch {a.batch}, {init}")
    print(f"{'layer':>5} | {'act std (no BN)':>15} {'act std (BN)':>13} | "
          f"{'grad std (no BN)':>16} {'grad std (BN)':>14}")
    for i in range(a.depth):
        print(f"{i + 1:>5} | {res[False][0][i]:>15.3e} {res[True][0][i]:>13.3e} | "
              f"{res[False][1][i]:>16.3e} {res[True][1][i]:>14.3e}")
    print(f"healthy activation std with batch norm: sqrt(1/2 - 1/(2 pi)) = {HEALTHY_STD:.3f}")
    return {"act_std_plain": res[False][0], "grad_std_plain": res[False][1],
            "act_std_bn": res[True][0], "grad_std_bn": res[True][1]}


if __name__ == "__main__":
    main()
